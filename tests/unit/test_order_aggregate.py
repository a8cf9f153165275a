"""The order alone: what it checks itself, and what its events make of it (no database)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from functools import reduce
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain.base import Context
from ledger.domain.errors import InvalidInput, RuleViolated
from ledger.domain.order import Order
from ledger.domain.pricing import Quote

CTX = Context("tester", "assessor", "cmd-1", datetime(2019, 3, 1, 9, tzinfo=timezone.utc))
HOURLY = {"kind": "item", "unit": "hour", "fsiii": "H1.8"}
QUOTED = Quote(price_ore=35_400, vat_class="exempt", unit="hour", price_ref="cat:1")
TERMS = {"notice_hours": 24, "fee_ore": 10_000}


def recurring(start: date = date(2019, 3, 4), end: date | None = date(2019, 12, 31), every_weeks: int | None = 2,
              minutes: int | None = 60, offer: dict[str, str] = HOURLY) -> Order:
    return Order.place(CTX, uuid4(), 657, str(uuid4()), offer, "clean", "recurring", start, end, every_weeks,
                       minutes, "weekday_day", QUOTED, "grant:1")


def one_off(on: date = date(2019, 3, 4), end: date | None = None, every_weeks: int | None = None) -> Order:
    return Order.place(CTX, uuid4(), 657, str(uuid4()), HOURLY, "clean", "one_off", on, end, every_weeks, 60,
                       "weekday_day", QUOTED, "grant:1")


def test_a_placed_order_remembers_what_the_citizen_was_quoted():
    order = recurring()
    assert order.quoted == {"price_ore": 35_400, "vat_class": "exempt", "unit": "hour", "price_ref": "cat:1"}
    assert order.placed_ref == f"{order.id}:1" and order.eligibility == "grant:1"


def test_a_one_off_order_is_for_one_date():
    assert one_off().end == "2019-03-04"
    with pytest.raises(RuleViolated, match="end must equal start"):
        one_off(end=date(2019, 3, 5))
    with pytest.raises(RuleViolated, match="no interval"):
        one_off(every_weeks=2)


def test_a_recurring_order_needs_an_interval_of_one_to_fifty_two_weeks():
    with pytest.raises(InvalidInput, match="every_weeks"):
        recurring(every_weeks=None)
    with pytest.raises(InvalidInput):
        recurring(every_weeks=53)


def test_an_hourly_item_needs_the_planned_minutes():
    with pytest.raises(InvalidInput, match="planned minutes"):
        recurring(minutes=None)
    assert recurring(minutes=None, offer={**HOURLY, "unit": "visit"}).minutes is None


def test_an_order_cannot_end_before_it_starts():
    with pytest.raises(RuleViolated, match="after it ends"):
        recurring(start=date(2019, 3, 4), end=date(2019, 3, 1))


def test_a_one_off_order_cannot_be_changed():
    with pytest.raises(RuleViolated, match="one-off order cannot be changed"):
        one_off().change(CTX, date(2019, 3, 4), None, None, 90)


def test_a_change_keeps_what_it_does_not_name():
    order = recurring()
    order.change(CTX, date(2019, 4, 1), None, None, 90)
    assert (order.every_weeks, order.end, order.minutes) == (2, "2019-12-31", 90)


def test_a_cancellation_with_less_notice_than_the_terms_is_late_and_carries_the_fee():
    order = recurring()
    order.cancel(CTX, date(2019, 5, 6), datetime(2019, 5, 5, 12, tzinfo=timezone.utc), TERMS, "citizen_request")
    cancelled = order.pending_events[-1]
    assert (cancelled.late, cancelled.fee_ore, order.cancelled_from) == (True, 10_000, "2019-05-06")


def test_a_cancelled_order_refuses_another_cancellation():
    order = recurring()
    order.cancel(CTX, date(2019, 5, 6), datetime(2019, 5, 1, tzinfo=timezone.utc), TERMS, "citizen_request")
    assert order.pending_events[-1].fee_ore == 0
    with pytest.raises(RuleViolated, match="cancelled"):
        order.cancel(CTX, date(2019, 5, 7), datetime(2019, 5, 1, tzinfo=timezone.utc), TERMS, "again")


@given(st.dates(date(2019, 1, 1), date(2020, 6, 30)))
def test_an_order_is_active_from_its_start_to_its_end_and_not_from_its_cancellation(day):
    order = recurring(start=date(2019, 3, 4), end=date(2019, 12, 31))
    order.cancel(CTX, date(2019, 9, 2), datetime(2019, 8, 1, tzinfo=timezone.utc), TERMS, "citizen_request")
    assert order.active_on(day) == (date(2019, 3, 4) <= day < date(2019, 9, 2))


def test_replaying_the_events_gives_the_same_order():
    order = recurring()
    order.change(CTX, date(2019, 4, 1), 1, date(2019, 10, 31), 45)
    order.cancel(CTX, date(2019, 9, 2), datetime(2019, 8, 1, tzinfo=timezone.utc), TERMS, "citizen_request")
    replayed = reduce(lambda agg, e: e.mutate(agg), order.collect_events(), None)
    assert vars(replayed) == vars(order)
