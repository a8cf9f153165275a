"""Placing, changing and cancelling orders through the handlers, against a unit of work in memory."""

from __future__ import annotations

from uuid import UUID

import pytest

from ledger.domain.base import key_id
from ledger.domain.errors import AlreadyExists, InvalidInput, NotFound, RuleViolated
from ledger.domain.order import Order
from tests.unit.fakes import FakeLedger
from tests.unit.world import PRICES, WINDOW, citizen, herning, item, place, scheme
from tests.helpers.costs import at_cost


@pytest.fixture
def ledger() -> FakeLedger:
    return FakeLedger()


def _refused(ledger: FakeLedger, rule: str, **fields: object) -> None:
    cid = fields.pop("citizen_id", None) or herning(ledger)
    stored = {k: list(v) for k, v in ledger.uow.committed.items()}
    with pytest.raises(RuleViolated) as refused:
        place(ledger, str(cid), **fields)
    assert refused.value.rule == rule
    assert ledger.uow.committed == stored and ledger.uow.pending() == []  # a refusal stores nothing


def test_an_order_is_quoted_the_price_in_force_on_its_start_date(ledger):
    cid = herning(ledger)
    item(ledger, "dear", prices={**PRICES, "evening": 70_000})
    ledger.execute("change_price", {"municipality": 657, "offer_id": "dear", "effective": "2019-01-01",
                                    "vat_class": "exempt", "prices": {**PRICES, "evening": 80_000},
                                    "cost_basis": at_cost({**PRICES, "evening": 80_000})})
    result = place(ledger, cid, offer_id="dear", band="evening")
    assert result["quoted"]["price_ore"] == 80_000 and result["quoted"]["vat_class"] == "exempt"
    assert ledger.uow.events_of(result["order_id"]) == ["OrderPlaced"]


def test_the_order_id_is_derived_from_the_command_id_so_a_retry_cannot_make_a_twin(ledger):
    cid = herning(ledger)
    result = place(ledger, cid)
    assert UUID(result["order_id"]) == key_id("order", ledger.last_context.command_id)
    with pytest.raises(AlreadyExists):
        place(ledger, cid, order_id=result["order_id"])


def test_a_recurring_order_without_an_end_runs_to_the_end_of_the_trial_window(ledger):
    cid = herning(ledger)
    order = ledger.uow.get(Order, UUID(place(ledger, cid)["order_id"]))
    assert order.end == WINDOW[1]


def test_an_order_needs_an_active_grant_under_a_section_the_scheme_covers(ledger):
    scheme(ledger)
    item(ledger)
    _refused(ledger, "no-active-grant", citizen_id=citizen(ledger, grant=False))


def test_an_order_outside_the_trial_window_is_refused(ledger):
    _refused(ledger, "outside-window", start="2022-02-01")


def test_an_order_may_not_end_after_the_trial_window(ledger):
    _refused(ledger, "outside-window", end="2022-01-31")


def test_a_change_may_not_move_an_order_s_end_past_the_trial_window(ledger):
    cid = herning(ledger)
    oid = place(ledger, cid)["order_id"]
    stored = {k: list(v) for k, v in ledger.uow.committed.items()}
    with pytest.raises(RuleViolated) as refused:
        ledger.execute("change_order", {"order_id": oid, "effective": "2019-04-01", "end": "2022-01-31"})
    assert refused.value.rule == "outside-window" and WINDOW[1] in refused.value.message
    assert ledger.uow.committed == stored
    ledger.execute("change_order", {"order_id": oid, "effective": "2019-04-01", "end": WINDOW[1]})  # to its end: fine


def test_an_order_of_an_item_not_yet_in_force_is_refused(ledger):
    cid = herning(ledger)
    item(ledger, "later", effective="2020-01-01")
    _refused(ledger, "offer-not-in-force", citizen_id=cid, offer_id="later")


def test_a_municipality_without_a_scheme_sells_nothing(ledger):
    _refused(ledger, "no-scheme", citizen_id=citizen(ledger))


def test_the_scheme_may_require_the_municipal_provider(ledger):
    cid = herning(ledger)
    ledger.execute("choose_provider", {"citizen_id": cid, "effective": "2019-01-01", "provider": "private:Hjem og Have ApS"})
    _refused(ledger, "provider-not-municipal", citizen_id=cid)


def test_an_unknown_citizen_is_not_found(ledger):
    herning(ledger)
    with pytest.raises(NotFound):
        place(ledger, "00000000-0000-0000-0000-000000000001")


def test_a_recurring_order_needs_an_interval(ledger):
    cid = herning(ledger)
    with pytest.raises(InvalidInput, match="every_weeks"):
        place(ledger, cid, every_weeks=None)


def test_a_change_and_a_late_cancellation_are_recorded_on_the_order(ledger):
    cid = herning(ledger)
    oid = place(ledger, cid)["order_id"]
    ledger.execute("change_order", {"order_id": oid, "effective": "2019-04-01", "minutes": 90})
    result = ledger.execute("cancel_order", {"order_id": oid, "effective": "2019-05-06",
                                             "notified_at": "2019-05-05T18:00:00+00:00"})
    assert result == {"order_id": oid, "late": True}
    assert ledger.uow.events_of(oid) == ["OrderPlaced", "OrderChanged", "OrderCancelled"]
    cancelled = ledger.uow.committed[UUID(oid)][-1]
    assert (cancelled.late, cancelled.fee_ore) == (True, 10_000)


def test_a_cancellation_with_enough_notice_is_not_late_and_carries_no_fee(ledger):
    cid = herning(ledger)
    oid = place(ledger, cid)["order_id"]
    result = ledger.execute("cancel_order", {"order_id": oid, "effective": "2019-05-06",
                                             "notified_at": "2019-05-01T08:00:00+00:00"})
    assert result["late"] is False and ledger.uow.committed[UUID(oid)][-1].fee_ore == 0


def test_a_cancelled_order_refuses_further_changes_and_keeps_its_events(ledger):
    cid = herning(ledger)
    oid = place(ledger, cid)["order_id"]
    ledger.execute("cancel_order", {"order_id": oid, "effective": "2019-05-06",
                                    "notified_at": "2019-05-01T08:00:00+00:00"})
    with pytest.raises(RuleViolated, match="cancelled"):
        ledger.execute("change_order", {"order_id": oid, "effective": "2019-06-01", "minutes": 30})
    assert ledger.uow.events_of(oid) == ["OrderPlaced", "OrderCancelled"]
