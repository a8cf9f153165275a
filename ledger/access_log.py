"""The access log: who read which citizen's data or which billing data, when, through which route.

Shared by the API (a request's route and path, its authenticated user) and the `ledger` command (the
command's path, the OS user as `cli:<user>`, ledger/cli/access.py), so both doors write one log.

Append-only by construction: this module has an insert and a select and nothing else, and the
database refuses UPDATE and DELETE on the table with a trigger, so not even a stray SQL session
can rewrite history. Refused attempts are recorded too (outcome `refused`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ledger.db import Database
from ledger.domain.errors import InvalidInput
from ledger.domain.values import parse_day_or_instant

TABLE = "access_log"

_SQLITE_DDL = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, "
    "request_id TEXT NOT NULL, user_id TEXT NOT NULL, role TEXT NOT NULL, method TEXT NOT NULL, "
    "route TEXT NOT NULL, path TEXT NOT NULL, what TEXT NOT NULL, citizen_id TEXT, municipality INTEGER, "
    "outcome TEXT NOT NULL)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_citizen ON {TABLE} (citizen_id)",
    f"CREATE TRIGGER IF NOT EXISTS {TABLE}_no_update BEFORE UPDATE ON {TABLE} "
    "BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END",
    f"CREATE TRIGGER IF NOT EXISTS {TABLE}_no_delete BEFORE DELETE ON {TABLE} "
    "BEGIN SELECT RAISE(ABORT, 'access_log is append-only'); END",
)

_PG_DDL = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (id BIGSERIAL PRIMARY KEY, at TEXT NOT NULL, "
    "request_id TEXT NOT NULL, user_id TEXT NOT NULL, role TEXT NOT NULL, method TEXT NOT NULL, "
    "route TEXT NOT NULL, path TEXT NOT NULL, what TEXT NOT NULL, citizen_id TEXT, municipality INTEGER, "
    "outcome TEXT NOT NULL)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_citizen ON {TABLE} (citizen_id)",
    f"CREATE OR REPLACE FUNCTION {TABLE}_refuse() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'access_log is append-only'; END $$",
    f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}",
    f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {TABLE} "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_refuse()",
)

COLUMNS = ("id", "at", "request_id", "user_id", "role", "method", "route", "path", "what", "citizen_id",
           "municipality", "outcome")


@dataclass(frozen=True)
class Access:
    request_id: str
    user: str
    role: str
    method: str
    route: str
    path: str
    what: str  # e.g. "citizen", "identity", "events", "invoices"
    citizen_id: str | None = None
    municipality: int | None = None
    outcome: str = "read"  # read | refused


class AccessLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    def ensure_table(self) -> None:
        with self.db.transaction() as cur:
            if self.db.is_postgres:
                cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.db.advisory_key(TABLE),))
            for ddl in _PG_DDL if self.db.is_postgres else _SQLITE_DDL:
                cur.execute(ddl)

    def ensure_table_if_missing(self) -> None:
        """`ensure_table` only when the table is not there yet (a CLI read on a store the API never
        served): the DDL takes locks, a look does not."""
        if self.db.is_postgres:
            found = self.db.query("SELECT to_regclass(?) IS NOT NULL", [TABLE])[0][0]
        else:
            found = bool(self.db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [TABLE]))
        if not found:
            self.ensure_table()

    def record(self, a: Access, shown: list[str] | None = None) -> None:
        """One entry; with `shown` (the citizen ids a read showed), one entry per citizen shown, so
        "who saw citizen A" finds every read that showed A, a list of many citizens included."""
        at = datetime.now(timezone.utc).isoformat(timespec="microseconds")
        citizens: list[str | None] = [a.citizen_id] if not shown else list(dict.fromkeys(shown))
        rows = [(at, a.request_id, a.user, a.role, a.method, a.route, a.path, a.what, cid, a.municipality, a.outcome)
                for cid in citizens]
        with self.db.connection() as conn:
            cur = conn.cursor()
            cur.executemany(self.db.sql(
                f"INSERT INTO {TABLE} (at, request_id, user_id, role, method, route, path, what, citizen_id, "
                "municipality, outcome) VALUES (?,?,?,?,?,?,?,?,?,?,?)"), rows)
            if not self.db.is_postgres:
                conn.commit()
            cur.close()


    def entries(self, *, municipalities: frozenset[int] | None, user: str | None = None,
                citizen_id: str | None = None, municipality: int | None = None, since: str | None = None,
                until: str | None = None, after_id: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """Entries oldest first, after `after_id`; limited to `municipalities` (None: all)."""
        where: list[str] = ["id > ?"]
        params: list[Any] = [after_id]
        if municipalities is not None:
            codes = sorted(municipalities)
            where.append(f"municipality IN ({','.join('?' * len(codes))})")
            params.extend(codes)
        for column, op, value in (("user_id", "=", user), ("citizen_id", "=", citizen_id),
                                  ("municipality", "=", municipality), ("at", ">=", since), ("at", "<", until)):
            if value is not None:
                where.append(f"{column} {op} ?")
                params.append(value)
        rows = self.db.query(
            f"SELECT {', '.join(COLUMNS)} FROM {TABLE} WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
            [*params, limit])
        return [dict(zip(COLUMNS, row)) for row in rows]


def _key(value: str, field: str) -> str:
    """A bound as the stored `at` text (UTC, microseconds, `+00:00`), so comparing text compares
    instants: a date is its first instant (UTC); an instant with another offset is moved to UTC."""
    parsed = parse_day_or_instant(value, field)
    if not isinstance(parsed, datetime):
        parsed = datetime(parsed.year, parsed.month, parsed.day)
    moment = parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def bounds(since: str | None, until: str | None) -> tuple[str | None, str | None]:
    """`since` (inclusive) and `until` (exclusive), each a date or an ISO instant within 1900-2199,
    as keys `entries` compares; a range that ends before it starts is refused naming its start, as
    every from/to range of the API and the CLI is (InvalidInput: 422 problem+json, exit 2)."""
    low = None if since is None else _key(since, "since")
    high = None if until is None else _key(until, "until")
    if low is not None and high is not None and low > high:
        raise InvalidInput(f"since ({since}) is after until ({until})", field="since")
    return low, high


def citizens_shown(value: Any) -> list[str]:
    """Every `citizen_id` in a read's answer, in order of first appearance (rows, nested lines)."""
    found: dict[str, None] = {}
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            cid = item.get("citizen_id")
            if isinstance(cid, str) and cid:
                found.setdefault(cid)
            stack.extend(reversed([v for v in item.values() if isinstance(v, (dict, list))]))
        elif isinstance(item, list):
            stack.extend(reversed([v for v in item if isinstance(v, (dict, list))]))
    return list(found)
