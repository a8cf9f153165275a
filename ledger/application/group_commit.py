"""Group commit: the commands of concurrent callers are written together, one transaction per
group, by a few writer threads per process (the API server's; ADR 0008).

The decisions are the application's, so they live here: which commands run alone, how a refused
group is split, when a group is run one command at a time, how retries of one command wait for it,
and which versions each command left. The API only turns "not answered in time" into its 503
(`ledger.api.writer.Writer`).

Why: every write takes the event table's lock until its commit, and a commit waits for the disk
(fsync, about 3-5 ms on this machine), so one command per transaction caps a server at a few dozen
commands per second however many clients wait. `Ledger.execute_batch` stores many commands in one
transaction with the same guarantees (each command checked in order, against the effects of the
ones before it; all stored or none), so the writer takes whatever has queued up while the previous
group was committing and hands it over as one batch.

What a caller sees does not change: each request gets its own outcome or its own refusal. A
refusal in a group names the command that caused it (`index`); that request gets the refusal and
the rest of the group is run again without it (nothing of a refused group was stored). A failure
that names no command (a lost race with another process) runs the group one command at a time.
Commands with `If-Match` and commands that read the log to decide (the invoice run, `reads_log`)
always run alone, exactly as they would without the writer. Several writer threads keep several
groups in flight (one loads while another commits); two groups that touch the same record meet
the store's version check like any two writers, and the loser is run again one command at a time.

Each writer thread keeps the aggregates its groups loaded (`_Aggregates`), so a command does not
replay the same citizen's, scheme's, assessment's and catalogue's events again: before every group
the thread asks the log which records changed since it last looked (one indexed query from its
position: writers commit in position order, under the event table's lock), and forgets every
cached aggregate that is behind. A group therefore reads exactly what it would have read from the
store at that moment, whichever process wrote in between; a failed or unattributable store drops
the thread's whole cache, so a half-applied aggregate is never reused. The ids the group's commands
will create (a new order, a new delivery) are looked up in the same way, all in one query, and
those with no event are cached as ABSENT, so no handler asks the store about them one by one.

A caller that must not block (the API's event loop) queues its command with `submit` and is told
through the Future; `execute` is the same and waits.

Retries of one command (the same Idempotency-Key, so the same command id) that arrive while it is
still running wait for it here, in this process, and then go the ordinary way: the first answer is
stored by then, so they get it back as a replay (or, with another body, the 422 of a reused key),
never a refusal caused by the first one's own effects. Across processes the same holds because a
refusal is checked once more against the command records before it is given (see `_refused`).
"""

from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import orjson
import structlog

from ledger.application.commands import Command
from ledger.application.ledger import Outcome, Submission
from ledger.application.uow import ABSENT
from ledger.domain.base import Context, key_id
from ledger.domain.errors import ConcurrencyConflict, IdempotencyMismatch, LedgerError

log = structlog.get_logger("ledger.application.group_commit")


class Unanswered(Exception):
    """A command was not answered within the writer's wait: it may still be stored."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the command was not answered within {seconds:g} s")
        self.seconds = seconds


@dataclass
class _Item:
    sub: Submission
    expected: dict[UUID, int] | None
    future: Future[Any] = field(default_factory=Future)

    @property
    def context(self) -> Context:
        return self.sub.context

    @property
    def alone(self) -> bool:
        return self.expected is not None or self.sub.reads_log


class _Aggregates:
    """One writer thread's cache of aggregates, valid as of log position `position`."""

    def __init__(self, max_cached: int) -> None:
        self.max_cached = max_cached
        self.aggregates: dict[UUID, Any] = {}
        self.position: int | None = None

    def fresh(self, ledger: Any, created: list[UUID],
              command_ids: list[str]) -> tuple[dict[UUID, Any], dict[str, tuple[str, dict[str, Any]]]]:
        """The cache, with every aggregate that changed in the log since the last look dropped and
        the ids in `created` that have no event marked ABSENT. Both in one query for the group:
        each command's handler would otherwise ask the store on its own whether its new order or
        delivery exists (a round trip each). Ids that exist are left to the handler to load.
        With it, in the same round trip, the application's look-up of the group's command ids
        (`Ledger.prior_commands`, which `execute_batch` would otherwise make on its own: ADR 0030),
        returned beside the cache."""
        db = ledger.db
        table, column = db.events_table, db.position_column
        if self.position is None or len(self.aggregates) > self.max_cached:
            self.aggregates.clear()
            self.position = int(db.query(f"SELECT max({column}) FROM {table}")[0][0] or 0)
        unknown = [i for i in dict.fromkeys(created) if i not in self.aggregates]
        sql = (f"SELECT originator_id, max(originator_version), max({column}) FROM {table} "
               f"WHERE {column} > ? GROUP BY originator_id")
        params: list[Any] = [self.position]
        if unknown:  # an existing one comes back at version 0 (no event has it)
            if db.is_postgres:
                sql += f" UNION ALL SELECT DISTINCT originator_id, 0, 0 FROM {table} WHERE originator_id = ANY(%b)"
                params.append(unknown)
            else:  # the library stores SQLite's ids as 32 hex digits
                sql += (f" UNION ALL SELECT DISTINCT originator_id, 0, 0 FROM {table} "
                        f"WHERE originator_id IN ({','.join('?' * len(unknown))})")
                params += [i.hex for i in unknown]
        found, *prior_rows = db.queries([(sql, params), *ledger.prior_statements(command_ids)])
        existing = set()
        for originator_id, version, position in found:
            key = originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
            if not version:
                existing.add(key)
                continue
            cached = self.aggregates.get(key)
            if cached is not None and cached.version < version:
                del self.aggregates[key]
            self.position = max(self.position, int(position))
        for i in unknown:
            if i not in existing:
                self.aggregates[i] = ABSENT
        return self.aggregates, ledger.prior_from(prior_rows)

    def forget(self) -> None:
        self.aggregates.clear()
        self.position = None


def _created(sub: Submission) -> UUID | None:
    """The id of the record a creating command makes, as its handler makes it (the command's own
    `<kind>_id`, else `key_id(kind, command id)`). Only used to look it up ahead: a wrong guess
    costs the handler one load, never a wrong answer (ABSENT is only ever set for a missing id)."""
    spec = sub.spec
    if not spec.creates or spec.etag is None or sub.command is None:
        return None
    given = getattr(sub.command, f"{spec.etag}_id", None)
    return given if isinstance(given, UUID) else key_id(spec.etag, sub.context.command_id)


class GroupCommit:
    """Runs the commands of many threads in groups, each group in one transaction."""

    def __init__(self, ledger: Any, max_batch: int = 64, threads: int = 4, wait_seconds: float = 120.0,
                 max_cached: int = 50_000) -> None:
        self.ledger = ledger
        self.max_cached = max_cached
        self._local = threading.local()  # each writer thread's _Aggregates
        self.max_batch = max(1, max_batch)
        self.wait_seconds = wait_seconds
        # Several writer threads: while one group waits for its commit (and the table lock), the
        # next loads its records; the database still serialises the commits themselves.
        self.threads = max(1, threads)
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._workers: list[threading.Thread] = []
        # command id -> set once the request running it is answered (its retries wait on it)
        self._running: dict[str, threading.Event] = {}
        self._running_lock = threading.Lock()
        self.batches = 0  # transactions of more than one command
        self.commands = 0  # commands stored by those
        self.singles = 0  # commands run on their own

    # -- for request threads --------------------------------------------------------------
    @property
    def queued(self) -> bool:
        """Commands go to the writer threads (without them, each runs alone in its caller's thread)."""
        return bool(self._workers) and self.max_batch > 1

    def execute(self, command: Command, context: Context, expected: dict[UUID, int] | None = None,
                payload: Mapping[str, Any] | None = None) -> Outcome:
        """The command's Outcome (or its refusal raised), as `Ledger.execute` would give it, with
        the versions it left (read back from the log for a replay). `payload`: what the caller
        sent, which the idempotency hash is taken over (default: the command's JSON)."""
        command_id = context.command_id
        deadline = time.monotonic() + self.wait_seconds
        while True:
            mine, running = self._claim(command_id)
            if mine is not None:
                break
            assert running is not None
            # The same command is running for another request (a retry sent before the first
            # answer came): wait for its answer, then ask again, which replays it.
            if not running.wait(max(0.0, deadline - time.monotonic())):
                raise self.unanswered()
        item = _Item(Submission.of(command, context, payload), expected)
        if not self.queued:
            try:
                return self._alone(item)  # type: ignore[no-any-return]
            finally:
                self._release(command_id, mine)
        self._enqueue(item, mine)
        try:
            return item.future.result(self.wait_seconds)  # type: ignore[no-any-return]
        except FutureTimeout:
            raise self.unanswered() from None

    def submit(self, command: Command, context: Context, expected: dict[UUID, int] | None = None,
               payload: Mapping[str, Any] | None = None) -> Future[Any] | None:
        """`execute` without waiting, for a caller that must not block (the API's event loop): the
        Future of the Outcome, set by a writer thread; None when the command cannot be queued so
        (no writer threads, or the same command is running for another request): the caller then
        uses `execute`, which waits for it."""
        if not self.queued:
            return None
        mine, _running = self._claim(context.command_id)
        if mine is None:
            return None
        item = _Item(Submission.of(command, context, payload), expected)
        self._enqueue(item, mine)
        return item.future

    def _claim(self, command_id: str) -> tuple[threading.Event | None, threading.Event | None]:
        """(mine, None): the command is now running here; (None, theirs): it runs for another request."""
        with self._running_lock:
            running = self._running.get(command_id)
            if running is not None:
                return None, running
            mine = self._running[command_id] = threading.Event()
            return mine, None

    def _release(self, command_id: str, mine: threading.Event) -> None:
        with self._running_lock:
            del self._running[command_id]
        mine.set()

    def _enqueue(self, item: _Item, mine: threading.Event) -> None:
        # Released when answered, whoever waits (a caller that gave up on time included), so a
        # retry never runs beside its original in this process.
        item.future.add_done_callback(lambda _: self._release(item.context.command_id, mine))
        self._queue.put(item)

    def unanswered(self) -> Exception:
        """What a caller waiting too long gets (the API words it as its 503)."""
        return Unanswered(self.wait_seconds)

    # -- the writer thread ----------------------------------------------------------------
    def _store(self, subs: list[Submission], expected: dict[UUID, int] | None = None) -> list[Outcome]:
        """`Ledger.execute_batch` over this thread's cached aggregates (request threads, which run
        commands alone when there are no writer threads, use none), with every outcome's versions."""
        aggregates: _Aggregates | None = getattr(self._local, "aggregates", None)
        if aggregates is None:
            return self._answered(self.ledger.execute_batch(subs, expected_versions=expected))
        try:
            cache, prior = aggregates.fresh(self.ledger, [i for i in map(_created, subs) if i is not None],
                                            [s.context.command_id for s in subs])
            return self._answered(self.ledger.execute_batch(subs, expected_versions=expected, cache=cache,
                                                            prior=prior))
        except LedgerError as e:
            # A handler's refusal (it names its command) leaves the cache as it was: the unit of
            # work dropped what the refused group changed. Anything else may have left an
            # aggregate ahead of or beside the store: start again from the store.
            if isinstance(e, ConcurrencyConflict) or not isinstance(e.details.get("index"), int):
                aggregates.forget()
            raise
        except BaseException:
            aggregates.forget()
            raise

    def _answered(self, outcomes: list[Outcome]) -> list[Outcome]:
        """A replay's position and versions: a retry of a command earlier in the same batch gets
        that command's; one of a command stored before reads them back from the log."""
        first = {o.command_id: o for o in outcomes if not o.replayed}
        for outcome in outcomes:
            if not outcome.replayed:
                continue
            original = first.get(outcome.command_id)
            if original is not None:
                outcome.position, outcome.versions = original.position, original.versions
            elif not outcome.versions:
                outcome.versions = versions_of(self.ledger, outcome.command_id, outcome.position)
        return outcomes

    def start(self) -> None:
        for n in range(self.threads):
            worker = threading.Thread(target=self._loop, name=f"ledger-writer-{n}", daemon=True)
            worker.start()
            self._workers.append(worker)

    def stop(self, timeout: float = 30.0) -> None:
        if self._workers:
            self._queue.put(None)  # each worker passes it on to the next before it ends
            for worker in self._workers:
                worker.join(timeout)
            self._workers = []
            log.info("writer stopped", batches=self.batches, batched_commands=self.commands, singles=self.singles)

    def _loop(self) -> None:
        self._local.aggregates = _Aggregates(self.max_cached)
        while True:
            first = self._queue.get()
            if first is None:
                self._queue.put(None)
                return
            group = [first]
            while len(group) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # stop after this group
                    break
                group.append(nxt)
            try:
                self._run(group)
            except BaseException as e:  # never leave a request waiting for ever
                log.exception("writer failed")
                for item in group:
                    if not item.future.done():
                        item.future.set_exception(e)

    def _run(self, group: list[_Item]) -> None:
        batch: list[_Item] = []
        for item in group:  # in arrival order; lone commands cut the group
            if item.alone:
                self._batch(batch)
                batch = []
                self._settle(item, lambda it=item: self._alone(it))
            else:
                batch.append(item)
        self._batch(batch)

    @staticmethod
    def _settle(item: _Item, work: Any) -> None:
        try:
            item.future.set_result(work())
        except BaseException as e:
            item.future.set_exception(e)

    def _batch(self, items: list[_Item]) -> None:
        while len(items) > 1:
            try:
                outcomes = self._store([i.sub for i in items])
            except LedgerError as e:
                index = e.details.get("index")
                if isinstance(e, ConcurrencyConflict) or not isinstance(index, int) or not 0 <= index < len(items):
                    break  # not attributable: one at a time below
                e.details.pop("index", None)
                refused = items[index]
                items = items[:index] + items[index + 1:]
                self._settle(refused, lambda it=refused, err=e: self._refused(it, err))
                continue
            except Exception:
                break  # a fault: one at a time below, so only its command gets it
            self.batches += 1
            self.commands += len(items)
            for item, outcome in zip(items, outcomes):
                item.future.set_result(outcome)
            return
        for item in items:
            self._settle(item, lambda it=item: self._alone(it))

    def _alone(self, item: _Item) -> Any:
        self.singles += 1
        try:
            return self._store([item.sub], item.expected)[0]
        except LedgerError as e:
            return self._refused(item, e)

    def _refused(self, item: _Item, error: LedgerError) -> Any:
        """A refusal is given only if the command is still unrecorded. A retry that raced its own
        original (another process committed it between the idempotency check and the save) is
        refused by the original's effects (`payment p-1 is already recorded`, a version conflict):
        asked again, the application replays the original's answer instead."""
        if isinstance(error, IdempotencyMismatch) or not self.ledger.prior_commands([item.context.command_id]):
            raise error
        return self._store([item.sub], item.expected)[0]


def versions_of(ledger: Any, command_id: str, position: int | None, max_pages: int = 8) -> dict[str, int]:
    """The versions a command left its records at, read back from its own events (for a replay:
    the command record keeps the result and position, not the versions). Its events sit at or
    just below its position (writers are serialised; a group commit may put other commands of the
    same transaction after them), so the scan skips to them and stops at the first event after."""
    if not position:
        return {}
    versions: dict[str, int] = {}
    stop, page = position, 64
    for _ in range(max_pages):
        if stop <= 0:
            break
        start = max(1, stop - page + 1)
        rows = ledger.recorder.select_notifications(start, page, stop=stop, inclusive_of_start=True)
        for n in reversed(rows):
            if orjson.loads(n.state).get("command_id") != command_id:
                if versions:
                    return versions
                continue
            key = str(n.originator_id)
            versions[key] = max(versions.get(key, 0), n.originator_version)
        stop = start - 1
    return versions

