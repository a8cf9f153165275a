"""Connections to the one database that holds the event log, the projections and the identity store.

`LEDGER_DATABASE_URL` selects it: `sqlite:///ledger.db` (a file, the default) or
`postgresql://user@host:5432/db?schema=name`. The event log itself is written by the
eventsourcing library (see `ledger.store`); this module gives everything else plain DB-API
connections to the same database, with one placeholder style (`?`) in our SQL.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from ledger.config import ConfigError

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class DatabaseUrl:
    kind: str  # "sqlite" | "postgres"
    path: str = ""  # sqlite file
    host: str = "127.0.0.1"
    port: int = 5432
    user: str = "postgres"
    password: str = ""
    dbname: str = "postgres"
    schema: str = "public"

    @property
    def conninfo(self) -> str:
        parts = [f"host={self.host}", f"port={self.port}", f"user={self.user}", f"dbname={self.dbname}"]
        if self.password:
            parts.append(f"password={self.password}")
        return " ".join(parts)


def parse_database_url(url: str) -> DatabaseUrl:
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        # sqlite:///relative.db and sqlite:////absolute/path.db, as SQLAlchemy spells them.
        path = unquote(parsed.path[1:] if parsed.path.startswith("/") else parsed.path)
        if not path or ":memory:" in path:
            raise ConfigError(
                f"LEDGER_DATABASE_URL {url!r}: give a file, e.g. sqlite:///ledger.db "
                "(an in-memory database cannot be shared by the ledger's connections)"
            )
        return DatabaseUrl(kind="sqlite", path=path)
    if parsed.scheme in ("postgresql", "postgres"):
        query = parse_qs(parsed.query)
        schema = query.get("schema", ["public"])[0]
        if not _SCHEMA_NAME.match(schema):
            raise ConfigError(f"LEDGER_DATABASE_URL: schema {schema!r} must be a lower-case SQL identifier")
        return DatabaseUrl(
            kind="postgres",
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 5432,
            user=unquote(parsed.username or "postgres"),
            password=unquote(parsed.password or ""),
            dbname=(parsed.path or "/postgres")[1:] or "postgres",
            schema=schema,
        )
    raise ConfigError(
        f"LEDGER_DATABASE_URL {url!r} is neither sqlite:///FILE nor postgresql://USER@HOST:PORT/DB"
    )


_SQLITE_IDLE = 4  # idle SQLite connections kept per Database


class Database:
    """Plain connections for projections, queries, the identity store and the replay tool.

    SQL in this code base is written with `?` placeholders; `sql()` turns them into `%s`
    for PostgreSQL, so one text serves both engines.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.config = parse_database_url(url)
        self.kind = self.config.kind
        self._pool: Any = None
        self._lock = threading.Lock()
        # SQLite: connections given back, reused by the next `connection()` (opening one and
        # setting its pragmas costs ~0.7 ms: an import opened 1,400 of them). Forgotten after a
        # fork, so a child never shares its parent's.
        self._idle: list[sqlite3.Connection] = []
        self._idle_pid = os.getpid()

    # -- naming --------------------------------------------------------------------------
    @property
    def is_postgres(self) -> bool:
        return self.kind == "postgres"

    @property
    def events_table(self) -> str:
        """The library's table of stored events (not prefixed on SQLite, `<app>_events` on PostgreSQL)."""
        return "ledger_events" if self.is_postgres else "stored_events"

    @property
    def position_column(self) -> str:
        return "notification_id" if self.is_postgres else "rowid"

    def sql(self, text: str) -> str:
        return text.replace("?", "%s") if self.is_postgres else text

    # -- connections ---------------------------------------------------------------------
    def _sqlite_connect(self) -> sqlite3.Connection:
        Path(self.config.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.config.path, timeout=60, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=60000")
        return conn

    def _pg_pool(self) -> Any:
        with self._lock:
            if self._pool is None:
                from psycopg_pool import ConnectionPool

                self._pool = ConnectionPool(
                    self.config.conninfo,
                    min_size=1,
                    max_size=8,
                    kwargs={"options": f"-c search_path={self.config.schema}", "autocommit": True},
                    open=True,
                )
            return self._pool

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """An auto-commit connection; use `transaction()` for writes that must be atomic."""
        if self.is_postgres:
            with self._pg_pool().connection() as conn:
                yield conn
        else:
            conn = self._take_sqlite()
            try:
                yield conn
            finally:
                self._give_back(conn)

    def _take_sqlite(self) -> sqlite3.Connection:
        with self._lock:
            if self._idle_pid != os.getpid():
                self._idle, self._idle_pid = [], os.getpid()
            if self._idle:
                return self._idle.pop()
        return self._sqlite_connect()

    def _give_back(self, conn: sqlite3.Connection) -> None:
        try:
            if conn.in_transaction:  # left open by an error: nothing of it may leak into the next use
                conn.rollback()
        except sqlite3.Error:
            conn.close()
            return
        with self._lock:
            if self._idle_pid == os.getpid() and len(self._idle) < _SQLITE_IDLE:
                self._idle.append(conn)
                return
        conn.close()

    @contextmanager
    def transaction(self, conn: Any = None) -> Iterator[Any]:
        """A cursor inside one transaction: committed on success, rolled back on any error."""
        if conn is None:
            with self.connection() as c, self.transaction(c) as cur:
                yield cur
            return
        if self.is_postgres:
            with conn.transaction(), conn.cursor() as cur:
                yield cur
        else:
            cur = conn.cursor()
            # IMMEDIATE takes the write lock up front, so two writers queue instead of deadlocking.
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                conn.rollback()
                raise
            else:
                conn.commit()
            finally:
                cur.close()

    def query(self, text: str, params: tuple | list = ()) -> list[tuple]:
        with self.connection() as conn:
            cur = conn.cursor()
            cur.execute(self.sql(text), params)
            rows = cur.fetchall()
            cur.close()
            return rows

    def queries(self, statements: Sequence[tuple[str, tuple | list]]) -> list[list[tuple]]:
        """Each statement's rows, as `query` gives them, the statements run in order on one
        connection: on PostgreSQL sent together in one pipeline, so they cost one round trip
        rather than one each (the group commit's look-ups before a group, ADR 0030)."""
        if not self.is_postgres or len(statements) < 2:
            return [self.query(text, params) for text, params in statements]
        with self.connection() as conn:
            cursors = []
            try:
                # Leaving the pipeline sends its one Sync and takes every answer back, so the rows
                # are read after it: fetching inside would cost a flush round trip of its own.
                with conn.pipeline():
                    for text, params in statements:
                        cur = conn.cursor()
                        cur.execute(self.sql(text), params)
                        cursors.append(cur)
                return [cur.fetchall() for cur in cursors]
            finally:
                for cur in cursors:
                    cur.close()

    def advisory_key(self, name: str) -> str:
        """The text an advisory lock on `name` hashes: PostgreSQL's advisory locks are per database,
        not per schema, so two stores in one database (tests, benchmarks, tenants) would otherwise
        wait on each other's locks."""
        return f"{self.config.schema}.{name}"

    def ensure_schema(self) -> None:
        if self.is_postgres and self.config.schema != "public":
            import psycopg

            with psycopg.connect(self.config.conninfo, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.config.schema}"')

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # -- the library's settings ----------------------------------------------------------
    def eventsourcing_env(self) -> dict[str, str]:
        c = self.config
        if c.kind == "sqlite":
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": c.path,
                "SQLITE_LOCK_TIMEOUT": "60",
                "APPLICATION_RECORDER_TOPIC": "ledger.store.recorders:ChainedSQLiteRecorder",
            }
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": c.dbname,
            "POSTGRES_HOST": c.host,
            "POSTGRES_PORT": str(c.port),
            "POSTGRES_USER": c.user,
            "POSTGRES_PASSWORD": c.password,
            "POSTGRES_SCHEMA": c.schema,
            "POSTGRES_LOCK_TIMEOUT": "10",
            # The library's insert function skips the table lock (see the notes): keep it off.
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
            "APPLICATION_RECORDER_TOPIC": "ledger.store.recorders:ChainedPostgresRecorder",
        }
