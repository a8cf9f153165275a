"""The rebuild as a fold, on SQLite and PostgreSQL: for every projection, alone or together, and
for every `jobs` value, a rebuild gives the same tables (by digest) as the live projections built
by catch-ups of any batch size; a rebuild killed with SIGKILL (workers included) changes nothing,
and the rebuild run again then equals an uninterrupted one; a catch-up killed mid-batch and run
again equals the rebuild; the timeline's totals, counted at query time, equal an independent
count of the grants recorded by K; and the fold writes fewer than two rows per event."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.application import Ledger
from ledger.generate import custom_scale, generate
from ledger.importer import Importer
from ledger.projections import all_projections
from ledger.projections.engine import Engine, Projection, RawEvent, Table, View
from ledger.projections.reader import head_position, read_events
from ledger.settings import Settings

REPO = Path(__file__).resolve().parents[2]
# Herning and Aabenraa, 1 % of their recipients: every kind of event, a few thousand of them.
SMALL = custom_scale(0.01, (657, 580))
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fold") / "small.jsonl"
    generate(SMALL, seed=5, out=path)
    return path


@pytest.fixture(scope="module", params=BACKENDS)
def store(request, history, tmp_path_factory):
    """The small history imported once per backend, with the live projections caught up in
    small batches (the importer's own catch-ups are dropped first)."""
    from conftest import drop_pg_schema, fresh_pg_url, pg_ok

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'ledger.db'}"
    else:
        if not pg_ok():
            pytest.skip("PostgreSQL is not reachable")
        url = fresh_pg_url()
        request.addfinalizer(lambda: drop_pg_schema(url))
    led = Ledger(Settings(database_url=url))
    Importer(led, batch_size=250).run(history)
    engine = Engine(led.db, all_projections(), batch_size=97)
    _reset_live(engine)
    engine.catch_up()
    yield led
    led.close()


def _tables(names: list[str] | None = None) -> list[str]:
    return [t.name for p in all_projections() if names is None or p.name in names for t in p.tables]


def _digests(engine: Engine, suffix: str = "", names: list[str] | None = None) -> dict[str, str]:
    return {t: engine.digest(t + suffix) for t in _tables(names)}


def _reset_live(engine: Engine) -> None:
    engine.ensure_tables()
    with engine.db.transaction() as cur:
        for table in _tables():
            cur.execute(f'DELETE FROM "{table}"')
        cur.execute("DELETE FROM projection_tracking")
    engine._live_positions.clear()
    for view in engine._live_views.values():
        view.reset()


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_rebuild_equals_live_for_every_jobs_value(store: Ledger, jobs: int) -> None:
    engine = Engine(store.db, all_projections())
    live = _digests(engine)
    stats = engine.rebuild(swap=False, suffix=f"__j{jobs}", jobs=jobs)
    assert stats["jobs"] == min(jobs, 3)
    assert stats["position"] == head_position(store.db)
    assert _digests(engine, f"__j{jobs}") == live
    # a fold: nothing is read back or written twice
    assert all(s["loads"] == 0 and s["upserted"] == 0 for s in stats["projections"].values())
    engine.drop_suffix(f"__j{jobs}")


@pytest.mark.parametrize("name", [p.name for p in all_projections()])
def test_each_projection_alone_equals_live(store: Ledger, name: str) -> None:
    engine = Engine(store.db, all_projections())
    live = _digests(engine, names=[name])
    engine.rebuild([name], swap=False, suffix="__alone", jobs=2)
    assert _digests(engine, "__alone", [name]) == live
    engine.drop_suffix("__alone", [name])


def test_spilling_rebuild_equals_the_fold(store: Ledger) -> None:
    """Past `flush_rows` a rebuild writes out and reads rows back: the same tables."""
    engine = Engine(store.db, all_projections(), flush_rows=40, cache_rows=10, rebuild_batch_size=100)
    live = _digests(engine)
    stats = engine.rebuild(swap=False, suffix="__spill", jobs=2)
    assert _digests(engine, "__spill") == live
    assert any(s["loads"] > 0 for s in stats["projections"].values()), stats
    engine.drop_suffix("__spill")


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.integers(min_value=1, max_value=2_000), min_size=1, max_size=6),
       batch=st.integers(min_value=1, max_value=700))
def test_catch_ups_of_any_batch_size_equal_the_rebuild(store: Ledger, steps: list[int], batch: int) -> None:
    engine = Engine(store.db, all_projections(), batch_size=batch)
    rebuilt = engine.rebuild(swap=False, suffix="__ref", jobs=2)
    reference = _digests(engine, "__ref")
    _reset_live(engine)
    position = 0
    for step in steps:
        position += step
        engine.catch_up(until=position)
    engine.catch_up()
    assert _digests(engine) == reference
    assert rebuilt["position"] == head_position(store.db)
    engine.drop_suffix("__ref")


# A rebuild that SIGKILLs its own process at its first progress report: mid-pass, with the
# workers (jobs=2) still folding, or (jobs=1) with rows staged and nothing written.
KILLED_REBUILD = textwrap.dedent("""
    import os, signal, sys
    from ledger.db import Database
    from ledger.projections import all_projections
    from ledger.projections.engine import Engine, Projection, RawEvent, Table, View

    def die(done, total):
        print(os.getpid(), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    engine = Engine(Database(sys.argv[1]), all_projections(), rebuild_batch_size=200)
    engine.rebuild(progress=die, jobs=int(sys.argv[2]))
""")


@pytest.mark.parametrize("jobs", [1, 2])
def test_sigkill_mid_rebuild_then_rebuild_again_equals_an_uninterrupted_run(store: Ledger, jobs: int) -> None:
    engine = Engine(store.db, all_projections())
    live = _digests(engine)
    tracked = {s["name"]: s["position"] for s in engine.status()}
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", KILLED_REBUILD, store.db.url, str(jobs)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    # The workers notice their parent is gone and exit without committing.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _workers_running():
        time.sleep(0.2)
    assert not _workers_running()
    assert _digests(engine) == live  # nothing swapped
    assert {s["name"]: s["position"] for s in engine.status()} == tracked
    stats = engine.rebuild(jobs=jobs)
    assert stats["swapped"] and _digests(engine) == live
    assert engine.catch_up() == {name: head_position(store.db) for name in tracked}


def _workers_running() -> bool:
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return "_rebuild_child" in out and any(
        "_rebuild_child" in line and "python" in line for line in out.splitlines())


class EventsPerName(Projection):
    """Declares itself partitioned by municipality, but its rows (one per event name) are not:
    two partitions write the same row, and the rebuild must notice and fold it whole."""

    name = "events_per_name"
    partition_by = "municipality"
    tables = (Table("fold_events_per_name", {"name": "TEXT", "n": "BIGINT"}, ("name",)),)

    def handle(self, event: RawEvent, view: View) -> None:
        row = view.get("fold_events_per_name", event.name) or {"name": event.name, "n": 0}
        row["n"] += 1
        view.put("fold_events_per_name", row)


def test_a_projection_that_does_not_partition_as_declared_is_folded_whole(store: Ledger) -> None:
    engine = Engine(store.db, [EventsPerName(), *all_projections()])
    engine.catch_up(["events_per_name"])
    live = engine.digest("fold_events_per_name")
    stats = engine.rebuild(swap=False, suffix="__whole", jobs=2)
    assert stats["partitioned"] == []  # the partitioned attempt was given up
    assert engine.digest("fold_events_per_name__whole") == live
    assert _digests(engine, "__whole") == _digests(engine)
    engine.drop_suffix("__whole")


def _grants_as_recorded_by(events: list[RawEvent], k: str) -> dict[str, tuple[int, dict[str, dict]]]:
    """citizen -> (municipality, grants) from the assessment events recorded at or before K: an
    independent fold (the audit's grant shape), to count the totals from."""
    from ledger.projections.reader import recorded_key

    citizen_of: dict[str, str] = {}
    out: dict[str, tuple[int, dict[str, dict]]] = {}
    for e in events:
        if recorded_key(e.recorded) > k:
            continue
        s = e.state
        if e.name == "AssessmentOpened":
            citizen_of[e.originator_id] = s["citizen_id"]
            continue
        citizen = citizen_of[e.originator_id]
        m, grants = out.setdefault(citizen, (s["municipality"], {}))
        if e.name == "GrantAwarded":
            grants[s["grant_id"]] = {"fsiii": s["fsiii"], "section": s["section"], "from": s["valid_from"],
                                     "to": s["valid_to"], "changes": [[s["valid_from"], s["amount"]["weekly_minutes"], ""]]}
        elif e.name == "GrantEnded":
            grants[s["grant_id"]]["to"] = s["effective"]
        else:
            g = grants[s["grant_id"]]
            g["changes"] = sorted([c for c in g["changes"] if c[0] != s["effective"]]
                                  + [[s["effective"], s["amount"]["weekly_minutes"], ""]])
    return out


def _count(citizens: dict[str, tuple[int, dict[str, dict]]], day: str) -> dict[tuple[int, str], list[int]]:
    from ledger.projections.audit import grant_value

    totals: dict[tuple[int, str], list[int]] = {}
    for m, grants in citizens.values():
        active = [g for g in grants.values() if grant_value(g, day)[0] > 0]
        if not active:
            continue
        minutes: dict[str, int] = {}
        for g in active:
            minutes[g["fsiii"]] = minutes.get(g["fsiii"], 0) + grant_value(g, day)[0]
        for code, weekly in minutes.items():
            v = totals.setdefault((m, f"c:{code}"), [0, 0])
            v[0] += 1
            v[1] += weekly
        totals.setdefault((m, "s:" + ",".join(sorted({g["section"] for g in active}))), [0, 0])[0] += 1
    return totals


def test_totals_counted_at_query_time_equal_a_count_of_the_grants_recorded_by_k(store: Ledger) -> None:
    """The timeline's totals (citizens and weekly minutes per code, citizens per set of sections)
    are pre-summed from its grant events (tl_totals): they equal a count of each citizen's grants as
    an independent fold of the events recorded by K has them, for one day and several at once."""
    from ledger.projections import timeline_queries as tq
    from ledger.projections.reader import recorded_key
    from tests.helpers.timeline_oracle import of_grants

    names = ["AssessmentOpened", "GrantAwarded", "GrantReassessed", "GrantCorrected", "GrantEnded"]
    events = [e for batch in read_events(store.db, names=names) for e in batch]
    stamps = sorted(recorded_key(e.recorded) for e in events)
    ms = sorted({e.state["municipality"] for e in events if "municipality" in e.state})
    days = ["2018-03-31", "2019-06-30", "2020-01-01", "2021-12-31"]
    for k in [stamps[len(stamps) // 3], stamps[2 * len(stamps) // 3], tq.KNOWN_NOW]:
        citizens = _grants_as_recorded_by(events, k)
        together = tq.totals_at(store.db, ms, days, k)
        for day in days:
            expected = _count(citizens, day)
            assert of_grants(tq.totals_at(store.db, ms, [day], k)[day]) == expected, (k, day)
            assert of_grants(together[day]) == expected, (k, day)


# A catch-up of every projection that SIGKILLs its own process in the middle of a timeline batch
# (at the first GrantReassessed from position argv[2] on), with other batches already committed.
KILLED_CATCH_UP = textwrap.dedent("""
    import os, signal, sys
    from ledger.db import Database
    from ledger.projections import all_projections
    from ledger.projections.engine import Engine
    from ledger.projections.timeline import TimelineProjection

    class Killed(TimelineProjection):
        def on_GrantReassessed(self, event, view):
            if event.position >= int(sys.argv[2]):
                os.kill(os.getpid(), signal.SIGKILL)
            super().on_GrantReassessed(event, view)

    projections = [Killed() if p.name == "timeline" else p for p in all_projections()]
    Engine(Database(sys.argv[1]), projections, batch_size=int(sys.argv[3])).catch_up()
""")


@pytest.mark.parametrize("batch", [1, 150])
def test_sigkill_mid_catch_up_then_catch_up_again_equals_the_rebuild(store: Ledger, batch: int) -> None:
    engine = Engine(store.db, all_projections())
    engine.rebuild(swap=False, suffix="__ref", jobs=2)
    reference = _digests(engine, "__ref")
    head = head_position(store.db)
    _reset_live(engine)
    engine.catch_up(until=head // 3)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", KILLED_CATCH_UP, store.db.url, str(2 * head // 3), str(batch)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    positions = {s["name"]: s["position"] for s in engine.status()}
    killed_at = min(e.position for batch_ in read_events(store.db, 2 * head // 3, names=["GrantReassessed"])
                    for e in batch_)
    assert head // 3 <= positions["timeline"] < killed_at  # the killed batch left nothing
    restarted = Engine(store.db, all_projections(), batch_size=batch + 7)
    assert restarted.catch_up() == {name: head for name in positions}
    assert _digests(restarted) == reference
    engine.drop_suffix("__ref")


def test_a_rebuild_writes_about_two_rows_per_event_of_the_log_at_most(store: Ledger) -> None:
    """Totals are pre-summed per municipality and quarter, not per event, and each entity's state
    is one row, so the fold writes each final row once: about two rows per event at most (ADR
    0022). This small store is nearly
    all grant events (each a timeline and an audit row), so it sits near 2; issue 12's target
    (< 2) is measured on the network trial by `bench/run.py` (1.79 there). A guard against the
    row-by-row totals coming back (they wrote 6.5 rows per event)."""
    engine = Engine(store.db, all_projections())
    stats = engine.rebuild(swap=False, suffix="__rows", jobs=1)
    rows = sum(s["inserted"] + s["upserted"] + s["deleted"] for s in stats["projections"].values())
    events = store.db.query(f"SELECT count(*) FROM {store.db.events_table}")[0][0]
    assert rows == sum(store.db.query(f"SELECT count(*) FROM {t}__rows")[0][0] for t in _tables())
    # The audit's evaluation changes are a row per municipality and year however many events
    # (143 rows on the network trial, 0.006 per event): counted apart, this store sits at the bound.
    years, municipalities, spanned = store.db.query(
        "SELECT count(*), count(DISTINCT municipality), count(DISTINCT year) FROM au_eval_years__rows")[0]
    assert years <= municipalities * spanned
    # So are the timeline's pre-summed totals: a row per municipality, axis and quarter (and one
    # listing each axis's quarters), 771 rows on the network trial (0.03 per event).
    totals, with_totals, quarters = store.db.query(
        "SELECT count(*), count(DISTINCT municipality), count(DISTINCT axis || period) FROM tl_totals__rows")[0]
    assert totals <= with_totals * quarters
    assert (rows - years - totals) / events < 2.1, (rows, years, totals, events, {
        n: s["inserted"] + s["upserted"] + s["deleted"] for n, s in stats["projections"].items()})
    engine.drop_suffix("__rows")


@pytest.fixture(scope="module", params=BACKENDS)
def network_store(request, tmp_path_factory):
    """Every trial municipality, 0.4 % of their recipients: more municipalities than workers."""
    from conftest import drop_pg_schema, fresh_pg_url, pg_ok

    path = tmp_path_factory.mktemp("fold-network") / "network.jsonl"
    generate(custom_scale(0.004), seed=3, out=path)
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('network-store') / 'ledger.db'}"
    else:
        if not pg_ok():
            pytest.skip("PostgreSQL is not reachable")
        url = fresh_pg_url()
        request.addfinalizer(lambda: drop_pg_schema(url))
    led = Ledger(Settings(database_url=url))
    Importer(led, batch_size=500).run(path)
    engine = Engine(led.db, all_projections(), batch_size=211)
    _reset_live(engine)
    engine.catch_up()
    yield led
    led.close()


def test_partitions_too_large_for_memory_are_folded_in_passes_with_the_same_tables(network_store: Ledger) -> None:
    """When a worker's share of the partitioned rows exceeds `flush_rows`, the municipalities are
    dealt into more partitions than workers and each worker folds its partitions one pass after
    the other, each written whole (no spill: nothing read back, nothing upserted)."""
    engine = Engine(network_store.db, all_projections(), flush_rows=1_500)
    live = _digests(engine)
    stats = engine.rebuild(swap=False, suffix="__passes", jobs=2)
    assert max(stats["worker_passes"]) > 1
    assert _digests(engine, "__passes") == live
    assert all(s["loads"] == 0 and s["upserted"] == 0 for s in stats["projections"].values())
    engine.drop_suffix("__passes")


def test_one_worker_folds_partitions_too_large_for_memory_in_passes_with_the_same_tables(
        network_store: Ledger) -> None:
    """`rebuild(jobs=1)` (the CLI's `--jobs 1`, the bench's `ensure_current`) is bounded as a
    worker's share is: past `flush_rows` the municipalities are folded one pass after the other in
    this process, each written whole, and the tables equal the live ones by digest."""
    engine = Engine(network_store.db, all_projections(), flush_rows=1_500)
    live = _digests(engine)
    stats = engine.rebuild(swap=False, suffix="__one", jobs=1)
    assert stats["jobs"] == 1 and stats["passes"] > 1
    assert stats["position"] == head_position(network_store.db)
    assert _digests(engine, "__one") == live
    partitioned = [p.name for p in all_projections() if p.partition_by]
    assert all(stats["projections"][n]["loads"] == 0 and stats["projections"][n]["upserted"] == 0
               for n in partitioned)
    engine.drop_suffix("__one")


def test_later_passes_decode_only_their_own_partitions_events(network_store: Ledger, monkeypatch) -> None:
    """The first pass notes each event's partition by its position; the later passes skip the
    other partitions' events without decoding them (each used to decode the whole log again),
    and the tables are the same."""
    import ledger.projections.engine as engine_module

    decoded: list[int] = []
    real = engine_module.read_batches

    def counting(*args, **kwargs):
        decoded.append(0)
        for last, events in real(*args, **kwargs):
            decoded[-1] += len(events)
            yield last, events

    monkeypatch.setattr(engine_module, "read_batches", counting)
    partitioned = [p for p in all_projections() if p.partition_by]
    engine = Engine(network_store.db, partitioned, flush_rows=1_500)
    stats = engine.rebuild(swap=False, suffix="__skip", jobs=1)
    passes = stats["passes"]
    first, later = decoded[-passes], decoded[-passes + 1:]
    assert passes > 2 and sum(later) < first  # without the skip: each later pass == first
    names = [p.name for p in partitioned]
    assert _digests(engine, "__skip", names) == _digests(engine, "", names)
    engine.drop_suffix("__skip")


def test_one_worker_in_passes_swaps_in_the_same_tables(network_store: Ledger) -> None:
    engine = Engine(network_store.db, all_projections(), flush_rows=1_500)
    live = _digests(engine)
    stats = engine.rebuild(jobs=1)
    assert stats["passes"] > 1 and stats["swapped"]
    assert _digests(engine) == live
    assert Engine(network_store.db, all_projections()).catch_up()  # the live tables resume from the rebuild
    assert _digests(engine) == live


def test_one_worker_in_passes_folds_whole_a_projection_that_does_not_partition_as_declared(store: Ledger) -> None:
    engine = Engine(store.db, [EventsPerName(), *all_projections()], flush_rows=500)
    # (its live table may hold an earlier test's counts: compare with one fold of it instead)
    Engine(store.db, [EventsPerName()]).rebuild(swap=False, suffix="__ref1", jobs=1)
    live = engine.digest("fold_events_per_name__ref1")
    stats = engine.rebuild(swap=False, suffix="__whole1", jobs=1)
    assert stats["passes"] == 1  # the attempt in passes was given up
    assert engine.digest("fold_events_per_name__whole1") == live
    assert _digests(engine, "__whole1") == _digests(engine)
    engine.drop_suffix("__whole1")
    engine.drop_suffix("__ref1", ["events_per_name"])
