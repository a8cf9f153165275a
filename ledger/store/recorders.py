"""The library's application recorders, extended to write two more things in the same transaction
as the events: the tamper-evidence chain (ledger.store.chain) and the record of the command that
caused them (idempotency: a retried command id returns the stored result and records nothing).

Both engines serialise writers before the chain row is computed (SQLite: the write lock taken by
the insert; PostgreSQL: the library's EXCLUSIVE table lock), so the chain can neither lag nor fork.
The application passes `commands=[{command_id, command_type, payload_hash, result}]` to `save()`,
and `identities=` the identity changes its commands staged (ledger.identity.store), which are
written here too, so a citizen's key and record exist exactly when their events do (ADR 0015).
The import adds `relaxed_commit=True` (ADR 0024). Chain and command rows go in one statement per
batch.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import InterfaceError, OperationalError, ProgrammingError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import retry
from psycopg import pq
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier

from ledger.identity.store import write_staged
from ledger.store.chain import GENESIS, link

CHAIN_TABLE = "ledger_chain"
COMMANDS_TABLE = "ledger_commands"


def _chain_rows(last: tuple[int, bytes] | None, ids: Sequence[int], events: Sequence[StoredEvent]) -> list[tuple]:
    position, previous = last if last else (0, GENESIS)
    rows = []
    for nid, e in sorted(zip(ids, events), key=lambda p: p[0]):
        position += 1
        previous = link(previous, position, e.originator_id, e.originator_version, e.topic, e.state)
        rows.append((position, nid, previous))
    return rows


def _command_rows(commands: list[dict[str, Any]], position: int | None) -> list[tuple]:
    return [
        (c["command_id"], c["command_type"], c["payload_hash"], orjson.dumps({**c["result"], "position": position}).decode())
        for c in commands
    ]


class ChainedSQLiteRecorder(SQLiteApplicationRecorder):
    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {CHAIN_TABLE} (position INTEGER PRIMARY KEY, "
            "notification_id INTEGER NOT NULL UNIQUE, hash BLOB NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {COMMANDS_TABLE} (command_id TEXT PRIMARY KEY, command_type TEXT NOT NULL, "
            "payload_hash TEXT NOT NULL, result TEXT NOT NULL)",
        ]

    def _insert_stored(self, c: Any, stored_events: Sequence[StoredEvent]) -> list[int]:
        """The library's insert (one statement per event, to read each `lastrowid`) as one
        executemany. The insert comes first, so it takes the write lock (or meets the duplicate key
        of a racing writer) exactly as the library's does. The notification id is the rowid, which
        SQLite gives as one more than the table's largest, so the batch's rows are the last ones up
        to `last_insert_rowid()`; they are read back and checked to be these events, in this order,
        before the ids are used."""
        if not stored_events:
            return []
        rows = [(e.originator_id.hex if isinstance(e.originator_id, UUID) else e.originator_id, e.originator_version,
                 e.topic, e.state) for e in stored_events]
        c.executemany(self.insert_events_statement, rows)
        c.execute("SELECT last_insert_rowid()")
        last = c.fetchone()[0]
        first = last - len(rows) + 1
        c.execute(f"SELECT rowid, originator_id, originator_version FROM {self.events_table_name} "
                  "WHERE rowid >= ? ORDER BY rowid", (first,))
        found = [tuple(r) for r in c.fetchall()]
        if [(rowid, oid, ver) for rowid, (oid, ver, _t, _s) in zip(range(first, last + 1), rows)] != found:
            raise ProgrammingError(f"the {len(rows)} events inserted up to rowid {last} are not the table's last rows")
        return list(range(first, last + 1))

    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        ids = self._insert_stored(c, stored_events)
        if stored_events:
            c.execute(f"SELECT position, hash FROM {CHAIN_TABLE} ORDER BY position DESC LIMIT 1")
            row = c.fetchone()
            last = (row[0], bytes(row[1])) if row else None
            c.executemany(f"INSERT INTO {CHAIN_TABLE} VALUES (?,?,?)", _chain_rows(last, ids, stored_events))
        commands = kwargs.get("commands") or []
        if commands:
            c.executemany(f"INSERT INTO {COMMANDS_TABLE} VALUES (?,?,?,?)", _command_rows(commands, max(ids, default=None)))
        staged = kwargs.get("identities")
        if staged:
            if staged.erased:
                c.execute("PRAGMA secure_delete = ON")  # an erased key's bytes are zeroed in the file
            write_staged(c, staged, "?")
        return ids


class ChainedPostgresRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        schema = Identifier(self.datastore.schema)
        self.chain_table = SQL("{}.{}").format(schema, Identifier(CHAIN_TABLE))
        self.commands_table = SQL("{}.{}").format(schema, Identifier(COMMANDS_TABLE))
        self.chain_head_statement = SQL("SELECT position, hash FROM {} ORDER BY position DESC LIMIT 1").format(
            self.chain_table)
        self._heads = threading.local()  # each writing thread's chain-head cursor, between two steps of a save
        # The events of a save as four parallel arrays sent in binary, not an array of the library's
        # composite type: psycopg renders that as text, quoting and escaping every state byte by
        # regular expression (about a sixth of a PostgreSQL import's CPU). Same rows, same order.
        self.insert_columns_statement = SQL(
            "INSERT INTO {}.{} AS t (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[]) RETURNING notification_id"
        ).format(schema, Identifier(events_table_name))
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {} (position bigint PRIMARY KEY, notification_id bigint NOT NULL UNIQUE, "
            "hash bytea NOT NULL)").format(self.chain_table))
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {} (command_id text PRIMARY KEY, command_type text NOT NULL, "
            "payload_hash text NOT NULL, result text NOT NULL)").format(self.commands_table))

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """The library's `PostgresApplicationRecorder.insert_events`, its steps unchanged (our
        `_insert_events`, `_insert_stored_events`, the sync that raises a duplicate key there,
        `_fetch_ids_after_insert_events`), with the transaction's BEGIN and COMMIT sent as
        statements of the one pipeline. psycopg's `transaction()` inside a pipeline syncs on
        entering, again before its commit and once more on leaving the pipeline: three round trips
        more per save, two of them with the event table locked (ADR 0030). Here a save is two: the
        insert's sync, and the pipeline's end, which carries the commit. Any failure leaves the
        connection rolled back before it goes back to the pool (it is an auto-commit connection)."""
        if self.datastore.enable_db_functions:  # pragma: no cover - not how the ledger configures it
            return super().insert_events(stored_events, **kwargs)
        ids: Sequence[int] | None = None
        with self.datastore.get_connection() as conn:
            try:
                with conn.pipeline() as pipeline:
                    with conn.cursor() as curs:
                        curs.execute("BEGIN")
                        self._insert_events(curs, stored_events, **kwargs)
                    if stored_events:
                        with conn.cursor() as curs:
                            self._insert_stored_events(curs, stored_events, **kwargs)
                            pipeline.sync()  # a duplicate key (a lost race) raises here
                            ids = self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
                    with conn.cursor() as curs:
                        curs.execute("COMMIT")
            except BaseException:
                if conn.pgconn.transaction_status != pq.TransactionStatus.IDLE:
                    conn.rollback()
                raise
        return ids

    def _insert_commands(self, curs: Any, commands: list[dict[str, Any]], position: int | None) -> None:
        # One statement for the whole batch (arrays, unnested by the server), not one per command.
        if commands:
            columns = list(zip(*_command_rows(commands, position)))
            curs.execute(SQL("INSERT INTO {} SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[])")
                         .format(self.commands_table), [list(c) for c in columns])

    def _insert_stored_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        # What the library's PostgresApplicationRecorder does (lock, notify, one INSERT … RETURNING
        # notification_id in the events' order), with the rows as binary column arrays.
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(self.insert_columns_statement,
                     [[e.originator_id for e in stored_events], [e.originator_version for e in stored_events],
                      [e.topic for e in stored_events], [e.state for e in stored_events]])
        # The chain head, asked in the same pipeline (on a cursor of its own: a cursor keeps only
        # its last result): it runs after the lock, so it is the head this transaction chains
        # onto, and its answer comes back with the insert's at the library's sync instead of in a
        # round trip of its own while the table lock is held (ADR 0030).
        head = curs.connection.cursor(row_factory=tuple_row)  # (the import's connection gives tuples too)
        head.execute(self.chain_head_statement)
        self._heads.cursor = head

    def _insert_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        # Runs first in the transaction; only a command that recorded no events is written here.
        if kwargs.get("relaxed_commit"):
            # The import's batches (ADR 0024): the commit does not wait for the WAL to reach the disk.
            # A crash of the server may lose the last few batches, never corrupt; a re-run restores them.
            curs.execute("SET LOCAL synchronous_commit = off")
        if not stored_events:
            self._insert_commands(curs, kwargs.get("commands") or [], None)
            write_staged(curs, kwargs.get("identities"), "%s", self.datastore.schema)

    def _fetch_ids_after_insert_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        ids = list(super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs) or [])
        # The EXCLUSIVE lock taken before the insert is still held: no other writer can chain now.
        head, self._heads.cursor = self._heads.cursor, None
        assert head is not None  # asked by _insert_stored_events, in this thread's transaction
        try:
            row = head.fetchone()
        finally:
            head.close()
        last = (row[0], bytes(row[1])) if row else None
        rows = _chain_rows(last, ids, stored_events)
        if rows:  # one statement for the batch's chain rows
            positions, nids, hashes = zip(*rows)
            curs.execute(SQL("INSERT INTO {} SELECT * FROM unnest(%b::bigint[], %b::bigint[], %b::bytea[])")
                         .format(self.chain_table), [list(positions), list(nids), list(hashes)])
        self._insert_commands(curs, kwargs.get("commands") or [], max(ids, default=None))
        write_staged(curs, kwargs.get("identities"), "%s", self.datastore.schema)
        return ids
