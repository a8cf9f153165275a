"""Reading a ledger store as it is stored: the event rows and the chain rows, nothing decoded.

The replay tool must see the bytes the chain was computed over, so it reads the tables directly
(never through the library's mapper) and streams them in position order with constant memory:

* SQLite: one plain `SELECT` per stream on a read-only connection, fetched in pages.
* PostgreSQL: one `COPY (SELECT ...) TO STDOUT (FORMAT BINARY)` per stream, rows loaded by
  psycopg's C loaders. One statement (not keyset-paged chunks) so each stream is one snapshot and
  a duplicated key, which only tampering can produce, is never skipped at a chunk boundary.

Event rows are `(notification_id, originator_id, originator_version, topic, state)` where the
originator id is the UUID's 16 bytes as the chain hashes it (a text that is not a UUID, which only
tampering can produce, is passed through as text). Chain rows are `(position, notification_id,
hash)`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote
from uuid import UUID

from ledger.db import Database
from ledger.settings import ConfigError
from ledger.store.decoding import DECODER
from ledger.store.recorders import CHAIN_TABLE
from replay.errors import UsageError

PAGE = 10_000
EventRow = tuple[int, "bytes | str", int, str, bytes]
ChainRow = tuple[int, int, bytes]


class Store:
    """One ledger database, opened for reading its log (and, for projections, its `Database`)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.events = db.events_table
        self.nid = db.position_column

    @property
    def is_postgres(self) -> bool:
        return self.db.is_postgres

    def describe(self) -> str:
        """The store named without credentials (for reports and manifests)."""
        c = self.db.config
        if c.kind == "sqlite":
            return f"sqlite:{c.path}"
        return f"postgresql://{c.host}:{c.port}/{c.dbname}?schema={c.schema}"

    def close(self) -> None:
        self.db.close()

    # -- connections ---------------------------------------------------------------------
    @contextmanager
    def reader(self) -> Iterator[Any]:
        """A connection for reading only: SQLite opens the file read-only, so verifying a store
        can never change it (projection checks write scratch tables through `db` instead)."""
        if self.is_postgres:
            with self.db.connection() as conn:
                yield conn
            return
        conn = sqlite3.connect(f"file:{quote(self.db.config.path)}?mode=ro", uri=True, check_same_thread=False)
        try:
            yield conn
        finally:
            conn.close()

    def query(self, text: str, params: tuple | list = ()) -> list[tuple]:
        with self.reader() as conn:
            cur = conn.cursor()
            cur.execute(self.db.sql(text), params)
            rows = cur.fetchall()
            cur.close()
            return rows

    # -- the extent of the log -----------------------------------------------------------
    def bounds(self) -> tuple[int, int]:
        """(highest chain position, highest event notification id), read in one statement so
        the two agree even while writers append."""
        row = self.query(f"SELECT (SELECT max(position) FROM {CHAIN_TABLE}), (SELECT max({self.nid}) FROM {self.events})")[0]
        return int(row[0] or 0), int(row[1] or 0)

    def chain_row(self, position: int) -> ChainRow | None:
        rows = self.query(f"SELECT position, notification_id, hash FROM {CHAIN_TABLE} WHERE position = ?", (position,))
        return (int(rows[0][0]), int(rows[0][1]), bytes(rows[0][2])) if rows else None

    def chain_hashes(self, positions: Iterable[int]) -> dict[int, bytes]:
        """Stored hash at each of the given positions (missing positions are left out)."""
        wanted = sorted(set(positions))
        found: dict[int, bytes] = {}
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for pos, h in self.query(f"SELECT position, hash FROM {CHAIN_TABLE} WHERE position IN ({marks})", chunk):
                found[int(pos)] = bytes(h)
        return found

    # -- streams -------------------------------------------------------------------------
    def chain_pages(self, upto: int, after: int = 0) -> Iterator[list[ChainRow]]:
        """Chain rows with after < position <= upto, in position order."""
        where = f"WHERE position > {int(after)} AND position <= {int(upto)}"
        sql = f"SELECT position, notification_id, hash FROM {CHAIN_TABLE} {where} ORDER BY position"
        if self.is_postgres:
            yield from self._pg_pages(sql, ["int8", "int8", "bytea"])
        else:
            yield from self._sqlite_pages(sql, None)

    def event_pages(self, upto: int, after: int = 0) -> Iterator[list[EventRow]]:
        """Event rows with after < notification id <= upto, in notification order."""
        where = f"WHERE {self.nid} > {int(after)} AND {self.nid} <= {int(upto)}"
        if self.is_postgres:
            sql = (f"SELECT notification_id, uuid_send(originator_id), originator_version, topic, state "
                   f'FROM "{self.events}" {where} ORDER BY notification_id')
            yield from self._pg_pages(sql, ["int8", "bytea", "int8", "text", "bytea"])
        else:
            sql = (f"SELECT {self.nid}, originator_id, originator_version, topic, state FROM {self.events} "
                   f"{where} ORDER BY {self.nid}")
            yield from self._sqlite_pages(sql, _sqlite_event)

    def event_at(self, nid: int) -> EventRow | None:
        """One event row by notification id (for a chain row that is out of order)."""
        if self.is_postgres:
            sql = ("SELECT notification_id, uuid_send(originator_id), originator_version, topic, state "
                   f'FROM "{self.events}" WHERE notification_id = %s')
            with self.reader() as conn:
                row = conn.execute(sql, (nid,)).fetchone()
            return None if row is None else (int(row[0]), bytes(row[1]), int(row[2]), row[3], bytes(row[4]))
        rows = self.query(f"SELECT {self.nid}, originator_id, originator_version, topic, state FROM {self.events} "
                          f"WHERE {self.nid} = ?", (nid,))
        return _sqlite_event(rows[0]) if rows else None

    def events_with_topics(self, topics: list[str], before: int | None = None) -> Iterator[list[tuple]]:
        """(notification id, originator id text, version, topic, state) of events with these topics."""
        marks = ",".join("?" * len(topics))
        upper = f" AND {self.nid} < {int(before)}" if before is not None else ""
        oid = "originator_id::text" if self.is_postgres else "originator_id"
        sql = (f"SELECT {self.nid}, {oid}, originator_version, topic, state FROM {self.events} "
               f"WHERE topic IN ({marks}){upper} ORDER BY {self.nid}")
        with self.reader() as conn:
            cur = conn.cursor()
            cur.execute(self.db.sql(sql), topics)
            while rows := cur.fetchmany(PAGE):
                yield [(int(n), _uuid_text(o), int(v), t, bytes(s)) for n, o, v, t, s in rows]
            cur.close()

    def aggregate_events(self, originator_id: UUID, before: int) -> list[tuple[int, str, bytes]]:
        """(version, topic, state) of one aggregate's events stored before notification `before`."""
        key: Any = str(originator_id) if self.is_postgres else originator_id.hex
        return [(int(v), t, bytes(s)) for v, t, s in self.query(
            f"SELECT originator_version, topic, state FROM {self.events} WHERE originator_id = ? AND {self.nid} < ? "
            "ORDER BY originator_version", (key, before))]

    def aggregate_history(self, originator_id: UUID, before: int) -> list[Any]:
        """One aggregate's events stored before notification `before`, decoded to typed events
        (and upcast) by the one decoder, in version order: replay an aggregate with
        `functools.reduce(lambda a, e: e.mutate(a), events, None)`."""
        return list(DECODER.decode_all(originator_id, self.aggregate_events(originator_id, before)))

    # -- helpers -------------------------------------------------------------------------
    def _sqlite_pages(self, sql: str, convert: Any) -> Iterator[list[Any]]:
        with self.reader() as conn:
            cur = conn.execute(sql)
            while rows := cur.fetchmany(PAGE):
                yield [convert(r) for r in rows] if convert else rows
            cur.close()

    def _pg_pages(self, sql: str, types: list[str]) -> Iterator[list[Any]]:
        with self.reader() as conn, conn.cursor() as cur:
            with cur.copy(f"COPY ({sql}) TO STDOUT (FORMAT BINARY)") as copy:
                copy.set_types(types)
                page: list[Any] = []
                append = page.append
                for row in copy.rows():
                    append(row)
                    if len(page) == PAGE:
                        yield page
                        page = []
                        append = page.append
                if page:
                    yield page


def _sqlite_event(row: tuple) -> EventRow:
    nid, oid, ver, topic, state = row
    try:
        key: bytes | str = bytes.fromhex(oid) if len(oid) == 32 else UUID(oid).bytes
    except (TypeError, ValueError):
        key = str(oid)  # not a UUID: only tampering writes this; the checker reports it
    if type(state) is not bytes:  # SQL string functions turn a BLOB into TEXT: hash what it now holds
        state = state.encode() if isinstance(state, str) else bytes(state or b"")
    return nid, key, ver, topic, state


def _uuid_text(value: Any) -> str:
    text = str(value)
    if len(text) == 32:
        try:
            return str(UUID(text))
        except ValueError:
            pass
    return text


def open_store(url: str) -> Store:
    """Open an existing ledger store, or raise UsageError saying why it cannot be used."""
    try:
        db = Database(url)
    except ConfigError as e:
        raise UsageError(str(e)) from None
    if not db.is_postgres:
        path = Path(db.config.path)
        if not path.is_file():
            raise UsageError(f"no database file {path} (give --db sqlite:///FILE or set LEDGER_DATABASE_URL)")
    store = Store(db)
    try:
        if db.is_postgres:  # fail fast: the pool would retry for 30 s before giving up
            import psycopg

            psycopg.connect(db.config.conninfo, connect_timeout=10).close()
        missing = [t for t in (store.events, CHAIN_TABLE) if not _table_exists(store, t)]
    except UsageError:
        db.close()
        raise
    except Exception as e:  # a server that is down, a bad password, a file that is not SQLite
        db.close()
        raise UsageError(f"cannot read {store.describe()}: {str(e).strip().splitlines()[0]}") from None
    if missing:
        db.close()
        raise UsageError(f"{store.describe()} holds no ledger event log (missing table {', '.join(missing)})")
    return store


def _table_exists(store: Store, table: str) -> bool:
    if store.is_postgres:
        rows = store.query("SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() "
                           "AND table_name = ?", (table,))
    else:
        rows = store.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
    return bool(rows)
