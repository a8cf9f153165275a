"""`rebuild --known-at K`: the projections as the records stood at instant K, written to files.

The events recorded at or before K (the same `recorded_key` comparison as the engine's
`until_recorded`) are copied, as stored, into a scratch SQLite file in a temporary directory;
every projection is rebuilt there from zero, and the tables (in primary-key order) and the query
modules' views as of date D are written as JSON. The scratch file is deleted afterwards, so the
store is only ever read, and the output does not depend on the store's backend: a PostgreSQL store
and a SQLite copy of it give byte-identical files.

Files in the output directory:
* `<projection>.tables.json`: every table of the projection, rows as lists in column order;
* `<projection>.view.json`: the readers' view as of D (replay/views.py), where one exists;
* `manifest.json`: K, D, the log and chain head read, events applied, table digests, file digests;
* `SHA256SUMS`: the files' sha256 in `sha256sum -c` format.
Nothing in them depends on when or where the command ran, so two runs give identical bytes.
"""

from __future__ import annotations

import hashlib
import tempfile
from functools import partial
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from eventsourcing.utils import TopicError

from ledger.db import Database
from ledger.projections.engine import Engine, Projection
from ledger.projections.reader import recorded_key
from ledger.settings import Settings
from ledger.store.decoding import decode_state
from replay.errors import UsageError
from replay.projections import canonical_rows
from replay.store import Store
from replay.views import view_for

Progress = Callable[[int, int], None]
StepBar = Callable[[str], AbstractContextManager[Progress]]
_SORTED = orjson.OPT_SORT_KEYS
_PRETTY = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2

# The library's SQLite events table (a rowid table: rowid is the notification id).
_EVENTS_DDL = ("CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, topic TEXT, state BLOB, "
               "PRIMARY KEY (originator_id, originator_version))")


def parse_known_at(text: str) -> str:
    """An instant (ISO-8601; no offset means UTC) or a date (the end of that day, UTC)."""
    raw = text.strip()
    try:
        if len(raw) == 10:
            moment = datetime.combine(date.fromisoformat(raw), time.max, tzinfo=timezone.utc)
        else:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--known-at {text!r}: give an instant like 2019-06-30T12:00:00Z or a date like 2019-06-30") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def parse_as_of(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise UsageError(f"--as-of {text!r}: give a date like 2019-06-30") from None


def _no_bar(label: str) -> AbstractContextManager[Progress]:
    return nullcontext(lambda done, total: None)


def copy_known(store: Store, scratch: Database, known_at: str, progress: Progress) -> tuple[int, int]:
    """Copy the events recorded at or before `known_at` into the scratch store, as stored.
    Returns (events copied, highest notification id read)."""
    cutoff = recorded_key(known_at)
    _, last = store.bounds()
    copied = 0
    with scratch.transaction() as cur:
        cur.execute(_EVENTS_DDL)
        for page in store.event_pages(last):
            keep = []
            for nid, oid, ver, topic, state in page:
                try:
                    recorded = recorded_key(decode_state(topic, state)["timestamp"])
                except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError, TopicError):
                    raise UsageError(f"the event at notification {nid} has no readable recorded time; "
                                     "run `ledger-replay verify` on this store") from None
                if recorded <= cutoff:
                    keep.append((nid, oid.hex() if type(oid) is bytes else oid, ver, topic, state))
            cur.executemany("INSERT INTO stored_events (rowid, originator_id, originator_version, topic, state) "
                            "VALUES (?, ?, ?, ?, ?)", keep)
            copied += len(keep)
            progress(page[-1][0], last)
    return copied, last


def rebuild_known_at(store: Store, projections: list[Projection], known_at: str, as_of: str | None, out: Path,
                     bar: StepBar = _no_bar, settings: Settings | None = None) -> dict[str, Any]:
    """Write the projections as known at `known_at` (views as of `as_of`) to `out`; see the module.
    `settings` (default: the defaults) give the views their knobs, e.g. the substitution window."""
    settings = settings if settings is not None else Settings()
    out.mkdir(parents=True, exist_ok=True)
    top, _ = store.bounds()
    head = store.chain_row(top) if top else None
    with tempfile.TemporaryDirectory(prefix="ledger-replay-") as tmp:
        scratch = Database(f"sqlite:///{Path(tmp) / 'scratch.db'}")
        try:
            with bar("copy events known at K") as progress:
                copied, last = copy_known(store, scratch, known_at, progress)
            with bar("rebuild") as progress:
                built = Engine(scratch, projections).rebuild(progress=progress) if projections else {"events": 0}
            files: dict[str, str] = {}
            tables: dict[str, dict[str, Any]] = {}
            for p in projections:
                name = f"{p.name}.tables.json"
                files[name] = _write(out / name, partial(_dump_tables, db=scratch, p=p, known_at=known_at, as_of=as_of))
                tables[p.name] = {"version": p.version,
                                  "digests": {t.name: Engine(scratch, [p]).digest(t.name) for t in p.tables}}
                view = view_for(p.name)
                data = view(scratch, as_of, known_at, settings) if view is not None else None
                if data is not None:
                    body = {"projection": p.name, "known_at": known_at, "as_of": as_of, "view": data}
                    name = f"{p.name}.view.json"
                    files[name] = _write(out / name, partial(_dump_json, body=body))
        finally:
            scratch.close()
    manifest = {
        "known_at": known_at, "as_of": as_of,
        "log": {"read_to_notification": last, "events_known": copied,
                "chain_head": {"position": head[0], "hash": head[2].hex()} if head else {"position": 0, "hash": "0" * 64}},
        "events_applied": built["events"], "projections": tables, "files": files,
        "as_of_applies_to": "the .view.json files; .tables.json files hold every effective date known at K",
    }
    files["manifest.json"] = _write(out / "manifest.json",
                                    lambda f: f.write(orjson.dumps(manifest, option=_PRETTY) + b"\n"))
    (out / "SHA256SUMS").write_text("".join(f"{digest}  {name}\n" for name, digest in sorted(files.items())))
    return manifest


def _write(path: Path, fill: Callable[[BinaryIO], Any]) -> str:
    """Write a file through `fill` and return its sha256."""
    with path.open("wb") as raw:
        f = _Hashing(raw)
        fill(f)  # type: ignore[arg-type]
    return f.digest.hexdigest()


class _Hashing:
    def __init__(self, f: BinaryIO) -> None:
        self.f = f
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.f.write(data)


def _dump_json(f: BinaryIO, body: dict[str, Any]) -> None:
    f.write(orjson.dumps(body, option=_PRETTY) + b"\n")


def _dump_tables(f: BinaryIO, db: Database, p: Projection, known_at: str, as_of: str | None) -> None:
    """Stream the tables as one JSON document (keys sorted, one row per line), constant memory."""
    f.write(b'{"known_at":' + orjson.dumps(known_at) + b',"projection":' + orjson.dumps(p.name)
            + b',"tables":{\n')
    for i, table in enumerate(sorted(p.tables, key=lambda t: t.name)):
        meta = {"columns": list(table.columns), "primary_key": list(table.primary_key)}
        f.write((b",\n" if i else b"") + orjson.dumps(table.name) + b":{"
                + orjson.dumps(meta, option=_SORTED)[1:-1] + b',"rows":[')
        for j, row in enumerate(_rows(db, table)):
            f.write((b",\n" if j else b"\n") + orjson.dumps(row))
        f.write(b'\n],"types":' + orjson.dumps(table.columns, option=_SORTED) + b"}")
    f.write(b"\n},\"version\":" + orjson.dumps(p.version) + b"}\n")


def _rows(db: Database, table: Any) -> Iterator[list[Any]]:
    yield from canonical_rows(db, table, table.name)
