"""The reconciliation: per month of service, what the issued documents charge (invoices − credit
notes + debit notes) against what the facts as known now say is owed, and every difference with
the events behind it.

It reads the whole log of the municipality's billable facts and the aggregates (never the billing
projection), and decides with the same function the invoice run re-rates with
(`handlers.rerating.owed_now`), so a run followed by a reconciliation agrees by construction and a
disagreement means a fact the run has not seen yet (or one older than the re-rating limit,
reported as barred: known, explained and deliberately not billed).
"""

from __future__ import annotations

from typing import Any

from ledger.application.commands.billing import BILLABLE, _candidates
from ledger.application.commands.rerating import ZERO, barred_before, difference, fee_owed, owed_now
from ledger.application.uow import UnitOfWork
from ledger.domain.account import Account, account_id
from ledger.domain.catalogue import Catalogue, catalogue_id
from ledger.domain.invoice_series import InvoiceSeries, series_id
from ledger.domain.scheme import Scheme, scheme_id


def reconcile(app: Any, m: int, month: str | None = None) -> dict[str, Any]:
    """{municipality, through, agree, months: [{month, invoiced, owed, difference, differences}]}.

    `through` is the last month invoiced: later months are not yet due and not compared."""
    uow = UnitOfWork(app)
    series = uow.find(InvoiceSeries, series_id(m))
    report: dict[str, Any] = {"municipality": m, "through": None, "agree": True, "months": [], "barred_before": None}
    if series is None or not series.runs:
        return report
    through = max(series.runs)
    # The limit as of the last run, the date the documents compared were last brought up to date.
    first_billable = barred_before(series.dated.get("invoice") or through, app.settings.rerate_months)
    report.update(through=through, barred_before=first_billable)
    scheme = uow.get(Scheme, scheme_id(m), "scheme")
    cat = uow.get(Catalogue, catalogue_id(m), "catalogue")
    head = app.chain_head()["position"]
    scanned = [(name, oid, ver, st) for _p, name, oid, ver, st in app.scan_chain(BILLABLE, 0, head, m)]
    items = {(str(x["id"]) if x["kind"] == "delivery" else f"fee:{x['id']}"): x
             for x in _candidates(app, uow, m, scanned) if x["date"][:7] <= through}
    months: dict[str, dict[str, Any]] = {}
    for key, item in sorted(items.items(), key=lambda kv: (kv[1]["date"], kv[0])):
        mon = item["date"][:7]
        if month is not None and mon != month:
            continue
        account = uow.find(Account, account_id(item["citizen_id"]))
        charged = account.still_charged(key) if account is not None else dict(ZERO)
        causes: list[str] = []
        why = None
        if item["kind"] == "fee":
            owed = fee_owed(uow, item)
        else:
            now, causes, why = owed_now(uow, scheme, cat, key)
            owed = now.amounts.as_dict() if now else dict(ZERO)
            if now is not None:
                causes = [now.price_ref]
        row = months.setdefault(mon, {"month": mon, "invoiced": 0, "owed": 0, "difference": 0, "differences": [],
                                      "barred": mon < first_billable})
        row["invoiced"] += charged["gross"]
        row["owed"] += owed["gross"]
        if owed != charged:
            line = account.line_for(key) if account is not None else None
            if line is not None and account is not None and item["kind"] == "delivery":
                diff = difference(uow, scheme, cat, account, key)  # the run's own view of why
                if diff is not None:
                    causes, why = diff["caused_by"], f"re-rating due: {diff['why']}"
            row["differences"].append({
                "billing_key": key, "citizen_id": item["citizen_id"], "date": item["date"],
                "invoice_number": line[0] if line else None, "invoice_line_no": line[1]["line_no"] if line else None,
                "charged": charged["gross"], "owed": owed["gross"], "difference": owed["gross"] - charged["gross"],
                "why": why or ("not yet invoiced" if line is None else "re-rating due"),
                "caused_by": causes})
    # A billed line whose delivery is no longer a candidate cannot exist (facts are never removed);
    # the documents' own totals are checked by ledger-replay.
    for row in sorted(months.values(), key=lambda r: r["month"]):
        row["difference"] = row["owed"] - row["invoiced"]
        if row["differences"] and not row["barred"]:
            report["agree"] = False
        report["months"].append(row)
    return report
