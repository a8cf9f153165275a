"""Recording what was delivered, visits that did not happen, and withdrawing a delivery.

A delivery withdrawn (cancelled or disputed) after it was invoiced gets a credit note, numbered
from the municipality's series, referencing the original invoice line; the invoice is not touched.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal
from uuid import UUID

from pydantic import StrictBool, StrictInt

from ledger.application.commands._base import Band, Command, Day, Minutes, Note, ShortId, Text
from ledger.application.commands._spec import Result, Services, declare
from ledger.application.commands.catalogue import catalogue
from ledger.application.commands.citizens import citizen
from ledger.application.commands.orders import eligibility, order
from ledger.application.uow import UnitOfWork
from ledger.domain.account import Account, account_id
from ledger.domain.base import Context, key_id
from ledger.domain.order import Order
from ledger.domain.delivery import Delivery
from ledger.domain.errors import AlreadyExists, rule
from ledger.domain.invoice_series import InvoiceSeries, series_id
from ledger.domain.klippekort import Klippekort, klippekort_id


class RecordDelivery(Command):
    delivery_id: UUID | None = None
    order_id: UUID
    date: Day
    band: Band
    minutes: Minutes
    units: StrictInt = 1
    staff_id: ShortId
    after_granted_visit: StrictBool = False
    klippekort: StrictBool = False
    note: Note | None = None


class RecordMissedVisit(Command):
    delivery_id: UUID | None = None
    order_id: UUID
    date: Day
    reason: Literal["citizen_absent", "citizen_cancelled", "staff_unavailable", "hospitalised", "other"]
    note: Note | None = None


class WithdrawDelivery(Command):
    """What cancelling and disputing a delivery share (each is its own command class)."""

    delivery_id: UUID
    effective: Day
    reason: Text


class CancelDelivery(WithdrawDelivery):
    """The delivery should not have been recorded (a mistake of the provider's)."""


class DisputeDelivery(WithdrawDelivery):
    """The citizen disputes that the delivery took place."""


def _checks(uow: UnitOfWork, cmd: RecordDelivery | RecordMissedVisit, ctx: Context) -> tuple[Order, UUID]:
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


def _sealed(svc: Services, citizen_id: str, note: str | None) -> str | None:
    # Free text may describe health: it is sealed under the citizen's own key (erasable).
    return None if not note else svc.identity.seal(citizen_id, note)


@declare(RecordDelivery, name="record_delivery", roles=["provider_staff"], creates=True, etag="delivery",
         location="/deliveries/{delivery_id}/events",
         example={"order_id": "eaf05690-abee-5b4c-b8b9-cd1ca082d42f", "date": "2019-03-01", "band": "weekday_day", "minutes": 60,
                  "staff_id": "staff-17"})
def record(uow: UnitOfWork, cmd: RecordDelivery, ctx: Context, svc: Services) -> Result:
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
        assert card is not None  # the rule above refused otherwise
        card.use(ctx, did, cmd.date, cmd.minutes)
    d = uow.add(Delivery.record(ctx, did, o.municipality, str(o.id), o.citizen_id, o.offer_id, unit, cmd.date, cmd.band,
                                cmd.minutes, cmd.units, cmd.staff_id, cmd.after_granted_visit, cmd.klippekort,
                                _sealed(svc, o.citizen_id, cmd.note)))
    return {"delivery_id": str(d.id), "order_id": str(o.id)}


@declare(RecordMissedVisit, name="record_missed_visit", roles=["provider_staff"], creates=True, etag="delivery",
         location="/deliveries/{delivery_id}/events",
         example={"order_id": "eaf05690-abee-5b4c-b8b9-cd1ca082d42f", "date": "2019-03-15", "reason": "citizen_absent"})
def missed(uow: UnitOfWork, cmd: RecordMissedVisit, ctx: Context, svc: Services) -> Result:
    o, did = _checks(uow, cmd, ctx)
    d = uow.add(Delivery.missed(ctx, did, o.municipality, str(o.id), o.citizen_id, o.offer_id, cmd.date, cmd.reason,
                                _sealed(svc, o.citizen_id, cmd.note)))
    return {"delivery_id": str(d.id), "order_id": str(o.id)}


def series(uow: UnitOfWork, ctx: Context, municipality: int, on: date) -> InvoiceSeries:
    s = uow.find(InvoiceSeries, series_id(municipality))
    return s if s is not None else uow.add(InvoiceSeries.open(ctx, municipality, on))


@declare(CancelDelivery, name="cancel_delivery", roles=["billing_clerk"], path=["delivery_id"], if_match="delivery",
         example={"effective": "2019-04-02", "reason": "recorded twice"})
def cancel(uow: UnitOfWork, cmd: CancelDelivery, ctx: Context, svc: Services) -> Result:
    return _withdraw(uow, cmd, ctx)


@declare(DisputeDelivery, name="dispute_delivery", roles=["billing_clerk"], path=["delivery_id"], if_match="delivery",
         example={"effective": "2019-04-02", "reason": "the citizen says nobody came"})
def dispute(uow: UnitOfWork, cmd: DisputeDelivery, ctx: Context, svc: Services) -> Result:
    return _withdraw(uow, cmd, ctx)


def _withdraw(uow: UnitOfWork, cmd: WithdrawDelivery, ctx: Context) -> Result:
    d = uow.get(Delivery, cmd.delivery_id, "delivery")
    account = uow.find(Account, account_id(d.citizen_id))
    billed = account.line_for(str(d.id)) if account is not None else None
    if isinstance(cmd, DisputeDelivery):
        d.dispute(ctx, cmd.effective, cmd.reason)
    else:
        d.cancel(ctx, cmd.effective, cmd.reason)
    if d.klippekort:
        card = uow.find(Klippekort, klippekort_id(d.citizen_id))
        if card is not None:
            card.release(ctx, d.id, cmd.effective)
    result: dict[str, Any] = {"delivery_id": str(d.id), "credit_note": None}
    if billed is not None and account is not None and account.still_charged(str(d.id))["gross"] > 0:
        invoice_number, line = billed
        s = series(uow, ctx, d.municipality, cmd.effective)
        on = s.note_date("credit", cmd.effective, account.invoices[invoice_number]["issued_on"])
        number = s.take_credit_note_number(ctx, invoice_number, on)
        account.issue_credit_note(ctx, number, invoice_number, line, on, cmd.reason)
        result["credit_note"] = number
    return result
