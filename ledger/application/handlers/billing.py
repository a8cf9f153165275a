"""The monthly invoice run and the reminder run.

Finding what to bill spans every delivery of a municipality, which no one aggregate holds. The run
therefore reads the event log itself (only the billable facts, after the position the previous run
reached, which the invoice series remembers) and then decides against the aggregates: the account
refuses a delivery it already billed, the delivery knows whether it was withdrawn. See ADR 0006.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ledger.application import commands as c
from ledger.application.handlers import handles
from ledger.application.handlers.catalogue import catalogue
from ledger.application.handlers.deliveries import series
from ledger.domain.account import Account, account_id
from ledger.domain.assessment import Assessment, assessment_id
from ledger.domain.delivery import Delivery
from ledger.domain.errors import rule
from ledger.domain.invoice_series import InvoiceSeries, series_id
from ledger.domain.municipalities import municipality_code
from ledger.domain.order import Order
from ledger.domain.pricing import delivery_line, fee_line
from ledger.domain.scheme import Scheme, scheme_id
from ledger.domain.values import parse_month


def _candidates(svc: Any, uow: Any, m: int, after: int, until: int) -> list[dict[str, Any]]:
    found = []
    for _pos, name, oid, ver, st in svc.scan(("DeliveryRecorded", "OrderCancelled"), after, until):
        if st["municipality"] != m:
            continue
        if name == "DeliveryRecorded" and not st["klippekort"]:  # klippekort hours are never billed
            found.append({"kind": "delivery", "id": oid, "date": st["effective"], "citizen_id": st["citizen_id"]})
        elif name == "OrderCancelled" and st["late"] and st["fee_ore"] > 0:
            citizen_id = uow.get(Order, _uuid(oid)).citizen_id
            found.append({"kind": "fee", "id": oid, "date": st["effective"], "citizen_id": citizen_id,
                          "ref": f"{oid}:{ver}", "fee": st["fee_ore"]})
    return found


def _uuid(value: str) -> Any:
    from uuid import UUID

    return UUID(value)


def _grant_ref(uow: Any, order: Order, on: str, sections: list[str]) -> str:
    from datetime import date

    for g in uow.get(Assessment, assessment_id(order.citizen_id)).active_on(date.fromisoformat(on)):
        if g["section"] in sections:
            return g["ref"]
    return order.eligibility


def _lines(uow: Any, cat: Any, scheme: Scheme, account: Account, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from datetime import date

    lines: list[dict[str, Any]] = []
    for item in items:
        key = str(item["id"]) if item["kind"] == "delivery" else f"fee:{item['id']}"
        if account.line_for(key) is not None:
            continue
        if item["kind"] == "delivery":
            d = uow.get(Delivery, _uuid(item["id"]))
            if not d.billable:
                continue
            o = uow.get(Order, _uuid(d.order_id))
            rules = scheme.rules_on(date.fromisoformat(d.date))
            lines.append(delivery_line(len(lines) + 1, d, o, cat.offer(o.offer_id), rules,
                                       _grant_ref(uow, o, d.date, rules["sections"])))
        else:
            o = uow.get(Order, _uuid(item["id"]))
            vat_class = o.quoted["vat_class"]
            lines.append(fee_line(len(lines) + 1, o, cat.offer(o.offer_id), item["date"], item["fee"], item["ref"],
                                  vat_class))
    return lines


@handles("run_invoices")
def run_invoices(uow: Any, cmd: c.RunInvoices, ctx: Any, svc: Any) -> dict[str, Any]:
    m = municipality_code(cmd.municipality)
    first, last = parse_month(cmd.month)
    run_date = cmd.run_date or ctx.timestamp().date()
    rule(last < run_date, "month-not-closed",
         f"{cmd.month} is not over on {run_date}: invoices are issued in arrears, after the month ends")
    scheme = uow.get(Scheme, scheme_id(m), f"trial scheme for municipality {m}")
    s = series(uow, ctx, m, run_date)
    head = svc.head_position()
    chain_head = svc.chain_head()
    candidates = [*s.carried, *_candidates(svc, uow, m, s.scanned_to, head)]
    due = sorted((x for x in candidates if x["date"] <= last.isoformat()),
                 key=lambda x: (x["citizen_id"], x["date"], x["kind"], x["id"]))
    carried = [x for x in candidates if x["date"] > last.isoformat()]
    by_citizen: dict[str, list[dict[str, Any]]] = {}
    for x in due:
        by_citizen.setdefault(x["citizen_id"], []).append(x)
    cat = catalogue(uow, m)
    issued: list[dict[str, Any]] = []
    for citizen_id, items in by_citizen.items():
        account = uow.find(Account, account_id(citizen_id))
        if account is None:
            account = uow.add(Account.open(ctx, citizen_id, m, run_date))
        lines = _lines(uow, cat, scheme, account, items)
        if not lines:
            continue
        number = s.invoice_number(len(issued) + 1)
        account.issue_invoice(ctx, number, cmd.month, run_date, run_date + timedelta(days=svc.settings.payment_terms_days),
                              lines, chain_head)
        issued.append({"number": number, "citizen_id": citizen_id, "gross": sum(x["gross"] for x in lines)})
    if issued or carried != s.carried:
        s.complete_run(ctx, cmd.month, run_date, len(issued), chain_head, head, carried,
                       [x["citizen_id"] for x in issued])
    return {"municipality": m, "month": cmd.month, "invoices": issued, "chain_head": chain_head}


@handles("issue_reminders")
def issue_reminders(uow: Any, cmd: c.IssueReminders, ctx: Any, svc: Any) -> dict[str, Any]:
    m = municipality_code(cmd.municipality)
    s = uow.find(InvoiceSeries, series_id(m))
    issued: list[dict[str, Any]] = []
    # Only citizens who were ever invoiced can have an overdue invoice; the series remembers them.
    for citizen_id in sorted(s.invoiced_citizens) if s is not None else []:
        account = uow.find(Account, account_id(citizen_id))
        if account is None:
            continue
        for number in list(account.invoices):
            if account.remind(ctx, number, cmd.date, svc.settings.reminder_fee_ore, svc.settings.reminder_max_count,
                              svc.settings.reminder_min_days_apart):
                issued.append({"invoice_number": number, "citizen_id": citizen_id,
                               "sequence": len(account.invoices[number]["reminders"])})
    return {"municipality": m, "date": cmd.date.isoformat(), "reminders": issued}
