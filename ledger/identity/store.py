"""The erasable identity store: pseudonym → CPR number and name, encrypted per citizen.

It lives beside the event log, never inside it. Each citizen has their own AES-256-GCM key;
erasing a citizen deletes the key and the ciphertext ("crypto-shredding"), after which the events
still replay and every amount still adds up, because events only ever held the pseudonym.
Free text that may describe health is sealed under the same key before it enters an event, so it
becomes unreadable on erasure too.

Each citizen key is stored wrapped by the master key (ledger.identity.master), which is never in
the database: a copy of the database alone decrypts nothing (ADR 0015).

Writes happen in the transaction of the events that cause them (ADR 0015, superseding the orphan
of ADR 0004): while a command runs, `put`, `erase` and `seal` only stage their changes
(`staging()`), and the recorder writes them with the events and the command record
(`write_staged`). A refused command stages nothing that is kept; an erasure's key is gone exactly
when its `CitizenIdentityErased` is stored.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger.db import Database
from ledger.identity.master import LEGACY_KEY_BYTES, KeyWrapper

_DDL = (
    "CREATE TABLE IF NOT EXISTS identity_keys (citizen_id TEXT PRIMARY KEY, key_bytes {blob} NOT NULL)",
    "CREATE TABLE IF NOT EXISTS identity_records (citizen_id TEXT PRIMARY KEY, sealed TEXT NOT NULL)",
)

_UNCHANGED = object()


class Staged:
    """The identity changes of one command (or one batch of commands), in their net effect per
    citizen: a new wrapped key or None (deleted), a new sealed record or None (deleted)."""

    def __init__(self, store: IdentityStore) -> None:
        self.store = store
        self.keys: dict[str, bytes | None] = {}  # citizen id -> clear key (None: erased)
        self.wrapped: dict[str, bytes | None] = {}
        self.records: dict[str, str | None] = {}
        self.erased: set[str] = set()

    def key(self, citizen_id: str, create: bool) -> bytes | None:
        if citizen_id in self.keys:
            key = self.keys[citizen_id]
        else:
            key = self.store.stored_key(citizen_id)
        if key is None and create:
            key = AESGCM.generate_key(bit_length=256)
            self.keys[citizen_id] = key
            self.wrapped[citizen_id] = self.store.wrapper.wrap(key, citizen_id)
        return key

    def put(self, citizen_id: str, cpr: str, name: str) -> None:
        # A registration gets a fresh key: anything an earlier, refused or orphaned write left under
        # this pseudonym is replaced, never reused.
        key = AESGCM.generate_key(bit_length=256)
        self.keys[citizen_id] = key
        self.wrapped[citizen_id] = self.store.wrapper.wrap(key, citizen_id)
        self.records[citizen_id] = _seal(key, citizen_id, orjson.dumps({"cpr": cpr, "name": name}))

    def erase(self, citizen_id: str) -> bool:
        existed = self.key(citizen_id, create=False) is not None
        self.keys[citizen_id] = self.wrapped[citizen_id] = self.records[citizen_id] = None
        self.erased.add(citizen_id)
        return existed

    def get(self, citizen_id: str) -> dict[str, str] | None:
        if citizen_id in self.records:
            sealed, key = self.records[citizen_id], self.keys.get(citizen_id)
            return None if sealed is None or key is None else orjson.loads(_open(key, citizen_id, sealed))
        return self.store.read(citizen_id)

    def seal(self, citizen_id: str, text: str) -> str:
        key = self.key(citizen_id, create=True)
        assert key is not None
        return _seal(key, citizen_id, text.encode())

    def __bool__(self) -> bool:
        return bool(self.wrapped or self.records)


def write_staged(cur: Any, staged: Staged | None, mark: str, schema: str | None = None) -> None:
    """Write a command's identity changes on the recorder's cursor, inside its transaction (the
    library's PostgreSQL connections name tables with their schema rather than a search path)."""
    if not staged:
        return
    keys_table, records_table = (f'"{schema}".{t}' if schema else t for t in ("identity_keys", "identity_records"))
    keys, records = list(staged.wrapped.items()), list(staged.records.items())
    if mark == "%s":
        # PostgreSQL: one statement per table and kind, the rows as binary arrays (an import batch
        # stages thousands; executemany would send four statements per citizen).
        for table, rows, kind in ((keys_table, keys, "bytea"), (records_table, records, "text")):
            if not rows:
                continue
            cur.execute(f"DELETE FROM {table} WHERE citizen_id = ANY(%b::text[])", [[c for c, _ in rows]])
            kept = [(c, v) for c, v in rows if v is not None]
            if kept:
                cur.execute(f"INSERT INTO {table} SELECT * FROM unnest(%b::text[], %b::{kind}[])",
                            [[c for c, _ in kept], [v for _, v in kept]])
        return
    if keys:
        cur.executemany(f"DELETE FROM {keys_table} WHERE citizen_id = {mark}", [(c,) for c, _ in keys])
        new = [(c, w) for c, w in keys if w is not None]
        if new:
            cur.executemany(f"INSERT INTO {keys_table} VALUES ({mark}, {mark})", new)
    if records:
        cur.executemany(f"DELETE FROM {records_table} WHERE citizen_id = {mark}", [(c,) for c, _ in records])
        new_records = [(c, s) for c, s in records if s is not None]
        if new_records:
            cur.executemany(f"INSERT INTO {records_table} VALUES ({mark}, {mark})", new_records)


def _seal(key: bytes, citizen_id: str, plain: bytes) -> str:
    nonce = os.urandom(12)
    # The pseudonym is bound in as associated data, so a ciphertext cannot be moved to another citizen.
    return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, plain, citizen_id.encode())).decode()


def _open(key: bytes, citizen_id: str, sealed: str) -> bytes:
    raw = base64.b64decode(sealed)
    return AESGCM(key).decrypt(raw[:12], raw[12:], citizen_id.encode())


class IdentityStore:
    def __init__(self, db: Database, wrapper: KeyWrapper | Callable[[], KeyWrapper] | None = None) -> None:
        self.db = db
        # The master key is loaded when an identity is first touched, so everything that never
        # reads or writes one (projections, the replay tool, billing) runs without it.
        self._wrapper = wrapper
        self._local = threading.local()

    @property
    def wrapper(self) -> KeyWrapper:
        w = self._wrapper
        if w is None:
            raise AssertionError("IdentityStore needs a KeyWrapper (or a function that loads one)")
        if callable(w) and not hasattr(w, "wrap"):
            w = self._wrapper = w()
        return w  # type: ignore[return-value]

    def ensure_tables(self) -> None:
        blob = "BYTEA" if self.db.is_postgres else "BLOB"
        with self.db.transaction() as cur:
            if self.db.is_postgres:
                # Two processes starting together would race on CREATE TABLE's catalogue rows.
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.db.advisory_key("ledger-identity-ddl"),))
            for ddl in _DDL:
                cur.execute(ddl.format(blob=blob))
            cur.execute(f"SELECT count(*) FROM identity_keys WHERE length(key_bytes) = {LEGACY_KEY_BYTES}")
            legacy = cur.fetchone()[0]
        if legacy:
            self.rewrap(None, self.wrapper)  # keys an older version stored in clear: wrap them now

    # -- staging: writes go into the events' transaction ------------------------------------
    @contextmanager
    def staging(self) -> Iterator[Staged]:
        """While a command runs on this thread, put/erase/seal stage into the yielded changes."""
        staged = Staged(self)
        outer = getattr(self._local, "staged", None)
        self._local.staged = staged
        try:
            yield staged
        finally:
            self._local.staged = outer

    def _staged(self) -> Staged | None:
        return getattr(self._local, "staged", None)

    def _write_now(self, act: Callable[[Staged], Any]) -> Any:
        """Outside a command: one change in a transaction of its own (tools, tests)."""
        staged = Staged(self)
        result = act(staged)
        with self.db.transaction() as cur:
            write_staged(cur, staged, "%s" if self.db.is_postgres else "?")
        if staged.erased:
            self.scrub()
        return result

    # -- the interface handlers and readers use -------------------------------------------
    def put(self, citizen_id: str, cpr: str, name: str) -> None:
        staged = self._staged()
        if staged is None:
            return self._write_now(lambda s: s.put(citizen_id, cpr, name))
        staged.put(citizen_id, cpr, name)
        return None

    def erase(self, citizen_id: str) -> bool:
        staged = self._staged()
        if staged is None:
            return bool(self._write_now(lambda s: s.erase(citizen_id)))
        return staged.erase(citizen_id)

    def seal(self, citizen_id: str, text: str) -> str:
        staged = self._staged()
        if staged is None:
            return str(self._write_now(lambda s: s.seal(citizen_id, text)))
        return staged.seal(citizen_id, text)

    def get(self, citizen_id: str) -> dict[str, str] | None:
        staged = self._staged()
        return staged.get(citizen_id) if staged is not None else self.read(citizen_id)

    def unseal(self, citizen_id: str, sealed: str) -> str | None:
        """The sealed text, or None once the citizen has been erased."""
        key = self.stored_key(citizen_id)
        return None if key is None else _open(key, citizen_id, sealed).decode()

    # -- reading stored rows -------------------------------------------------------------------
    def stored_key(self, citizen_id: str) -> bytes | None:
        rows = self.db.query("SELECT key_bytes FROM identity_keys WHERE citizen_id = ?", (citizen_id,))
        return self.wrapper.unwrap(bytes(rows[0][0]), citizen_id) if rows else None

    def read(self, citizen_id: str) -> dict[str, str] | None:
        with self.db.connection() as conn:
            cur = conn.cursor()
            cur.execute(self.db.sql("SELECT k.key_bytes, r.sealed FROM identity_keys k JOIN identity_records r "
                                    "ON r.citizen_id = k.citizen_id WHERE k.citizen_id = ?"), (citizen_id,))
            row = cur.fetchone()
            cur.close()
        if row is None:
            return None
        key = self.wrapper.unwrap(bytes(row[0]), citizen_id)
        return orjson.loads(_open(key, citizen_id, row[1]))

    # -- erasure and rotation ---------------------------------------------------------------------
    def scrub(self, attempts: int = 4) -> bool:
        """After an erasure: leave no copy of a deleted row in the live tables' files; True when
        done. (ADR 0015.)

        PostgreSQL keeps a deleted row's bytes in its page until the page is rewritten (a plain
        VACUUM only marks the space free). VACUUM FULL writes the tables anew without them, except
        for rows a transaction older than the erasure may still see: those it must copy. It is
        tried again for a moment while such a transaction is open, and a warning is logged when
        one outlives the attempts (the next erasure's scrub, or `ledger identity rotate-master-key`,
        finishes the job). SQLite erases with `secure_delete` on, which zeroes deleted content as it
        goes."""
        if not self.db.is_postgres:
            return True
        import structlog

        held: list[str] = []
        try:
            return self._vacuum_full(attempts, held)
        except Exception as e:  # the erasure is stored either way: a failed scrub is reported, not raised
            structlog.get_logger("ledger.identity").error("scrub after erasure failed", error=f"{type(e).__name__}: {e}")
            return False

    def _vacuum_full(self, attempts: int, held: list[str]) -> bool:
        import time

        import structlog

        def note(d: Any) -> None:
            if "cannot be removed yet" in (d.message_detail or ""):
                held.append(d.message_detail or "")

        with self.db.connection() as conn:
            autocommit = conn.autocommit
            conn.autocommit = True
            conn.add_notice_handler(note)
            try:
                for attempt in range(attempts):
                    held.clear()
                    conn.execute("VACUUM (FULL, VERBOSE) identity_keys")
                    conn.execute("VACUUM (FULL, VERBOSE) identity_records")
                    if not any(not d.startswith("0 dead") for d in held):
                        return True
                    time.sleep(0.1 * 2 ** attempt)
            finally:
                conn.remove_notice_handler(note)  # the connection goes back to the pool
                conn.autocommit = autocommit
        structlog.get_logger("ledger.identity").warning(
            "erased identity rows are still held by an older open transaction; they leave the tables' "
            "files at the next scrub", detail="; ".join(held))
        return False

    def rewrap(self, old: KeyWrapper | None, new: KeyWrapper) -> int:
        """Re-wrap every live citizen key under `new` (keys stored in clear are taken as they are
        when `old` is None), in one transaction; returns how many keys were re-wrapped."""
        count = 0
        with self.db.transaction() as cur:
            if self.db.is_postgres:
                cur.execute("LOCK TABLE identity_keys IN EXCLUSIVE MODE")  # no registration meanwhile
            cur.execute("SELECT citizen_id, key_bytes FROM identity_keys")
            rows = [(c, bytes(k)) for c, k in cur.fetchall()]
            updates = []
            for citizen_id, stored in rows:
                if len(stored) == LEGACY_KEY_BYTES:
                    key = stored
                elif old is None:
                    continue  # already wrapped (a legacy-only pass)
                else:
                    key = old.unwrap(stored, citizen_id)
                updates.append((new.wrap(key, citizen_id), citizen_id))
            mark = "%s" if self.db.is_postgres else "?"
            cur.executemany(f"UPDATE identity_keys SET key_bytes = {mark} WHERE citizen_id = {mark}", updates)
            count = len(updates)
        return count
