"""`ledger import FILE`: history from another system, through the same rules as the API.

The file holds one command per line as JSON (docs/import-format.md). Lines are read in order and
executed in batches with `Ledger.execute_batch`, so each batch is stored whole or not at all, and a
command id seen before is answered from the store (a re-run of the same file stores nothing new).
A command whose spec reads the stored log to decide (`CommandSpec.reads_log`: the invoice run)
opens a new batch, so everything before it is stored when it reads the log; the lines after it join
its batch and see its changes as any later line sees an earlier one's (ADR 0024).

On the first bad line (not JSON, unknown command, schema error, a rule refused) the import stops
with the line number and the reason: nothing of that line's batch is stored, earlier batches stay
stored, and running the file again skips them.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID


from pydantic import ValidationError

from ledger import strict_json
from ledger.application import commands as cmds
from ledger.application.commands._spec import RECORDS
from ledger.application.ledger import Ledger, Submission
from ledger.application.scan_window import ScanWindow
from ledger.domain.base import Context
from ledger.domain.errors import LedgerError

DEFAULT_BATCH = 2_000
DEFAULT_CACHE = 150_000  # aggregates kept between batches (about 0.5 GB at most)
LINE_KEYS = frozenset({"type", "command_id", "effective", "recorded", "actor", "payload"})
REQUIRED_KEYS = LINE_KEYS - {"effective"}
# A recorded instant may not lie in the future: it says when the source system learned the fact.
CLOCK_SKEW = timedelta(minutes=5)


class LineRejected(Exception):
    """A line of the file cannot be imported; nothing of its batch was stored."""

    def __init__(self, line_no: int, reason: str) -> None:
        super().__init__(f"line {line_no}: {reason}")
        self.line_no = line_no
        self.reason = reason


@dataclass
class ImportReport:
    lines: int = 0
    applied: int = 0  # commands executed now
    replayed: int = 0  # commands already in the store (skipped)
    events: int = 0
    batches: int = 0
    seconds: float = 0.0
    by_type: dict[str, int] = field(default_factory=dict)

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class _Absent:
    """Stands for "no such aggregate" in the cache: the unit of work's type check turns it into None,
    so a command that creates an aggregate does not ask the store whether it exists, one by one."""

    pending_events: tuple[()] = ()
    version = 0


ABSENT = _Absent()
_MISSING = object()


class AggregateCache(OrderedDict):  # type: ignore[type-arg]
    """The aggregates an import keeps between batches, least recently used first out.

    `execute_batch(cache=...)` reads it with `.get` and fills it; trimming happens only between
    batches (`trim`), never while a batch holds aggregates with unsaved events. `absent` holds ids
    the batch's prefetch found not to exist (valid for that batch only: the import is the only
    writer while it runs, see ledger/application/uow.py).
    """

    def __init__(self, limit: int, ledger: Ledger | None = None) -> None:
        super().__init__()
        self.limit = limit
        self.ledger = ledger  # where `load_ahead` loads from (None: it does nothing)
        self.absent: set[UUID] = set()
        self.used: set[Any] = set()  # read since the last trim: moved to the recent end by it

    def get(self, key: Any, default: Any = None) -> Any:
        # A batch asks for the same few aggregates tens of thousands of times: note the use, and
        # reorder once per batch in `trim`, rather than reorder on every read.
        found = super().get(key, _MISSING)
        if found is _MISSING:
            return ABSENT if key in self.absent else default
        self.used.add(key)
        return found

    def load_ahead(self, ids: Iterable[UUID]) -> None:
        """Load the aggregates in `ids` not cached (or known absent) with one query, as a batch's
        prefetch does: what a step inside the batch will find one by one (UnitOfWork.preload)."""
        if self.ledger is not None:
            prefetch(self.ledger, self, ids)

    def trim(self) -> None:
        for key in self.used:
            if key in self:
                self.move_to_end(key)
        self.used = set()
        while len(self) > self.limit:
            self.popitem(last=False)


def _instant(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"recorded must be an ISO instant like 2019-03-04T10:15:00Z, got {value!r}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"recorded {value!r} is not an ISO instant like 2019-03-04T10:15:00Z") from None
    if moment.tzinfo is None:
        raise ValueError(f"recorded {value!r} has no UTC offset (write 2019-03-04T10:15:00Z)")
    return moment.astimezone(timezone.utc)


_SPECS = cmds.by_name()  # a live view of the registry


def _refuse_keys(keys: Any, line_no: int) -> None:
    missing = sorted(REQUIRED_KEYS - keys)
    extra = sorted(keys - LINE_KEYS)
    if missing or extra:
        parts = ([f"missing {', '.join(missing)}"] if missing else []) + ([f"unknown {', '.join(extra)}"] if extra else [])
        raise LineRejected(line_no, "; ".join(parts))


def parse_line(raw: bytes, line_no: int, now: datetime) -> Submission:
    """One line → a Submission, or LineRejected saying exactly what is wrong with it."""
    try:
        doc = strict_json.loads(raw)
    except strict_json.RepeatedKey as e:
        raise LineRejected(line_no, str(e)) from None
    except ValueError as e:
        raise LineRejected(line_no, f"not valid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise LineRejected(line_no, "a line must be a JSON object")
    keys = doc.keys()
    if keys != LINE_KEYS and keys != REQUIRED_KEYS:  # the usual lines skip the set arithmetic
        _refuse_keys(keys, line_no)
    kind = doc["type"]
    spec = _SPECS.get(kind) if isinstance(kind, str) else None
    if spec is None:
        raise LineRejected(line_no, f"unknown command type {kind!r}")
    command_id = doc["command_id"]
    if not isinstance(command_id, str) or not command_id.strip() or len(command_id) > 200:
        raise LineRejected(line_no, "command_id must be a non-empty text of at most 200 characters")
    if "effective" in doc:
        try:
            date.fromisoformat(doc["effective"])
        except (TypeError, ValueError):
            raise LineRejected(line_no, f"effective must be an ISO date, got {doc['effective']!r}") from None
    try:
        recorded = _instant(doc["recorded"])
    except ValueError as e:
        raise LineRejected(line_no, str(e)) from None
    if recorded > now + CLOCK_SKEW:
        raise LineRejected(line_no, f"recorded {doc['recorded']} is in the future")
    actor = doc["actor"]
    if not isinstance(actor, dict) or set(actor) != {"id", "role"} or not isinstance(actor["id"], str) \
            or not actor["id"].strip():
        raise LineRejected(line_no, 'actor must be {"id": "...", "role": "..."}')
    role = actor["role"]
    if role not in cmds.ROLES:
        raise LineRejected(line_no, f"unknown role {role!r}; known: {', '.join(sorted(cmds.ROLES))}")
    if role not in spec.roles:
        raise LineRejected(line_no, f"the role {role} may not give {kind}")
    if not isinstance(doc["payload"], dict):
        raise LineRejected(line_no, "payload must be a JSON object")
    try:
        command = spec.parse(doc["payload"])
    except ValidationError:
        command = None  # refused in its batch, by the application, in its words
    # The hash that makes a re-run a replay is taken over the payload as the file spells it. The
    # context names its command already (the spec's name), so the batch does not build it again.
    context = Context(actor["id"], role, command_id, recorded=recorded, command_type=kind)
    return Submission(kind, doc["payload"], context, command)


def read_lines(path: str | Path) -> Iterator[tuple[int, int, bytes]]:
    """(line number, bytes read so far, line) of every non-blank line."""
    done = 0
    with open(path, "rb", buffering=1 << 20) as f:
        for n, raw in enumerate(f, start=1):
            done += len(raw)
            if raw.strip():
                yield n, done, raw


Progress = Callable[[int, int, "ImportReport"], None]  # (bytes done, bytes total, report so far)


def relax_sqlite_sync(ledger: Ledger) -> None:
    """SQLite: commit the library's writes with synchronous=NORMAL, as ledger.db does for its own.

    In WAL mode NORMAL still never corrupts and never loses a commit to a crash of the process;
    only a power cut may lose the last few commits, which a re-run of the (idempotent) import
    restores. FULL costs one fsync per batch (about 9 ms here, most of a small batch's time).
    The library offers no setting for it, so the pool's connections are set here; see the
    report of issue 7 for the core change that would make this unnecessary.
    """
    from eventsourcing.sqlite import SQLiteConnectionPool

    pool = getattr(getattr(ledger.recorder, "datastore", None), "pool", None)
    if not isinstance(pool, SQLiteConnectionPool) or getattr(pool, "_ledger_sync_normal", False):
        return
    create = pool._create_connection

    def create_normal() -> Any:
        conn = create()
        conn._sqlite_conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    for conn in list(pool._pool):
        conn._sqlite_conn.execute("PRAGMA synchronous=NORMAL")
    pool._create_connection = create_normal  # type: ignore[method-assign]
    pool._ledger_sync_normal = True  # type: ignore[attr-defined]


def _can_record_directly(ledger: Ledger) -> bool:
    # Only when the Ledger keeps its own save(), which records its aggregates directly
    # (`Ledger.record_directly`: no per-object runtime Protocol checks), and the library has the
    # steps that is made of.
    return type(ledger).save is Ledger.save and all(
        hasattr(ledger, name) for name in ("_record", "_take_snapshots", "_notify", "notify"))


class OneConnection:
    """One connection and one open transaction for many of an import's batches (ADR 0024,
    round-5 amendment): each batch's appends are a savepoint of it, so a refused batch still
    stores nothing of itself, and the transaction commits every `--batch` lines or so.

    While it is installed, everything the import reads and writes goes through that connection
    and sees what the transaction wrote so far: the ledger's own queries (`db.connection()`,
    `db.query()`, `db.transaction()` as a savepoint: the prefetch, the prior commands, an invoice
    run's chain head and log scan), the library's reads (an aggregate loaded one by one) and the
    recorder's appends. So an invoice run decides exactly as it would after a commit of every
    earlier batch, and the stored bytes are the same; only when they reach the disk changes. A
    kill loses the batches since the last commit, and a re-run (batches are cut by the file
    alone) stores them again as they were.
    """

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.db = ledger.db
        self.recorder: Any = ledger.recorder
        self.conn: Any = None
        self._outer: Any = None  # PostgreSQL: psycopg's transaction object; SQLite: True when begun
        self._names = 0
        self.depth = 0  # savepoints open (a batch being appended)
        self.broken = False  # an error or an interruption passed through a savepoint since the last commit
        self.scrub_due = False
        self._patched: list[tuple[Any, str, Any]] = []  # (object, attribute, what it had) while installed

    # -- the transaction -------------------------------------------------------------------
    def _begin(self) -> None:
        if self._outer is not None:
            return
        if self.db.is_postgres:
            self._outer = self.conn.transaction()
            self._outer.__enter__()
        else:
            # IMMEDIATE: the write lock up front, so no other writer's commit can land in between.
            self.conn.execute("BEGIN IMMEDIATE")
            self._outer = True

    def commit(self) -> None:
        self.broken = False
        outer, self._outer = self._outer, None
        if outer is None:
            return
        if self.db.is_postgres:
            outer.__exit__(None, None, None)
        else:
            self.conn.execute("COMMIT")

    def rollback(self) -> None:
        self.broken = False
        outer, self._outer = self._outer, None
        if outer is None:
            return
        try:
            if self.db.is_postgres:
                import psycopg

                outer.__exit__(psycopg.Rollback, psycopg.Rollback(), None)
            else:
                self.conn.rollback()
        finally:
            # The library's repository cache may hold aggregates loaded or saved inside the
            # transaction: they are ahead of the store now. (The importer's own cache dies with it.)
            from eventsourcing.application import Cache, LRUCache

            repository = self.ledger.repository
            cache = repository.cache
            if isinstance(cache, LRUCache):
                repository.cache = LRUCache(maxsize=cache.maxsize)
            elif cache is not None:
                repository.cache = Cache()

    @contextmanager
    def savepoint(self) -> Iterator[Any]:
        """A cursor inside a savepoint: released on success, rolled back to on any error."""
        self._begin()
        self.depth += 1
        try:
            if self.db.is_postgres:
                with self.conn.transaction(), self.conn.cursor() as cur:  # nested: psycopg makes it a savepoint
                    yield cur
                return
            self._names += 1
            name = f"import_batch_{self._names}"
            cur = self.conn.cursor()
            cur.execute(f"SAVEPOINT {name}")
            try:
                yield cur
            except BaseException:
                cur.execute(f"ROLLBACK TO {name}")
                cur.execute(f"RELEASE {name}")
                raise
            else:
                cur.execute(f"RELEASE {name}")
            finally:
                cur.close()
        except BaseException:
            self.broken = True  # something stopped inside a savepoint: keep nothing of the transaction
            raise
        finally:
            self.depth -= 1

    # -- what goes through it ----------------------------------------------------------------
    @contextmanager
    def _connection(self) -> Iterator[Any]:
        self._begin()
        yield self.conn

    @contextmanager
    def _transaction(self, conn: Any = None) -> Iterator[Any]:
        with self.savepoint() as cur:
            yield cur

    @contextmanager
    def _sqlite_library_transaction(self, *, commit: bool) -> Iterator[Any]:
        import sqlite3

        from eventsourcing import persistence as p

        try:
            if commit:
                with self.savepoint() as cur:
                    cur.row_factory = sqlite3.Row  # the library's connections give named rows
                    yield cur
            else:
                self._begin()
                cur = self.conn.cursor()
                cur.row_factory = sqlite3.Row
                try:
                    yield cur
                finally:
                    cur.close()
        except sqlite3.IntegrityError as e:  # as the library's own transaction says it
            raise p.IntegrityError(e) from e
        except sqlite3.OperationalError as e:
            raise p.OperationalError(e) from e

    @contextmanager
    def _pg_library_connection(self) -> Iterator[Any]:
        self._begin()
        yield _DictRows(self.conn)

    def _pg_insert_events(self, stored_events: Any, **kwargs: Any) -> Any:
        """The library's `PostgresApplicationRecorder.insert_events` (pipelined; the same steps,
        our recorder's), in a savepoint of the open transaction instead of a transaction of its
        own connection."""
        import psycopg
        from psycopg.rows import dict_row

        from eventsourcing.persistence import IntegrityError

        rec = self.recorder
        self._begin()
        failed: Exception | None = None
        ids = None
        self.depth += 1
        try:
            with self.conn.pipeline() as pipeline:
                try:
                    with self.conn.transaction():
                        with self.conn.cursor(row_factory=dict_row) as curs:
                            rec._insert_events(curs, stored_events, **kwargs)
                        if len(stored_events) > 0:
                            with self.conn.cursor(row_factory=dict_row) as curs:
                                rec._insert_stored_events(curs, stored_events, **kwargs)
                                pipeline.sync()  # a duplicate key raises here, not later
                                ids = rec._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
                except Exception as e:  # raised after the pipeline is left, as the library does
                    failed = e
        except BaseException:
            self.broken = True
            raise
        finally:
            self.depth -= 1
        if failed is not None:
            self.broken = True
        if isinstance(failed, psycopg.IntegrityError):
            raise IntegrityError(str(failed)) from failed
        if failed is not None:
            raise failed
        return ids

    def _scrub_later(self, attempts: int = 4) -> bool:
        self.scrub_due = True  # an erasure's scrub runs outside any transaction, after the commit
        return True

    def _patch(self, obj: Any, name: str, value: Any) -> None:
        """Set an instance attribute for the import, remembering what the instance had."""
        self._patched.append((obj, name, obj.__dict__.get(name, _MISSING)))
        setattr(obj, name, value)

    def install(self) -> None:
        db = self.db
        if db.is_postgres:
            self.conn = db._pg_pool().getconn()
            self._patch(self.recorder, "insert_events", self._pg_insert_events)
            self._patch(self.recorder.datastore, "get_connection", self._pg_library_connection)
        else:
            self.conn = db._take_sqlite()
            self._patch(self.recorder.datastore, "transaction", self._sqlite_library_transaction)
        self._patch(db, "connection", self._connection)
        self._patch(db, "transaction", self._transaction)
        self._patch(self.ledger.identity, "scrub", self._scrub_later)

    def uninstall(self) -> None:
        try:
            self.rollback()  # nothing is left open: the importer commits what it keeps
        finally:
            for obj, name, before in reversed(self._patched):
                if before is _MISSING:
                    obj.__dict__.pop(name, None)
                else:
                    obj.__dict__[name] = before
            self._patched = []
            conn, self.conn = self.conn, None
            if conn is not None:
                if self.db.is_postgres:
                    self.db._pg_pool().putconn(conn)
                else:
                    self.db._give_back(conn)

    def settle(self) -> None:
        """Commit, then run the scrub an erasure asked for, on connections of its own (PostgreSQL's
        VACUUM FULL runs outside any transaction)."""
        self.commit()
        if self.scrub_due:
            self.scrub_due = False
            patched = {n: self.db.__dict__.pop(n) for n in ("connection", "transaction")}
            try:
                type(self.ledger.identity).scrub(self.ledger.identity)
            finally:
                self.db.__dict__.update(patched)


class _DictRows:
    """The session's connection as the library reads through it: its cursors give dict rows."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        from psycopg.rows import dict_row

        return self._conn.cursor(*args, row_factory=dict_row, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


# Kinds of record `CommandSpec.touches` already yields from a command's citizen, order or delivery.
_TOUCHED_BY_SPEC = frozenset({"citizen", "assessment", "account", "order", "delivery"})


_KINDS: dict[str, tuple[str, ...]] = {}


def _record_kinds(spec: Any) -> tuple[str, ...]:
    """The kinds of record besides its spec's `touches` a command of this spec names (once per spec)."""
    found = _KINDS.get(spec.name)
    if found is None:
        kinds = {spec.etag, spec.if_match, *(("scheme", "catalogue") if spec.owner == "municipality" else ())}
        found = _KINDS[spec.name] = tuple(sorted(k for k in kinds if k is not None and k not in _TOUCHED_BY_SPEC
                                                 and k in RECORDS))
    return found


def touched(sub: Submission) -> Iterator[UUID]:
    """The aggregates a command will read, as its spec tells from its fields (`CommandSpec.touches`,
    and the records its ETag and If-Match name, e.g. a survey response or a klippekort, and a
    municipality's scheme and catalogue): only ever used to load them ahead, so a wrong guess costs
    a load, never a wrong result. A line whose payload does not parse touches nothing."""
    if sub.command is None:
        return
    spec = sub.spec
    yield from spec.touches(sub.command)
    for kind in _record_kinds(spec):
        try:
            yield RECORDS[kind](sub.command, {})
        except (AttributeError, TypeError, ValueError, LedgerError):  # an id the handler makes: nothing to load
            continue


def prefetch(ledger: Ledger, cache: AggregateCache, ids: Iterable[UUID]) -> None:
    """Load every aggregate in `ids` that is not cached with one query, and note the ids that do not
    exist, so the batch asks the store nothing one aggregate at a time."""
    from eventsourcing.persistence import StoredEvent

    absent = cache.absent
    missing = sorted({i for i in ids if i not in cache and i not in absent})
    if not missing:
        return
    db = ledger.db
    mapper = ledger.mapper
    found: dict[UUID, Any] = {}
    for i in range(0, len(missing), 500):
        chunk = missing[i:i + 500]
        params: list[Any]
        if db.is_postgres:
            sql, params = (f"SELECT originator_id, originator_version, topic, state FROM {db.events_table} "
                           "WHERE originator_id = ANY(%b) ORDER BY originator_id, originator_version"), [chunk]
        else:
            sql, params = (f"SELECT originator_id, originator_version, topic, state FROM {db.events_table} "
                           f"WHERE originator_id IN ({','.join('?' * len(chunk))}) "
                           "ORDER BY originator_id, originator_version"), [u.hex for u in chunk]
        with db.connection() as conn:
            cur = conn.cursor()
            cur.execute(sql, params)
            rows = cur.fetchall()
            cur.close()
        for oid, version, topic, state in rows:
            uid = oid if isinstance(oid, UUID) else UUID(oid)
            event = mapper.to_domain_event(StoredEvent(uid, version, topic, bytes(state)))
            found[uid] = event.mutate(found.get(uid))  # type: ignore[attr-defined]
    for uid in missing:
        agg = found.get(uid)
        if agg is None:
            absent.add(uid)
        else:
            cache[uid] = agg


class Importer:
    """Feeds a file into a Ledger in batches; keep one per import (it owns the aggregate cache)."""

    def __init__(self, ledger: Ledger, batch_size: int = DEFAULT_BATCH, cache_size: int = DEFAULT_CACHE) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.ledger = ledger
        self.batch_size = batch_size
        self.cache = AggregateCache(cache_size, ledger)
        self.report = ImportReport()
        self._head = 0
        self.session: OneConnection | None = None
        self._uncommitted = 0  # lines applied in the session's open transaction
        self._pending: list[list[Any]] = []  # their outcomes, counted in the report when committed
        relax_sqlite_sync(ledger)

    def run(self, path: str | Path, progress: Progress | None = None) -> ImportReport:
        # A batch's identities are staged by the identity store and written by the recorder in
        # the batch's own transaction (ADR 0015): a refused batch leaves none behind.
        if not _can_record_directly(self.ledger):
            return self._run(path, progress)

        def save_directly(*objs: Any, **kwargs: Any) -> Any:
            return self.ledger.record_directly(objs, {**kwargs, "relaxed_commit": True})

        self.ledger.save = save_directly  # type: ignore[method-assign]
        self.ledger.scan_window = ScanWindow()
        # A signed checkpoint (ADR 0014) is written after each invoice run and must name a
        # committed head, and a run's billing digest (ADR 0021) catches a projection up through
        # the engine's own caches: with either on, every batch commits on its own, as before.
        # `ledger import` turns the digest off.
        settings = self.ledger.settings
        if not settings.checkpoint_dir and not settings.run_billing_digest:
            self.session = OneConnection(self.ledger)
            self.session.install()
        try:
            return self._run(path, progress)
        finally:
            del self.ledger.save
            self.ledger.scan_window = None
            if self.session is not None:
                self.session.uninstall()
                self.session = None

    def _run(self, path: str | Path, progress: Progress | None) -> ImportReport:
        total = Path(path).stat().st_size
        now = datetime.now(timezone.utc)
        started = time.perf_counter()
        self._head = self.ledger.head_position()
        chain_before = self.ledger.chain_head()["position"]
        batch: list[Submission] = []
        numbers: list[int] = []
        before = 0  # bytes of the lines up to the last one in `batch`

        def flush() -> None:
            self._execute(batch, numbers)
            batch.clear()
            numbers.clear()
            if progress is not None:
                self.report.seconds = time.perf_counter() - started
                progress(before, total, self.report)

        try:
            for line_no, done, raw in read_lines(path):
                sub = parse_line(raw, line_no, now)
                self.report.lines += 1
                if sub.reads_log and batch:  # it must see every earlier line stored: it opens a batch
                    flush()
                batch.append(sub)
                numbers.append(line_no)
                before = done
                if len(batch) >= self.batch_size:
                    flush()
            if batch:
                self._execute(batch, numbers)
            self._settle()
        except LineRejected:
            self._settle()  # the batches before the refused one stay stored, as they always did
            raise
        except BaseException as e:
            self._give_up(isinstance(e, KeyboardInterrupt))
            raise
        finally:
            self.report.seconds = time.perf_counter() - started
        self.report.events = self.ledger.chain_head()["position"] - chain_before
        if progress is not None:
            progress(total, total, self.report)
        return self.report

    def _execute(self, batch: list[Submission], numbers: list[int]) -> None:
        self.cache.absent = set()
        prefetch(self.ledger, self.cache, (i for sub in batch for i in touched(sub)))
        try:
            outcomes = self.ledger.execute_batch(batch, cache=self.cache)
        except LedgerError as e:
            index = e.details.get("index")
            if not isinstance(index, int):  # e.g. a command id reused with another payload: find it
                named = [i for i, sub in enumerate(batch) if f" {sub.context.command_id} " in f" {e.message} "]
                index = named[-1] if named else None  # a twin later in the batch is the one refused
            where = numbers[index] if isinstance(index, int) and 0 <= index < len(numbers) else numbers[0]
            suffix = "" if isinstance(index, int) else f" (in the batch of lines {numbers[0]}–{numbers[-1]})"
            raise LineRejected(where, f"{e.code}: {e.message}{suffix}") from None
        finally:
            self.cache.absent = set()
            self.cache.trim()
        self._pending.append(outcomes)
        if self.session is None or self._uncommitted + len(batch) >= self.batch_size or self.session.scrub_due:
            self._settle()
        else:
            self._uncommitted += len(batch)

    def _settle(self) -> None:
        """Commit the open transaction (if any), then count what it stored: the report (and the
        progress shown, and what an interruption says is stored) counts committed lines only."""
        if self.session is not None:
            self.session.settle()
        self._uncommitted = 0
        pending, self._pending = self._pending, []
        by_type = self.report.by_type
        for outcomes in pending:
            self.report.batches += 1
            for o in outcomes:
                if o.replayed:
                    self.report.replayed += 1
                else:
                    self.report.applied += 1
                    by_type[o.command_type] = by_type.get(o.command_type, 0) + 1
                    if o.position is not None and o.position > self._head:
                        self.report.events += o.position - self._head  # positions may skip; exact count at the end
                        self._head = o.position

    def _give_up(self, interrupted: bool) -> None:
        """After an error or an interruption with a transaction open. Ctrl-C between two batches
        (no savepoint open) keeps the batches done, as a commit per batch did; anything else rolls
        them back (uninstall), and a re-run stores them again."""
        session = self.session
        if session is not None and interrupted and session.depth == 0 and not session.broken:
            try:
                self._settle()
                return
            except Exception:
                pass
        self._pending = []
        self._uncommitted = 0
        if session is not None:
            self.cache.clear()  # it may hold what the open transaction wrote, which is rolled back


def import_file(ledger: Ledger, path: str | Path, batch_size: int = DEFAULT_BATCH,
                progress: Progress | None = None) -> ImportReport:
    return Importer(ledger, batch_size).run(path, progress)
