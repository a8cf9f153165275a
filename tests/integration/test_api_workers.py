"""Two server processes on one store: each writer's cached aggregates follow what the other wrote,
and one follower leads the projection catch-up (ADR 0025)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from ledger.projections.follower import Follower
from ledger.application.commands import lookup
from ledger.application.group_commit import GroupCommit
from ledger.domain.base import Context
from ledger.domain.errors import LedgerError

from helpers.history import at, citizen_with_grant, herning, open_ledger, run


def _order(writer: GroupCommit, citizen: str, key: str, start: str = "2019-03-01"):
    command = lookup("place_order").parse({"citizen_id": citizen, "offer_id": "extra-cleaning", "kind": "one_off",
                                           "start": start, "minutes": 60})
    return writer.execute(command, Context("tester", "assessor", key, at("2019-06-01T09:00:00+00:00")))


@contextmanager
def two_processes(database_url: str) -> Iterator[tuple[GroupCommit, Any, str]]:
    """A writer over one ledger (process a) and a second ledger (process b) that has set up Herning
    and a citizen with a cleaning grant: (a's writer, b, the citizen)."""
    a, b = open_ledger(database_url), open_ledger(database_url)
    writer = GroupCommit(a, max_batch=64, threads=1)
    writer.start()
    try:
        herning(b)
        yield writer, b, citizen_with_grant(b)
    finally:
        writer.stop()
        a.close()
        b.close()


def test_a_writer_sees_what_another_process_changed_in_a_record_it_has_cached(database_url):
    with two_processes(database_url) as (writer, b, citizen):
        assert _order(writer, citizen, "o-1").result["order_id"]  # citizen, assessment, scheme cached in a
        # Another process ends the grant: a's next order for the citizen is refused, not accepted
        # against its cached assessment.
        run(b, "end_grant", {"citizen_id": citizen, "grant_id": "cleaning", "last_day": "2019-01-31"},
            role="assessor")
        with pytest.raises(LedgerError) as refused:
            _order(writer, citizen, "o-2")
        assert getattr(refused.value, "rule", None) == "no-active-grant"
        # The same command id again is still the first answer's replay (idempotency, ADR 0005).
        assert _order(writer, citizen, "o-1").replayed


def test_a_record_a_writer_looked_up_as_absent_is_loaded_once_another_process_creates_it(database_url):
    with two_processes(database_url) as (writer, b, citizen):
        # a's group looks up the id the order of command o-3 would get: there is none (ABSENT).
        refused = lookup("place_order").parse({"citizen_id": citizen, "offer_id": "no-such-offer", "kind": "one_off",
                                               "start": "2019-03-01", "minutes": 60})
        with pytest.raises(LedgerError):
            writer.execute(refused, Context("tester", "assessor", "o-3", at("2019-06-01T09:00:00+00:00")))
        # Another process places that very order (same command id, so the same order id) ...
        order = run(b, "place_order", {"citizen_id": citizen, "offer_id": "extra-cleaning", "kind": "one_off",
                                       "start": "2019-03-01", "minutes": 60}, role="assessor", command_id="o-3").result
        # ... and a delivery through a's writer finds it, instead of its cached "no such order".
        delivery = lookup("record_delivery").parse({"order_id": order["order_id"], "date": "2019-03-01",
                                                    "band": "weekday_day", "minutes": 60, "staff_id": "s-1"})
        outcome = writer.execute(delivery, Context("tester", "provider_staff", "d-1", at("2019-06-01T09:00:00+00:00")))
        assert outcome.result["order_id"] == order["order_id"]


@pytest.mark.postgres
def test_one_follower_leads_and_the_other_reads_its_positions(database_url):
    if not database_url.startswith("postgresql"):
        pytest.skip("leading is decided by a PostgreSQL advisory lock")
    a, b = open_ledger(database_url), open_ledger(database_url)
    first, second = Follower(a.db, 0.05), Follower(b.db, 0.05)
    try:
        first.engine.ensure_tables()
        assert first.leads() and first.leads()
        assert not second.leads()
        herning(a)
        first.step()
        second.watch()
        assert second.reached == first.reached > 0
        assert second.wait_for(first.reached, 1.0)
        first.stop()  # its session ends: the lead is free once the server has ended it (not at once)
        deadline = time.monotonic() + 5
        while not second.leads() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert second.leads()
    finally:
        first.stop()
        second.stop()
        a.close()
        b.close()
