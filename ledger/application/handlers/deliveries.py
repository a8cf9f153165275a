"""Recording what was delivered, visits that did not happen, and withdrawing a delivery.

A delivery withdrawn (cancelled or disputed) after it was invoiced gets a credit note, numbered
from the municipality's series, referencing the original invoice line; the invoice is not touched.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ledger.application import commands as c
from ledger.application.handlers import handles
from ledger.application.handlers.catalogue import catalogue
from ledger.application.handlers.citizens import citizen
from ledger.application.handlers.orders import eligibility, order
from ledger.domain.account import Account, account_id
from ledger.domain.base import key_id
from ledger.domain.delivery import Delivery
from ledger.domain.errors import AlreadyExists, rule
from ledger.domain.invoice_series import InvoiceSeries, series_id
from ledger.domain.klippekort import Klippekort, klippekort_id


def _checks(uow: Any, cmd: Any, ctx: Any) -> tuple[Any, Any]:
    o = order(uow, cmd.order_id)
    did = cmd.delivery_id or key_id("delivery", ctx.command_id)
    if uow.find(Delivery, did) is not None:
        raise AlreadyExists(f"delivery {did} is already recorded")
    rule(o.active_on(cmd.date), "outside-order",
         f"{cmd.date} is outside order {o.id} (from {o.start} to {o.end}"
         + (f", cancelled from {o.cancelled_from})" if o.cancelled_from else ")"))
    today = ctx.timestamp().date()
    rule(cmd.date <= today, "delivery-in-future", f"a delivery on {cmd.date} cannot be recorded before it happens ({today})")
    return o, did


def _sealed(svc: Any, citizen_id: str, note: str | None) -> str | None:
    # Free text may describe health: it is sealed under the citizen's own key (erasable).
    return None if not note else svc.identity.seal(citizen_id, note)


@handles("record_delivery")
def record(uow: Any, cmd: c.RecordDelivery, ctx: Any, svc: Any) -> dict[str, Any]:
    o, did = _checks(uow, cmd, ctx)
    # The order's rule holds at every delivery, not only when the order was placed: an add-on is
    # sold only on top of a granted service, inside the window, with the required provider.
    eligibility(uow, citizen(uow, UUID(o.citizen_id)), cmd.date)
    unit = catalogue(uow, o.municipality).offer(o.offer_id)["unit"]
    if cmd.klippekort:
        # Klippekort minutes are free only for a holder, and only up to the week's allowance.
        card = uow.find(Klippekort, klippekort_id(o.citizen_id))
        rule(card is not None, "no-klippekort",
             f"citizen {o.citizen_id} holds no klippekort; the delivery cannot be recorded as klippekort")
        card.use(ctx, did, cmd.date, cmd.minutes)
    d = uow.add(Delivery.record(ctx, did, o.municipality, str(o.id), o.citizen_id, o.offer_id, unit, cmd.date, cmd.band,
                                cmd.minutes, cmd.units, cmd.staff_id, cmd.after_granted_visit, cmd.klippekort,
                                _sealed(svc, o.citizen_id, cmd.note)))
    return {"delivery_id": str(d.id), "order_id": str(o.id)}


@handles("record_missed_visit")
def missed(uow: Any, cmd: c.RecordMissedVisit, ctx: Any, svc: Any) -> dict[str, Any]:
    o, did = _checks(uow, cmd, ctx)
    d = uow.add(Delivery.missed(ctx, did, o.municipality, str(o.id), o.citizen_id, o.offer_id, cmd.date, cmd.reason,
                                _sealed(svc, o.citizen_id, cmd.note)))
    return {"delivery_id": str(d.id), "order_id": str(o.id)}


def series(uow: Any, ctx: Any, municipality: int, on: Any) -> InvoiceSeries:
    s = uow.find(InvoiceSeries, series_id(municipality))
    return s if s is not None else uow.add(InvoiceSeries.open(ctx, municipality, on))


@handles("cancel_delivery", "dispute_delivery")
def withdraw(uow: Any, cmd: c.WithdrawDelivery, ctx: Any, svc: Any) -> dict[str, Any]:
    d = uow.get(Delivery, cmd.delivery_id, "delivery")
    account = uow.find(Account, account_id(d.citizen_id))
    billed = account.line_for(str(d.id)) if account is not None else None
    if ctx.command_type == "dispute_delivery":
        d.dispute(ctx, cmd.effective, cmd.reason)
    else:
        d.cancel(ctx, cmd.effective, cmd.reason)
    if d.klippekort:
        card = uow.find(Klippekort, klippekort_id(d.citizen_id))
        if card is not None:
            card.release(ctx, d.id, cmd.effective)
    result: dict[str, Any] = {"delivery_id": str(d.id), "credit_note": None}
    if billed is not None and account.still_charged(str(d.id))["gross"] > 0:
        invoice_number, line = billed
        number = series(uow, ctx, d.municipality, cmd.effective).take_credit_note_number(ctx, invoice_number, cmd.effective)
        account.issue_credit_note(ctx, number, invoice_number, line, cmd.effective, cmd.reason)
        result["credit_note"] = number
    return result
