"""The tamper suite: each way an intruder with database access can alter a store, run through the
whole `ledger-replay verify` (chain, heads, end of the log, every projection rebuilt) on both
backends. Every case must end in exit 1 with a report naming the first bad position or table, and
never in a traceback (issue 13: four of these crashed the projection rebuild with a KeyError).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from typer.testing import CliRunner

from ledger.application import Ledger
from ledger.application.ledger import Submission
from ledger.db import Database
from ledger.domain.base import Context
from ledger.projections import all_projections
from ledger.projections.engine import Engine
from ledger.settings import Settings
from replay.cli import app
from tests.integration.test_replay_chain import (
    CITIZEN_A,
    _insert_event,
    event_at,
    execute,
    history,
    position_of,
    rows,
    set_state,
)

runner = CliRunner()


def verify(url: str, *args: str) -> Any:
    result = runner.invoke(app, ["verify", "--db", url, *args], env={"LEDGER_DATABASE_URL": ""})
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def first_problem(result: Any) -> str:
    lines = [line for line in result.output.splitlines() if line.startswith("first problem: ")]
    assert lines, result.output
    return lines[0].removeprefix("first problem: ")


def catch_up(url: str) -> None:
    ledger = Ledger(Settings(database_url=url))
    try:
        Engine(ledger.db, all_projections()).catch_up()
    finally:
        ledger.close()


@pytest.fixture
def store(database_url: str) -> Any:
    """The deterministic history with every projection caught up: a store that verifies."""
    url = history(database_url)
    catch_up(url)
    db = Database(url)
    yield url, db
    db.close()


@pytest.fixture
def long_store(database_url: str) -> Any:
    """The history and 60 payments more (for truncations of 50), projections not yet built."""
    url = history(database_url)
    ledger = Ledger(Settings(database_url=url))
    at = datetime(2018, 9, 20, 8, 0, tzinfo=timezone.utc)
    ledger.execute_batch([
        Submission("receive_payment", {"payment_id": f"p-bulk-{n}", "citizen_id": CITIZEN_A, "amount": 100 + n,
                                       "date": "2018-09-20", "method": "direct_debit"},
                   Context("replay-test", "administrator", f"bulk-{n:03d}", at)) for n in range(60)])
    ledger.close()
    db = Database(url)
    yield url, db
    db.close()


def top(db: Database) -> int:
    return int(rows(db, "SELECT max(position) FROM ledger_chain")[0][0])


def truncate(db: Database, count: int) -> int:
    """Delete the last `count` events and their chain rows, as one intruder's transaction; returns
    the position the chain now ends at."""
    end = top(db) - count
    nids = [r[0] for r in rows(db, "SELECT notification_id FROM ledger_chain WHERE position > ?", (end,))]
    execute(db, *[(f"DELETE FROM {db.events_table} WHERE {db.position_column} = ?", (nid,)) for nid in nids],
            ("DELETE FROM ledger_chain WHERE position > ?", (end,)))
    return end


def test_a_clean_store_verifies_and_prints_its_full_head(store: Any) -> None:
    url, db = store
    result = verify(url)
    assert result.exit_code == 0, result.output
    head_pos, head_hash = rows(db, "SELECT position, hash FROM ledger_chain ORDER BY position DESC LIMIT 1")[0]
    printed = f"{head_pos}:{bytes(head_hash).hex()}"
    assert f"head: {printed}" in result.output
    again = verify(url, "--expect-head", printed)  # the printed head is accepted as it is
    assert again.exit_code == 0, again.output


def test_one_byte_changed_in_a_state_is_found_at_its_position(store: Any) -> None:
    url, db = store
    position = position_of(db, "GrantAwarded")
    nid, state = event_at(db, position)
    set_state(db, nid, state.replace(b'"section"', b'"sectioN"', 1))  # a JSON key: the rebuild cannot apply it
    result = verify(url)
    assert result.exit_code == 1
    assert first_problem(result) == f"position {position}: hash mismatch (stored state altered?)"


def test_one_byte_changed_in_a_topic_is_found_at_its_position(store: Any) -> None:
    url, db = store
    position = position_of(db, "OrderPlaced")
    nid, _ = event_at(db, position)
    execute(db, (f"UPDATE {db.events_table} SET topic = replace(topic, 'OrderPlaced', 'OrderPlacex') "
                 f"WHERE {db.position_column} = ?", (nid,)))
    result = verify(url)
    assert result.exit_code == 1
    assert first_problem(result) == f"position {position}: hash mismatch (stored state altered?)"


def test_one_byte_changed_in_a_chain_hash_is_found_at_its_position(store: Any) -> None:
    url, db = store
    position = position_of(db, "DeliveryRecorded")
    h = bytearray(rows(db, "SELECT hash FROM ledger_chain WHERE position = ?", (position,))[0][0])
    h[0] ^= 1
    execute(db, ("UPDATE ledger_chain SET hash = ? WHERE position = ?", (bytes(h), position)))
    result = verify(url)
    assert result.exit_code == 1
    assert first_problem(result) == f"position {position}: hash mismatch (stored state altered?)"


def test_a_deleted_event_is_found_at_its_position(store: Any) -> None:
    url, db = store
    position = position_of(db, "GrantAwarded")
    nid, _ = event_at(db, position)
    execute(db, (f"DELETE FROM {db.events_table} WHERE {db.position_column} = ?", (nid,)))
    result = verify(url)
    assert result.exit_code == 1
    assert first_problem(result).startswith(f"position {position}: chain row names notification {nid}, which has no")


def test_two_swapped_states_are_found_at_the_first(store: Any) -> None:
    url, db = store
    a, b = position_of(db, "GrantAwarded"), position_of(db, "OrderPlaced")
    (nid_a, state_a), (nid_b, state_b) = event_at(db, a), event_at(db, b)
    set_state(db, nid_a, state_b)
    set_state(db, nid_b, state_a)
    result = verify(url)
    assert result.exit_code == 1
    assert first_problem(result) == f"position {a}: hash mismatch (stored state altered?)"
    assert "the rebuild from zero stopped at projection" in result.output  # reported, not raised


def test_an_inserted_event_without_a_chain_row_is_found(store: Any) -> None:
    url, db = store
    head_pos, head_nid = rows(db, "SELECT max(position), max(notification_id) FROM ledger_chain")[0]
    _, state = event_at(db, position_of(db, "DeliveryRecorded"))
    _insert_event(db, head_nid + 1, state)
    result = verify(url)
    assert result.exit_code == 1
    assert first_problem(result) == f"event without chain row at notification {head_nid + 1} (after position {head_pos})"


def test_an_inserted_event_with_a_forged_chain_row_is_found(store: Any) -> None:
    url, db = store
    head_pos, head_nid = rows(db, "SELECT max(position), max(notification_id) FROM ledger_chain")[0]
    _, state = event_at(db, position_of(db, "DeliveryRecorded"))
    _insert_event(db, head_nid + 1, state)
    execute(db, ("INSERT INTO ledger_chain VALUES (?, ?, ?)", (head_pos + 1, head_nid + 1, b"\x01" * 32)))
    result = verify(url)
    assert result.exit_code == 1
    assert first_problem(result) == f"position {head_pos + 1}: hash mismatch (stored state altered?)"


def test_truncating_one_event_with_the_projections_ahead_is_found(store: Any) -> None:
    url, db = store
    end = truncate(db, 1)
    result = verify(url)
    assert result.exit_code == 1
    assert first_problem(result).startswith(f"truncation after position {end}: ")
    assert "projection_tracking" in result.output


def test_truncating_one_event_without_projections_is_found_by_the_command_records(long_store: Any) -> None:
    url, db = long_store
    end = truncate(db, 1)
    result = verify(url, "--skip-projections")
    assert result.exit_code == 1
    assert first_problem(result).startswith(f"truncation after position {end}: a stored command wrote events")


def test_truncating_fifty_events_with_the_projections_ahead_is_found(long_store: Any) -> None:
    url, db = long_store
    catch_up(url)
    end = truncate(db, 50)
    result = verify(url)
    assert result.exit_code == 1
    assert first_problem(result).startswith(f"truncation after position {end}: ")
    assert "projection_tracking" in result.output and "ledger_commands" in result.output


def test_truncating_fifty_events_without_projections_is_found(long_store: Any) -> None:
    url, db = long_store
    end = truncate(db, 50)
    result = verify(url)
    assert result.exit_code == 1
    assert first_problem(result).startswith(f"truncation after position {end}: a stored command wrote events")


def test_a_truncation_that_also_removes_the_command_records_is_found_by_an_expected_head(long_store: Any) -> None:
    url, db = long_store
    position, h = rows(db, "SELECT position, hash FROM ledger_chain ORDER BY position DESC LIMIT 1")[0]
    end = truncate(db, 50)
    execute(db, ("DELETE FROM ledger_commands WHERE command_id LIKE ?", ("bulk-%",)))
    assert verify(url).exit_code == 0  # nothing inside the store remembers the end...
    result = verify(url, "--expect-head", f"{position}:{bytes(h).hex()}")  # ...a published head does
    assert result.exit_code == 1
    assert first_problem(result).startswith(f"truncation after position {end}: the chain ends there")


def test_a_gap_in_the_chain_is_found(store: Any) -> None:
    url, db = store
    gap_after = position_of(db, "OrderPlaced")
    shifted = rows(db, "SELECT position FROM ledger_chain WHERE position > ? ORDER BY position DESC", (gap_after,))
    execute(db, *[("UPDATE ledger_chain SET position = ? WHERE position = ?", (p + 1, p)) for (p,) in shifted])
    result = verify(url)
    assert result.exit_code == 1
    assert first_problem(result) == f"gap after position {gap_after} (the next is {gap_after + 2})"


def test_reordered_events_are_found(store: Any) -> None:
    url, db = store
    a = position_of(db, "GrantAwarded")
    (nid_a, _), (nid_b, _) = event_at(db, a), event_at(db, a + 1)
    execute(db, ("UPDATE ledger_chain SET notification_id = ? WHERE position = ?", (-1, a)),
            ("UPDATE ledger_chain SET notification_id = ? WHERE position = ?", (nid_a, a + 1)),
            ("UPDATE ledger_chain SET notification_id = ? WHERE position = ?", (nid_b, a)))
    result = verify(url)
    assert result.exit_code == 1
    assert first_problem(result) == f"event without chain row at notification {nid_a} (after position {a - 1})"


def test_an_edited_projection_row_is_named_with_its_table(store: Any) -> None:
    url, db = store
    execute(db, ("UPDATE billing_invoices SET gross = gross + 1 WHERE number = '657-000001'", ()))
    result = verify(url)
    assert result.exit_code == 1
    assert "table billing_invoices differs from its rebuild" in result.output
    assert "NOT VERIFIED" in result.output


def test_an_unforeseen_failure_is_reported_as_could_not_verify(store: Any, monkeypatch: Any) -> None:
    url, _ = store

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("replay.verify.check_chain", broken)
    result = verify(url)
    assert result.exit_code == 1
    assert "could not verify: RuntimeError: disk on fire" in result.output


def test_digests_taken_in_worker_processes_are_the_ones_taken_here(store: Any, monkeypatch: Any) -> None:
    """A large verify digests its tables in `jobs` worker processes (replay/projections.py); the
    digests and the finding must be the same as those of the one-process comparison."""
    import replay.projections as rp

    url, db = store
    here = rp.compare_projections(db, all_projections(), jobs=1)
    monkeypatch.setattr(rp, "PARALLEL_DIGESTS_FROM", 0)
    there = rp.compare_projections(db, all_projections(), jobs=2)
    assert here.ok and there.ok
    assert [(r.name, r.status, [(t.table, t.live_digest, t.rebuilt_digest) for t in r.tables]) for r in here.results] \
        == [(r.name, r.status, [(t.table, t.live_digest, t.rebuilt_digest) for t in r.tables]) for r in there.results]
    execute(db, ("UPDATE billing_invoices SET gross = gross + 1 WHERE number = '657-000001'", ()))
    (billing,) = [r for r in rp.compare_projections(db, all_projections(), jobs=2).results if r.name == "billing"]
    assert billing.status == "differs"
    assert [t.table for t in billing.tables if not t.equal] == ["billing_invoices"]
    assert next(t for t in billing.tables if not t.equal).first_difference == "number='657-000001': gross differ"


def test_a_cell_of_another_type_is_a_difference_not_a_crash(store: Any) -> None:
    """SQLite keeps text that no affinity converts in an INTEGER column; the digest renders a cell
    as stored (ledger/projections/engine.py table_digest), so such an edit is a finding (before
    round 8 the comparison converted each cell and stopped with a ValueError, reported as a
    failed rebuild)."""
    url, db = store
    edit = ("UPDATE billing_invoices SET gross = 'a lot' WHERE number = '657-000001'", ())
    if db.is_postgres:  # the column's type refuses the edit: there is no such cell to find
        with pytest.raises(Exception, match="bigint"):
            execute(db, edit)
        return
    execute(db, edit)
    result = verify(url)
    assert result.exit_code == 1
    assert "table billing_invoices differs from its rebuild" in result.output


def test_the_chain_checked_in_its_own_process_reports_what_the_one_process_verify_does(store: Any) -> None:
    """From 100,000 positions on, verify checks the chain in a process of its own while the fold
    runs (replay/verify.py `_ChainProcess`); here forced on the small store: the report is the
    same as the one-process verify's, clean and with a byte changed in a state."""
    import replay.verify as rv
    from replay.store import open_store

    url, db = store

    def both() -> list[tuple[bool, list[str], list[tuple[str, int]]]]:
        out = []
        for jobs in (1, 2):
            s = open_store(url)
            try:
                report = rv.verify_store(s, [], all_projections(), jobs=jobs)
            finally:
                s.close()
            out.append((report.ok, [str(p) for p in report.check.problems],
                        [(r.name, r.status) for r in report.comparison.results]))
        return out

    clean = both()
    assert clean[0] == clean[1] and clean[0][0]
    position = position_of(db, "GrantAwarded")
    nid, state = event_at(db, position)
    set_state(db, nid, state.replace(b'"section"', b'"sectioN"', 1))
    tampered = both()
    assert tampered[0][:2] == tampered[1][:2] and not tampered[0][0]
    assert tampered[0][1], "the altered state is a chain problem"


def test_a_chain_process_that_fails_is_reported_in_the_parent(store: Any) -> None:
    """The child's exception is raised in the parent, as the pool it replaced raised it."""
    import multiprocessing

    import replay.verify as rv
    from replay.errors import UsageError

    url, _ = store
    chain = rv._ChainProcess(multiprocessing.get_context("spawn"), "sqlite:////nonexistent/dir/x.db"
                             if url.startswith("sqlite") else url + "_missing_schema", [])
    with pytest.raises(UsageError, match=r"no database file|holds no ledger event log"):
        chain.result()
