"""The erasable identity store: pseudonym → CPR number and name, encrypted per citizen.

It lives beside the event log, never inside it. Each citizen has their own AES-256-GCM key;
erasing a citizen deletes the key and the ciphertext ("crypto-shredding"), after which the events
still replay and every amount still adds up, because events only ever held the pseudonym.
Free text that may describe health is sealed under the same key before it enters an event, so it
becomes unreadable on erasure too.
"""

from __future__ import annotations

import base64
import os
from typing import Any

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger.db import Database

_DDL = (
    "CREATE TABLE IF NOT EXISTS identity_keys (citizen_id TEXT PRIMARY KEY, key_bytes {blob} NOT NULL)",
    "CREATE TABLE IF NOT EXISTS identity_records (citizen_id TEXT PRIMARY KEY, sealed TEXT NOT NULL)",
)


class IdentityStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def ensure_tables(self) -> None:
        blob = "BYTEA" if self.db.is_postgres else "BLOB"
        with self.db.transaction() as cur:
            if self.db.is_postgres:
                # Two processes starting together would race on CREATE TABLE's catalogue rows.
                cur.execute("SELECT pg_advisory_xact_lock(hashtext('ledger-identity-ddl'))")
            for ddl in _DDL:
                cur.execute(ddl.format(blob=blob))

    def _key(self, cur: Any, citizen_id: str, create: bool) -> bytes | None:
        cur.execute(self.db.sql("SELECT key_bytes FROM identity_keys WHERE citizen_id = ?"), (citizen_id,))
        row = cur.fetchone()
        if row:
            return bytes(row[0])
        if not create:
            return None
        key = AESGCM.generate_key(bit_length=256)
        cur.execute(self.db.sql("INSERT INTO identity_keys VALUES (?, ?)"), (citizen_id, key))
        return key

    @staticmethod
    def _seal(key: bytes, citizen_id: str, plain: bytes) -> str:
        nonce = os.urandom(12)
        # The pseudonym is bound in as associated data, so a ciphertext cannot be moved to another citizen.
        return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, plain, citizen_id.encode())).decode()

    @staticmethod
    def _open(key: bytes, citizen_id: str, sealed: str) -> bytes:
        raw = base64.b64decode(sealed)
        return AESGCM(key).decrypt(raw[:12], raw[12:], citizen_id.encode())

    def put(self, citizen_id: str, cpr: str, name: str) -> None:
        with self.db.transaction() as cur:
            key = self._key(cur, citizen_id, create=True)
            assert key is not None
            sealed = self._seal(key, citizen_id, orjson.dumps({"cpr": cpr, "name": name}))
            cur.execute(self.db.sql("DELETE FROM identity_records WHERE citizen_id = ?"), (citizen_id,))
            cur.execute(self.db.sql("INSERT INTO identity_records VALUES (?, ?)"), (citizen_id, sealed))

    def get(self, citizen_id: str) -> dict[str, str] | None:
        with self.db.connection() as conn:
            cur = conn.cursor()
            key = self._key(cur, citizen_id, create=False)
            cur.execute(self.db.sql("SELECT sealed FROM identity_records WHERE citizen_id = ?"), (citizen_id,))
            row = cur.fetchone()
            if key is None or row is None:
                return None
            return orjson.loads(self._open(key, citizen_id, row[0]))

    def erase(self, citizen_id: str) -> bool:
        with self.db.transaction() as cur:
            cur.execute(self.db.sql("DELETE FROM identity_records WHERE citizen_id = ?"), (citizen_id,))
            cur.execute(self.db.sql("DELETE FROM identity_keys WHERE citizen_id = ?"), (citizen_id,))
            return cur.rowcount > 0

    def seal(self, citizen_id: str, text: str) -> str:
        with self.db.transaction() as cur:
            key = self._key(cur, citizen_id, create=True)
            assert key is not None
            return self._seal(key, citizen_id, text.encode())

    def unseal(self, citizen_id: str, sealed: str) -> str | None:
        """The sealed text, or None once the citizen has been erased."""
        with self.db.connection() as conn:
            key = self._key(conn.cursor(), citizen_id, create=False)
        return None if key is None else self._open(key, citizen_id, sealed).decode()
