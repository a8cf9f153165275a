"""The delivery alone: what may be recorded, what is billable, and withdrawing it once."""

from __future__ import annotations

from datetime import date, datetime, timezone
from uuid import uuid4

import pytest

from ledger.domain.base import Context
from ledger.domain.delivery import Delivery
from ledger.domain.errors import InvalidInput, RuleViolated

CTX = Context("staff", "provider_staff", "cmd-1", datetime(2019, 3, 5, 9, tzinfo=timezone.utc))


def delivered(minutes: int = 60, units: int = 1, unit: str = "hour", klippekort: bool = False,
              staff_id: str = "staff-1", band: str = "weekday_day") -> Delivery:
    return Delivery.record(CTX, uuid4(), 657, str(uuid4()), str(uuid4()), "clean", unit, date(2019, 3, 4), band,
                           minutes, units, staff_id, False, klippekort, None)


def missed(reason: str = "citizen_absent") -> Delivery:
    return Delivery.missed(CTX, uuid4(), 657, str(uuid4()), str(uuid4()), "clean", date(2019, 3, 4), reason, None)


def test_a_recorded_delivery_is_billable_and_names_its_event():
    d = delivered()
    assert d.billable and d.delivered and d.date == "2019-03-04" and d.recorded_ref == f"{d.id}:1"


def test_klippekort_hours_are_recorded_but_never_billed():
    d = delivered(klippekort=True)
    assert d.delivered and not d.billable


def test_a_missed_visit_is_neither_billable_nor_withdrawable():
    d = missed()
    assert not d.billable
    with pytest.raises(RuleViolated, match="never delivered"):
        d.cancel(CTX, date(2019, 3, 5), "wrong entry")


def test_a_missed_visit_names_one_of_the_known_reasons():
    with pytest.raises(InvalidInput):
        missed(reason="felt like it")


@pytest.mark.parametrize("fields", [{"minutes": 0}, {"minutes": 16 * 60 + 1}, {"units": 2}, {"staff_id": ""},
                                    {"band": "midnight"}])
def test_implausible_deliveries_are_refused(fields):
    with pytest.raises(InvalidInput):
        delivered(**fields)


def test_a_day_item_may_cover_several_days():
    assert delivered(unit="day", units=5).billable


def test_a_delivery_is_withdrawn_once_by_cancellation_or_dispute():
    d = delivered()
    d.dispute(CTX, date(2019, 3, 6), "the citizen says nobody came")
    assert not d.billable and d.withdrawn
    with pytest.raises(RuleViolated, match="already"):
        d.cancel(CTX, date(2019, 3, 7), "wrong entry")
    assert [type(e).__name__ for e in d.collect_events()] == ["DeliveryRecorded", "DeliveryDisputed"]


def test_a_withdrawal_needs_a_reason():
    with pytest.raises(InvalidInput, match="reason"):
        delivered().cancel(CTX, date(2019, 3, 5), "  ")
