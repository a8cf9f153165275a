"""The monthly invoice run and the reminder run.

Finding what to bill spans every delivery of a municipality, which no one aggregate holds. The run
therefore reads the event log itself (only the billable facts, after the chain position the
previous run reached, which the invoice series remembers) and then decides against the aggregates:
the account refuses a delivery it already billed, the delivery knows whether it was withdrawn, and
the eligibility rule is checked again on the delivery's date. See ADR 0006.

Then it re-rates (rerating.py, ADR 0011): the facts seen since the last run that can change what a
billed delivery is owed (price versions and corrections, scheme rules and windows, grant ends and
corrections, provider changes, withdrawals) name the citizens to look at again, and the
differences are issued as debit and credit notes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import StrictInt, StringConstraints

from ledger.application import published
from ledger.application.commands._base import Command, Day, Municipality
from ledger.application.commands._spec import Result, Services, declare
from ledger.application.commands.catalogue import catalogue
from ledger.application.commands.deliveries import series
from ledger.application.commands.rerating import (CITIZEN_TRIGGERS, MUNICIPAL_TRIGGERS, affected, barred_before,
                                                   fee_owed, owed_now, rerate)
from ledger.application.uow import UnitOfWork
from ledger.domain.base import Context
from ledger.domain.account import Account, account_id
from ledger.domain.errors import rule
from ledger.domain.interest import MARGIN_BP, ReferenceRates, rates_id
from ledger.domain.invoice_series import InvoiceSeries, series_id
from ledger.domain.municipalities import municipality_code
from ledger.domain.order import Order
from ledger.domain.pricing import InvoiceLine, fee_line
from ledger.domain.scheme import Scheme, scheme_id
from ledger.domain.values import parse_month


BILLABLE = ("DeliveryRecorded", "OrderCancelled")


class RunInvoices(Command):
    municipality: Municipality
    month: Annotated[str, StringConstraints(pattern=r"^(19|20|21)\d{2}-(0[1-9]|1[0-2])$")]  # 1900-2199, as dates
    run_date: Day | None = None


class SetReferenceRate(Command):
    """The central bank's reference rate from `effective` (1 January, 1 July), in basis points."""

    municipality: Municipality
    effective: Day
    rate_bp: StrictInt


class IssueReminders(Command):
    municipality: Municipality
    date: Day


def _candidates(svc: Any, uow: Any, m: int, scanned: list[tuple[str, str, int, dict[str, Any]]]) -> list[dict[str, Any]]:
    found = []
    for name, oid, ver, st in scanned:
        if st["municipality"] != m:
            continue
        if name == "DeliveryRecorded" and not st["klippekort"]:  # klippekort hours are never billed
            found.append({"kind": "delivery", "id": oid, "date": st["effective"], "citizen_id": st["citizen_id"]})
        elif name == "OrderCancelled" and st["late"] and st["fee_ore"] > 0:
            citizen_id = uow.get(Order, _uuid(oid)).citizen_id
            found.append({"kind": "fee", "id": oid, "date": st["effective"], "citizen_id": citizen_id,
                          "ref": f"{oid}:{ver}", "fee": st["fee_ore"]})
    return found


def _barred_unbilled(uow: Any, scheme: Scheme, cat: Any, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What never-billed items past the limitation period would have charged, in the shape of a
    re-rating's barred differences (no invoice line: none was ever issued)."""
    out = []
    for item in items:
        if item["kind"] == "delivery":
            now, _, _ = owed_now(uow, scheme, cat, str(item["id"]))
            if now is None:
                continue  # owed nothing as the facts stand: nothing is barred either
            delta = {"net": now.net, "vat": now.vat, "gross": now.gross}
        else:
            delta = fee_owed(uow, item)
        out.append({"citizen_id": item["citizen_id"], "invoice_number": None, "invoice_line_no": None,
                    "month": item["date"][:7], "delta": delta, "caused_by": [f"{item['kind']}:{item['id']}"]})
    return out


def _uuid(value: str) -> Any:
    from uuid import UUID

    return UUID(value)


def _lines(uow: Any, cat: Any, scheme: Scheme, account: Account, items: list[dict[str, Any]],
           pending: list[dict[str, Any]] | None = None) -> list[InvoiceLine]:
    lines: list[InvoiceLine] = []
    for item in items:
        key = str(item["id"]) if item["kind"] == "delivery" else f"fee:{item['id']}"
        if account.line_for(key) is not None:
            continue
        if item["kind"] == "delivery":
            now, _, why = owed_now(uow, scheme, cat, str(item["id"]))
            if now is None:
                # Not billable as the facts now stand. Lost eligibility may come back with a later
                # back-dated fact, so the run keeps looking at it; a withdrawal is final.
                if pending is not None and why not in ("cancelled", "disputed", "klippekort", "missed"):
                    pending.append(item)
                continue
            lines.append(now.numbered(len(lines) + 1))
        else:
            o = uow.get(Order, _uuid(item["id"]))
            vat_class = o.quoted["vat_class"]
            lines.append(fee_line(len(lines) + 1, o, cat.offer(o.offer_id), item["date"], item["fee"], item["ref"],
                                  vat_class))
    return lines


@declare(RunInvoices, name="run_invoices", roles=["billing_clerk"], creates=True, reads_log=True,
         location="/billing/invoices?municipality={municipality}&month={month}",
         example={"municipality": 657, "month": "2019-03"})
def run_invoices(uow: UnitOfWork, cmd: RunInvoices, ctx: Context, svc: Services) -> Result:
    m = municipality_code(cmd.municipality)
    first, last = parse_month(cmd.month)
    run_date = cmd.run_date or ctx.timestamp().date()
    rule(last < run_date, "month-not-closed",
         f"{cmd.month} is not over on {run_date}: invoices are issued in arrears, after the month ends")
    scheme = uow.get(Scheme, scheme_id(m), f"trial scheme for municipality {m}")
    s = series(uow, ctx, m, run_date)
    s.check_run_date(run_date)
    # Positions are the chain's (contiguous, content-derived), never the store's notification ids.
    chain_head = svc.chain_head()
    head = chain_head["position"]
    scanned = [(name, oid, ver, st) for _pos, name, oid, ver, st in
               svc.scan_chain((*BILLABLE, *MUNICIPAL_TRIGGERS, *CITIZEN_TRIGGERS), s.scanned_to, head, m)]
    read = published.run_read(s.scanned_to, chain_head, (*BILLABLE, *MUNICIPAL_TRIGGERS, *CITIZEN_TRIGGERS), scanned)
    candidates = [*s.carried, *_candidates(svc, uow, m, [x for x in scanned if x[0] in BILLABLE])]
    due = sorted((x for x in candidates if x["date"] <= last.isoformat()),
                 key=lambda x: (x["citizen_id"], x["date"], x["kind"], x["id"]))
    carried = [x for x in candidates if x["date"] > last.isoformat()]
    first_billable = barred_before(run_date, svc.settings.rerate_months)
    cat = catalogue(uow, m)
    # A delivery or fee recorded so late that its month is past the limitation period is
    # reported with the run's `barred`, never billed (conventions l.11-13), as a re-rating's is.
    barred = _barred_unbilled(uow, scheme, cat, [x for x in due if x["date"][:7] < first_billable])
    due = [x for x in due if x["date"][:7] >= first_billable]
    by_citizen: dict[str, list[dict[str, Any]]] = {}
    for x in due:
        by_citizen.setdefault(x["citizen_id"], []).append(x)
    pending: list[dict[str, Any]] = []
    issued: list[dict[str, Any]] = []
    rates = None
    if svc.settings.default_interest:
        # Default interest reaches every citizen with an overdue document, new deliveries or not.
        rates = uow.find(ReferenceRates, rates_id(m))
        rule(rates is not None, "no-reference-rate",
             f"default interest is on but municipality {m} has recorded no reference rate (set_reference_rate)")
        for citizen_id in sorted(s.invoiced_citizens - set(by_citizen)):
            by_citizen[citizen_id] = []
    for citizen_id, items in by_citizen.items():
        account = uow.find(Account, account_id(citizen_id))
        if account is None:
            account = uow.add(Account.open(ctx, citizen_id, m, run_date))
        lines = _lines(uow, cat, scheme, account, items, pending)
        if rates is not None:
            for line in account.interest_due(rates, run_date):
                lines.append(line.numbered(len(lines) + 1))
        if not lines:
            continue
        number = s.invoice_number(len(issued) + 1)
        account.issue_invoice(ctx, number, cmd.month, run_date, run_date + timedelta(days=svc.settings.payment_terms_days),
                              lines, chain_head)
        issued.append({"number": number, "citizen_id": citizen_id, "gross": sum(x.gross for x in lines)})
    carried += sorted((x for x in pending if x["date"][:7] >= first_billable),
                      key=lambda x: (x["citizen_id"], x["date"], x["kind"], x["id"]))
    # Re-rating: every earlier month, as the facts are known now (docs/adr/0011).
    last_billed = parse_month(max(s.runs))[1].isoformat() if s.runs else None
    reach = affected(uow, [(n, o, st) for n, o, _v, st in scanned if n not in BILLABLE], s.invoiced_citizens,
                     last_billed)
    baseline = not getattr(s, "baselined", True) and bool(s.invoiced_citizens)
    if baseline:
        # The first run that re-rates looks at every billed delivery once, so a series billed
        # before re-rating existed is brought to the facts as known now; later runs follow new facts.
        reach = {c: "" for c in s.invoiced_citizens}
    rerated = rerate(uow, ctx, svc, s, scheme, cat, cmd.month, run_date, reach)
    if baseline:
        s.mark_baselined(ctx, run_date, len(reach))
    barred += rerated["barred"]
    if issued or carried != s.carried or rerated["debit_notes"] or rerated["credit_notes"] or barred:
        s.complete_run(ctx, cmd.month, run_date, len(issued), chain_head, head, carried,
                       [x["citizen_id"] for x in issued], read)
    return {"municipality": m, "month": cmd.month, "invoices": issued, "chain_head": chain_head,
            "debit_notes": rerated["debit_notes"], "credit_notes": rerated["credit_notes"],
            "barred": [{k: x[k] for k in ("citizen_id", "invoice_number", "invoice_line_no", "month", "delta",
                                          "caused_by")} for x in barred],
            "published": published.published(svc, read)}  # ADR 0021


@declare(SetReferenceRate, name="set_reference_rate", roles=["billing_clerk"], etag="reference_rates",
         example={"municipality": 657, "effective": "2019-01-01", "rate_bp": 5})
def set_reference_rate(uow: UnitOfWork, cmd: SetReferenceRate, ctx: Context, svc: Services) -> Result:
    m = municipality_code(cmd.municipality)
    rates = uow.find(ReferenceRates, rates_id(m))
    if rates is None:
        rates = uow.add(ReferenceRates.open(ctx, m, cmd.effective))
    rates.set_rate(ctx, cmd.effective, cmd.rate_bp)
    return {"municipality": m, "effective": cmd.effective.isoformat(), "rate_bp": cmd.rate_bp,
            "default_interest_bp": cmd.rate_bp + MARGIN_BP}


@declare(IssueReminders, name="issue_reminders", roles=["billing_clerk"],
         example={"municipality": 657, "date": "2019-05-15"})
def issue_reminders(uow: UnitOfWork, cmd: IssueReminders, ctx: Context, svc: Services) -> Result:
    m = municipality_code(cmd.municipality)
    s = uow.find(InvoiceSeries, series_id(m))
    issued: list[dict[str, Any]] = []
    # Only citizens who were ever invoiced (a debit note adjusts an invoice) or have a claim can owe
    # anything; the series remembers them. Which documents are overdue is the account's rule
    # (Account.remind).
    for citizen_id in s.owing_citizens() if s is not None else []:
        account = uow.find(Account, account_id(citizen_id))
        if account is None:
            continue
        for number, sequence in account.remind_overdue(ctx, cmd.date, svc.settings.reminder_fee_ore,
                                                       svc.settings.reminder_max_count,
                                                       svc.settings.reminder_min_days_apart):
            issued.append({"invoice_number": number, "citizen_id": citizen_id, "sequence": sequence})
    return {"municipality": m, "date": cmd.date.isoformat(), "reminders": issued}
