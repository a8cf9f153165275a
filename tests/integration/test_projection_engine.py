"""The projection engine against real databases (SQLite file and a fresh PostgreSQL schema).

The log is written the way the library writes it: the library's own Application creates the
events table, and rows are inserted with orjson state we construct, so the tests do not depend
on which transcoder or recorder the application ends up using. Every projection result is
checked against a plain-Python oracle computed from the same events, not only against another
run of the engine.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import textwrap
import threading
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

import ledger.projections.engine as engine_module
from ledger.db import Database
from ledger.projections.engine import Engine, NeedsRebuild, Projection, RawEvent, Table, View
from ledger.projections.reader import head_position, read_events, read_raw, recorded_key

REPO = Path(__file__).resolve().parents[2]
TOPIC = "tests.toy:Account.{}"

# -- the toy projection -------------------------------------------------------------------

ACCOUNTS = Table(
    "toy_accounts",
    {"account_id": "TEXT", "owner": "TEXT", "events": "BIGINT", "balance_ore": "BIGINT", "last_version": "INTEGER"},
    ("account_id",),
    indexes=(("owner",),),
)
DAILY = Table(
    "toy_owner_daily",
    {"owner": "TEXT", "day": "TEXT", "net_ore": "BIGINT", "movements": "BIGINT"},
    ("owner", "day"),
)


class Toy(Projection):
    """Accounts with a running balance (deleted on close) and per-owner daily totals."""

    name = "toy"
    version = 1
    tables = (ACCOUNTS, DAILY)
    sign = 1  # version 2 below books withdrawals differently, to tell the versions apart

    def on_Opened(self, event: RawEvent, view: View) -> None:
        view.put(
            ACCOUNTS,
            {
                "account_id": event.originator_id,
                "owner": event.state["owner"],
                "events": 1,
                "balance_ore": 0,
                "last_version": event.originator_version,
            },
        )

    def _move(self, event: RawEvent, view: View, amount: int) -> None:
        row = view.get("toy_accounts", event.originator_id)
        assert row is not None, f"no account for {event}"
        row["events"] += 1
        row["balance_ore"] += amount
        row["last_version"] = event.originator_version
        view.put("toy_accounts", row)
        day = view.get(DAILY, row["owner"], event.effective) or {
            "owner": row["owner"],
            "day": event.effective,
            "net_ore": 0,
            "movements": 0,
        }
        day["net_ore"] += amount
        day["movements"] += 1
        view.put(DAILY, day)

    def on_Deposited(self, event: RawEvent, view: View) -> None:
        self._move(event, view, event.state["amount_ore"])

    def on_Withdrawn(self, event: RawEvent, view: View) -> None:
        self._move(event, view, -self.sign * event.state["amount_ore"])

    def on_Closed(self, event: RawEvent, view: View) -> None:
        view.delete(ACCOUNTS, event.originator_id)


class ToyV2(Toy):
    version = 2
    sign = -1


def oracle(events: list[tuple], sign: int = 1, cutoff: str | None = None) -> dict[str, list[tuple]]:
    """What Toy must produce, computed directly from (id, version, name, state) in log order."""
    accounts: dict[str, list] = {}
    daily: dict[tuple, list] = defaultdict(lambda: [0, 0])
    for oid, version, name, state in events:
        if cutoff is not None and recorded_key(state["timestamp"]) > recorded_key(cutoff):
            continue
        key = str(oid)
        if name == "Opened":
            accounts[key] = [state["owner"], 1, 0, version]
        elif name in ("Deposited", "Withdrawn"):
            amount = state["amount_ore"] * (1 if name == "Deposited" else -sign)
            acc = accounts[key]
            acc[1] += 1
            acc[2] += amount
            acc[3] = version
            daily[(acc[0], state["effective"])][0] += amount
            daily[(acc[0], state["effective"])][1] += 1
        elif name == "Closed":
            accounts.pop(key, None)
    return {
        "toy_accounts": sorted((k, *v) for k, v in accounts.items()),
        "toy_owner_daily": sorted((*k, *v) for k, v in daily.items()),
    }


def table_rows(db: Database, table: str) -> list[tuple]:
    rows = db.query(f'SELECT * FROM "{table}"')
    return sorted(tuple(r) for r in rows)


def assert_matches(db: Database, expected: dict[str, list[tuple]], suffix: str = "") -> None:
    for table, rows in expected.items():
        assert table_rows(db, table + suffix) == rows, table + suffix


# -- writing the log ----------------------------------------------------------------------


class Thing(Aggregate):
    """An aggregate saved by the library itself, to read rows exactly as its recorder writes them."""


class Ledger(Application):
    """Named so the library calls its PostgreSQL table `ledger_events`, as the ledger's does."""


def open_log(url: str) -> Database:
    """The database with the library's events table, created by the library itself."""
    db = Database(url)
    db.ensure_schema()
    env = db.eventsourcing_env()
    env.pop("APPLICATION_RECORDER_TOPIC")  # the ledger's chained recorders are not needed here
    Ledger(env=env).close()
    return db


def append(db: Database, events: list[tuple], gap: int = 0) -> None:
    """Insert (uuid, version, name, state) rows as the library stores them. `gap` leaves that
    many unused positions first (PostgreSQL: a rolled-back insert, as happens in production)."""
    rows = [
        (str(oid) if db.is_postgres else oid.hex, version, TOPIC.format(name), orjson.dumps(state))
        for oid, version, name, state in events
    ]
    insert = f"INSERT INTO {db.events_table} (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)"
    if gap and db.is_postgres:
        with db.connection() as conn:
            with pytest.raises(ZeroDivisionError), db.transaction(conn) as cur:
                for i in range(gap):
                    cur.execute(db.sql(insert), (str(uuid.uuid4()), 1, "x:Gap.Gap", b"{}"))
                raise ZeroDivisionError  # roll back: the sequence values stay used
    elif gap:
        first = head_position(db) + gap + 1
        with db.transaction() as cur:
            cur.execute(
                "INSERT INTO stored_events (rowid, originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?, ?)",
                (first, *rows[0]),
            )
        rows = rows[1:]
    with db.transaction() as cur:
        cur.executemany(db.sql(insert), rows)


def make_events(seed: int, accounts: int = 40, per_account: int = 12) -> list[tuple]:
    """A shuffled but per-account ordered history; owners include non-ASCII names (sort order
    must agree between SQLite and PostgreSQL), timestamps mix orjson's two shapes."""
    rnd = random.Random(seed)
    owners = ["Ærø Kommune", "Søren", "Zoë", "anne", "Bo", "Østergaard"]
    streams = []
    for _ in range(accounts):
        oid = uuid.UUID(int=rnd.getrandbits(128), version=4)
        owner = rnd.choice(owners)
        names = ["Opened"] + [rnd.choice(["Deposited", "Deposited", "Withdrawn", "Noted"]) for _ in range(per_account)]
        if rnd.random() < 0.25:
            names.append("Closed")
        streams.append([(oid, owner, n) for n in names])
    events = []
    versions: dict[uuid.UUID, int] = defaultdict(int)
    while streams:
        stream = rnd.choice(streams)
        oid, owner, name = stream.pop(0)
        if not stream:
            streams.remove(stream)
        versions[oid] += 1
        micro = rnd.choice([0, rnd.randrange(1, 1_000_000)])
        day = rnd.randrange(1, 29)
        ts = f"2024-02-{day:02d}T{rnd.randrange(24):02d}:{rnd.randrange(60):02d}:00"
        ts += f".{micro:06d}+00:00" if micro else "+00:00"
        state: dict[str, Any] = {"timestamp": ts, "effective": f"2024-02-{day:02d}"}
        if name == "Opened":
            state["owner"] = owner
        elif name in ("Deposited", "Withdrawn"):
            state["amount_ore"] = rnd.randrange(1, 100_000)
        elif name == "Noted":
            state["text"] = "x" * rnd.randrange(50)
        events.append((oid, versions[oid], name, state))
    return events


@pytest.fixture
def log(database_url: str):
    db = open_log(database_url)
    yield db
    db.close()


# -- reading ------------------------------------------------------------------------------


def test_read_events_pages_over_gaps_and_reads_library_rows(log: Database) -> None:
    events = make_events(1, accounts=5, per_account=3)
    append(log, events[:7])
    append(log, events[7:], gap=5)

    # A row written by the library's own recorder (tagged timestamp, uuid.hex on SQLite).
    env = log.eventsourcing_env()
    env.pop("APPLICATION_RECORDER_TOPIC")
    app = Ledger(env=env)
    thing = Thing()
    app.save(thing)
    app.close()

    batches = list(read_events(log, batch_size=4))
    assert all(len(b) <= 4 for b in batches)
    got = [e for b in batches for e in b]
    positions = [e.position for e in got]
    assert positions == sorted(positions) and len(set(positions)) == len(events) + 1
    assert positions[7] - positions[6] == 6  # the gap is skipped, not waited for
    assert [(uuid.UUID(e.originator_id), e.originator_version, e.name, e.state) for e in got[:-1]] == [
        tuple(ev) for ev in events
    ]
    assert all(e.originator_id == str(uuid.UUID(e.originator_id)) for e in got)  # canonical, dashed
    assert got[0].recorded == events[0][3]["timestamp"] and got[0].effective == events[0][3]["effective"]
    library = got[-1]
    assert (library.originator_id, library.name) == (str(thing.id), "Created")
    assert recorded_key(library.recorded) <= recorded_key("2100-01-01T00:00:00+00:00")

    # after / until / names, and the raw baseline reads the same states
    mid = positions[5]
    assert [e.position for b in read_events(log, after=mid, until=positions[9]) for e in b] == positions[6:10]
    assert {e.name for b in read_events(log, names={"Opened"}) for e in b} == {"Opened"}
    assert [s for b in read_raw(log, batch_size=3) for s in b][:-1] == [ev[3] for ev in events]
    assert head_position(log) == positions[-1]


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("2019-06-30T12:00:00+00:00", "2019-06-30T12:00:00.000000"),
        ("2019-06-30T12:00:00.123456+00:00", "2019-06-30T12:00:00.123456"),
        ("2019-06-30T12:00:00Z", "2019-06-30T12:00:00.000000"),
        ("2019-06-30T14:00:00.5+02:00", "2019-06-30T12:00:00.500000"),
        ("2019-06-30", "2019-06-30T00:00:00.000000"),
        ({"_type_": "datetime_iso", "_data_": "2019-06-30T12:00:00+00:00"}, "2019-06-30T12:00:00.000000"),
    ],
)
def test_recorded_key_normalises(value: Any, key: str) -> None:
    assert recorded_key(value) == key


def test_recorded_key_orders_orjson_shapes() -> None:
    # As raw strings these sort wrongly ('+' < '.'); as keys they sort by time.
    assert recorded_key("2019-06-30T12:00:00.000001+00:00") > recorded_key("2019-06-30T12:00:00+00:00")
    assert recorded_key("2019-06-30T12:00:01+00:00") > recorded_key("2019-06-30T12:00:00.999999+00:00")


# -- catch-up and rebuild -----------------------------------------------------------------


@pytest.mark.parametrize("writer", ["inline", "process"])
def test_catch_up_in_steps_equals_oracle_and_rebuild(log: Database, writer: str) -> None:
    events = make_events(2)
    engine = Engine(log, [Toy()], batch_size=37, rebuild_writer=writer)
    half = len(events) // 2
    append(log, events[:half])
    assert engine.catch_up() == {"toy": head_position(log)}
    append(log, events[half:], gap=3)
    position = engine.catch_up()["toy"]
    assert position == head_position(log)
    assert_matches(log, oracle(events))

    live = {t.name: engine.digest(t.name) for t in Toy.tables}
    stats = engine.rebuild(swap=False)
    assert stats["position"] == position and not stats["swapped"] and stats["writer"] == writer
    assert_matches(log, oracle(events), suffix="__rebuild")
    assert {t.name: engine.digest(t.name + "__rebuild") for t in Toy.tables} == live

    # Again: nothing is applied twice.
    assert engine.catch_up() == {"toy": position}
    assert {t.name: engine.digest(t.name) for t in Toy.tables} == live
    [status] = engine.status()
    assert (status["position"], status["head"], status["lag"], status["version"]) == (position, position, 0, 1)

    engine.drop_suffix("__rebuild")
    with log.connection() as conn:
        assert not engine._exists(conn.cursor(), "toy_accounts__rebuild")


@pytest.mark.parametrize("writer", ["inline", "process"])
def test_small_cache_and_colliding_bitmap_give_the_same_tables(log: Database, monkeypatch, writer: str) -> None:
    """Eviction (rows read back from the database), with the process writer also while a flush
    is still being written, and 'maybe written' answers (upserts instead of inserts) are the
    slow paths; they must give exactly the same result."""
    events = make_events(3, accounts=60)
    append(log, events)
    monkeypatch.setattr(engine_module, "_bitmap_bits", lambda events: 8)  # everything collides
    tiny = Engine(
        log, [Toy()], batch_size=25, rebuild_batch_size=25, cache_rows=3, flush_rows=10, rebuild_writer=writer
    )
    stats = tiny.rebuild()
    assert stats["projections"]["toy"]["loads"] > 0 and stats["projections"]["toy"]["upserted"] > 0
    assert_matches(log, oracle(events))
    rebuilt = [tiny.digest(t.name) for t in Toy.tables]

    fresh = Engine(log, [Toy()], batch_size=25, cache_rows=3)
    fresh.drop_suffix()
    with log.transaction() as cur:
        cur.execute("DELETE FROM projection_tracking")
        for t in Toy.tables:
            cur.execute(f"DELETE FROM {t.name}")
    fresh.catch_up()
    assert [fresh.digest(t.name) for t in Toy.tables] == rebuilt


def test_until_recorded_cut(log: Database) -> None:
    """Only events recorded at or before the cut count, wherever they are in the log; the
    boundary is inclusive and orjson's two timestamp shapes compare by time."""
    rnd = random.Random(5)
    events = []
    for i in range(30):
        oid = uuid.UUID(int=rnd.getrandbits(128), version=4)
        opened = f"2024-01-0{1 + i % 3}T08:00:00+00:00"
        events.append((oid, 1, "Opened", {"timestamp": opened, "effective": "2024-01-01", "owner": "Åse"}))
        for v in range(2, 6):
            micro = rnd.choice(["", ".000001", ".999999"])
            ts = f"2024-01-{rnd.randrange(4, 9):02d}T12:00:00{micro}+00:00"
            events.append((oid, v, "Deposited", {"timestamp": ts, "effective": "2024-01-05", "amount_ore": v}))
    # Accounts interleaved, each in version order; deposits are recorded out of log order.
    rnd.shuffle(events)
    events.sort(key=lambda e: e[1])
    append(log, events)
    engine = Engine(log, [Toy()])
    for cutoff in ["2024-01-06T12:00:00+00:00", "2024-01-06T12:00:00.000001+00:00", "2024-01-06T13:00:00+01:00"]:
        engine.rebuild(swap=False, until_recorded=cutoff, suffix="__asof")
        assert_matches(log, oracle(events, cutoff=cutoff), suffix="__asof")
    # The "+01:00" cutoff is the same instant as the first: the same rows.
    engine.drop_suffix("__asof")


def test_rebuild_swaps_atomically_and_readers_stay_on_old_tables(log: Database) -> None:
    events = make_events(6)
    append(log, events)
    v1 = Engine(log, [Toy()])
    v1.catch_up()
    old = {t.name: v1.digest(t.name) for t in Toy.tables}

    v2 = Engine(log, [ToyV2()], rebuild_batch_size=50, flush_rows=20)
    with pytest.raises(NeedsRebuild):
        v2.catch_up()

    seen = []

    def progress(done: int, total: int) -> None:
        # A reader in another connection during the rebuild sees version 1, complete.
        reader = Database(log.url)
        try:
            seen.append((done, total))
            assert {t.name: v1.digest(t.name) for t in Toy.tables} == old
            assert reader.query("SELECT version FROM projection_tracking") == [(1,)]
        finally:
            reader.close()

    stats = v2.rebuild(progress=progress)
    assert len(seen) > 3 and seen[-1][0] == seen[-1][1] == head_position(log)
    assert stats["swapped"] and stats["position"] == head_position(log)
    assert_matches(log, oracle(events, sign=-1))
    assert v2.status()[0]["version"] == 2
    with pytest.raises(NeedsRebuild):
        v1.catch_up()  # the old code may not write into the new tables

    # A second swap (index and constraint names must not collide), then live again.
    v2.rebuild()
    more = make_events(7, accounts=5)
    append(log, more)
    v2.catch_up()
    assert_matches(log, oracle(events + more, sign=-1))
    if log.is_postgres:
        names = {r[0] for r in log.query("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")}
        assert {"pk_toy_accounts", "ix_toy_accounts__owner", "pk_toy_owner_daily"} <= names
        assert not any("__rebuild" in n for n in names)
    else:
        names = {r[0] for r in log.query("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "ix_toy_accounts__owner" in names and not any("__rebuild" in n for n in names)


@pytest.mark.postgres
def test_a_swapped_rebuild_leaves_planner_statistics_on_postgresql() -> None:
    """Fresh tables have none until autovacuum samples them (ADR 0022 round 9: a query planned
    without them ran 100x slower); the rebuild analyzes what it swapped in."""
    from conftest import drop_pg_schema, fresh_pg_url, pg_ok

    if not pg_ok():
        pytest.skip("PostgreSQL is not reachable")
    url = fresh_pg_url()
    log = open_log(url)
    try:
        append(log, make_events(6))
        Engine(log, [Toy()]).rebuild()
        analyzed = log.query("SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema() "
                             "AND last_analyze IS NOT NULL")
        assert {t.name for t in Toy.tables} <= {r[0] for r in analyzed}
    finally:
        log.close()
        drop_pg_schema(url)


def test_events_arriving_during_rebuild_are_included_before_the_swap(log: Database) -> None:
    events = make_events(8)
    later = make_events(9, accounts=6)
    append(log, events)
    pending = [later]

    def progress(done: int, total: int) -> None:
        if pending:
            append(log, pending.pop())

    engine = Engine(log, [Toy()], rebuild_batch_size=40)
    stats = engine.rebuild(progress=progress)
    assert stats["position"] == head_position(log)
    assert_matches(log, oracle(events + later))
    assert engine.catch_up() == {"toy": head_position(log)}


def test_writer_process_failure_is_raised(log: Database) -> None:
    append(log, make_events(15))
    engine = Engine(log, [Toy()], rebuild_batch_size=20, flush_rows=5, rebuild_writer="process")
    engine.ensure_tables()

    def sabotage(done: int, total: int) -> None:
        if done > 100:
            other = Database(log.url)
            with other.transaction() as cur:  # the writer's next flush finds no table
                cur.execute("DROP TABLE IF EXISTS toy_owner_daily__rebuild")
            other.close()

    with pytest.raises(RuntimeError, match="projection writer failed"):
        engine.rebuild(progress=sabotage)
    assert engine.status()[0]["position"] == 0  # nothing swapped in


def test_one_pass_feeds_every_projection(log: Database) -> None:
    class Counts(Projection):
        name = "counts"
        tables = (Table("toy_counts", {"name": "TEXT", "n": "BIGINT"}, ("name",)),)

        def handle(self, event: RawEvent, view: View) -> None:  # sees every event
            row = view.get("toy_counts", event.name) or {"name": event.name, "n": 0}
            row["n"] += 1
            view.put("toy_counts", row)

    events = make_events(10)
    append(log, events)
    engine = Engine(log, [Toy(), Counts()])
    stats = engine.rebuild()
    assert stats["events"] == len(events)
    assert_matches(log, oracle(events))
    counts: dict[str, int] = defaultdict(int)
    for _, _, name, _ in events:
        counts[name] += 1
    assert table_rows(log, "toy_counts") == sorted(counts.items())
    assert {s["name"]: s["position"] for s in engine.status()} == {"toy": len(events), "counts": len(events)}


def test_handler_error_rolls_back_its_batch(log: Database) -> None:
    events = make_events(11)
    append(log, events)
    rows = log.query(f"SELECT {log.position_column}, topic FROM {log.events_table} ORDER BY 1")
    fail_at = next(p for p, topic in rows if topic.endswith(".Deposited") and p > 100 and p % 50 > 10)

    class Fails(Toy):
        def on_Deposited(self, event: RawEvent, view: View) -> None:
            if event.position == fail_at:
                raise RuntimeError("boom")
            super().on_Deposited(event, view)

    with pytest.raises(RuntimeError) as info:
        Engine(log, [Fails()], batch_size=50).catch_up()
    assert f"at position {fail_at}" in "".join(getattr(info.value, "__notes__", []))
    # The whole batches before it, none of the failing batch.
    assert Engine(log, [Toy()]).status()[0]["position"] == (fail_at - 1) // 50 * 50
    Engine(log, [Toy()], batch_size=50).catch_up()
    assert_matches(log, oracle(events))


def test_concurrent_catch_up_applies_each_event_once(log: Database) -> None:
    events = make_events(12, accounts=80)
    append(log, events)
    Engine(log, [Toy()]).ensure_tables()
    errors: list[BaseException] = []

    def run() -> None:
        db = Database(log.url)
        try:
            Engine(db, [Toy()], batch_size=7).catch_up()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert_matches(log, oracle(events))


def test_catch_up_survives_sigkill_mid_batch(log: Database, tmp_path: Path) -> None:
    """A real crash: the process applying a batch is killed with SIGKILL between two events."""
    events = make_events(13, accounts=50)
    append(log, events)
    batch = 50
    rows = log.query(f"SELECT {log.position_column}, topic FROM {log.events_table} ORDER BY 1")
    kill_at = next(p for p, topic in rows if topic.endswith(".Deposited") and p > 3 * batch and p % batch > 10)
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path[:0] = [{str(REPO)!r}, {str(Path(__file__).parent)!r}]
        from ledger.db import Database
        from ledger.projections.engine import Engine
        from test_projection_engine import Toy

        class Killed(Toy):
            def on_Deposited(self, event, view):
                if event.position == {kill_at}:
                    os.kill(os.getpid(), signal.SIGKILL)
                super().on_Deposited(event, view)

        Engine(Database({log.url!r}), [Killed()], batch_size={batch}).catch_up()
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    status = Engine(log, [Toy()]).status()[0]
    assert status["position"] == (kill_at - 1) // batch * batch  # the whole batches before it

    restarted = Engine(log, [Toy()], batch_size=batch)
    restarted.catch_up()
    assert_matches(log, oracle(events))
    restarted.rebuild(swap=False)
    for t in Toy.tables:
        assert restarted.digest(t.name) == restarted.digest(t.name + "__rebuild")


@pytest.mark.postgres
def test_digest_is_the_same_on_sqlite_and_postgres(tmp_path: Path) -> None:
    from conftest import drop_pg_schema, fresh_pg_url, pg_ok

    if not pg_ok():
        pytest.skip("PostgreSQL is not reachable")
    events = make_events(14)
    pg_url = fresh_pg_url()
    try:
        digests = []
        for url in (f"sqlite:///{tmp_path / 'x.db'}", pg_url):
            db = open_log(url)
            append(db, events)
            engine = Engine(db, [Toy()])
            engine.rebuild()
            digests.append([engine.digest(t.name) for t in Toy.tables])
            db.close()
        assert digests[0] == digests[1]
    finally:
        drop_pg_schema(pg_url)


def test_table_and_view_contract() -> None:
    with pytest.raises(ValueError):
        Table("Bad Name", {"a": "TEXT"}, ("a",))
    with pytest.raises(ValueError):
        Table("t", {"a": "REAL"}, ("a",))
    with pytest.raises(ValueError):
        Table("t", {"a": "TEXT"}, ("b",))
    with pytest.raises(ValueError):
        Engine(Database("sqlite:///x.db"), [Toy(), Toy()])
    view = View([ACCOUNTS], postgres=False, rebuild=True, written_bits=64)
    assert view.get("toy_accounts", "a") is None  # rebuild: known absent without a query
    view.put(ACCOUNTS, {"account_id": "a", "owner": "o", "events": 1, "balance_ore": 5, "last_version": 1})
    row = view.get(ACCOUNTS, "a")
    row["balance_ore"] = 99  # a copy: the view is unchanged until put
    assert view.get("toy_accounts", "a")["balance_ore"] == 5
    view.delete("toy_accounts", "a")
    assert view.get("toy_accounts", "a") is None


def test_unknown_columns_are_refused_and_missing_ones_are_null(log: Database) -> None:
    class Sloppy(Projection):
        name = "sloppy"
        tables = (Table("toy_sloppy", {"id": "TEXT", "a": "BIGINT", "b": "TEXT"}, ("id",)),)
        typo = False

        def on_Opened(self, event: RawEvent, view: View) -> None:
            row = {"id": event.originator_id, "a": 1}  # no "b": NULL
            if self.typo:
                row["bb"] = "x"
            view.put("toy_sloppy", row)

    append(log, make_events(16, accounts=3))
    engine = Engine(log, [Sloppy()])
    engine.rebuild()
    assert {r[1:] for r in table_rows(log, "toy_sloppy")} == {(1, None)}
    bad = Sloppy()
    bad.typo = True
    with pytest.raises(ValueError, match="unknown columns"):
        Engine(log, [bad]).rebuild()


def test_live_cache_is_kept_between_calls_but_dropped_when_another_runner_moved_on(log: Database) -> None:
    events = make_events(17, accounts=30)
    half = len(events) // 2
    a = Engine(log, [Toy()], batch_size=20)
    b = Engine(Database(log.url), [Toy()], batch_size=20)
    append(log, events[:half])
    a.catch_up()

    # White-box: change a row behind the engine's back. A kept cache does not see it, which
    # shows the second call reused the rows of the first instead of reading them again.
    oid = next(e[0] for e in events[:half] if e[2] == "Opened" and str(e[0]) in {r[0] for r in table_rows(log, "toy_accounts")})
    with log.transaction() as cur:
        cur.execute(log.sql("UPDATE toy_accounts SET balance_ore = balance_ore + 1000000 WHERE account_id = ?"), (str(oid),))
    deposit = (oid, max(e[1] for e in events if e[0] == oid) + 1, "Deposited",
               {"timestamp": "2024-03-01T00:00:00+00:00", "effective": "2024-03-01", "amount_ore": 5})
    append(log, [deposit])
    a.catch_up()
    expected = {r[0]: r for r in oracle(events[:half] + [deposit])["toy_accounts"]}
    assert {r[0]: r for r in table_rows(log, "toy_accounts")}[str(oid)] == expected[str(oid)]

    append(log, events[half:])
    b.catch_up()  # another runner applies the rest...
    more = make_events(18, accounts=5)
    append(log, more)
    a.catch_up()  # ...so a's cache is stale and must not be written back
    assert_matches(log, oracle(events[:half] + [deposit] + events[half:] + more))
    b.db.close()


@pytest.mark.postgres
def test_a_projection_lock_in_one_schema_does_not_hold_up_another() -> None:
    """Advisory locks are per database: keyed by schema and name, so two stores in one database
    (xdist workers, benchmarks beside tests) never wait on each other's catch-up."""
    from conftest import drop_pg_schema, fresh_pg_url, pg_ok

    if not pg_ok():
        pytest.skip("PostgreSQL is not reachable")
    first, second = fresh_pg_url(), fresh_pg_url()
    try:
        holder, other = open_log(first), open_log(second)
        append(other, make_events(3, accounts=5))
        Engine(holder, [Toy()]).ensure_tables()
        with holder.transaction() as cur:
            Engine(holder, [Toy()])._lock(cur, ["toy"])  # held until this block ends
            done = threading.Event()

            def run() -> None:
                Engine(other, [Toy()]).catch_up()
                done.set()

            thread = threading.Thread(target=run, daemon=True)
            thread.start()
            assert done.wait(20), "the other schema's catch-up waited on this schema's lock"
        thread.join()
        holder.close()
        other.close()
    finally:
        drop_pg_schema(first)
        drop_pg_schema(second)
