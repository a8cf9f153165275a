"""The projection engine: read-model tables derived from the event log, applied exactly once.

Contract for projection authors
===============================

Write a subclass of `Projection`::

    class Balances(Projection):
        name = "balances"            # the tracking key; never rename a live projection
        version = 1                  # bump whenever the output would differ -> needs rebuild
        tables = (Table("balances", {"account_id": "TEXT", "balance_ore": "BIGINT"}, ("account_id",)),)

        def on_Deposited(self, event: RawEvent, view: View) -> None:
            row = view.get("balances", event.originator_id) or {"account_id": event.originator_id, "balance_ore": 0}
            row["balance_ore"] += event.state["amount_ore"]
            view.put("balances", row)

* A method `on_<EventName>` handles the events whose topic ends in `.<EventName>`. Events with no
  handler are skipped without being decoded. Overriding `handle(event, view)` instead receives
  every event (and makes every event be decoded, so prefer `on_` methods).
* `event` is a `RawEvent`: `position`, `originator_id` (UUID text with dashes),
  `originator_version`, `name`, `state` (the stored JSON as a dict: money is in integer øre as
  stored, `state["timestamp"]` is the recorded time) and the `recorded` / `effective` shortcuts.
  Treat it as read-only.
* Handlers must be deterministic functions of the events: no clock, no randomness, no reads
  outside the `View`, no other I/O. The same log must give the same tables whether built in one
  rebuild, in many catch-ups of any batch size, or after a crash. `Engine.digest` proves it.
  Keep no state on `self` between events; keep it in tables.
* `view.get(table, *pk)` returns a copy of the current row or None; `view.put(table, row)`
  upserts the row by its primary key (the view keeps that dict: do not reuse it); `view.delete`
  removes one. Values are str, int or None; store structure as JSON text (orjson) yourself.
  `table` is the table's name or the `Table` object.
* `start_batch(view)` / `end_batch(view)` run around each batch; the result must not depend on
  where batches start and end.
* A schema or logic change means a version bump and `Engine.rebuild()`: `catch_up` refuses to
  apply a projection whose tracked version differs (`NeedsRebuild`), so old code never writes
  into tables built by new code or the reverse. A new projection can start with either:
  `rebuild()` appears all at once, `catch_up()` fills its tables batch by batch.
* `Table(name, columns, primary_key, indexes)`: names are lower-case identifiers (table names
  at most 40 characters, unique across all projections), types TEXT, BIGINT or INTEGER,
  primary-key columns are NOT NULL. Rows are written with exactly these columns: a missing one
  is NULL, an unknown one is an error.
* An exception in a handler aborts the batch (catch_up: nothing of it is kept) or the rebuild
  (nothing is swapped); it carries a note naming the projection and the event's position.

Guarantees
==========

* `catch_up` writes the view rows and the projection's tracking position in one transaction per
  batch: a crash loses or repeats nothing. One process at a time applies a given projection
  (PostgreSQL: a transaction-scoped advisory lock on `hashtext(<schema>.<name>)`, then the position is read
  again under the lock; SQLite: `BEGIN IMMEDIATE` serialises writers). A runner keeps one
  `Engine` and calls `catch_up()` in a loop: cached rows survive between calls for as long as no
  other process has moved the projection on.
* `rebuild` reads the log once for all projections given, builds `<table><suffix>` tables from
  empty, and then swaps them in with one transaction, so readers see the old tables until the
  new ones are complete. `swap=False` leaves the suffixed tables for comparison
  (`digest(name)` vs `digest(name + suffix)`), `drop_suffix` removes them.
* `status()` reports position, head and lag per projection; `digest(table)` is the same on
  SQLite and PostgreSQL for the same rows.

Things to know
==============

* Do not create database views or foreign keys over projection tables on PostgreSQL: the swap
  drops the old table, which PostgreSQL refuses while a view depends on it. Query the tables.
* While applying events the engine pauses Python's cyclic garbage collector (see
  `_gc_paused`); reference counting still frees everything that is not part of a cycle.
* Large rebuilds (`rebuild_writer="auto"`: from 200k events) write through a child process
  (`view.BackgroundWriter`), so that inserting rows overlaps with applying events.

Rebuild as a fold, and partitions (ADR 0013)
============================================

* A rebuild keeps what it stages in memory until `flush_rows` rows are staged: below that it
  reads nothing back and writes every final row once, at the end. In a rebuild, `start_batch` /
  `end_batch` wrap everything between two such writes, so per-entity work done in `end_batch`
  runs once per entity.
* `rebuild(jobs=N)` runs N worker processes. A projection with `partition_by = "<field>"` is
  folded in N partitions (values of `event.state[field]`, dealt out by their event counts); the
  others whole, one per worker. Declare it only when every row the projection reads or writes
  belongs to one value of the field; a value it must combine across partitions goes through
  `partition_share` → `partition_combine` → `partition_finish` (see the timeline's high-water
  mark). Two partitions writing one primary key make the engine fold each projection whole.
* When the partitioned projections' rows would not fit in `flush_rows` (per worker), their
  partitions are folded in passes, one after the other, each written whole before the next; with
  one worker (`jobs=1`) that happens in this process (ADR 0022, round 5), so memory is bounded by
  a partition, not by the log. Each pass reads the log again; the first notes each event's
  partition by its position, so the later ones decode only their own partitions' events.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import os
import re
import secrets
import selectors
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, ClassVar

import orjson

from ledger.db import Database
from ledger.projections.reader import RawEvent, head_position, read_batches, read_events, read_raw
from ledger.projections.view import BackgroundWriter, Dialect, Table, View, _recv, _send, dialect_for

__all__ = [
    "Engine",
    "NeedsRebuild",
    "Projection",
    "RawEvent",
    "Table",
    "View",
    "head_position",
    "read_events",
    "read_raw",
]

TRACKING_TABLE = "projection_tracking"
_WRITER_FROM_EVENTS = 200_000
_PARALLEL_FROM_EVENTS = 50_000  # rebuild(jobs=None) uses one worker per core from here
# Rows a partitioned projection writes per event it handles, for sizing partitions (the timeline
# and the audit together write ~1.8 per event of the log, ADR 0022): an upper estimate.
_ROWS_PER_EVENT = 2.0
_SUFFIX = re.compile(r"^[a-z0-9_]{1,20}$")

Handler = Callable[[RawEvent, View], None]


class NeedsRebuild(RuntimeError):
    """The tracked version of a projection differs from the code's: run `Engine.rebuild()`."""


class Projection:
    """Base class of read models; see the module docstring for the contract."""

    name: ClassVar[str] = ""
    version: ClassVar[int] = 1
    tables: ClassVar[tuple[Table, ...]] = ()
    # Relative cost of a rebuild, for sharing projections out over `rebuild(jobs=N)` workers.
    rebuild_cost: ClassVar[float] = 1.0
    # A state field whose value partitions the projection's rows (see "Partitions" above): a
    # parallel rebuild then folds each partition's events in a worker of its own.
    partition_by: ClassVar[str | None] = None
    # True in a worker that folds one partition (set by the engine before the first batch).
    in_partition: bool = False

    def partition_share(self) -> Any:
        """In a partition's worker, after its last event: what the other partitions must know of
        it (picklable). The default: nothing."""
        return None

    @classmethod
    def partition_combine(cls, shares: list[Any]) -> list[Any]:
        """Every partition's share, in partition order -> each partition's answer."""
        return [None] * len(shares)

    def partition_finish(self, view: View, answer: Any) -> None:
        """In a partition's worker: apply the answer, before the last end_batch and write."""

    def handlers(self) -> dict[str, Handler]:
        """Event name -> bound `on_<EventName>` method."""
        found: dict[str, Handler] = {}
        for attr in dir(type(self)):
            if attr.startswith("on_") and callable(getattr(type(self), attr)):
                found[attr[3:]] = getattr(self, attr)
        return found

    def handle(self, event: RawEvent, view: View) -> None:
        """Dispatch one event to its `on_` method, if any (the engine does this itself, faster)."""
        table = self.__dict__.get("_handler_table")
        if table is None:
            table = self.__dict__["_handler_table"] = self.handlers()
        handler = table.get(event.name)
        if handler is not None:
            handler(event, view)

    def start_batch(self, view: View) -> None:
        """Called before each batch of events."""

    def end_batch(self, view: View) -> None:
        """Called after each batch, before its rows are written."""


class _Run:
    """One projection inside one catch_up/rebuild call: its view and its dispatch table."""

    def __init__(self, projection: Projection, view: View) -> None:
        self.projection = projection
        self.name = projection.name
        self.view = view
        kind = type(projection)
        # A subclass that overrides handle() sees everything; otherwise dispatch by name.
        self.handlers: dict[str, Handler] | None = (
            projection.handlers() if kind.handle is Projection.handle else None
        )
        self.start = kind.start_batch is not Projection.start_batch
        self.end = kind.end_batch is not Projection.end_batch
        # (field, value -> partition, this partition): only those events are applied
        self.part: tuple[str, dict[Any, int], int] | None = None
        # In a worker's first pass of several: each event's partition, noted by its position
        # (255: none noted), so the later passes need not decode the other partitions' events.
        self.record: bytearray | None = None

    def mine(self, events: list[RawEvent]) -> list[RawEvent]:
        if self.part is None:
            return events
        field, parts, me = self.part
        record = self.record
        if record is None:
            return [e for e in events if parts.get(e.state.get(field), 0) == me]
        out = []
        for e in events:
            record[e.position] = part = parts.get(e.state.get(field), 0)
            if part == me:
                out.append(e)
        return out

    @property
    def wanted(self) -> frozenset[str] | None:
        return None if self.handlers is None else frozenset(self.handlers)

    def apply(self, events: list[RawEvent], hooks: bool = True) -> None:
        """Apply events as one batch; `hooks=False` leaves start_batch/end_batch to the caller
        (a rebuild makes everything between two flushes one batch)."""
        view = self.view
        projection = self.projection
        if hooks and self.start:
            projection.start_batch(view)
        event = None
        try:
            if self.handlers is None:
                handle = projection.handle
                for event in events:
                    handle(event, view)
            else:
                get = self.handlers.get
                for event in events:
                    handler = get(event.name)
                    if handler is not None:
                        handler(event, view)
        except Exception as exc:
            if event is not None:
                exc.add_note(f"projection {self.name!r} at position {event.position} ({event.name})")
            raise
        if hooks and self.end:
            projection.end_batch(view)

    def start_batch(self) -> None:
        if self.start:
            self.projection.start_batch(self.view)

    def end_batch(self) -> None:
        if self.end:
            self.projection.end_batch(self.view)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while events are applied.

    Every event allocates dicts and tuples, and the view's cache keeps many thousands of dicts
    alive, so the collector would otherwise keep re-scanning them: about a fifth of a
    rebuild's time, for no garbage (events, rows and caches form no cycles). Reference
    counting still frees everything else; cycles a handler creates wait for the collector's
    next run after the call. Projection runners are processes of their own, so request threads
    do not feel this.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def _bitmap_bits(events: int) -> int:
    """Bits of a rebuild's written-key bitmap: ≥ 64 per event, so ≥ 8 per written row at up to 8
    rows an event (the timeline writes ~6.5; sized by events alone, one bit in six answered
    "maybe written" and cost a needless SELECT), capped at 128 MiB per table. It is only
    consulted after a spill (see `flush_rows`), so small rebuilds never allocate much of it."""
    bits = 1 << 16
    while bits < events * 64 and bits < (1 << 30):
        bits <<= 1
    return bits


def _portable(projections: list[Projection]) -> bool:
    """Whether a worker process can receive these projections: picklable, and their classes
    importable by name there (not defined in `__main__` or inside a function)."""
    import pickle

    try:
        pickle.dumps(projections)
    except Exception:  # noqa: BLE001 - any failure means: fold them here instead
        return False
    return all(type(p).__module__ != "__main__" for p in projections)


def _share_out(projections: list[Projection], jobs: int) -> list[list[Projection]]:
    """At most `jobs` groups of projections, the costliest first onto the least loaded group."""
    jobs = max(1, min(jobs, len(projections)))
    groups: list[list[Projection]] = [[] for _ in range(jobs)]
    loads = [0.0] * jobs
    for projection in sorted(projections, key=lambda p: -type(p).rebuild_cost):
        i = loads.index(min(loads))
        groups[i].append(projection)
        loads[i] += type(projection).rebuild_cost
    order = {p.name: n for n, p in enumerate(projections)}
    return [sorted(g, key=lambda p: order[p.name]) for g in groups if g]


def _exchanges(projection: Projection) -> bool:
    """Whether a partitioned projection combines a value across its partitions (ADR 0013 §3)."""
    kind = type(projection)
    return (kind.partition_share is not Projection.partition_share
            or kind.partition_combine.__func__ is not Projection.partition_combine.__func__  # type: ignore[attr-defined]
            or kind.partition_finish is not Projection.partition_finish)


def _skip_mask(runs: list[_Run], marks: dict[str, bytearray]) -> bytes | None:
    """A later pass of partitions: the positions whose events belong to other partitions of every
    run here, as noted in the first pass (1: skip; a position noted for none is read). None when a
    run here is whole or its field was not noted."""
    if any(run.part is None for run in runs):
        return None
    wanted = {(run.part[0], run.part[2]) for run in runs if run.part is not None}
    if any(field not in marks for field, _ in wanted):
        return None
    mask: bytes | None = None
    for field, me in wanted:
        mine = bytes(marks[field].translate(bytes(0 if b in (me, 255) else 1 for b in range(256))))
        mask = mine if mask is None else bytes(map(min, mask, mine))  # skipped by every field
    return mask


class _PartitionConflict(RuntimeError):
    """Two partitions of a partitioned rebuild wrote the same row."""


class _Worker:
    """A rebuild worker: a plain `python -c` child (so the caller's `__main__` is never imported
    again) that gets its task on stdin and answers with framed pickles on stdout. It watches its
    stdin: when this process dies, the worker exits before committing anything."""

    def __init__(self, url: str, task: list[tuple[Projection, tuple[str, dict[Any, int], int] | None]],
                 settings: dict[str, Any], suffix: str, until_recorded: str | None, head: int,
                 exchange: bool) -> None:
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        # The parent's import path, so projections defined anywhere it can import unpickle here.
        env["PYTHONPATH"] = os.pathsep.join([root, *[p for p in sys.path if p]])
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from ledger.projections.engine import _rebuild_child; _rebuild_child()"],
            # Unbuffered: the parent selects on the pipe, so no message may wait in a buffer.
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, bufsize=0,
        )
        assert self.proc.stdout is not None  # stdout=PIPE
        self.stdout: IO[bytes] = self.proc.stdout
        _send(self.proc.stdin, (url, task, settings, suffix, until_recorded, head, exchange))

    def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()


def _peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM), for the rebuild's report."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def _one_worker_result(applied: int, position: int, started: float, swap: bool, suffix: str,
                       use_process: bool, passes: int, stats: dict[str, Any]) -> dict[str, Any]:
    """What a rebuild folded in this process reports (a parallel rebuild adds its workers' figures)."""
    seconds = time.perf_counter() - started
    return {
        "events": applied,
        "position": position,
        "seconds": seconds,
        "events_per_second": applied / seconds if seconds else 0.0,
        "swapped": swap,
        "suffix": suffix,
        "writer": "process" if use_process else "inline",
        "jobs": 1,
        "passes": passes,
        "projections": stats,
    }


def _is_conflict(exc: BaseException) -> bool:
    import sqlite3

    if isinstance(exc, sqlite3.IntegrityError):
        return True
    try:
        import psycopg
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, psycopg.errors.IntegrityError)


def _pass_progress(out: Any, k: int, passes: int, done: int, total: int) -> None:
    """A worker's progress in pass k of `passes`, as a share of all its passes."""
    _send(out, ("progress", k * total + done, passes * total))


def _rebuild_child() -> None:
    """A worker's main: fold the given projections (or partitions of them) over the log into the
    (existing, empty) suffix tables, commit, report to `Engine._rebuild_parallel`."""
    import queue

    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the protocol
    url, task, settings, suffix, until_recorded, head, must_exchange = _recv(inp)
    inbox: queue.Queue[Any] = queue.Queue()

    def watch() -> None:  # end-of-input: the parent is gone, and so is the reason to commit
        while (message := _recv(inp)) is not None:
            inbox.put(message)
        os._exit(3)

    threading.Thread(target=watch, daemon=True).start()
    db = Database(url)
    try:
        projections = list({id(p): p for p, _ in task}.values())
        engine = Engine(db, projections, rebuild_writer="inline", **settings)

        def exchange(shares: dict[str, Any]) -> dict[str, Any]:
            _send(out, ("share", shares))
            return inbox.get()[1]

        applied, position, stats, passes = engine._fold_task(
            task, suffix, head, until_recorded, None, functools.partial(_pass_progress, out),
            exchange if must_exchange else None,
        )
        _send(out, ("done", {"names": [p.name for p in projections], "events": applied, "position": position,
                             "projections": stats, "peak_rss_mib": _peak_rss_mib(), "passes": passes}))
    except BaseException as exc:
        _send(out, ("conflict" if _is_conflict(exc) else "error", traceback.format_exc()))
        code = 1
    else:
        code = 0
    finally:
        db.close()
    # Leave without interpreter shutdown: the stdin watcher thread is blocked in a read, and
    # finalising under it aborts the process. Everything is committed and reported by now.
    sys.stderr.flush()
    os._exit(code)


class Engine:
    """Runs projections against one database. Holds no connection between calls.

    Keep one Engine per projection runner: between `catch_up` calls it keeps each projection's
    cached rows, valid for as long as nobody else has moved its tracked position. Not for use
    from several threads at once.
    """

    # Whether a rebuild with swap=False gives its `<table><suffix>` copies their secondary
    # indexes: an "as known at" read queries the copies as it would the live tables.
    copy_indexes: ClassVar[bool] = True
    # Whether a rebuild's `<table><suffix>` copies are UNLOGGED on PostgreSQL. Not for copies
    # that are swapped in: an unlogged table is emptied after a crash. A verify's copies
    # (replay.projections.ScratchEngine) are only compared and dropped.
    unlogged_copies: ClassVar[bool] = False

    def __init__(
        self,
        db: Database,
        projections: Iterable[Projection],
        *,
        batch_size: int = 2_000,
        rebuild_batch_size: int = 10_000,
        cache_rows: int = 100_000,
        flush_rows: int = 250_000,
        rebuild_writer: str = "auto",
    ) -> None:
        if rebuild_writer not in ("auto", "process", "inline"):
            raise ValueError("rebuild_writer is 'auto', 'process' or 'inline'")
        self.db = db
        self.batch_size = batch_size  # events per catch_up transaction
        self.rebuild_batch_size = rebuild_batch_size
        self.cache_rows = cache_rows  # cached rows per table and view, across batches
        # Staged rows that make a rebuild write out (spill) before the end. Below it a rebuild
        # is a fold: every row lives in memory, no row is read back, each final row is written
        # once (COPY / executemany) at the end. Past it the engine spills and reads back through
        # the cache and the written-key bitmap, so memory stays bounded on any log. A staged row
        # costs ~1.1 KiB (measured at 4x the network: entity states are large JSON), so 250,000
        # rows are ~300 MiB a worker; a parallel rebuild sizes its partitions to fit (`_plan`).
        self.flush_rows = flush_rows
        # Where a rebuild's writes run: a child process pays off from a few 100k events
        # (starting it costs a few tenths of a second); "auto" decides by the log's size.
        self.rebuild_writer = rebuild_writer
        self.projections: dict[str, Projection] = {}
        owners: dict[str, str] = {}
        for projection in projections:
            name = projection.name
            if not name:
                raise ValueError(f"{type(projection).__name__} has no name")
            if name in self.projections:
                raise ValueError(f"two projections are named {name!r}")
            for table in projection.tables:
                if table.name in owners or table.name == TRACKING_TABLE:
                    raise ValueError(f"table {table.name!r} of {name!r} is also used by {owners.get(table.name, 'the engine')!r}")
                owners[table.name] = name
            self.projections[name] = projection
        # catch_up's views, kept across calls, and the position each one's cache reflects.
        self._live_views: dict[str, View] = {}
        self._live_positions: dict[str, int] = {}
        self._ensured = False

    # -- setup ----------------------------------------------------------------------------
    def ensure_tables(self) -> None:
        """Create the tracking table and any missing projection table with its indexes.

        An existing table is left alone even if its definition changed: that change comes with
        a version bump, and the rebuild creates the new shape.
        """
        with self.db.transaction() as cur:
            if self.db.is_postgres:
                # Two processes starting together would otherwise race on CREATE TABLE.
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.db.advisory_key(TRACKING_TABLE),))
            cur.execute(
                f"CREATE TABLE IF NOT EXISTS {TRACKING_TABLE} (name TEXT PRIMARY KEY, "
                "position BIGINT NOT NULL, version INTEGER NOT NULL, updated_at TEXT NOT NULL)"
            )
            for projection in self.projections.values():
                for table in projection.tables:
                    if not self._exists(cur, table.name):
                        sql = self._dialect(table, table.name)
                        cur.execute(sql.create_table())
                        for statement in sql.create_indexes():
                            cur.execute(statement)
        self._ensured = True

    # -- live: follow the log -------------------------------------------------------------
    def catch_up(self, names: Collection[str] | None = None, until: int | None = None) -> dict[str, int]:
        """Apply every event after each projection's tracked position, up to `until` (default:
        the head when called). Returns the tracked positions reached."""
        projections = self._select(names)
        if not self._ensured:
            self.ensure_tables()
        end = head_position(self.db) if until is None else until
        runs = [_Run(p, self._live_view(p)) for p in projections]
        try:
            with self.db.connection() as conn:
                with self.db.transaction(conn) as cur:
                    expected = self._positions(cur, runs)
                for run in runs:
                    if self._live_positions.get(run.name) != expected[run.name]:
                        run.view.reset()  # moved by someone else since our last call
                with _gc_paused():
                    while True:
                        start = min(expected.values(), default=end)
                        if start >= end:
                            break
                        if not self._follow(conn, runs, expected, start, end):
                            break
        except BaseException:
            for run in runs:
                self._live_positions.pop(run.name, None)
            raise
        self._live_positions.update(expected)
        return {run.name: expected[run.name] for run in runs}

    def _live_view(self, projection: Projection) -> View:
        view = self._live_views.get(projection.name)
        if view is None:
            view = self._live_views[projection.name] = self._view(projection, rebuild=False)
        return view

    def _follow(self, conn: Any, runs: list[_Run], expected: dict[str, int], start: int, end: int) -> bool:
        """One pass over (start, end]. True when it must start over: another process moved a
        tracked position below what this pass has already read past."""
        wanted = self._wanted(runs)
        after = start
        for last, events in read_batches(self.db, start, end, self.batch_size, names=wanted):
            restart = False
            try:
                with self.db.transaction(conn) as cur:
                    tracked = self._positions(cur, runs, lock=True)
                    for run in runs:
                        position = tracked[run.name]
                        if position != expected[run.name]:
                            # Someone else applied or rebuilt it: our cached rows are stale.
                            run.view.reset()
                            expected[run.name] = position
                            restart = restart or position < after
                    if not restart:
                        for run in runs:
                            position = expected[run.name]
                            if position >= last:
                                continue
                            todo = events if position <= after else [e for e in events if e.position > position]
                            run.view.bind(cur)
                            run.apply(todo)
                            run.view.flush(cur)
                            self._track(cur, run.projection, last)
            except BaseException:
                for run in runs:  # the transaction rolled back: staged and cached rows are void
                    run.view.reset()
                raise
            if restart:
                return True
            for run in runs:
                expected[run.name] = max(expected[run.name], last)
                run.view.after_flush()
            after = last
        return False

    # -- rebuild --------------------------------------------------------------------------
    def rebuild(
        self,
        names: Collection[str] | None = None,
        *,
        suffix: str = "__rebuild",
        swap: bool = True,
        until_recorded: str | None = None,
        progress: Callable[[int, int], None] | None = None,
        jobs: int | None = 1,
    ) -> dict[str, Any]:
        """Build the projections from the start of the log into `<table><suffix>` tables, in one
        pass over the log, then (swap=True) replace the live tables in one transaction.

        `jobs` > 1 (None: one per core on logs of 50,000 positions or more) shares the projections out over that many worker
        processes (by `rebuild_cost`), each reading the log and folding its projections on its
        own connection; the swap is still one transaction in this process. With one worker,
        partitions too large to fold at once are folded in passes here (`_passes_for_one`).

        `until_recorded` keeps only events recorded at or before that instant (auditors'
        "as known at"); it needs swap=False, since the live tables must reflect the whole log.
        `progress(done, total)` is called after each batch, in log positions.
        """
        if not _SUFFIX.match(suffix):
            raise ValueError(f"suffix {suffix!r}: 1-20 characters of a-z, 0-9, _")
        if swap and until_recorded is not None:
            raise ValueError("a rebuild cut at until_recorded is for comparison only: pass swap=False")
        projections = self._select(names)
        self.ensure_tables()
        started = time.perf_counter()
        head = head_position(self.db)
        if jobs is None:  # automatic: starting workers costs about a second, worth it on larger logs
            workers = (os.cpu_count() or 1) if head >= _PARALLEL_FROM_EVENTS else 1
        else:
            workers = max(1, jobs)
        if workers > 1 and _portable(projections):
            plan = self._plan(projections, workers, head, until_recorded)
            try:
                if len(plan[0]) > 1:
                    return self._rebuild_parallel(plan, suffix, swap, until_recorded, progress, head, started)
            except _PartitionConflict:
                # Two partitions wrote the same row: the data do not partition as declared.
                # Fold each projection whole instead (still one worker per group).
                plan = ([[(p, None) for p in g] for g in _share_out(projections, workers)], {})
                if len(plan[0]) > 1:
                    return self._rebuild_parallel(plan, suffix, swap, until_recorded, progress, head, started)
        use_process = self.rebuild_writer == "process" or (
            self.rebuild_writer == "auto" and head >= _WRITER_FROM_EVENTS
        )
        # One worker, partitions too large to fold at once: fold them one pass after the other,
        # as a worker does with its share, so memory is bounded by a partition, not by the log.
        task = self._passes_for_one(projections, head, until_recorded)
        if task is not None:
            try:
                return self._rebuild_in_passes(projections, task, suffix, swap, until_recorded, progress, head,
                                               use_process, started)
            except Exception as exc:
                # (the background writer reports the database's error as text)
                if not (_is_conflict(exc) or (isinstance(exc, RuntimeError) and "IntegrityError" in str(exc))):
                    raise
                # Two partitions wrote the same row: fold everything whole (below) instead.
        bits = _bitmap_bits(head)
        runs = [_Run(p, self._view(p, rebuild=True, suffix=suffix, bits=bits)) for p in projections]
        with self.db.connection() as conn:
            self._prepare_suffix_tables(conn, projections, suffix)
            writer = None
            if use_process:
                writer = BackgroundWriter(self.db.url, {k: v for r in runs for k, v in r.view.dialects.items()})
            try:
                applied, position = self._rebuild_pass(conn, runs, head, writer, swap, until_recorded, progress)
                positions = {run.name: position for run in runs}
                if writer is not None:
                    writer.close()  # the last flush is committed before indexes and swap
            finally:
                if writer is not None:
                    writer.abort()
            self._finish(conn, projections, suffix, swap, positions)
        return _one_worker_result(applied, position, started, swap, suffix, use_process, 1,
                                  {run.name: vars(run.view.stats).copy() for run in runs})

    def _prepare_suffix_tables(self, conn: Any, projections: list[Projection], suffix: str) -> None:
        with self.db.transaction(conn) as cur:
            for table, physical in self._tables(projections, suffix):
                cur.execute(f"DROP TABLE IF EXISTS {self._dialect(table, physical).q}")
                # Primary key only: secondary indexes are cheaper to build once at the end.
                cur.execute(self._dialect(table, physical).create_table(
                    unlogged=self.db.is_postgres and self.unlogged_copies))

    def _finish(self, conn: Any, projections: list[Projection], suffix: str, swap: bool,
                positions: dict[str, int]) -> None:
        if (self.db.is_postgres and swap) or (not swap and self.copy_indexes):
            # PostgreSQL: build indexes before the swap (the swap only renames them), so readers
            # are never blocked behind an index build. SQLite cannot rename an index, so there a
            # swapped rebuild creates them in the swap itself.
            with self.db.transaction(conn) as cur:
                for table, physical in self._tables(projections, suffix):
                    for statement in self._dialect(table, physical).create_indexes():
                        cur.execute(statement)
        if swap:
            self._swap(conn, projections, suffix, positions)
            for projection in projections:
                self._live_positions.pop(projection.name, None)
            if self.db.is_postgres:
                # Fresh tables have no planner statistics until autovacuum samples them (never, on
                # a server that runs without it): the audit's same-day statement planned without
                # them took 0.5-0.7 s instead of milliseconds (ADR 0022, round 9). A sample per
                # table costs well under a second, after the swap, so readers never wait for it.
                for projection in projections:
                    for table in projection.tables:
                        conn.execute(f"ANALYZE {self._dialect(table, table.name).q}")

    def _plan(self, projections: list[Projection], workers: int, head: int, until_recorded: str | None
              ) -> tuple[list[list[tuple[Projection, int | None]]], dict[str, tuple[str, dict[Any, int], int]]]:
        """Which worker folds what: each partitioned projection split into partitions (values
        balanced by their events, counted in one read of the log), the others whole, onto the
        least loaded worker. -> (per worker: (projection, partition or None), parts)

        There are `workers` partitions, or a multiple of that when the partitioned projections'
        rows would not fit in `flush_rows` per worker (estimated at `_ROWS_PER_EVENT` rows per
        partitioned event): partition j is then folded by worker j % workers in its pass
        j // workers, one pass after the other, each writing its rows before the next begins, so
        a worker's memory is bounded by one partition's rows rather than by its share of the log."""
        split = [p for p in projections if p.partition_by]
        parts: dict[str, tuple[str, dict[Any, int], int]] = {}
        passes = 1
        if split:
            fields = {p.partition_by for p in split}
            counts: dict[str, dict[Any, int]] = {f: {} for f in fields if f}
            names = self._wanted([_Run(p, self._view(p, rebuild=True)) for p in split])
            for _, events in read_batches(self.db, 0, head, self.rebuild_batch_size, until_recorded, names):
                for e in events:
                    for f, c in counts.items():
                        v = e.state.get(f)
                        c[v] = c.get(v, 0) + 1
            if not any(_exchanges(p) for p in split):  # a share is exchanged once per worker: one pass only then
                counted = max((sum(c.values()) for c in counts.values()), default=0)
                passes = max(1, -(-int(counted * _ROWS_PER_EVENT) // (workers * self.flush_rows)))
            for f, c in counts.items():
                if len(c) < 2:
                    continue
                n = min(workers * passes, len(c))
                load: list[float] = [0.0] * n
                mapping: dict[Any, int] = {}
                for value, count in sorted(c.items(), key=lambda kv: (-kv[1], str(kv[0]))):
                    i = load.index(min(load))
                    mapping[value] = i
                    load[i] += count
                for p in split:
                    if p.partition_by == f:
                        parts[p.name] = (f, mapping, n)
        plan: list[list[tuple[Projection, int | None]]] = [[] for _ in range(workers)]
        load = [0.0] * workers  # the same list[float] as the partition load above
        for p in projections:
            if p.name in parts:
                n = parts[p.name][2]
                for j in range(n):
                    plan[j % workers].append((p, j))
                    load[j % workers] += type(p).rebuild_cost / n
        for p in sorted((p for p in projections if p.name not in parts), key=lambda p: -type(p).rebuild_cost):
            i = load.index(min(load))
            plan[i].append((p, None))
            load[i] += type(p).rebuild_cost
        return [w for w in plan if w], parts

    def _rebuild_parallel(
        self,
        plan: tuple[list[list[tuple[Projection, int | None]]], dict[str, tuple[str, dict[Any, int], int]]],
        suffix: str,
        swap: bool,
        until_recorded: str | None,
        progress: Callable[[int, int], None] | None,
        head: int,
        started: float,
    ) -> dict[str, Any]:
        """One worker process per group; each folds its projections (or its partition of them)
        into the suffix tables (made here first) and commits; then indexes and the swap, here,
        in one transaction. Partitions' shares are exchanged through here (`partition_combine`)."""
        groups, parts = plan
        projections = list({id(p): p for group in groups for p, _ in group}.values())
        with self.db.connection() as conn:
            self._prepare_suffix_tables(conn, projections, suffix)
        settings = {"rebuild_batch_size": self.rebuild_batch_size, "cache_rows": self.cache_rows,
                    "flush_rows": self.flush_rows}
        workers = [
            _Worker(self.db.url, [(p, None if i is None else (*parts[p.name][:2], i)) for p, i in group], settings,
                    suffix, until_recorded, head, any(_exchanges(p) for p in projections if p.name in parts))
            for group in groups
        ]
        results: dict[int, dict[str, Any]] = {}
        shares: dict[int, dict[str, Any]] = {}
        try:
            done = {i: 0 for i in range(len(workers))}
            pending = dict(enumerate(workers))
            with selectors.DefaultSelector() as sel:
                for i, worker in pending.items():
                    sel.register(worker.stdout, selectors.EVENT_READ, i)
                while pending:
                    for key, _ in sel.select():
                        i = key.data
                        message = _recv(pending[i].stdout)
                        names = [p.name for p, _ in groups[i]]
                        if message is None or message[0] in ("error", "conflict"):
                            detail = "exited" if message is None else message[1]
                            if message is not None and message[0] == "conflict":
                                raise _PartitionConflict(detail)
                            raise RuntimeError(f"rebuild worker for {names} failed: {detail}")
                        if message[0] == "progress":
                            done[i] = message[1]
                            if progress is not None:
                                progress(min(done.values()), message[2])
                            continue
                        if message[0] == "share":
                            shares[i] = message[1]
                            if len(shares) == len(workers):
                                self._answer(workers, groups, parts, shares)
                            continue
                        results[i] = message[1]
                        sel.unregister(pending[i].stdout)
                        pending.pop(i).close()
        finally:
            for worker in workers:
                worker.kill()
        positions = {name: r["position"] for r in results.values() for name in r["names"]}
        with self.db.connection() as conn:
            self._finish(conn, projections, suffix, swap, positions)
        seconds = time.perf_counter() - started
        applied = max((r["events"] for r in results.values()), default=0)
        stats: dict[str, dict[str, int]] = {}
        for r in results.values():
            for name, st in r["projections"].items():
                mine = stats.setdefault(name, dict.fromkeys(st, 0))
                for k, v in st.items():
                    mine[k] += v
        return {
            "events": applied,
            "position": min(positions.values(), default=head),
            "seconds": seconds,
            "events_per_second": applied / seconds if seconds else 0.0,
            "swapped": swap,
            "suffix": suffix,
            "writer": "inline",
            "jobs": len(groups),
            "partitioned": sorted(parts),
            "worker_peak_rss_mib": [results[i]["peak_rss_mib"] for i in sorted(results)],
            "worker_passes": [results[i].get("passes", 1) for i in sorted(results)],
            "projections": stats,
        }

    @staticmethod
    def _answer(workers: list[_Worker], groups: list[list[tuple[Projection, int | None]]],
                parts: dict[str, tuple[str, dict[Any, int], int]], shares: dict[int, dict[str, Any]]) -> None:
        """Every worker has shared: combine each partitioned projection's shares, answer each."""
        answers: dict[int, dict[str, Any]] = {i: {} for i in range(len(workers))}
        for name, (_field, _mapping, n) in parts.items():
            owner = {part: i for i, group in enumerate(groups) for p, part in group if p.name == name}
            kind = type(next(p for group in groups for p, _ in group if p.name == name))
            combined = kind.partition_combine([shares[owner[part]].get(name) for part in range(n)])
            for part in range(n):
                answers[owner[part]][name] = combined[part]
        for i, worker in enumerate(workers):
            _send(worker.proc.stdin, ("answers", answers[i]))

    def _fold_task(
        self,
        task: list[tuple[Projection, tuple[str, dict[Any, int], int] | None]],
        suffix: str,
        head: int,
        until_recorded: str | None,
        writer: BackgroundWriter | None,
        progress: Callable[[int, int, int, int], None] | None,
        exchange: Callable[[dict[str, Any]], dict[str, Any]] | None,
    ) -> tuple[int, int, dict[str, dict[str, int]], int]:
        """Fold a worker's task (projections, or partitions of them) into the existing, empty
        suffix tables: one pass over the log per partition, one after the other (whole
        projections ride on the first), each writing its rows and letting them go before the next
        begins (see `_plan`). `progress(k, passes, done, total)`. -> (events, position, view
        stats per projection, passes)"""
        bits = _bitmap_bits(head)
        order = sorted({part[2] for _, part in task if part is not None})
        passes: list[list[tuple[Projection, Any]]] = [[] for _ in range(max(1, len(order)))]
        for projection, part in task:
            passes[0 if part is None else order.index(part[2])].append((projection, part))
        stats: dict[str, dict[str, int]] = {}
        applied, position = 0, head
        marks: dict[str, bytearray] = {}  # per partition field: each position's partition (first pass)
        try:
            for k, entries in enumerate(passes):
                runs = []
                for projection, part in entries:
                    run = _Run(projection, self._view(projection, rebuild=True, suffix=suffix, bits=bits))
                    if part is not None:
                        projection.in_partition = True
                        run.part = part
                        if k == 0 and len(passes) > 1 and max(part[1].values(), default=0) < 255:
                            run.record = marks.setdefault(part[0], bytearray(b"\xff") * (head + 1))
                    runs.append(run)
                with self.db.connection() as conn:
                    done, reached = self._rebuild_pass(
                        conn, runs, head, writer, False, until_recorded,
                        None if progress is None else functools.partial(progress, k, len(passes)), exchange,
                        None if k == 0 else _skip_mask(runs, marks),
                    )
                applied, position = max(applied, done), min(position, reached)
                for run in runs:
                    mine = stats.setdefault(run.name, dict.fromkeys(vars(run.view.stats), 0))
                    for key, value in vars(run.view.stats).items():
                        mine[key] += value
                del runs
        finally:
            for projection, _ in task:
                projection.in_partition = False
        return applied, position, stats, len(passes)

    def _passes_for_one(self, projections: list[Projection], head: int, until_recorded: str | None
                        ) -> list[tuple[Projection, tuple[str, dict[Any, int], int] | None]] | None:
        """A one-worker rebuild whose partitioned rows would not fit in `flush_rows`: the task
        `_fold_task` folds in passes, partition by partition, as a worker does with its share
        (None: one fold of everything fits, or nothing is partitioned). Counting the partitions
        costs one read of the log, so it is done only when the log's size says it may be needed."""
        if not any(p.partition_by for p in projections) or head * _ROWS_PER_EVENT <= self.flush_rows:
            return None
        groups, parts = self._plan(projections, 1, head, until_recorded)
        if not parts or max(n for _f, _m, n in parts.values()) < 2:
            return None
        return [(p, None if i is None else (*parts[p.name][:2], i)) for p, i in groups[0]]

    def _rebuild_in_passes(
        self,
        projections: list[Projection],
        task: list[tuple[Projection, tuple[str, dict[Any, int], int] | None]],
        suffix: str,
        swap: bool,
        until_recorded: str | None,
        progress: Callable[[int, int], None] | None,
        head: int,
        use_process: bool,
        started: float,
    ) -> dict[str, Any]:
        """`rebuild(jobs=1)` with partitions folded one pass after the other in this process."""
        with self.db.connection() as conn:
            self._prepare_suffix_tables(conn, projections, suffix)
        writer = None
        if use_process:
            dialects = {physical: self._dialect(table, physical) for table, physical in self._tables(projections, suffix)}
            writer = BackgroundWriter(self.db.url, dialects)

        def step(k: int, passes: int, done: int, total: int) -> None:
            if progress is not None:
                progress(k * total + done, passes * total)

        try:
            applied, position, stats, passes = self._fold_task(task, suffix, head, until_recorded, writer, step, None)
            if writer is not None:
                writer.close()  # the last flush is committed before indexes and swap
        finally:
            if writer is not None:
                writer.abort()
        with self.db.connection() as conn:
            self._finish(conn, projections, suffix, swap, {p.name: position for p in projections})
        return _one_worker_result(applied, position, started, swap, suffix, use_process, passes, stats)

    def _rebuild_pass(
        self,
        conn: Any,
        runs: list[_Run],
        head: int,
        writer: BackgroundWriter | None,
        swap: bool,
        until_recorded: str | None,
        progress: Callable[[int, int], None] | None,
        exchange: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        skip: bytes | None = None,
    ) -> tuple[int, int]:
        """Read the log once, apply to every run, flush as staging fills. -> (events, position)

        `exchange` (a partition's worker): the runs' partition shares go out, the answers come
        back, before the last end_batch. `skip`: positions not to decode (`read_batches`)."""
        reader = conn.cursor()  # cache misses read here, outside the flush transactions
        for run in runs:
            run.view.bind(reader)
        wanted = self._wanted(runs)
        position = applied = 0
        for run in runs:
            run.start_batch()
        with _gc_paused():
            # Events keep arriving during a long rebuild; before swapping, read again up to
            # the new head (a few rounds, each shorter) so the live tables resume close to it.
            for round_ in range(3 if swap else 1):
                end = head if round_ == 0 else head_position(self.db)
                if end <= position:
                    break
                for last, events in read_batches(
                    self.db, position, end, self.rebuild_batch_size, until_recorded, wanted, skip
                ):
                    for run in runs:
                        run.apply(run.mine(events), hooks=False)
                    applied += len(events)
                    position = last
                    if sum(run.view.dirty_rows for run in runs) >= self.flush_rows:
                        for run in runs:
                            run.end_batch()
                            run.view.growth = end / max(position, 1)
                        self._flush(conn, runs, writer)
                        for run in runs:
                            run.start_batch()
                    if progress is not None:
                        progress(position, end)
            if exchange is not None:
                answers = exchange({run.name: run.projection.partition_share() for run in runs if run.part})
                for run in runs:
                    if run.part:
                        run.projection.partition_finish(run.view, answers[run.name])
            for run in runs:
                run.end_batch()
                run.view.final = True
            self._flush(conn, runs, writer)
        reader.close()
        return applied, position

    def _swap(self, conn: Any, projections: list[Projection], suffix: str, positions: dict[str, int]) -> None:
        with self.db.transaction(conn) as cur:
            self._lock(cur, [p.name for p in projections])  # wait for any catch_up batch in flight
            for projection in projections:
                for table in projection.tables:
                    live = self._dialect(table, table.name)
                    new = self._dialect(table, table.name + suffix)
                    cur.execute(f"DROP TABLE IF EXISTS {live.q}")
                    cur.execute(f"ALTER TABLE {new.q} RENAME TO {live.q}")
                    if self.db.is_postgres:
                        # Index and constraint names are per schema: give them the live names so
                        # the next rebuild can create its own again.
                        cur.execute(f"ALTER TABLE {live.q} RENAME CONSTRAINT {new.pk_name()} TO {live.pk_name()}")
                        for cols in table.indexes:
                            cur.execute(f"ALTER INDEX {new.index_name(cols)} RENAME TO {live.index_name(cols)}")
                    else:
                        for statement in live.create_indexes():
                            cur.execute(statement)
                self._track(cur, projection, positions[projection.name])

    def _flush(self, conn: Any, runs: list[_Run], writer: BackgroundWriter | None = None) -> None:
        if writer is None:
            with self.db.transaction(conn) as cur:
                for run in runs:
                    run.view.flush(cur)
            for run in runs:
                run.view.after_flush()
            return
        # The previous flush must be committed before rows written by it may leave the cache
        # (a cache miss reads the database); this flush's rows stay cached until the next one.
        writer.wait()
        writer.submit([op for run in runs for op in run.view.plan_flush()])
        for run in runs:
            run.view.after_flush(in_flight=True)

    def drop_suffix(self, suffix: str = "__rebuild", names: Collection[str] | None = None) -> None:
        """Drop the `<table><suffix>` tables a `rebuild(swap=False)` left behind."""
        if not _SUFFIX.match(suffix):
            raise ValueError(f"suffix {suffix!r}: 1-20 characters of a-z, 0-9, _")
        with self.db.transaction() as cur:
            for table, physical in self._tables(self._select(names), suffix):
                cur.execute(f"DROP TABLE IF EXISTS {self._dialect(table, physical).q}")

    # -- inspection -----------------------------------------------------------------------
    def status(self) -> list[dict[str, Any]]:
        """Per projection: tracked position and version, the log head, and the lag in positions
        (positions have gaps, so lag is an upper bound on unapplied events)."""
        head = head_position(self.db)
        tracked: dict[str, tuple[int, int]] = {}
        with self.db.connection() as conn:
            cur = conn.cursor()
            if self._exists(cur, TRACKING_TABLE):
                cur.execute(f"SELECT name, position, version FROM {TRACKING_TABLE}")
                tracked = {name: (int(pos), int(ver)) for name, pos, ver in cur.fetchall()}
            cur.close()
        out = []
        for name, projection in self.projections.items():
            position, version = tracked.get(name, (0, None))
            out.append(
                {
                    "name": name,
                    "position": position,
                    "head": head,
                    "lag": max(head - position, 0),
                    "version": version,
                    "code_version": projection.version,
                    "needs_rebuild": version is not None and version != projection.version,
                }
            )
        return out

    def digest(self, table_name: str) -> str:
        """sha256 of a table's rows in primary-key order, rendered canonically (JSON of typed
        values), so equal content gives equal digests on SQLite and PostgreSQL. `table_name`
        is a projection table or one of its `<table><suffix>` copies (see `table_digest`)."""
        return table_digest(self.db, self._table_for(table_name), table_name)

    # -- helpers --------------------------------------------------------------------------
    def _select(self, names: Collection[str] | None) -> list[Projection]:
        if names is None:
            return list(self.projections.values())
        if isinstance(names, str):
            names = [names]
        unknown = [n for n in names if n not in self.projections]
        if unknown:
            raise KeyError(f"unknown projections {unknown}; known: {sorted(self.projections)}")
        return [self.projections[n] for n in dict.fromkeys(names)]

    def _view(self, projection: Projection, *, rebuild: bool, suffix: str = "", bits: int = 0) -> View:
        return View(
            projection.tables,
            self.db.is_postgres,
            suffix=suffix,
            rebuild=rebuild,
            cache_rows=self.cache_rows,
            written_bits=bits,
        )

    def _dialect(self, table: Table, physical: str) -> Dialect:
        return dialect_for(self.db.is_postgres, table, physical)

    @staticmethod
    def _tables(projections: list[Projection], suffix: str) -> list[tuple[Table, str]]:
        return [(t, t.name + suffix) for p in projections for t in p.tables]

    def _table_for(self, physical: str) -> Table:
        best: Table | None = None
        for projection in self.projections.values():
            for table in projection.tables:
                if physical == table.name or (
                    physical.startswith(table.name) and _SUFFIX.match(physical[len(table.name) :])
                ):
                    if best is None or len(table.name) > len(best.name):
                        best = table
        if best is None:
            raise KeyError(f"{physical!r} is not a table of these projections")
        return best

    @staticmethod
    def _wanted(runs: list[_Run]) -> frozenset[str] | None:
        names: set[str] = set()
        for run in runs:
            if run.wanted is None:
                return None
            names |= run.wanted
        return frozenset(names)

    def _exists(self, cur: Any, table: str) -> bool:
        if self.db.is_postgres:
            cur.execute(
                "SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = %s", (table,)
            )
        else:
            cur.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
        return cur.fetchone() is not None

    def _lock(self, cur: Any, names: list[str]) -> None:
        """Take each projection's lock for the rest of the caller's transaction, in name order so
        two processes cannot deadlock. (On SQLite, BEGIN IMMEDIATE already holds the write lock.)"""
        if self.db.is_postgres:
            for name in sorted(names):
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.db.advisory_key(name),))

    def _positions(self, cur: Any, runs: list[_Run], *, lock: bool = False) -> dict[str, int]:
        """Tracked positions (0 when never run), refusing versions other than the code's. With
        lock=True the projections' locks are taken first, so the positions stay true until the
        caller's transaction ends."""
        names = sorted(run.name for run in runs)
        if lock:
            self._lock(cur, names)
        marks = ", ".join("?" for _ in names)
        cur.execute(
            self.db.sql(f"SELECT name, position, version FROM {TRACKING_TABLE} WHERE name IN ({marks})"), names
        )
        found = {name: (int(pos), int(ver)) for name, pos, ver in cur.fetchall()}
        positions = {}
        for run in runs:
            position, version = found.get(run.name, (0, run.projection.version))
            if version != run.projection.version:
                raise NeedsRebuild(
                    f"projection {run.name!r} was built by version {version}, this code is version "
                    f"{run.projection.version}: run Engine.rebuild({[run.name]!r})"
                )
            positions[run.name] = position
        return positions

    def _track(self, cur: Any, projection: Projection, position: int) -> None:
        cur.execute(
            self.db.sql(
                f"INSERT INTO {TRACKING_TABLE} (name, position, version, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
                "version = excluded.version, updated_at = excluded.updated_at"
            ),
            (projection.name, position, projection.version, _now()),
        )


def table_digest(db: Database, table: Table, physical: str) -> str:
    """sha256 of `physical` (the table `table` or a `<table><suffix>` copy of it): its columns'
    declaration, then each row in primary-key order as one line of JSON of its typed values.

    The table's `ordinal` columns (log positions kept for their order) are rendered as their
    rank in the table, so the digest does not depend on which notification ids the store gave
    the events. A module function of plain arguments, so that a verify can hand the digests of
    many tables to worker processes (replay/projections.py).

    Each row is rendered as the driver returns it (orjson renders the tuple as it would the list).
    Both drivers return a column's declared type: PostgreSQL by the column's type, SQLite by its
    affinity (an INTEGER column turns a stored '7' or 7.0 into 7, a TEXT column turns 7 into '7').
    Converting each value to its declared type first gave the same bytes at 4-5x the Python
    time (round 8); a cell that no affinity could convert (text in an INTEGER column of an
    altered store) is now rendered as stored, which makes the digest differ, as it should."""
    sql = dialect_for(db.is_postgres, table, physical)
    digest = hashlib.sha256(orjson.dumps([table.columns]))
    dumps, update = orjson.dumps, digest.update
    select = sql.select_ordered()
    if table.ordinal:
        cols = ", ".join(f'DENSE_RANK() OVER (ORDER BY "{c}")' if c in table.ordinal else f'"{c}"' for c in sql.cols)
        select = f"SELECT {cols} FROM {sql.q} ORDER BY {sql.pk_order()}"
    for row in ordered_rows(db, select):
        update(dumps(row) + b"\n")
    return digest.hexdigest()


def ordered_rows(db: Database, select: str) -> Iterator[tuple]:
    """The rows of one SELECT, streamed: on PostgreSQL through a server-side cursor in one read-only
    transaction, 10,000 rows a fetch, so a whole table is never held in memory (the digests, and
    the replay tool's row-by-row comparison and snapshots). The cursor's name is drawn afresh:
    a comparison reads two tables at once, perhaps on one connection."""
    with db.connection() as conn:
        if db.is_postgres:
            with conn.transaction(), conn.cursor(name=f"ordered_{secrets.token_hex(4)}") as cur:
                cur.itersize = 10_000
                cur.execute(select)
                yield from cur
        else:
            yield from conn.execute(select)
