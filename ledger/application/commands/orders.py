"""Placing, changing and cancelling orders: the rules that span citizen, grants, scheme and catalogue.

An add-on may be sold only to a citizen who holds an active grant under a section the scheme
covers, on a date inside the municipality's trial window, with the municipal provider where the
scheme requires it, and only from items in force on the order date.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, Literal
from uuid import UUID

from pydantic import StrictInt

from ledger.application.commands._base import Band, ClockTime, Command, Day, Instant, Minutes, ShortId, Text
from ledger.application.commands._spec import Result, Services, declare
from ledger.application.commands.catalogue import catalogue
from ledger.application.commands.citizens import citizen
from ledger.application.uow import UnitOfWork
from ledger.domain.assessment import Assessment, assessment_id
from ledger.domain.base import Context, key_id
from ledger.domain.citizen import Citizen
from ledger.domain.eligibility import may_buy
from ledger.domain.errors import AlreadyExists, NotFound, rule
from ledger.domain.order import Order
from ledger.domain.pricing import Quote
from ledger.domain.scheme import Scheme, scheme_id


class PlaceOrder(Command):
    order_id: UUID | None = None
    citizen_id: UUID
    offer_id: ShortId
    kind: Literal["one_off", "recurring"]
    start: Day
    end: Day | None = None
    every_weeks: StrictInt | None = None
    minutes: Minutes | None = None
    band: Band = "weekday_day"
    start_time: ClockTime | None = None


class ChangeOrder(Command):
    order_id: UUID
    effective: Day
    every_weeks: StrictInt | None = None
    end: Day | None = None
    minutes: Minutes | None = None
    start_time: ClockTime | None = None


class CancelOrder(Command):
    order_id: UUID
    effective: Day
    notified_at: Instant | None = None
    reason: Text = "citizen_request"


def eligibility(uow: UnitOfWork, person: Citizen, on: date) -> tuple[Scheme, dict[str, Any], dict[str, Any]]:
    """(scheme, rules on the date, the grant that makes the citizen eligible) or a refusal."""
    m = person.municipality
    scheme = uow.find(Scheme, scheme_id(m))
    rule(scheme is not None, "no-scheme", f"municipality {m} has no add-on trial scheme")
    assert scheme is not None  # the rule above refused otherwise
    rules = scheme.rules_on(on)
    grant = may_buy(m, person.id, on, scheme.windows, rules,  # the one rule (domain/eligibility.py)
                    lambda: uow.get(Assessment, assessment_id(person.id), "assessment").active_on(on),
                    lambda: person.provider_on(on))
    return scheme, rules, dict(grant)


def order(uow: UnitOfWork, order_id: UUID) -> Order:
    return uow.get(Order, order_id, "order")


@declare(PlaceOrder, name="place_order", roles=["assessor", "provider_staff"], creates=True, etag="order",
         location="/orders/{order_id}/events",
         example={"citizen_id": "2554e582-e697-59f2-9cfd-e5850753d758", "offer_id": "clean", "kind": "recurring", "start": "2019-03-01",
                  "every_weeks": 2, "minutes": 60, "band": "weekday_day"})
def place(uow: UnitOfWork, cmd: PlaceOrder, ctx: Context, svc: Services) -> Result:
    person = citizen(uow, cmd.citizen_id)
    oid = cmd.order_id or key_id("order", ctx.command_id)
    if uow.find(Order, oid) is not None:
        raise AlreadyExists(f"order {oid} already exists")
    scheme, _, grant = eligibility(uow, person, cmd.start)
    window = scheme.window_on(cmd.start)
    assert window is not None  # eligibility refused a start outside the windows
    window_end = window[1]
    rule(cmd.end is None or cmd.end.isoformat() <= window_end, "outside-window",
         f"the order ends {cmd.end}, after the trial window ends {window_end}")
    cat = catalogue(uow, person.municipality)
    offer = cat.offer(cmd.offer_id)
    rule(cat.in_force(cmd.offer_id, cmd.start), "offer-not-in-force",
         f"{cmd.offer_id} is not in the catalogue on {cmd.start}")
    price = cat.price_on(cmd.offer_id, cmd.start)
    quoted = Quote.of(price, cmd.band, offer["unit"])
    end = cmd.end
    if end is None and cmd.kind == "recurring":
        # A recurring order without an end runs to the end of the trial window, never beyond it.
        end = date.fromisoformat(window_end)
    o = uow.add(Order.place(ctx, oid, person.municipality, str(person.id), offer, cmd.offer_id, cmd.kind, cmd.start,
                            end, cmd.every_weeks, cmd.minutes, cmd.band, quoted, grant["ref"],
                            cmd.start_time))
    return {"order_id": str(o.id), "quoted": quoted.to_payload()}


@declare(ChangeOrder, name="change_order", roles=["assessor", "provider_staff"], path=["order_id"], if_match="order",
         example={"effective": "2019-06-01", "every_weeks": 1})
def change(uow: UnitOfWork, cmd: ChangeOrder, ctx: Context, svc: Services) -> Result:
    o = order(uow, cmd.order_id)
    if cmd.end is not None:
        # As at placing: an order never runs past the trial window it was placed in (its
        # deliveries there would each be refused, and the order would promise what cannot be sold).
        window = uow.get(Scheme, scheme_id(o.municipality), "scheme").window_on(date.fromisoformat(o.start))
        rule(window is None or cmd.end.isoformat() <= window[1], "outside-window",
             f"the order would end {cmd.end}, after the trial window ends {window[1] if window else ''}")
    o.change(ctx, cmd.effective, cmd.every_weeks, cmd.end, cmd.minutes, cmd.start_time)
    return {"order_id": str(o.id)}


@declare(CancelOrder, name="cancel_order", roles=["assessor", "provider_staff"], path=["order_id"], if_match="order",
         example={"effective": "2019-07-01", "notified_at": "2019-06-28T09:00:00Z", "reason": "citizen_request"})
def cancel(uow: UnitOfWork, cmd: CancelOrder, ctx: Context, svc: Services) -> Result:
    o = order(uow, cmd.order_id)
    cat = catalogue(uow, o.municipality)
    try:
        terms = cat.offer(o.offer_id)["cancellation"]
    except NotFound:  # pragma: no cover - an order always names a catalogue offer
        terms = {"notice_hours": 0, "fee_ore": 0}
    notified = cmd.notified_at or ctx.recorded or datetime.now(timezone.utc)
    if notified.tzinfo is None:
        notified = notified.replace(tzinfo=timezone.utc)
    o.cancel(ctx, cmd.effective, notified, terms, cmd.reason)
    cancelled = o.pending_events[-1]
    assert isinstance(cancelled, Order.OrderCancelled)  # what cancel() just triggered
    return {"order_id": str(o.id), "late": cancelled.late}
