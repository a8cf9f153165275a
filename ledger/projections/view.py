"""Projection tables and the `View` that handlers read and write through.

Handlers never issue SQL. They `get`/`put`/`delete` rows by primary key on a `View`, which keeps
an in-memory staging area and writes it out in bulk (executemany on SQLite; binary COPY for
new rows and one `unnest` statement per table for updates and deletes on PostgreSQL). That is what makes a rebuild run near the speed of
reading the log: a row touched by 50 events is written once, not 50 times.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import subprocess
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, Callable, cast

# Portable column types -> (PostgreSQL COPY type name, canonical Python type).
COLUMN_TYPES: dict[str, tuple[str, type]] = {
    "TEXT": ("text", str),
    "BIGINT": ("int8", int),
    "INTEGER": ("int4", int),
}
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
_PG_MAX_IDENT = 63


def ident(name: str) -> str:
    """A quoted identifier that fits PostgreSQL's 63 bytes (long names get a stable hash tail).

    PostgreSQL would silently truncate a long index name, and the swap renames indexes by name,
    so we shorten deterministically ourselves.
    """
    if len(name) > _PG_MAX_IDENT:
        name = name[:50] + "_" + hashlib.sha1(name.encode()).hexdigest()[:12]
    return f'"{name}"'


@dataclass(frozen=True, eq=False)
class Table:
    """A projection table: columns with portable types, a primary key, secondary indexes.

    Hashed by identity, so a handler may pass either the Table or its name to the View.
    """

    name: str
    columns: dict[str, str]
    primary_key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = field(default=())
    # Columns holding a log position (notification id) that the projection reads only for their
    # order. `Engine.digest` renders each as its rank in the table, because the ids themselves
    # belong to the store, not to the history: a store holding the same events under other ids
    # (another import, a recorded-time cut, PostgreSQL sequence gaps) must digest alike.
    ordinal: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not _IDENT.match(self.name) or len(self.name) > 40:
            raise ValueError(f"table name {self.name!r}: lower-case identifier of at most 40 characters")
        columns = {c: t.upper() for c, t in self.columns.items()}
        for column, kind in columns.items():
            if not _IDENT.match(column):
                raise ValueError(f"{self.name}.{column}: column names are lower-case identifiers")
            if kind not in COLUMN_TYPES:
                raise ValueError(f"{self.name}.{column}: type {kind!r} is not one of {sorted(COLUMN_TYPES)}")
        object.__setattr__(self, "columns", columns)
        object.__setattr__(self, "primary_key", tuple(self.primary_key))
        object.__setattr__(self, "indexes", tuple(tuple(ix) for ix in self.indexes))
        object.__setattr__(self, "ordinal", tuple(self.ordinal))
        unknown = [c for c in self.ordinal if c not in columns]
        if unknown:
            raise ValueError(f"{self.name}: ordinal columns {unknown} are not columns")
        if not self.primary_key:
            raise ValueError(f"{self.name}: a primary key is required")
        for cols in (self.primary_key, *self.indexes):
            missing = [c for c in cols if c not in columns]
            if missing or not cols:
                raise ValueError(f"{self.name}: key/index {cols} names unknown columns {missing}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(self.columns)


# -- SQL per backend ----------------------------------------------------------------------


class Dialect:
    """The SQL the engine and views need, for one backend. Identifiers are pre-validated."""

    postgres = False
    mark = "?"  # the driver's placeholder

    def __init__(self, table: Table, physical: str) -> None:
        self.table = table
        self.physical = physical
        self.q = ident(physical)
        cols = table.column_names
        self.cols = cols
        self.col_list = ", ".join(f'"{c}"' for c in cols)
        self.pk_list = ", ".join(f'"{c}"' for c in table.primary_key)
        self.pk_where = " AND ".join(f'"{c}" = {self.mark}' for c in table.primary_key)
        non_pk = [c for c in cols if c not in table.primary_key]
        self.update_set = ", ".join(f'"{c}" = excluded."{c}"' for c in non_pk)
        self.select_one = f"SELECT {self.col_list} FROM {self.q} WHERE {self.pk_where}"

    # names of the constraint/indexes belonging to a physical table
    def pk_name(self) -> str:
        return ident(f"pk_{self.physical}")

    def index_name(self, cols: tuple[str, ...]) -> str:
        return ident(f"ix_{self.physical}__{'_'.join(cols)}")

    def create_table(self, unlogged: bool = False) -> str:
        """CREATE TABLE with the primary key; `unlogged` (PostgreSQL only): a scratch copy that
        is dropped again and never read after a crash, so its rows need no write-ahead log."""
        defs = []
        for c, kind in self.table.columns.items():
            null = " NOT NULL" if c in self.table.primary_key else ""
            defs.append(f'"{c}" {kind}{null}')
        kind = "UNLOGGED TABLE" if unlogged else "TABLE"
        return f"CREATE {kind} {self.q} ({', '.join(defs)}, CONSTRAINT {self.pk_name()} PRIMARY KEY ({self.pk_list}))"

    def create_indexes(self) -> list[str]:
        statements = []
        for cols in self.table.indexes:
            quoted = ", ".join(f'"{c}"' for c in cols)
            statements.append(f"CREATE INDEX IF NOT EXISTS {self.index_name(cols)} ON {self.q} ({quoted})")
        return statements

    def select_ordered(self) -> str:
        return f"SELECT {self.col_list} FROM {self.q} ORDER BY {self.pk_order()}"

    def pk_order(self) -> str:
        return self.pk_list

    # bulk writes: params are tuples in column order; keys are primary-key tuples
    def insert_new(self, cur: Any, params: list[tuple]) -> None:
        raise NotImplementedError

    def upsert(self, cur: Any, params: list[tuple]) -> None:
        raise NotImplementedError

    def delete(self, cur: Any, keys: list[tuple]) -> None:
        raise NotImplementedError


class SQLiteDialect(Dialect):
    def _insert(self) -> str:
        marks = ", ".join("?" for _ in self.cols)
        return f"INSERT INTO {self.q} ({self.col_list}) VALUES ({marks})"

    def insert_new(self, cur: Any, params: list[tuple]) -> None:
        cur.executemany(self._insert(), params)

    def upsert(self, cur: Any, params: list[tuple]) -> None:
        action = f"DO UPDATE SET {self.update_set}" if self.update_set else "DO NOTHING"
        cur.executemany(f"{self._insert()} ON CONFLICT ({self.pk_list}) {action}", params)

    def delete(self, cur: Any, keys: list[tuple]) -> None:
        cur.executemany(f"DELETE FROM {self.q} WHERE {self.pk_where}", keys)


class PostgresDialect(Dialect):
    postgres = True
    mark = "%s"

    def __init__(self, table: Table, physical: str) -> None:
        super().__init__(table, physical)
        self.copy_types = [COLUMN_TYPES[table.columns[c]][0] for c in self.cols]
        self.pk_types = [COLUMN_TYPES[table.columns[c]][0] for c in table.primary_key]

    def pk_order(self) -> str:
        # COLLATE "C" orders text by bytes, as SQLite's BINARY does, so digests agree.
        parts = []
        for c in self.table.primary_key:
            collate = ' COLLATE "C"' if self.table.columns[c] == "TEXT" else ""
            parts.append(f'"{c}"{collate}')
        return ", ".join(parts)

    def insert_new(self, cur: Any, params: list[tuple]) -> None:
        # Rows the rebuild has never written cannot conflict: binary COPY is the fastest insert.
        with cur.copy(f"COPY {self.q} ({self.col_list}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(self.copy_types)
            write = copy.write_row
            for row in params:
                write(row)

    def _unnest(self, types: list[str]) -> str:
        return ", ".join(f"%s::{t}[]" for t in types)

    def upsert(self, cur: Any, params: list[tuple]) -> None:
        # Binary COPY into a scratch table of this transaction, then one INSERT ... ON CONFLICT.
        # (One `unnest` of typed arrays per column spent most of its time adapting the Python
        # lists; executemany would cost a server round trip per row.) The scratch table is made
        # like the target every time (ON COMMIT DROP), so a swapped-in new shape never meets an
        # old one.
        stage = ident(f"stage_{self.physical}")
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {self.q}) ON COMMIT DROP")
        with cur.copy(f"COPY {stage} ({self.col_list}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(self.copy_types)
            write = copy.write_row
            for row in params:
                write(row)
        action = f"DO UPDATE SET {self.update_set}" if self.update_set else "DO NOTHING"
        cur.execute(f"INSERT INTO {self.q} ({self.col_list}) SELECT {self.col_list} FROM {stage} "
                    f"ON CONFLICT ({self.pk_list}) {action}")
        cur.execute(f"TRUNCATE {stage}")

    def delete(self, cur: Any, keys: list[tuple]) -> None:
        cur.execute(
            f"DELETE FROM {self.q} WHERE ({self.pk_list}) IN (SELECT * FROM unnest({self._unnest(self.pk_types)}))",
            [list(col) for col in zip(*keys)],
        )


def dialect_for(postgres: bool, table: Table, physical: str) -> Dialect:
    return (PostgresDialect if postgres else SQLiteDialect)(table, physical)


# (physical table, "insert" | "upsert" | "delete", rows as tuples in column order, or keys)
FlushOp = tuple[str, str, list[tuple]]


def execute_ops(dialects: dict[str, Dialect], cur: Any, ops: list[FlushOp]) -> None:
    for physical, kind, params in ops:
        sql = dialects[physical]
        if kind == "insert":
            sql.insert_new(cur, params)
        elif kind == "upsert":
            sql.upsert(cur, params)
        else:
            sql.delete(cur, params)


# -- the View -----------------------------------------------------------------------------

_MISSING = object()


class _TableState:
    """Staging and cache for one table of one View."""

    __slots__ = (
        "table", "sql", "staged", "cache", "pk0", "key_of", "params_of", "ncols", "written", "mask", "in_flight",
        "tracked", "npk",
    )

    def __init__(self, table: Table, sql: Dialect, written_bits: int) -> None:
        self.table = table
        self.sql = sql
        # Changes since the last flush (pk tuple -> row, or None for a delete), and rows known
        # to match the database (None: known absent). A staged entry wins over a cached one;
        # only the cache is ever evicted, so nothing unwritten can be lost.
        self.staged: dict[tuple, dict[str, Any] | None] = {}
        self.cache: dict[tuple, dict[str, Any] | None] = {}
        self.in_flight = 0  # rows of the last planned flush (the newest cache entries)
        pk = table.primary_key
        self.npk = len(pk)
        # Single-column keys (the common case) are built inline in put(), without a call.
        self.pk0: str | None = pk[0] if len(pk) == 1 else None
        self.key_of: Callable[[dict], tuple] = itemgetter(*pk)
        cols = table.column_names
        if len(cols) == 1:
            one = cols[0]
            self.params_of: Callable[[dict], tuple] = lambda row: (row[one],)
        else:
            self.params_of = itemgetter(*cols)
        self.ncols = len(cols)
        # Rebuild mode only: a bitmap of hashed keys already flushed to the (initially empty)
        # table. A clear bit proves the key was never written, so no SELECT and a plain insert;
        # a set bit means "maybe" (hash collision), which only costs a SELECT or an upsert.
        # Unlike a set of keys it has a fixed size however many keys the rebuild writes.
        # Allocated at the first flush (`_plan_table`), sized by the rows then staged: a rebuild
        # that fits in memory flushes once, at the end, and never needs it.
        self.mask = written_bits - 1 if written_bits else 0
        self.written: bytearray | None = None
        self.tracked = bool(written_bits)

    def maybe_written(self, key: tuple) -> bool:
        if self.written is None:
            return False  # nothing flushed yet
        h = hash(key) & self.mask
        return bool(self.written[h >> 3] & (1 << (h & 7)))


@dataclass
class ViewStats:
    loads: int = 0  # rows fetched from the database on a cache miss
    inserted: int = 0
    upserted: int = 0
    deleted: int = 0


class View:
    """Per-key access to a projection's tables, staged in memory and flushed in bulk.

    `rebuild=True` means the tables started empty in this run: a key never flushed is known to be
    absent without asking the database. Handlers see their own writes at once, whether or not
    they have been flushed.
    """

    def __init__(
        self,
        tables: Iterable[Table],
        postgres: bool,
        *,
        suffix: str = "",
        rebuild: bool = False,
        cache_rows: int = 100_000,
        written_bits: int = 1 << 24,
    ) -> None:
        self.rebuild = rebuild
        self.cache_rows = cache_rows
        self.growth = 1.0  # rebuild: log positions in all / read so far, set by the engine
        self.final = False  # rebuild: the engine's last flush, after which nothing is read
        self.stats = ViewStats()
        self._cur: Any = None
        # Looked up by name or by Table object, whichever the handler passes.
        self._states: dict[Any, _TableState] = {}
        self._tables: list[_TableState] = []
        for table in tables:
            bits = written_bits if rebuild else 0
            state = _TableState(table, dialect_for(postgres, table, table.name + suffix), bits)
            self._states[table.name] = state
            self._states[table] = state
            self._tables.append(state)

    # -- the handler API ------------------------------------------------------------------
    def get(self, table: str | Table, *pk: Any) -> dict[str, Any] | None:
        """The current row with this primary key, or None. The dict is a copy: change it and
        `put` it back to store the change."""
        state = self._states[table]
        row: dict[str, Any] | object | None = state.staged.get(pk, _MISSING)
        if row is _MISSING:
            if state.tracked and state.written is None and len(pk) == state.npk:
                return None  # rebuild, nothing flushed yet: what is not staged does not exist
            row = state.cache.get(pk, _MISSING)
            if row is _MISSING:
                row = self._load(state, pk)
        return None if row is None else cast("dict[str, Any]", row).copy()  # _MISSING was replaced above

    def put(self, table: str | Table, row: dict[str, Any]) -> None:
        """Insert or replace the row with this row's primary key. Missing columns become NULL.

        The view keeps `row` itself (no copy, this is the hot path): do not change it afterwards
        unless you put it again.
        """
        state = self._states[table]
        pk0 = state.pk0
        state.staged[(row[pk0],) if pk0 is not None else state.key_of(row)] = row

    def delete(self, table: str | Table, *pk: Any) -> None:
        """Remove the row with this primary key (nothing happens if there is none)."""
        self._states[table].staged[pk] = None

    # -- the engine's side ----------------------------------------------------------------
    def bind(self, cur: Any) -> None:
        """The cursor that cache misses are read through (the current transaction's, live)."""
        self._cur = cur

    @property
    def dirty_rows(self) -> int:
        return sum(len(s.staged) for s in self._tables)

    def _load(self, state: _TableState, pk: tuple) -> dict[str, Any] | None:
        if len(pk) != len(state.table.primary_key):
            raise TypeError(f"{state.table.name}: primary key has {len(state.table.primary_key)} parts, got {pk!r}")
        if state.tracked and not state.maybe_written(pk):
            return None  # rebuild: never written, so not there (not cached: the bitmap is as cheap)
        self.stats.loads += 1
        self._cur.execute(state.sql.select_one, pk)
        found = self._cur.fetchone()
        row = None if found is None else dict(zip(state.sql.cols, found))
        state.cache[pk] = row
        return row

    def flush(self, cur: Any) -> None:
        """Write every staged change through `cur` (the caller owns the transaction)."""
        execute_ops(self.dialects, cur, self.plan_flush())

    @property
    def dialects(self) -> dict[str, Dialect]:
        """physical table name -> its SQL, for whoever executes the planned writes."""
        return {state.sql.physical: state.sql for state in self._tables}

    def plan_flush(self) -> list[FlushOp]:
        """Turn the staged changes into bulk writes and treat them as written from now on.

        The caller must execute the returned operations (in one transaction) before anything
        else reads these tables from the database: `after_flush(in_flight=True)` keeps the
        rows of a flush that is still being written in the cache meanwhile.
        """
        ops: list[FlushOp] = []
        for state in self._tables:
            state.in_flight = len(state.staged)
            if state.staged:
                ops.extend(self._plan_table(state))
        return ops

    def _plan_table(self, state: _TableState) -> list[FlushOp]:
        new: list[dict] = []
        changed: list[dict] = []
        gone: list[tuple] = []
        if state.tracked and state.written is None and self.final:
            # A fold's one and only write: nothing was written before and nothing is read after,
            # so every staged row is new and no bitmap is needed.
            new = [row for row in state.staged.values() if row is not None]
            return self._planned(state, new, changed, gone)
        if state.tracked and state.written is None:
            # First flush of a rebuild: size the bitmap at ≥ 16 bits per row expected in the
            # end (rows staged so far times how much of the log is still to come).
            bits = min(1 << 16, state.mask + 1)
            want = 16 * len(state.staged) * max(self.growth, 1.0)
            while bits < want and bits < state.mask + 1:
                bits <<= 1
            state.mask = bits - 1
            state.written = bytearray(bits // 8)
        written, mask = state.written, state.mask
        marks: list[int] = []  # bits of this flush's new rows, set after the loop: staged keys
        # are distinct, so only earlier flushes' bits may say "maybe written"
        mark = marks.append
        for key, row in state.staged.items():
            if written is None:  # live: the table may hold anything
                fresh = False
            else:  # rebuild: consult the bitmap (inlined: this runs for every written row)
                h = hash(key) & mask
                fresh = not written[h >> 3] & (1 << (h & 7))
            if row is None:
                if not fresh:
                    gone.append(key)
            elif fresh:
                new.append(row)
                mark(h)
            else:
                changed.append(row)
        for h in marks:
            written[h >> 3] |= 1 << (h & 7)  # type: ignore[index]
        return self._planned(state, new, changed, gone)

    def _planned(self, state: _TableState, new: list[dict], changed: list[dict], gone: list[tuple]) -> list[FlushOp]:
        physical = state.sql.physical
        ops: list[FlushOp] = []
        if new:
            ops.append((physical, "insert", self._params(state, new)))
            self.stats.inserted += len(new)
        if changed:
            ops.append((physical, "upsert", self._params(state, changed)))
            self.stats.upserted += len(changed)
        if gone:
            ops.append((physical, "delete", gone))
            self.stats.deleted += len(gone)
        if self.final:  # nothing reads this view again: no need to cache what was written
            state.cache.clear()
            state.staged = {}
            return ops
        # The rows are now what the database holds (or will, once the ops run). Re-insert them
        # at the end of the cache so eviction (oldest first) drops the longest-unwritten rows.
        cache = state.cache
        pop = cache.pop
        for key in state.staged:
            pop(key, None)
        cache.update(state.staged)
        state.staged = {}
        return ops

    @staticmethod
    def _params(state: _TableState, rows: list[dict]) -> list[tuple]:
        """Rows as tuples in column order. A missing column is NULL; an unknown one is an error
        (a misspelt column would otherwise vanish silently)."""
        cols = state.sql.cols
        if max(map(len, rows)) <= state.ncols:
            try:
                return list(map(state.params_of, rows))  # the fast path, in C
            except KeyError:
                pass
        known = set(cols)
        for row in rows:
            unknown = row.keys() - known
            if unknown:
                raise ValueError(f"{state.table.name}: unknown columns {sorted(unknown)} in {row!r}")
        return [tuple(row.get(c) for c in cols) for row in rows]

    def after_flush(self, in_flight: bool = False) -> None:
        """Keep the cache bounded: drop the oldest entries (nothing is staged after a flush).

        With `in_flight`, the rows of the last planned flush are not yet committed, so they
        must stay cached: read back from the database now, they would be stale. They are the
        newest entries, so dropping from the oldest end never reaches them.
        """
        for state in self._tables:
            excess = len(state.cache) - self.cache_rows
            if excess > 0:
                # Drop down to half the limit so this is not redone after every flush; insertion
                # order approximates age, and a dropped row is simply read again if needed.
                drop = excess + self.cache_rows // 2
                if in_flight:
                    drop = min(drop, len(state.cache) - state.in_flight)
                for key in list(islice(state.cache, drop)):
                    del state.cache[key]

    def reset(self) -> None:
        """Forget everything cached and staged (after a rollback, or when another process has
        moved the tables on)."""
        for state in self._tables:
            state.cache.clear()
            state.staged.clear()


# -- writing in another process -----------------------------------------------------------


class BackgroundWriter:
    """Executes a rebuild's planned flushes in a child process, one transaction each.

    Writing is about a fifth of a rebuild (SQLite inserts cost several µs a row here), and a
    thread cannot take it over: sqlite3 releases the GIL around every row, so a writer thread
    and the busy applying thread hand the GIL back and forth and both slow down. A process has
    its own interpreter and its own connection; the main process only pickles the rows.

    One flush is in flight at most: `submit` first waits for the previous one. Started as a
    plain `python -c` child (not multiprocessing), so it never re-imports the caller's
    `__main__`. If the parent dies, the child sees end-of-input and exits.
    """

    def __init__(self, url: str, dialects: dict[str, Dialect]) -> None:
        root = str(Path(__file__).resolve().parents[2])  # the directory holding `ledger`
        env = dict(os.environ)
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
        self._proc = subprocess.Popen(
            [sys.executable, "-c", "from ledger.projections.view import _writer_child; _writer_child()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        _send(self._proc.stdin, (url, [(d.table, physical) for physical, d in dialects.items()]))
        self._pending = True  # its "connected" reply; waited for at the first submit

    def submit(self, ops: list[FlushOp]) -> None:
        self.wait()
        _send(self._proc.stdin, ops)
        self._pending = True

    def wait(self) -> None:
        """Block until the submitted flush is committed; raise if it failed."""
        if not self._pending:
            return
        self._pending = False
        reply = _recv(self._proc.stdout)
        if reply is None:
            raise RuntimeError(f"the projection writer process exited (code {self._proc.wait()})")
        if reply != "ok":
            raise RuntimeError(f"the projection writer failed:\n{reply}")

    def close(self) -> None:
        """Wait for the last flush, then stop the child."""
        try:
            self.wait()
            _send(self._proc.stdin, None)
            self._proc.stdin.close()  # type: ignore[union-attr]
            self._proc.wait(timeout=60)
        finally:
            self.abort()

    def abort(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        for pipe in (self._proc.stdin, self._proc.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()


def _send(pipe: IO[bytes] | None, obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(len(data).to_bytes(8, "big") + data)
    while view:  # an unbuffered pipe may take less than all of it per write
        written = pipe.write(view)  # type: ignore[union-attr]
        view = view[written if written is not None else 0:]
    pipe.flush()  # type: ignore[union-attr]


def _read_exact(pipe: IO[bytes], n: int) -> bytes:
    """n bytes, or fewer at end of input (an unbuffered pipe may return less per read)."""
    parts, got = [], 0
    while got < n:
        chunk = pipe.read(n - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _recv(pipe: IO[bytes] | None) -> Any:
    head = _read_exact(pipe, 8)  # type: ignore[arg-type]
    if len(head) < 8:
        return None
    return pickle.loads(_read_exact(pipe, int.from_bytes(head, "big")))  # type: ignore[arg-type]


def _writer_child() -> None:
    """The child's main loop: (url, tables), then lists of FlushOp, then None."""
    from ledger.db import Database

    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the protocol
    url, tables = _recv(inp)
    db = Database(url)
    try:
        dialects = {physical: dialect_for(db.is_postgres, table, physical) for table, physical in tables}
        with db.connection() as conn:
            _send(out, "ok")
            while (ops := _recv(inp)) is not None:
                try:
                    with db.transaction(conn) as cur:
                        execute_ops(dialects, cur, ops)
                except Exception:
                    _send(out, traceback.format_exc())
                else:
                    _send(out, "ok")
    finally:
        db.close()
