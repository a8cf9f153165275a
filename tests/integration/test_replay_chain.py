"""Tamper evidence against real stores: a small history made by the application, then altered with
raw SQL the way an intruder with database access could; `verify` must name the first bad position.

The history is deterministic (fixed ids, command ids and recorded instants), so two stores built
from it hold the same bytes; other replay tests import `build_history` from here.
"""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.application import Ledger
from ledger.db import Database
from ledger.domain.assessment import assessment_id
from ledger.domain.base import Context
from ledger.projections import all_projections
from ledger.projections.engine import Engine
from ledger.settings import Settings
from ledger.store.chain import link as store_link
from replay.chain import link
from replay.store import open_store
from replay.verify import check_chain, parse_expect_head, verify_store
from tests.helpers.costs import at_cost

HERNING = 657
CITIZEN_A = "0b7e3f0e-5c1a-4b8e-9a55-1d2c3b4a5f60"
CITIZEN_B = "6a1d9c2e-7f3b-4e8a-8c11-2b3c4d5e6f70"
ORDER_A = "7c2e1b3a-0d4f-4a6b-9e8d-3c4b5a6f7e80"
ORDER_B = "8d3f2c4b-1e5a-4b7c-8f9e-4d5c6b7a8f90"
CORRECTED_AT = "2018-09-15T10:00:00+00:00"  # the back-dated correction is recorded then
BEFORE_CORRECTION = "2018-09-10T00:00:00+00:00"


def _run(app: Ledger, n: int, command_type: str, payload: dict[str, Any], recorded: str) -> Any:
    at = datetime.fromisoformat(recorded).astimezone(timezone.utc)
    return app.execute(command_type, payload, Context("replay-test", "administrator", f"replay-{n:03d}", at))


def history_steps() -> list[tuple[str, dict[str, Any], str]]:
    """(command, payload, recorded) in order: scheme, items, two citizens, orders, deliveries, a
    late cancellation, two invoice runs, a payment, a dispute (credit note), then a back-dated
    correction of a grant recorded after the runs."""
    day = "2018-06-01T08:00:00+00:00"
    return [
        ("establish_scheme", {"municipality": HERNING, "name": "Tilkøb Herning", "window_start": "2018-06-01",
                              "window_end": "2021-12-31", "sections": ["83", "85"], "minimum_minutes": 30,
                              "increment_minutes": 30}, day),
        ("add_item", {"municipality": HERNING, "item_id": "extra-cleaning", "name": "Ekstra rengøring", "unit": "hour",
                      "fsiii": "H1.8", "vat_class": "exempt",
                      "prices": {"weekday_day": 35_400, "evening": 66_500, "weekend": 49_600},
                      "cost_basis": at_cost({"weekday_day": 35_400, "evening": 66_500, "weekend": 49_600}),
                      "effective": "2018-06-01"}, day),
        ("add_item", {"municipality": HERNING, "item_id": "window-cleaning", "name": "Vinduespudsning", "unit": "visit",
                      "fsiii": "H1.8", "vat_class": "standard",
                      "prices": {"weekday_day": 45_000, "evening": 45_000, "weekend": 45_000},
                      "cost_basis": at_cost(dict.fromkeys(("weekday_day", "evening", "weekend"), 45_000)),
                      "effective": "2018-06-01", "cancellation": {"notice_hours": 48, "fee_ore": 15_000}}, day),
        *[("register_citizen", {"citizen_id": c, "municipality": HERNING, "effective": "2018-01-01",
                                "residence": "own_home"}, "2018-06-02T09:00:00+00:00") for c in (CITIZEN_A, CITIZEN_B)],
        *[("award_grant", {"citizen_id": c, "grant_id": "cleaning", "fsiii": "H1.8", "section": "83",
                           "amount": {"minutes_per_week": 30}, "valid_from": "2018-01-01"},
           "2018-06-02T09:30:00+00:00") for c in (CITIZEN_A, CITIZEN_B)],
        ("place_order", {"order_id": ORDER_A, "citizen_id": CITIZEN_A, "offer_id": "extra-cleaning",
                         "kind": "recurring", "every_weeks": 1, "start": "2018-07-02", "minutes": 60},
         "2018-06-20T10:00:00+00:00"),
        ("place_order", {"order_id": ORDER_B, "citizen_id": CITIZEN_B, "offer_id": "window-cleaning",
                         "kind": "one_off", "start": "2018-07-20"}, "2018-06-20T11:00:00+00:00"),
        *[("record_delivery", {"order_id": ORDER_A, "date": d, "band": "weekday_day", "minutes": m,
                               "staff_id": "s-1"}, f"{d}T15:00:00+00:00")
          for d, m in (("2018-07-02", 55), ("2018-07-09", 70), ("2018-07-16", 30))],
        ("cancel_order", {"order_id": ORDER_B, "effective": "2018-07-20", "notified_at": "2018-07-19T12:00:00Z"},
         "2018-07-19T12:00:00+00:00"),
        ("run_invoices", {"municipality": HERNING, "month": "2018-07", "run_date": "2018-08-03"},
         "2018-08-03T06:00:00+00:00"),
        ("receive_payment", {"payment_id": "p-1", "citizen_id": CITIZEN_A, "amount": 50_000, "date": "2018-08-10",
                             "method": "direct_debit"}, "2018-08-10T08:00:00+00:00"),
        *[("record_delivery", {"order_id": ORDER_A, "date": d, "band": "weekday_day", "minutes": 45,
                               "staff_id": "s-2"}, f"{d}T15:00:00+00:00") for d in ("2018-08-06", "2018-08-13")],
        ("run_invoices", {"municipality": HERNING, "month": "2018-08", "run_date": "2018-09-03"},
         "2018-09-03T06:00:00+00:00"),
        ("correct_grant", {"citizen_id": CITIZEN_A, "grant_id": "cleaning", "effective": "2018-07-01",
                           "amount": {"minutes_per_week": 60}, "corrects": f"{assessment_id(uuid.UUID(CITIZEN_A))}:2"}, CORRECTED_AT),
    ]


def build_history(url: str, until: str | None = None) -> Ledger:
    """The deterministic history (optionally only the commands recorded before `until`)."""
    app = Ledger(Settings(database_url=url))
    for n, (command_type, payload, recorded) in enumerate(history_steps(), start=1):
        if until is not None and recorded >= until:
            break
        _run(app, n, command_type, payload, recorded)
    return app


class _Templates:
    """The history is built once per backend and copied into each test's fresh store: building
    it through the application costs seconds on PostgreSQL, copying it milliseconds."""

    def __init__(self) -> None:
        self.built: dict[str, str] = {}

    def template(self, kind: str, like: str) -> str:
        if kind not in self.built:
            if kind == "sqlite":
                url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='replay-template-')) / 'ledger.db'}"
            else:
                schema = f"replay_tmpl_{uuid.uuid4().hex[:12]}"
                url = f"{like.rsplit('?schema=', 1)[0]}?schema={schema}"
                atexit.register(_drop_schema, url)
            build_history(url).close()
            if kind == "sqlite":
                with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.built[kind] = url
        return self.built[kind]

    def copy_into(self, url: str) -> str:
        kind = "postgres" if url.startswith("postgres") else "sqlite"
        template = self.template(kind, url)
        if kind == "sqlite":
            shutil.copyfile(template.removeprefix("sqlite:///"), url.removeprefix("sqlite:///"))
            return url
        source, target = (Database(u).config.schema for u in (template, url))
        with psycopg.connect(Database(url).config.conninfo, autocommit=True) as conn:
            tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (source,))]
            for table in tables:
                conn.execute(f'CREATE TABLE "{target}"."{table}" (LIKE "{source}"."{table}" INCLUDING ALL)')
                conn.execute(f'INSERT INTO "{target}"."{table}" SELECT * FROM "{source}"."{table}"')
        return url


def _drop_schema(url: str) -> None:
    with psycopg.connect(Database(url).config.conninfo, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{Database(url).config.schema}" CASCADE')


TEMPLATES = _Templates()


def history(url: str) -> str:
    """Fill the fresh store at `url` with the deterministic history (a copy of a template)."""
    return TEMPLATES.copy_into(url)


def rows(db: Database, sql: str, params: tuple = ()) -> list[tuple]:
    return db.query(sql, params)


def execute(db: Database, *statements: tuple[str, tuple]) -> None:
    with db.transaction() as cur:
        for sql, params in statements:
            cur.execute(db.sql(sql), params)


def event_at(db: Database, position: int) -> tuple[int, bytes]:
    """(notification id, state) of the event at a chain position."""
    nid = rows(db, "SELECT notification_id FROM ledger_chain WHERE position = ?", (position,))[0][0]
    state = rows(db, f"SELECT state FROM {db.events_table} WHERE {db.position_column} = ?", (nid,))[0][0]
    return nid, bytes(state)


def position_of(db: Database, event_name: str) -> int:
    """The chain position of the first event with this name."""
    found = rows(db, f"SELECT c.position FROM ledger_chain c JOIN {db.events_table} e "
                     f"ON e.{db.position_column} = c.notification_id WHERE e.topic LIKE ? ORDER BY c.position",
                 (f"%.{event_name}",))
    return int(found[0][0])


def set_state(db: Database, nid: int, state: bytes) -> None:
    execute(db, (f"UPDATE {db.events_table} SET state = ? WHERE {db.position_column} = ?", (state, nid)))


def verify(url: str, expect: list[str] = ()) -> Any:
    store = open_store(url)
    try:
        check, _ = check_chain(store, [parse_expect_head(e) for e in expect])
        return check
    finally:
        store.close()


def first(check: Any) -> Any:
    return sorted(check.problems)[0]


@pytest.fixture
def store(database_url: str) -> Any:
    db = Database(history(database_url))
    yield database_url, db
    db.close()


def test_a_clean_store_verifies(store: Any) -> None:
    url, db = store
    check = verify(url)
    assert check.ok, [p.message for p in check.problems]
    assert check.checked == check.events == rows(db, "SELECT count(*) FROM ledger_chain")[0][0]
    assert len(check.claims) == 2  # the heads published by the two invoice runs were checked


def test_changing_one_byte_of_a_stored_state_is_found_at_its_position(store: Any) -> None:
    url, db = store
    position = position_of(db, "DeliveryRecorded")
    nid, state = event_at(db, position)
    set_state(db, nid, state.replace(b'"minutes":55', b'"minutes":15'))
    problem = first(verify(url))
    assert problem.position == position
    assert problem.message == f"position {position}: hash mismatch (stored state altered?)"


def test_deleting_an_event_is_found_at_its_position(store: Any) -> None:
    url, db = store
    position = position_of(db, "OrderCancelled")
    nid, _ = event_at(db, position)
    execute(db, (f"DELETE FROM {db.events_table} WHERE {db.position_column} = ?", (nid,)))
    problem = first(verify(url))
    assert problem.position == position
    assert "which has no stored event (event deleted?)" in problem.message


def test_swapping_two_events_states_is_found_at_the_first_of_them(store: Any) -> None:
    url, db = store
    a, b = position_of(db, "GrantAwarded"), position_of(db, "OrderPlaced")
    (nid_a, state_a), (nid_b, state_b) = event_at(db, a), event_at(db, b)
    set_state(db, nid_a, state_b)
    set_state(db, nid_b, state_a)
    check = verify(url)
    assert first(check).message == f"position {a}: hash mismatch (stored state altered?)"
    assert [p.position for p in sorted(check.problems)] == [a, b]


def _insert_event(db: Database, nid: int, state: bytes) -> None:
    oid: Any = "9e9e9e9e-0000-4000-8000-000000000001"
    if not db.is_postgres:
        oid = oid.replace("-", "")
    execute(db, (f"INSERT INTO {db.events_table} ({db.position_column}, originator_id, originator_version, topic, "
                 "state) VALUES (?, ?, 1, 'ledger.domain.delivery:Delivery.DeliveryRecorded', ?)", (nid, oid, state)))


def test_inserting_an_event_without_a_chain_row_is_found(store: Any) -> None:
    url, db = store
    head = rows(db, "SELECT max(position), max(notification_id) FROM ledger_chain")[0]
    _, state = event_at(db, position_of(db, "DeliveryRecorded"))
    _insert_event(db, head[1] + 5, state)
    problem = first(verify(url))
    assert problem.message == f"event without chain row at notification {head[1] + 5} (after position {head[0]})"


def test_inserting_an_event_with_a_forged_chain_row_is_found_by_its_hash(store: Any) -> None:
    url, db = store
    head_pos, head_nid = rows(db, "SELECT max(position), max(notification_id) FROM ledger_chain")[0]
    _, state = event_at(db, position_of(db, "DeliveryRecorded"))
    _insert_event(db, head_nid + 1, state)
    # Whoever forges the row does not hold the previous hash's preimage scheme: a made-up hash.
    execute(db, ("INSERT INTO ledger_chain VALUES (?, ?, ?)", (head_pos + 1, head_nid + 1, b"\x01" * 32)))
    assert first(verify(url)).message == f"position {head_pos + 1}: hash mismatch (stored state altered?)"


def test_rewriting_history_with_a_recomputed_chain_is_found_by_the_published_heads(store: Any) -> None:
    """An intruder who knows the algorithm inserts an event early and recomputes every later link.
    The chain is then self-consistent, but the invoice runs published the old heads."""
    url, db = store
    first_run_head = orjson.loads(event_at(db, position_of(db, "InvoiceRunCompleted"))[1])["chain_head"]
    _forge_from(db, position_of(db, "OrderPlaced"))
    check = verify(url)
    assert [p.kind for p in check.problems] == ["head", "head"]  # one per invoice run's published head
    problem = first(check)
    assert problem.position == first_run_head["position"]
    assert problem.message.startswith(f"position {first_run_head['position']}: stored hash")
    assert "differs from the head" in problem.message and "published by Invoice" in problem.message


def test_a_rewrite_that_also_forges_the_published_heads_is_found_by_an_expected_head(store: Any) -> None:
    url, db = store
    head_pos = rows(db, "SELECT max(position) FROM ledger_chain")[0][0]
    published = bytes(rows(db, "SELECT hash FROM ledger_chain WHERE position = ?", (head_pos,))[0][0]).hex()
    position = position_of(db, "OrderPlaced")
    _forge_from(db, position, rewrite_claims=True)
    assert verify(url).ok  # nothing inside the store can tell any more...
    check = verify(url, [f"{head_pos}:{published}"])  # ...but the head published outside it can
    assert first(check).message.startswith(f"position {head_pos}: stored hash")
    assert "--expect-head" in first(check).message


def _forge_from(db: Database, position: int, rewrite_claims: bool = False) -> None:
    """Insert a copy of the event at `position` just before it, renumber everything after, and
    recompute every hash from there (optionally also rewriting the chain heads inside events)."""
    chain = rows(db, "SELECT position, notification_id FROM ledger_chain ORDER BY position")
    events = {n: (o, v, t, bytes(s)) for n, o, v, t, s in rows(
        db, f"SELECT {db.position_column}, originator_id, originator_version, topic, state FROM {db.events_table}")}
    order = [nid for _, nid in chain]
    at = position - 1
    forged_oid = "9e9e9e9e00004000800000000000000a" if not db.is_postgres else "9e9e9e9e-0000-4000-8000-00000000000a"
    source = events[order[at]]
    forged = (forged_oid, 1, source[2], source[3])
    sequence = [events[n] for n in order[:at]] + [forged] + [events[n] for n in order[at:]]
    heads: dict[int, bytes] = {}
    rewritten = []
    previous = b"\x00" * 32
    for pos, (oid, ver, topic, state) in enumerate(sequence, start=1):
        if rewrite_claims and topic.endswith(("InvoiceIssued", "InvoiceRunCompleted")):
            body = orjson.loads(state)
            claimed = body["chain_head"]["position"] + (1 if body["chain_head"]["position"] >= position else 0)
            body["chain_head"] = {"position": claimed, "hash": heads[claimed].hex()}
            state = orjson.dumps(body)
        previous = store_link(previous, pos, oid, ver, topic, state)
        heads[pos] = previous
        rewritten.append((pos, pos, oid, ver, topic, state, previous))
    with db.transaction() as cur:
        cur.execute("DELETE FROM ledger_chain")
        cur.execute(f"DELETE FROM {db.events_table}")
        for pos, nid, oid, ver, topic, state, h in rewritten:
            cur.execute(db.sql(f"INSERT INTO {db.events_table} ({db.position_column}, originator_id, "
                               "originator_version, topic, state) VALUES (?, ?, ?, ?, ?)"), (nid, oid, ver, topic, state))
            cur.execute(db.sql("INSERT INTO ledger_chain VALUES (?, ?, ?)"), (pos, nid, h))


def test_leaving_a_gap_in_the_chain_is_found(store: Any) -> None:
    url, db = store
    gap_after = position_of(db, "OrderPlaced")
    shifted = rows(db, "SELECT position FROM ledger_chain WHERE position > ? ORDER BY position DESC", (gap_after,))
    execute(db, *[("UPDATE ledger_chain SET position = ? WHERE position = ?", (p + 1, p)) for (p,) in shifted])
    problem = first(verify(url))
    assert problem.message == f"gap after position {gap_after} (the next is {gap_after + 2})"


def test_deleting_a_chain_row_is_found_as_a_gap_and_an_unchained_event(store: Any) -> None:
    url, db = store
    position = position_of(db, "OrderPlaced")
    nid, _ = event_at(db, position)
    execute(db, ("DELETE FROM ledger_chain WHERE position = ?", (position,)))
    messages = [p.message for p in sorted(verify(url).problems)]
    assert f"event without chain row at notification {nid} (after position {position - 1})" in messages
    assert f"gap after position {position - 1} (the next is {position + 1})" in messages


def test_reordering_chain_rows_is_found(store: Any) -> None:
    url, db = store
    a = position_of(db, "GrantAwarded")
    (nid_a, _), (nid_b, _) = event_at(db, a), event_at(db, a + 1)
    execute(db, ("UPDATE ledger_chain SET notification_id = ? WHERE position = ?", (-1, a)),
            ("UPDATE ledger_chain SET notification_id = ? WHERE position = ?", (nid_a, a + 1)),
            ("UPDATE ledger_chain SET notification_id = ? WHERE position = ?", (nid_b, a)))
    problems = sorted(verify(url).problems)
    # The merge meets notification nid_a first without its chain row, right after position a - 1.
    assert problems[0].message == f"event without chain row at notification {nid_a} (after position {a - 1})"
    assert f"position {a + 1}: notification {nid_a} is not after notification {nid_b} (chain out of notification " \
           "order)" in [p.message for p in problems]


def test_an_expected_head_that_matches_passes_and_one_that_does_not_fails(store: Any) -> None:
    url, db = store
    position, h = rows(db, "SELECT position, hash FROM ledger_chain WHERE position = 5")[0]
    assert verify(url, [f"5:{bytes(h).hex()}"]).ok
    bad = verify(url, [f"5:{'ab' * 32}"])
    assert first(bad).position == 5 and "--expect-head" in first(bad).message
    beyond = verify(url, [f"9999:{'ab' * 32}"])
    assert first(beyond).kind == "truncation" and "the chain ends there" in first(beyond).message


def test_after_erasing_an_identity_the_store_and_its_projections_still_verify(database_url: str) -> None:
    app = Ledger(Settings(database_url=history(database_url)))
    try:
        app.execute("erase_identity", {"citizen_id": CITIZEN_A},
                    Context("replay-test", "administrator", "replay-erase", datetime(2018, 10, 1, tzinfo=timezone.utc)))
        Engine(app.db, all_projections()).catch_up()
        store = open_store(database_url)
        try:
            report = verify_store(store, [], all_projections())
        finally:
            store.close()
        assert report.ok, ([p.message for p in report.check.problems],
                           [(r.name, r.status, r.reason) for r in report.comparison.results])
        assert report.comparison.compared == len(all_projections())
    finally:
        app.close()


def test_a_changed_projection_row_is_named_with_its_table_and_key(database_url: str) -> None:
    app = Ledger(Settings(database_url=history(database_url)))
    try:
        projections = all_projections()
        Engine(app.db, projections).catch_up()
        table = next(t for p in projections for t in p.tables if app.db.query(f"SELECT count(*) FROM {t.name}")[0][0])
        key_cols = ", ".join(table.primary_key)
        key = app.db.query(f"SELECT {key_cols} FROM {table.name} ORDER BY {key_cols} LIMIT 1")[0]
        where = " AND ".join(f"{c} = ?" for c in table.primary_key)
        execute(app.db, (f"DELETE FROM {table.name} WHERE {where}", tuple(key)))
        store = open_store(database_url)
        try:
            report = verify_store(store, [], projections)
        finally:
            store.close()
        assert report.check.ok and not report.ok
        bad = [t for r in report.comparison.results for t in r.tables if not t.equal]
        assert [t.table for t in bad] == [table.name]
        assert bad[0].first_difference.endswith("missing from the live table")
        leftovers = [t for t in _tables(app.db) if "__verify_" in t]
        assert leftovers == []  # the scratch tables were dropped
    finally:
        app.close()


def _tables(db: Database) -> list[str]:
    if db.is_postgres:
        return [r[0] for r in db.query("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]
    return [r[0] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'table'")]


@given(previous=st.binary(min_size=32, max_size=32), position=st.integers(1, 2**63 - 1),
       version=st.integers(1, 2**63 - 1), oid=st.uuids(), topic=st.text(max_size=80),
       state=st.binary(max_size=500))
def test_the_fast_link_equals_the_stores_link(previous: bytes, position: int, version: int, oid: Any, topic: str,
                                               state: bytes) -> None:
    assert link(previous, position, version, oid.bytes, topic, state) == store_link(
        previous, position, oid, version, topic, state)


def test_checking_in_several_processes_reports_the_same(database_url: str) -> None:
    app = Ledger(Settings(database_url=history(database_url)))
    try:
        Engine(app.db, all_projections()).catch_up()
        nid, state = event_at(app.db, position_of(app.db, "GrantAwarded"))
        set_state(app.db, nid, state + b" ")
        reports = []
        for jobs in (1, 2):
            store = open_store(database_url)
            try:
                reports.append(verify_store(store, [], all_projections(), jobs=jobs))
            finally:
                store.close()
        alone, together = reports
        assert [p.message for p in together.check.problems] == [p.message for p in alone.check.problems]
        assert len(together.check.problems) == 1 and together.check.claims == alone.check.claims
        assert [r.status for r in together.comparison.results] == [r.status for r in alone.comparison.results]
        assert {r.status for r in together.comparison.results} == {"equal"}
        assert [t for t in _tables(app.db) if "__verify_" in t] == []
    finally:
        app.close()


def test_a_stored_row_with_its_topic_set_to_null_is_reported_not_a_crash(store: Any) -> None:
    url, db = store
    position = position_of(db, "OrderPlaced")
    nid, _ = event_at(db, position)
    execute(db, (f"UPDATE {db.events_table} SET topic = NULL WHERE {db.position_column} = ?", (nid,)))
    assert first(verify(url)).message.startswith(f"position {position}: the stored event row has missing")
