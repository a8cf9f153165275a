"""Projection tables and the `View` that handlers read and write through.

Handlers never issue SQL. They `get`/`put`/`delete` rows by primary key on a `View`, which keeps
an in-memory staging area and writes it out in bulk (executemany on SQLite; COPY or one
`unnest` statement per table on PostgreSQL). That is what makes a rebuild run near the speed of
reading the log: a row touched by 50 events is written once, not 50 times.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter
from typing import Any, Callable

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

    # names of the constraint/indexes belonging to a physical table
    def pk_name(self) -> str:
        return ident(f"pk_{self.physical}")

    def index_name(self, cols: tuple[str, ...]) -> str:
        return ident(f"ix_{self.physical}__{'_'.join(cols)}")

    def create_table(self) -> str:
        defs = []
        for c, kind in self.table.columns.items():
            null = " NOT NULL" if c in self.table.primary_key else ""
            defs.append(f'"{c}" {kind}{null}')
        return f"CREATE TABLE {self.q} ({', '.join(defs)}, CONSTRAINT {self.pk_name()} PRIMARY KEY ({self.pk_list}))"

    def create_indexes(self) -> list[str]:
        statements = []
        for cols in self.table.indexes:
            quoted = ", ".join(f'"{c}"' for c in cols)
            statements.append(f"CREATE INDEX IF NOT EXISTS {self.index_name(cols)} ON {self.q} ({quoted})")
        return statements

    def select_one(self) -> str:
        return f"SELECT {self.col_list} FROM {self.q} WHERE {self.pk_where}"

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
        # One statement per table and flush: the rows travel as one typed array per column.
        # (executemany would cost a server round of parse/bind/execute per row.)
        action = f"DO UPDATE SET {self.update_set}" if self.update_set else "DO NOTHING"
        cur.execute(
            f"INSERT INTO {self.q} ({self.col_list}) SELECT * FROM unnest({self._unnest(self.copy_types)}) "
            f"ON CONFLICT ({self.pk_list}) {action}",
            [list(col) for col in zip(*params)],
        )

    def delete(self, cur: Any, keys: list[tuple]) -> None:
        cur.execute(
            f"DELETE FROM {self.q} WHERE ({self.pk_list}) IN (SELECT * FROM unnest({self._unnest(self.pk_types)}))",
            [list(col) for col in zip(*keys)],
        )


def dialect_for(postgres: bool, table: Table, physical: str) -> Dialect:
    return (PostgresDialect if postgres else SQLiteDialect)(table, physical)


# -- the View -----------------------------------------------------------------------------

_MISSING = object()


class _TableState:
    """Staging and cache for one table of one View."""

    __slots__ = ("table", "sql", "cache", "dirty", "key_of", "params_of", "ncols", "written", "mask")

    def __init__(self, table: Table, sql: Dialect, written_bits: int) -> None:
        self.table = table
        self.sql = sql
        # pk tuple -> row dict, or None for "known absent / deleted". Dirty keys are always
        # present here: eviction only happens right after a flush.
        self.cache: dict[tuple, dict[str, Any] | None] = {}
        self.dirty: set[tuple] = set()
        pk = table.primary_key
        if len(pk) == 1:
            only = pk[0]
            self.key_of: Callable[[dict], tuple] = lambda row: (row[only],)
        else:
            self.key_of = itemgetter(*pk)
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
        self.mask = written_bits - 1 if written_bits else 0
        self.written = bytearray(written_bits // 8) if written_bits else None

    def maybe_written(self, key: tuple) -> bool:
        h = hash(key) & self.mask
        return bool(self.written[h >> 3] & (1 << (h & 7)))  # type: ignore[index]

    def mark_written(self, key: tuple) -> None:
        h = hash(key) & self.mask
        self.written[h >> 3] |= 1 << (h & 7)  # type: ignore[index]


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
        row = state.cache.get(pk, _MISSING)
        if row is _MISSING:
            row = self._load(state, pk)
        return None if row is None else row.copy()  # type: ignore[union-attr]

    def put(self, table: str | Table, row: dict[str, Any]) -> None:
        """Insert or replace the row with this row's primary key. Missing columns become NULL.

        The view keeps `row` itself (no copy, this is the hot path): do not change it afterwards
        unless you put it again.
        """
        state = self._states[table]
        key = state.key_of(row)
        state.cache[key] = row
        state.dirty.add(key)

    def delete(self, table: str | Table, *pk: Any) -> None:
        """Remove the row with this primary key (nothing happens if there is none)."""
        state = self._states[table]
        state.cache[pk] = None
        state.dirty.add(pk)

    # -- the engine's side ----------------------------------------------------------------
    def bind(self, cur: Any) -> None:
        """The cursor that cache misses are read through (the current transaction's, live)."""
        self._cur = cur

    @property
    def dirty_rows(self) -> int:
        return sum(len(s.dirty) for s in self._tables)

    def tables(self) -> list[_TableState]:
        return self._tables

    def _load(self, state: _TableState, pk: tuple) -> dict[str, Any] | None:
        if len(pk) != len(state.table.primary_key):
            raise TypeError(f"{state.table.name}: primary key has {len(state.table.primary_key)} parts, got {pk!r}")
        if state.written is not None and not state.maybe_written(pk):
            row = None  # rebuild: never written, so it is not there
        else:
            self.stats.loads += 1
            self._cur.execute(state.sql.select_one(), pk)
            found = self._cur.fetchone()
            row = None if found is None else dict(zip(state.sql.cols, found))
        state.cache[pk] = row
        return row

    def flush(self, cur: Any) -> None:
        """Write every staged change through `cur` (the caller owns the transaction)."""
        for state in self.tables():
            if state.dirty:
                self._flush_table(cur, state)

    def _flush_table(self, cur: Any, state: _TableState) -> None:
        cache = state.cache
        new: list[dict] = []
        changed: list[dict] = []
        gone: list[tuple] = []
        rebuild = state.written is not None
        for key in state.dirty:
            row = cache[key]
            fresh = rebuild and not state.maybe_written(key)
            if row is None:
                if not fresh:
                    gone.append(key)
            elif fresh:
                new.append(row)
                state.mark_written(key)
            else:
                changed.append(row)
        sql = state.sql
        if new:
            sql.insert_new(cur, self._params(state, new))
            self.stats.inserted += len(new)
        if changed:
            sql.upsert(cur, self._params(state, changed))
            self.stats.upserted += len(changed)
        if gone:
            sql.delete(cur, gone)
            self.stats.deleted += len(gone)
        state.dirty.clear()

    @staticmethod
    def _params(state: _TableState, rows: list[dict]) -> list[tuple]:
        if max(map(len, rows)) > state.ncols:
            bad = next(r for r in rows if set(r) - set(state.sql.cols))
            raise ValueError(f"{state.table.name}: unknown columns {sorted(set(bad) - set(state.sql.cols))}")
        try:
            return list(map(state.params_of, rows))
        except KeyError:  # some rows leave columns out: those are NULL
            cols = state.sql.cols
            return [tuple(row.get(c) for c in cols) for row in rows]

    def after_flush(self) -> None:
        """Keep the cache bounded: drop the oldest clean entries (all are clean after a flush)."""
        for state in self.tables():
            excess = len(state.cache) - self.cache_rows
            if excess > 0:
                # Drop down to half the limit so this is not redone after every flush; insertion
                # order approximates age, and a dropped row is simply read again if needed.
                drop = excess + self.cache_rows // 2
                for key in list(islice(state.cache, drop)):
                    del state.cache[key]

    def reset(self) -> None:
        """Forget everything cached and staged (after a rollback, or when another process has
        moved the tables on)."""
        for state in self.tables():
            state.cache.clear()
            state.dirty.clear()
