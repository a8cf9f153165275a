"""Rebuilding projections into scratch tables and comparing them with the live ones.

The engine's `rebuild(swap=False)` builds `<table><suffix>` copies from the log; this module picks
a random suffix, compares each copy with its live table by `Engine.digest`, finds the first row
that differs when they do, and always drops the copies again (even on Ctrl-C).

`ScratchEngine` never creates live tables: the engine's `ensure_tables()` would create any that are
missing, and a check run against an auditor's copy of the store must not add live tables to it.
"""

from __future__ import annotations

import multiprocessing
import secrets
from collections.abc import Callable, Generator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ledger.db import Database
from ledger.projections.engine import Engine, Projection, ordered_rows, table_digest
from ledger.projections.view import Table, dialect_for

Progress = Callable[[int, int], None]


# Rows a verify's fold worker stages before writing them (a rebuild's default is 250,000).
VERIFY_FLUSH_ROWS = 180_000

# From this many events rebuilt on, a comparison with jobs > 1 digests the live and the rebuilt
# tables in `jobs` worker processes; below it, starting them costs more than it saves.
PARALLEL_DIGESTS_FROM = 100_000


class ScratchEngine(Engine):
    """An engine that only ever writes `<table><suffix>` copies (rebuild with swap=False).

    The copies get no secondary indexes: they are only read whole in primary-key order (`digest`,
    `first_difference`), and building them was a large share of a national verify's database work."""

    copy_indexes = False
    # Nor write-ahead log on PostgreSQL: a copy is dropped again whatever happens, so writing
    # every row twice (table and WAL) bought nothing.
    unlogged_copies = True

    def ensure_tables(self) -> None:  # the live tables are read, never created, by the replay tool
        return None


def scratch_suffix(kind: str) -> str:
    """`__<kind>_<8 hex>`: unique per run, so two checks on one store never collide."""
    return f"__{kind}_{secrets.token_hex(4)}"


def table_exists(db: Database, name: str) -> bool:
    if db.is_postgres:
        rows = db.query("SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?", (name,))
    else:
        rows = db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
    return bool(rows)


@dataclass
class TableResult:
    table: str
    equal: bool
    live_digest: str
    rebuilt_digest: str
    first_difference: str | None = None


@dataclass
class ProjectionResult:
    name: str
    status: str  # "equal" | "differs" | "not compared"
    reason: str = ""
    tables: list[TableResult] = field(default_factory=list)


@dataclass
class Comparison:
    results: list[ProjectionResult]
    events: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(r.status != "differs" for r in self.results)

    @property
    def compared(self) -> int:
        return sum(r.status != "not compared" for r in self.results)


def compare_projections(db: Database, projections: list[Projection], progress: Progress | None = None,
                        suffix: str | None = None, jobs: int | None = None) -> Comparison:
    """Rebuild every comparable projection from zero and compare it with its live tables.

    A projection is comparable when its live tables exist and were built by this code's version
    up to the log head; otherwise it is reported as not compared, with the reason. `suffix`
    (default: a fresh random one) names the scratch tables, which are always dropped again.
    The rebuild is the engine's fold, shared out over `jobs` worker processes (None: one per
    core on a large log), exactly as `ledger projections rebuild` does it.
    """
    if not projections:
        return Comparison([])
    status = {s["name"]: s for s in Engine(db, projections).status()}
    results: dict[str, ProjectionResult] = {}
    comparable: list[Projection] = []
    for p in projections:
        reason = _why_not_comparable(db, p, status[p.name])
        if reason:
            results[p.name] = ProjectionResult(p.name, "not compared", reason)
        else:
            comparable.append(p)
    comparison = Comparison([])
    if comparable:
        # Fewer rows staged per worker than a rebuild's default: verify's chain check runs in a
        # process of its own beside the fold workers. National SQLite, one run each at load ~1.2:
        # 250,000 rows 113 s / 1,066 MiB summed; 180,000 117 s / 1,021 MiB; 140,000 129 s / 1,019 MiB
        # (the later passes skip decoding other partitions' events, so a pass costs little).
        engine = ScratchEngine(db, comparable, flush_rows=VERIFY_FLUSH_ROWS)
        suffix = suffix or scratch_suffix("verify")
        try:
            built = engine.rebuild(suffix=suffix, swap=False, progress=progress, jobs=jobs)
            comparison.events, comparison.seconds = built["events"], built["seconds"]
            compared: list[Projection] = []
            for p in comparable:
                if built["position"] != status[p.name]["position"]:
                    results[p.name] = ProjectionResult(
                        p.name, "not compared",
                        f"the log moved during the check (live at {status[p.name]['position']}, "
                        f"rebuilt to {built['position']})")
                    continue
                compared.append(p)
            workers = (jobs or 1) if comparison.events >= PARALLEL_DIGESTS_FROM else 1
            digests = _digests(db, [t for p in compared for t in p.tables], suffix, workers)
            for p in compared:
                tables = [_compare_table(db, t, suffix, *digests[t.name]) for t in p.tables]
                differs = [t for t in tables if not t.equal]
                results[p.name] = ProjectionResult(p.name, "differs" if differs else "equal", "", tables)
        finally:
            engine.drop_suffix(suffix)
    comparison.results = [results[p.name] for p in projections]
    return comparison


def _why_not_comparable(db: Database, p: Projection, st: dict[str, Any]) -> str:
    missing = [t.name for t in p.tables if not table_exists(db, t.name)]
    if missing:
        return f"no live table {', '.join(missing)} (projection never built here)"
    if st["version"] is None:
        return "never built here (no tracking row)"
    if st["needs_rebuild"]:
        return f"live tables were built by version {st['version']}, this code is version {st['code_version']}"
    if st["position"] != st["head"]:
        return f"live tables are at position {st['position']}, the log at {st['head']}: catch up first"
    return ""


def _digests(db: Database, tables: list[Table], suffix: str, jobs: int) -> dict[str, tuple[str, str]]:
    """Each table's (live, rebuilt) digest. With jobs > 1 the digests are shared out over that
    many worker processes: a digest is one ordered read of a table and one hash, ~40 % of a
    national verify's time after the rebuild when done one after the other (round 7: 70 s of
    PostgreSQL's 259 s). Each table's two digests are submitted together, so two workers take
    the two halves of the largest table at once and the pool stays even whatever the order."""
    if jobs <= 1:
        return {t.name: (table_digest(db, t, t.name), table_digest(db, t, t.name + suffix)) for t in tables}
    context = multiprocessing.get_context("spawn")  # no fork: this process holds database pools
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context)
    try:
        futures = {t.name: (pool.submit(_digest_task, db.url, t, t.name),
                            pool.submit(_digest_task, db.url, t, t.name + suffix)) for t in tables}
        out = {name: (live.result(), rebuilt.result()) for name, (live, rebuilt) in futures.items()}
    except BaseException:
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return out


_WORKER_DB: dict[str, Database] = {}


def _digest_task(url: str, table: Table, physical: str) -> str:
    """One digest, in a worker process: one database handle per process and store, kept for the
    process's next tasks."""
    db = _WORKER_DB.get(url)
    if db is None:
        db = _WORKER_DB[url] = Database(url)
    return table_digest(db, table, physical)


def _compare_table(db: Database, table: Table, suffix: str, live: str, rebuilt: str) -> TableResult:
    result = TableResult(table.name, live == rebuilt, live, rebuilt)
    if not result.equal:
        result.first_difference = first_difference(db, table, table.name, table.name + suffix)
    return result


def canonical_rows(db: Database, table: Table, physical: str) -> Generator[list[Any], None, None]:
    """A table's rows in primary-key order, as lists of the values the drivers return, which is
    what `table_digest` hashes: each column's declared type (int/str/None) on both backends,
    except a SQLite cell an intruder gave text no affinity converts, which comes back as stored."""
    for row in ordered_rows(db, dialect_for(db.is_postgres, table, physical).select_ordered()):
        yield list(row)


def first_difference(db: Database, table: Table, live: str, rebuilt: str) -> str:
    """The first primary key (in key order) whose row differs, is missing, or is extra."""
    cols = list(table.columns)
    pk = [cols.index(c) for c in table.primary_key]

    def key(row: list[Any]) -> tuple:
        return tuple(row[i] for i in pk)

    a_rows, b_rows = canonical_rows(db, table, live), canonical_rows(db, table, rebuilt)
    try:
        return _first_difference(table, cols, key, a_rows, b_rows)
    except TypeError:  # a key cell of another type than its column's: the keys no longer order
        return "a key column holds a value of another type than the column's"
    finally:
        a_rows.close()
        b_rows.close()


def _first_difference(table: Table, cols: list[str], key: Callable[[list[Any]], tuple],
                      a_rows: Generator[list[Any], None, None], b_rows: Generator[list[Any], None, None]) -> str:
    a, b = next(a_rows, None), next(b_rows, None)
    while a is not None or b is not None:
        if b is None or (a is not None and key(a) < key(b)):
            return f"{_key_text(table, key(a))}: in the live table only"  # type: ignore[arg-type]
        if a is None or key(b) < key(a):
            return f"{_key_text(table, key(b))}: missing from the live table"
        if a != b:
            changed = [c for c, x, y in zip(cols, a, b) if x != y]
            return f"{_key_text(table, key(a))}: {', '.join(changed)} differ"
        a, b = next(a_rows, None), next(b_rows, None)
    return "digests differ but no row does (column types?)"


def _key_text(table: Table, key: tuple) -> str:
    return ", ".join(f"{c}={v!r}" for c, v in zip(table.primary_key, key))
