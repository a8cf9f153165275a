"""The reports of the verifies run from the auditors' page, kept in the store (append-only, like the
access log), so the last report is the same for every worker process and survives a restart."""

from __future__ import annotations

from typing import Any

import orjson

from ledger.db import Database

TABLE = "web_verify_reports"


_ready: set[str] = set()  # databases (by URL) whose table exists: one DDL per process


def ensure_table(db: Database) -> None:
    if db.url in _ready:
        return
    key = "BIGSERIAL PRIMARY KEY" if db.is_postgres else "INTEGER PRIMARY KEY AUTOINCREMENT"
    with db.transaction() as cur:
        if db.is_postgres:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (db.advisory_key(TABLE),))
        cur.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id {key}, at TEXT NOT NULL, user_id TEXT NOT NULL, "
                    "ok INTEGER NOT NULL, report TEXT NOT NULL)")
    _ready.add(db.url)


def record(db: Database, report: dict[str, Any]) -> None:
    ensure_table(db)
    with db.transaction() as cur:
        cur.execute(db.sql(f"INSERT INTO {TABLE} (at, user_id, ok, report) VALUES (?,?,?,?)"),
                    (report["at"], report["by"], int(report["ok"]), orjson.dumps(report).decode()))


def last(db: Database) -> dict[str, Any] | None:
    ensure_table(db)
    rows = db.query(f"SELECT report FROM {TABLE} ORDER BY id DESC LIMIT 1")
    return orjson.loads(rows[0][0]) if rows else None
