"""The fast read path over the library's stored events.

Projections do not need the library's domain-event objects: the mapper and object construction
cost more than the whole projection (see the notes, "raw read + decode"). So we read the stored
rows with plain SQL and decode `state` with orjson into a dict:

* SQLite: keyset-paged `SELECT ... WHERE rowid > ? ORDER BY rowid LIMIT ?`. Each page is its own
  short read, so a long rebuild never pins the WAL (a reader held open would stop checkpoints).
* PostgreSQL: keyset-paged `SELECT` on a client-side cursor with binary results: `fetchall()`
  converts a whole page in psycopg's C code. Measured here (psycopg 3.3, 200k events, same run)
  it beats `COPY (SELECT ...) TO STDOUT (FORMAT BINARY)` + `copy.rows()` by about 30 %, because
  `rows()` goes through a Python generator per row. The COPY path is kept (`PG_READ = "copy"`)
  so the benchmark can keep comparing the two.

Positions may have gaps (rolled-back inserts on PostgreSQL), so we always page on "position >
last seen" and never count. Memory is bounded by one batch of rows, whatever the log size.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import datetime, timezone
from typing import Any, NamedTuple

import orjson

from ledger.db import Database

DEFAULT_BATCH_SIZE = 10_000
# "pages" (binary cursor, the default) or "copy" (COPY ... TO STDOUT), see the module docstring.
PG_READ = "pages"
# Rows per PostgreSQL COPY statement; several batches are yielded from one COPY.
_PG_COPY_CHUNK = 100_000
_PG_TYPES = ["int8", "text", "int8", "text", "bytea"]


class RawEvent(NamedTuple):
    """One stored event, decoded but not turned into a domain object.

    A tuple subclass because constructing millions of them is on the hot path of every rebuild.
    """

    position: int
    # Canonical UUID text with dashes. (On SQLite every 32-character id is taken to be the
    # library's uuid.hex form of a UUID; aggregates with other text ids must not use 32 chars.)
    originator_id: str
    originator_version: int
    name: str  # the event class name: "OrderPlaced" from "ledger.domain.order:Order.OrderPlaced"
    state: dict[str, Any]

    @property
    def recorded(self) -> str:
        """When the event was recorded (state["timestamp"], ISO-8601 UTC)."""
        return self.state["timestamp"]

    @property
    def effective(self) -> str | None:
        """The business date the event takes effect (ISO date), when the event has one."""
        return self.state.get("effective")


# -- recorded-time comparison -------------------------------------------------------------

_UTC = timezone.utc


def recorded_key(value: Any) -> str:
    """A recorded timestamp as 'YYYY-MM-DDTHH:MM:SS.ffffff' in UTC: comparable as a string.

    orjson writes "…:00+00:00" when microseconds are zero and "…:00.123456+00:00" otherwise, and
    those two do not sort correctly against each other as raw strings. The two orjson shapes
    are handled by slicing (this runs per event under `until_recorded`); anything else (other
    offsets, "Z", fewer fraction digits, the library's tagged {"_type_": "datetime_iso", ...}
    form, datetime objects) is parsed. A naive value is taken to be UTC.
    """
    if type(value) is str and value.endswith("+00:00") and value[10:11] == "T":
        n = len(value)
        if n == 32:
            return value[:26]
        if n == 25:
            return value[:19] + ".000000"
    if isinstance(value, dict):
        value = value.get("_data_")
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value)
    else:
        raise ValueError(f"not a recorded timestamp: {value!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_UTC)
    return moment.astimezone(_UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


# -- SQL ----------------------------------------------------------------------------------


def _sqlite_select(db: Database, bounded: bool) -> str:
    pos = db.position_column
    upper = f" AND {pos} <= ?" if bounded else ""
    return (
        f"SELECT {pos}, originator_id, originator_version, topic, state FROM {db.events_table} "
        f"WHERE {pos} > ?{upper} ORDER BY {pos} LIMIT ?"
    )


def _pg_select(db: Database, bounded: bool) -> str:
    upper = " AND notification_id <= %s" if bounded else ""
    return (
        "SELECT notification_id, originator_id::text, originator_version, topic, state "
        f'FROM "{db.events_table}" WHERE notification_id > %s{upper} ORDER BY notification_id LIMIT %s'
    )


def _pg_copy(db: Database, after: int, until: int | None, limit: int) -> str:
    # Integers are formatted in (COPY takes no server-side parameters); int() guards them.
    upper = f" AND notification_id <= {int(until)}" if until is not None else ""
    return (
        "COPY (SELECT notification_id, originator_id::text, originator_version, topic, state "
        f'FROM "{db.events_table}" WHERE notification_id > {int(after)}{upper} '
        f"ORDER BY notification_id LIMIT {int(limit)}) TO STDOUT (FORMAT BINARY)"
    )


def _row_pages(db: Database, after: int, until: int | None, batch_size: int) -> Iterator[list[tuple]]:
    """Stored rows (position, originator_id, version, topic, state bytes), in position order."""
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    if db.is_postgres and PG_READ == "copy":
        yield from _pg_copy_pages(db, after, until, batch_size)
        return
    sql = _pg_select(db, until is not None) if db.is_postgres else _sqlite_select(db, until is not None)
    with db.connection() as conn:
        cur = conn.cursor(binary=True) if db.is_postgres else conn.cursor()
        while True:
            cur.execute(sql, (after, until, batch_size) if until is not None else (after, batch_size))
            rows = cur.fetchall()
            if not rows:
                return
            yield rows
            if len(rows) < batch_size:  # a short page is the end of the log as of now
                return
            after = rows[-1][0]


def _pg_copy_pages(db: Database, after: int, until: int | None, batch_size: int) -> Iterator[list[tuple]]:
    chunk = max(_PG_COPY_CHUNK, batch_size)
    with db.connection() as conn, conn.cursor() as cur:
        while True:
            seen = 0
            rows: list[tuple] = []
            with cur.copy(_pg_copy(db, after, until, chunk)) as copy:
                copy.set_types(_PG_TYPES)
                for row in copy.rows():
                    rows.append(row)
                    if len(rows) == batch_size:
                        seen += batch_size
                        after = row[0]
                        yield rows
                        rows = []
            if rows:
                seen += len(rows)
                after = rows[-1][0]
                yield rows
            if seen < chunk:
                return


class _Names(dict):
    """topic -> event name, or None when no projection wants that event (computed once per topic).
    `versioned` holds the wanted topics whose class is past version 1, so their stored states are
    upcast (the rest, nearly every event, pass untouched)."""

    def __init__(self, wanted: Collection[str] | None) -> None:
        super().__init__()
        self.wanted = None if wanted is None else frozenset(wanted)
        self.versioned: set[str] = set()

    def __missing__(self, topic: str) -> str | None:
        name = topic.rpartition(".")[2]
        value = name if self.wanted is None or name in self.wanted else None
        self[topic] = value
        if value is not None and _versioned(topic):
            self.versioned.add(topic)
        return value


def _versioned(topic: str) -> bool:
    # Imported here, not at the top: the decoding chain imports the domain's catalogue and the
    # library's domain module (~0.1 s), which `projections status` and the readers of positions
    # never need.
    from eventsourcing.utils import TopicError

    from ledger.store.decoding import is_versioned

    try:
        return is_versioned(topic)
    except TopicError:  # a topic of no class here (a test's own): its states pass as stored
        return False


def _upcast(topic: str, state: dict[str, Any]) -> None:
    from ledger.store.decoding import upcast

    upcast(topic, state)


def read_batches(
    db: Database,
    after: int = 0,
    until: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    until_recorded: str | None = None,
    names: Collection[str] | None = None,
    skip: bytes | None = None,
) -> Iterator[tuple[int, list[RawEvent]]]:
    """(last position covered, events) per page; the list may be empty when all were filtered.

    The engine needs the covered position even for pages with nothing to apply, so the tracking
    position still advances past events no projection handles. Events whose name is not in
    `names` are never decoded: that is most of the saving for narrow projections. Nor are those
    at a position p with `skip[p]` set (a rebuild's later passes: other partitions' events).
    """
    lookup = _Names(names)
    versioned = lookup.versioned
    loads = orjson.loads
    join = "-".join
    new = tuple.__new__  # skips NamedTuple's Python-level __new__ on the hot path
    cutoff = None if until_recorded is None else recorded_key(until_recorded)
    skipped = 0 if skip is None else len(skip)
    for rows in _row_pages(db, after, until, batch_size):
        events: list[RawEvent] = []
        append = events.append
        for pos, oid, ver, topic, raw in rows:
            name = lookup[topic]
            if name is None or (pos < skipped and skip[pos]):  # type: ignore[index]
                continue
            state = loads(raw)
            if topic in versioned:  # a shape that changed: brought to the current one (decoding.py)
                _upcast(topic, state)
            if cutoff is not None and recorded_key(state["timestamp"]) > cutoff:
                continue
            if len(oid) == 32:
                # SQLite: the library stores a UUID as uuid.hex; give projections the same
                # dashed text PostgreSQL returns. (Cheaper here than substr() in SQL, which
                # halved SQLite's read rate, or a dict cache, whose misses cost more.)
                oid = join((oid[:8], oid[8:12], oid[12:16], oid[16:20], oid[20:]))
            append(new(RawEvent, (pos, oid, ver, name, state)))
        yield rows[-1][0], events


def read_events(
    db: Database,
    after: int = 0,
    until: int | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    until_recorded: str | None = None,
    *,
    names: Collection[str] | None = None,
) -> Iterator[list[RawEvent]]:
    """Events with `after < position <= until` (to the current end when `until` is None).

    Streams lists of at most `batch_size` events. `until_recorded` keeps only events recorded
    at or before that instant; `names` keeps only events with those names.
    """
    for _, events in read_batches(db, after, until, batch_size, until_recorded, names):
        if events:
            yield events


def read_raw(
    db: Database, after: int = 0, until: int | None = None, batch_size: int = DEFAULT_BATCH_SIZE
) -> Iterator[list[dict[str, Any]]]:
    """The baseline for benchmarks: the same rows, `state` decoded, and nothing else."""
    loads = orjson.loads
    for rows in _row_pages(db, after, until, batch_size):
        yield [loads(row[4]) for row in rows]


def head_position(db: Database) -> int:
    """The highest position in the log, 0 when the log (or its table) does not exist yet."""
    table = db.events_table
    if db.is_postgres:
        exists = db.query(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?",
            (table,),
        )
    else:
        exists = db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
    if not exists:
        return 0
    return int(db.query(f"SELECT max({db.position_column}) FROM {table}")[0][0] or 0)
