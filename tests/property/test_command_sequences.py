"""Hypothesis drives random sequences of commands, valid and invalid, through the application.

What must always hold: a refused command changes nothing in the store; every aggregate reloaded
from the store equals the one the application holds; no stored amount is ever a float.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain.errors import LedgerError
from tests.helpers.history import herning, open_ledger, run, stored_rows

DAYS = [f"2018-{m:02d}-{d:02d}" for m in (5, 6, 7, 8, 9) for d in (1, 3, 8, 15, 28)]

step = st.one_of(
    st.tuples(st.just("register"), st.sampled_from(["own_home", "nursing_home", "castle"]),
              st.sampled_from(["municipal", "private:Omsorg ApS", "nobody"])),
    st.tuples(st.just("grant"), st.integers(0, 3), st.sampled_from(["H1.8", "H1.1", "H9.9"]),
              st.sampled_from(["83", "85", "108", "99"]), st.integers(-30, 600), st.sampled_from(DAYS)),
    st.tuples(st.just("reassess"), st.integers(0, 3), st.integers(-10, 300), st.sampled_from(DAYS)),
    st.tuples(st.just("order"), st.integers(0, 3), st.sampled_from(["extra-cleaning", "window-cleaning", "nope"]),
              st.sampled_from(["one_off", "recurring"]), st.sampled_from(DAYS), st.integers(0, 5)),
    st.tuples(st.just("deliver"), st.integers(0, 5), st.sampled_from(DAYS), st.integers(-5, 1500),
              st.booleans()),
    st.tuples(st.just("cancel_order"), st.integers(0, 5), st.sampled_from(DAYS)),
    st.tuples(st.just("pay"), st.integers(0, 3), st.one_of(st.integers(-500, 200_000), st.floats(1, 10))),
    st.tuples(st.just("invoice"), st.sampled_from(["2018-06", "2018-07", "2018-08", "2030-01"])),
    st.tuples(st.just("withdraw"), st.integers(0, 7), st.sampled_from(["cancel_delivery", "dispute_delivery"])),
)


def _pick(items: list[str], i: int) -> str:
    return items[i % len(items)] if items else str(uuid.uuid4())


def _command(s: tuple, citizens: list[str], orders: list[str], deliveries: list[str]) -> tuple[str, dict[str, Any]]:
    kind = s[0]
    if kind == "register":
        return "register_citizen", {"citizen_id": str(uuid.uuid4()), "municipality": 657, "effective": "2018-01-01",
                                    "residence": s[1], "provider": s[2]}
    if kind == "grant":
        return "award_grant", {"citizen_id": _pick(citizens, s[1]), "grant_id": f"g-{s[2]}-{s[3]}", "fsiii": s[2],
                               "section": s[3], "amount": {"minutes_per_week": s[4]}, "valid_from": s[5]}
    if kind == "reassess":
        return "reassess_grant", {"citizen_id": _pick(citizens, s[1]), "grant_id": "g-H1.8-83",
                                  "effective": s[3], "amount": {"minutes_per_week": s[2]}}
    if kind == "order":
        payload = {"citizen_id": _pick(citizens, s[1]), "offer_id": s[2], "kind": s[3], "start": s[4], "minutes": 45}
        if s[3] == "recurring":
            payload["every_weeks"] = s[5] or None
        return "place_order", payload
    if kind == "deliver":
        return "record_delivery", {"order_id": _pick(orders, s[1]), "date": s[2], "band": "weekday_day",
                                   "minutes": s[3], "staff_id": "s-1", "klippekort": s[4]}
    if kind == "cancel_order":
        return "cancel_order", {"order_id": _pick(orders, s[1]), "effective": s[2]}
    if kind == "pay":
        return "receive_payment", {"citizen_id": _pick(citizens, s[1]), "amount": s[2], "date": "2018-09-30",
                                   "method": "bank_transfer"}
    if kind == "invoice":
        return "run_invoices", {"municipality": 657, "month": s[1], "run_date": "2018-10-01"}
    return s[2], {"delivery_id": _pick(deliveries, s[1]), "effective": "2018-10-02", "reason": "complaint"}


def _no_floats(value: Any) -> bool:
    if isinstance(value, float):
        return False
    if isinstance(value, dict):
        return all(_no_floats(v) for v in value.values())
    if isinstance(value, list):
        return all(_no_floats(v) for v in value)
    return True


@given(st.lists(step, min_size=1, max_size=25))
def test_random_command_sequences_keep_the_store_consistent(tmp_path_factory, steps):
    url = f"sqlite:///{tmp_path_factory.mktemp('seq') / 'ledger.db'}"
    app = open_ledger(url)
    try:
        herning(app)
        citizens: list[str] = []
        orders: list[str] = []
        deliveries: list[str] = []
        for s in steps:
            command_type, payload = _command(s, citizens, orders, deliveries)
            before = stored_rows(app)
            try:
                outcome = run(app, command_type, payload, recorded="2018-10-01T12:00:00+00:00")
            except LedgerError:
                assert stored_rows(app) == before, f"refused {command_type} changed the store"
                continue
            result = outcome.result
            if command_type == "register_citizen":
                citizens.append(result["citizen_id"])
            elif command_type == "place_order":
                orders.append(result["order_id"])
            elif command_type == "record_delivery":
                deliveries.append(result["delivery_id"])
        rows = stored_rows(app)
        assert all(_no_floats(orjson.loads(r[4])) for r in rows)
        fresh = open_ledger(url)
        try:
            for oid in {r[1] for r in rows}:
                held = app.repository.get(uuid.UUID(oid))
                reloaded = fresh.repository.get(uuid.UUID(oid))
                assert vars(held) == vars(reloaded)
        finally:
            fresh.close()
    finally:
        app.close()
