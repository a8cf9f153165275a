"""The demo's corrections: a back-dated price correction and a back-dated grant end, planted after
the history is imported, then an invoice run that re-rates them and a clean reconciliation.

What the tour shows (docs/adr/0011): the correction's own answer (how many issued lines it reaches
and what the re-rating will bill), the debit and credit notes the next run issues with the events
that caused them, the audit's list of deliveries the grant end made ineligible, and the
reconciliation agreeing to the øre.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from rich.console import Console


def _kr(ore: int) -> str:
    sign = "-" if ore < 0 else ""
    whole, part = divmod(abs(ore), 100)
    return f"{sign}{whole:,}".replace(",", ".") + f",{part:02d} kr."


def plant_and_show(url: str, summary: dict[str, Any], out: Console) -> None:
    from ledger.application import Ledger
    from ledger.application.reconciliation import reconcile
    from ledger.cli.data import settings_for
    from ledger.domain.account import Account, account_id
    from ledger.domain.assessment import assessment_id
    from ledger.domain.base import Context
    from ledger.domain.catalogue import catalogue_id
    from ledger.domain.invoice_series import series_id
    from ledger.domain.scheme import scheme_id
    from ledger.domain.values import add_months
    from ledger.projections import all_projections
    from ledger.projections import audit_queries as aq
    from ledger.projections.engine import Engine

    ledger = Ledger(settings_for(url))
    try:
        def run(command: str, payload: dict[str, Any]) -> dict[str, Any]:
            return ledger.execute(command, payload, Context("demo", "administrator", f"demo-{uuid.uuid4()}")).result

        chosen = None
        for m in summary["trial_municipalities"]:
            series = ledger.repository.get(series_id(m)) if series_id(m) in ledger.repository else None
            if series is not None and series.runs:
                chosen = (m, series)
                break
        if chosen is None:
            out.print("no invoices to correct")
            return
        m, series = chosen
        last_month = max(series.runs)
        recent = add_months(last_month, -11)  # well inside the re-rating limit
        scheme = ledger.repository.get(scheme_id(m))
        cat = ledger.repository.get(catalogue_id(m))
        price_line = grant_case = None
        for citizen_id in sorted(series.invoiced_citizens):
            account: Account = ledger.repository.get(account_id(citizen_id))
            for key, entry in sorted(account.issued.items(), key=lambda kv: kv[1]["date"], reverse=True):
                if entry["kind"] != "delivery" or entry["date"][:7] < recent or entry["gross"] <= 0:
                    continue
                line = account.invoices[entry["invoice"]]["lines"][entry["line_no"] - 1]
                day = date.fromisoformat(entry["date"])
                covered = [g for g in ledger.repository.get(assessment_id(citizen_id)).active_on(day)
                           if g["section"] in scheme.rules_on(day)["sections"]]
                if price_line is None and line["unit"] == "hour":
                    price_line = line
                elif grant_case is None and len(covered) == 1:
                    grant_case = (citizen_id, covered[0]["grant_id"], day - timedelta(days=1), line)
            if price_line is not None and grant_case is not None:
                break
        if price_line is None or grant_case is None:
            out.print("no recent invoiced deliveries to correct")
            return
        offer = cat.offer(price_line["offer_id"])
        version = next(v for v in offer["versions"] if v["ref"] == price_line["provenance"]["price"])
        corrected = run("correct_price_version", {
            "municipality": m, "offer_id": price_line["offer_id"], "effective": version["effective"],
            "vat_class": version["vat_class"], "prices": {b: p + 1_000 for b, p in version["prices"].items()},
            # The wage part of each band's cost was 10 kr. short; the price is the full cost again.
            "cost_basis": {b: {**parts, "wage": parts["wage"] + 1_000} for b, parts in version["cost_basis"].items()},
            "reason": "the wage basis left out the evening supplement"})
        out.print(f"planted: the price of {offer['name']} ({price_line['offer_id']}) from {version['effective']} "
                  f"corrected by +10,00 kr. (per hour); it reaches {corrected['affected_lines']} issued lines, "
                  f"the next run bills {_kr(corrected['rerating']['gross'])}")
        citizen_id, grant_id, last_day, line = grant_case
        run("end_grant", {"citizen_id": citizen_id, "grant_id": grant_id, "last_day": last_day.isoformat()})
        out.print(f"planted: citizen {citizen_id}'s grant {grant_id} ended back-dated to {last_day} "
                  f"(an invoiced delivery on {line['date']}, {_kr(line['gross'])}, is no longer eligible)")
        # The next run after the history's last: the first of the month after it, plus a day, and
        # never before the last run (a series' dates run in number order).
        run_date = max((date.fromisoformat(last_month + "-01") + timedelta(days=32)).replace(day=2),
                       date.fromisoformat(series.dated.get("invoice", "0001-01-01")))
        result = run("run_invoices", {"municipality": m, "month": last_month, "run_date": run_date.isoformat()})
        for kind, label in (("debit_notes", "debit notes"), ("credit_notes", "credit notes")):
            notes = result[kind]
            if notes:
                out.print(f"the next run issued {len(notes)} {label}, {_kr(sum(n['gross'] for n in notes))} in all, "
                          "each line naming the invoice line it adjusts:")
            for note in notes[:3]:
                out.print(f"  {label[:-1]} [bold]{note['number']}[/] on invoice {note['invoice_number']}: "
                          f"{_kr(note['gross'])}, {note['lines']} lines, caused by {', '.join(note['caused_by'])}")
        Engine(ledger.db, all_projections()).catch_up()
        for found in aq.ineligible(ledger.db, m)[:3]:
            out.print(f"  audit, no longer eligible: delivery {found['delivery_id']} on {found['service_date']} "
                      f"({found['why']}), credited by {found['credit_note']}")
        again = run("run_invoices", {"municipality": m, "month": last_month, "run_date": run_date.isoformat()})
        issued = len(again["invoices"]) + len(again["debit_notes"]) + len(again["credit_notes"])
        report = reconcile(ledger, m)
        diff = sum(len(r["differences"]) for r in report["months"] if not r["barred"])
        out.print(f"a second run issues {issued} documents; reconciliation of {m} through {report['through']}: "
                  + ("[green]agrees[/]" if report["agree"] else f"[red]{diff} differences[/]")
                  + f" over {len(report['months'])} months")
        out.print(f"CLI: ledger billing reconcile --municipality {m}  ·  ledger billing debit-notes --municipality {m}  ·  "
                  f"API: GET /billing/reconciliation?municipality={m}")
    finally:
        ledger.close()
