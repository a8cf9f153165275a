"""Placing, changing and cancelling orders: the rules that span citizen, grants, scheme and catalogue.

An add-on may be sold only to a citizen who holds an active grant under a section the scheme
covers, on a date inside the municipality's trial window, with the municipal provider where the
scheme requires it, and only from items in force on the order date.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from ledger.application import commands as c
from ledger.application.handlers import handles
from ledger.application.handlers.catalogue import catalogue
from ledger.application.handlers.citizens import citizen
from ledger.domain.assessment import Assessment, assessment_id
from ledger.domain.base import key_id
from ledger.domain.errors import AlreadyExists, NotFound, rule
from ledger.domain.order import Order
from ledger.domain.pricing import Quote
from ledger.domain.scheme import Scheme, scheme_id


def eligibility(uow: Any, person: Any, on: Any) -> tuple[Scheme, dict[str, Any], dict[str, Any]]:
    """(scheme, rules on the date, the grant that makes the citizen eligible) or a refusal."""
    m = person.municipality
    scheme = uow.find(Scheme, scheme_id(m))
    rule(scheme is not None, "no-scheme", f"municipality {m} has no add-on trial scheme")
    rule(scheme.window_on(on) is not None, "outside-window",
         f"{on} is outside the trial windows of municipality {m}: "
         + ", ".join(f"{a}..{b}" for a, b in scheme.windows))
    rules = scheme.rules_on(on)
    grants = uow.get(Assessment, assessment_id(person.id), "assessment").active_on(on)
    covered = [g for g in grants if g["section"] in rules["sections"]]
    rule(bool(covered), "no-active-grant",
         f"citizen {person.id} holds no active grant under § {', § '.join(rules['sections'])} on {on}; "
         "an add-on is sold only on top of a granted service")
    if rules["requires_municipal_provider"]:
        chosen = person.provider_on(on)
        rule(chosen == "municipal", "provider-not-municipal",
             f"the scheme of municipality {m} requires the municipal provider; on {on} the citizen has {chosen}")
    return scheme, rules, covered[0]


def order(uow: Any, order_id: Any) -> Order:
    return uow.get(Order, order_id, "order")


@handles("place_order")
def place(uow: Any, cmd: c.PlaceOrder, ctx: Any, svc: Any) -> dict[str, Any]:
    person = citizen(uow, cmd.citizen_id)
    oid = cmd.order_id or key_id("order", ctx.command_id)
    if uow.find(Order, oid) is not None:
        raise AlreadyExists(f"order {oid} already exists")
    scheme, _, grant = eligibility(uow, person, cmd.start)
    window_end = scheme.window_on(cmd.start)[1]
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


@handles("change_order")
def change(uow: Any, cmd: c.ChangeOrder, ctx: Any, svc: Any) -> dict[str, Any]:
    o = order(uow, cmd.order_id)
    o.change(ctx, cmd.effective, cmd.every_weeks, cmd.end, cmd.minutes, cmd.start_time)
    return {"order_id": str(o.id)}


@handles("cancel_order")
def cancel(uow: Any, cmd: c.CancelOrder, ctx: Any, svc: Any) -> dict[str, Any]:
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
    return {"order_id": str(o.id), "late": o.pending_events[-1].late}
