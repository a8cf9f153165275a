"""The ledger application: executes commands (one, or a batch from an import) atomically and
idempotently over the eventsourcing library's event store.

Flow: command id already known? → return the first result (same payload) or refuse (different
payload). Otherwise the command's spec (ledger.application.commands, one registry keyed by the
command's class) → its handler (validates everything, then changes aggregates) → one `save()` of
every changed aggregate, the chain rows and the command record, in one transaction. Any refusal
stores nothing. A lost race on an aggregate is a ConcurrencyConflict, never a silent overwrite.

Two doors: `execute(command, context)` takes a typed command (the API), `execute(name, payload,
context)` a name and a JSON payload (the CLI, the import), which is one lookup and `spec.parse`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload
from uuid import UUID

import orjson
from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.persistence import IntegrityError, Recording
from pydantic import ValidationError

from ledger.application import commands as cmds
from ledger.application.commands import Command, CommandSpec, spec_of
from ledger.application.scan_window import ScanWindow
from ledger.application.uow import UnitOfWork
from ledger.db import Database
from ledger.domain.base import Context, LedgerAggregate
from ledger.domain.errors import ConcurrencyConflict, IdempotencyMismatch, InvalidInput, LedgerError
from ledger.identity.master import load_master_key
from ledger.identity.store import IdentityStore
from ledger.settings import Settings
from ledger.store.recorders import COMMANDS_TABLE



@dataclass
class Outcome:
    """What a command did: its result, the log position it wrote, and whether it was a replay."""

    command_id: str
    command_type: str
    result: dict[str, Any]
    position: int | None
    replayed: bool = False
    versions: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Submission:
    """One command of a batch: its name, the payload its idempotency hash is taken over (what the
    caller sent), and the typed command when the caller already has it (otherwise it is parsed
    from the payload here, once)."""

    command_type: str
    payload: Mapping[str, Any]
    context: Context
    command: Command | None = None

    @classmethod
    def of(cls, command: Command, context: Context, payload: Mapping[str, Any] | None = None) -> Submission:
        """A typed command; `payload` (default: the command's JSON) is what its hash is taken over."""
        spec = spec_of(command)
        return cls(spec.name, command.model_dump(mode="json") if payload is None else payload, context, command)

    @property
    def spec(self) -> CommandSpec[Any]:
        return spec_of(self.command) if self.command is not None else cmds.lookup(self.command_type)

    @property
    def reads_log(self) -> bool:
        """It decides by reading the log: it runs alone, after everything before it is stored."""
        return self.spec.reads_log


def payload_hash(command_type: str, payload: Any) -> str:
    return hashlib.sha256(orjson.dumps({"type": command_type, "payload": payload}, option=orjson.OPT_SORT_KEYS)).hexdigest()


def validation_message(e: ValidationError) -> str:
    parts = []
    for err in e.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "payload"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


class Ledger(Application[UUID]):
    name = "Ledger"
    # Installed by the importer for one import: its invoice runs' log reads (scan_window.py).
    scan_window: ScanWindow | None = None

    def __init__(self, settings: Settings | None = None, env: dict[str, str] | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.db = Database(self.settings.database_url)
        self.db.ensure_schema()
        full_env = {
            **self.db.eventsourcing_env(),
            "TRANSCODER_TOPIC": "ledger.store.transcoder:OrjsonTranscoder",
            "AGGREGATE_CACHE_MAXSIZE": "2000",
            "CREATE_TABLE": "y",
            **(env or {}),
        }
        super().__init__(env=full_env)
        # Citizen keys are wrapped by a master key held outside the database (ADR 0015); it is
        # loaded when an identity is first read or written.
        self.identity = IdentityStore(self.db, lambda: load_master_key(self.settings))
        self.identity.ensure_tables()

    def construct_transcoder(self) -> Any:
        from ledger.store.transcoder import OrjsonTranscoder

        return OrjsonTranscoder()

    def close(self) -> None:
        self.db.close()
        super().close()

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """The library's `save`, recording the ledger's own aggregates directly (`record_directly`);
        any object that is not one of them sends the whole call the library's way."""
        if not all(obj is None or isinstance(obj, LedgerAggregate) for obj in objs):
            return super().save(*objs, **kwargs)
        return self.record_directly([obj for obj in objs if obj is not None], kwargs)

    def record_directly(self, aggregates: Sequence[LedgerAggregate], kwargs: Mapping[str, Any]) -> list[Recording[UUID]]:
        """What the library's `Application.save` does for aggregates, without its per-object
        runtime Protocol checks: `ProcessingEvent.collect_events` asks two runtime-checkable
        Protocols of every object, and `isinstance` against a Protocol walks the protocol's
        attributes on every call in Python 3.11 (about a tenth of an import's time, and ~20 µs per
        aggregate in the API writer's transaction path: ADR 0030). The same events in the same
        order, recorded by the library's own steps. The import calls it too (ledger.importer)."""
        processing: ProcessingEvent[UUID] = ProcessingEvent()
        for agg in aggregates:
            processing.events.extend(agg.collect_events())
            processing.aggregates[agg.id] = agg
        processing.saved_kwargs.update(kwargs)
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)
        self.notify(processing.events)  # the library's (deprecated) hook, as its save calls it
        return recordings

    # -- idempotency ---------------------------------------------------------------------
    def prior_commands(self, command_ids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """command id → (payload hash, stored result) for those already executed."""
        return self.prior_from(self.db.queries(self.prior_statements(command_ids)))

    def prior_statements(self, command_ids: Sequence[str]) -> list[tuple[str, list[Any]]]:
        """The queries `prior_commands` runs (the group commit sends them with its own look-up, in
        one round trip: ADR 0030); `prior_from` reads their rows."""
        ids = list(dict.fromkeys(command_ids))
        if self.db.is_postgres:
            # One binary array parameter, whatever the batch's size (not hundreds of placeholders).
            return [(f"SELECT command_id, payload_hash, result FROM {COMMANDS_TABLE} WHERE command_id = ANY(%b::text[])",
                     [ids])] if ids else []
        return [(f"SELECT command_id, payload_hash, result FROM {COMMANDS_TABLE} "
                 f"WHERE command_id IN ({','.join('?' * len(ids[i:i + 500]))})", ids[i:i + 500])
                for i in range(0, len(ids), 500)]

    @staticmethod
    def prior_from(results: Sequence[Sequence[tuple[Any, ...]]]) -> dict[str, tuple[str, dict[str, Any]]]:
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        for rows in results:
            for cid, h, result in rows:
                found[cid] = (h, orjson.loads(result))
        return found

    @staticmethod
    def _replay(sub: Submission, prior: tuple[str, dict[str, Any]], h: str) -> Outcome:
        if prior[0] != h:
            raise IdempotencyMismatch(
                f"command id {sub.context.command_id} was already used for a different {sub.command_type} payload")
        result = dict(prior[1])
        position = result.pop("position", None)
        return Outcome(sub.context.command_id, sub.command_type, result, position, replayed=True)

    # -- execution -------------------------------------------------------------------------
    @overload
    def execute(self, command: Command, context: Context, /, *,
                expected_versions: dict[UUID, int] | None = None) -> Outcome: ...

    @overload
    def execute(self, command: str, payload: Mapping[str, Any], context: Context, /,
                expected_versions: dict[UUID, int] | None = None) -> Outcome: ...

    def execute(self, command: Command | str, *args: Any, expected_versions: dict[UUID, int] | None = None) -> Outcome:
        """Execute one command atomically; see the module docstring. `execute(command, context)`
        for a typed command; `execute(name, payload, context)` for a name and a JSON payload."""
        if isinstance(command, Command):
            (context,) = args
            sub = Submission.of(command, context)
        else:
            payload, context, *rest = args
            if rest:
                (expected_versions,) = rest
            sub = Submission(command, payload, context)
        return self.execute_batch([sub], expected_versions=expected_versions)[0]

    def execute_batch(self, batch: Sequence[Submission], expected_versions: dict[UUID, int] | None = None,
                      cache: dict[UUID, Any] | None = None,
                      prior: dict[str, tuple[str, dict[str, Any]]] | None = None) -> list[Outcome]:
        """Execute commands in order; all are stored in one transaction, or none (the error says which).
        `prior`: what `prior_commands` answers for the batch's command ids, when the caller has just
        asked (the group commit, with its own look-up); otherwise it is asked here."""
        hashes = [payload_hash(s.command_type, s.payload) for s in batch]
        if prior is None:
            prior = self.prior_commands([s.context.command_id for s in batch])
        uow = UnitOfWork(self, expected_versions, cache)
        outcomes: list[Outcome | None] = []
        records: list[dict[str, Any]] = []
        in_batch: dict[str, tuple[str, dict[str, Any]]] = {}
        # Identity writes and erasures are staged while the handlers run and stored by the
        # recorder in the events' transaction: a refusal leaves none of them behind.
        staging = self.identity.staging()
        staged = staging.__enter__()
        try:
            for index, (sub, h) in enumerate(zip(batch, hashes)):
                cid = sub.context.command_id
                if cid in prior or cid in in_batch:
                    outcomes.append(self._replay(sub, prior.get(cid) or in_batch[cid], h))
                    continue
                command = sub.command
                if command is None:
                    try:
                        command = cmds.lookup(sub.command_type).parse(sub.payload)
                    except ValidationError as e:
                        raise InvalidInput(f"{sub.command_type}: {validation_message(e)}", index=index) from None
                spec = spec_of(command)
                ctx = sub.context if sub.context.command_type else Context(
                    sub.context.actor, sub.context.role, cid, sub.context.recorded, spec.name)
                mark = len(uow.handed)
                try:
                    result = spec.handler(uow, command, ctx, self)
                except LedgerError as e:
                    e.details.setdefault("index", index)
                    raise
                records.append({"command_id": cid, "command_type": sub.command_type, "payload_hash": h,
                                "result": result})
                in_batch[cid] = (h, {**result, "position": None})
                # The versions this command left its records at (what its ETag reports): a later
                # command of the batch may move the same record on.
                outcomes.append(Outcome(cid, sub.command_type, result, None, versions=uow.changed_since(mark)))
            changed = uow.pending()
            if records:
                recordings = self.save(*changed, commands=records, identities=staged)
                position = max((r.notification.id for r in recordings), default=None)
            else:
                position = None
        except IntegrityError:
            uow.discard()
            again = self.prior_commands([s.context.command_id for s in batch])
            if len(batch) == 1 and batch[0].context.command_id in again:
                # The same command won a race against itself (a retry): answer as a replay.
                return [self._replay(batch[0], again[batch[0].context.command_id], hashes[0])]
            raise ConcurrencyConflict(
                "another writer changed the same records first; nothing of this command was stored — reload and retry",
                current_versions=self._current_versions(uow)) from None
        except LedgerError as e:
            uow.discard()
            # A retry racing its own original is refused by the original's effects (already
            # exists, already recorded, a version conflict), which commit with its command
            # record: if that record is there now, answer as the replay it is, not the refusal.
            if len(batch) == 1 and not isinstance(e, IdempotencyMismatch):
                again = self.prior_commands([batch[0].context.command_id])
                if batch[0].context.command_id in again:
                    return [self._replay(batch[0], again[batch[0].context.command_id], hashes[0])]
            raise
        except BaseException:
            uow.discard()
            raise
        finally:
            staging.__exit__(None, None, None)
        uow.saved()
        if staged.erased:
            self.identity.scrub()
        if self.settings.checkpoint_dir and any(o is not None and cmds.lookup(o.command_type).reads_log
                                                and not o.replayed for o in outcomes):
            self._checkpoint("invoice run")
        done = []
        for o in outcomes:
            assert o is not None
            if not o.replayed:
                o.position = position
            done.append(o)
        return done

    def _checkpoint(self, by: str) -> None:
        """A signed checkpoint of the chain head just stored (ADR 0014). The run is stored
        whatever happens here: a checkpoint that cannot be written is logged, not raised."""
        from pathlib import Path

        import structlog

        from replay.checkpoints import emit, load_signing_key
        from replay.store import Store

        try:
            head = self.chain_head()
            emit(Path(self.settings.checkpoint_dir or "."), head["position"], head["hash"], Store(self.db).describe(),
                 by, load_signing_key(self.settings.database_url))
        except Exception as e:
            structlog.get_logger("ledger.application").error("checkpoint not written", error=f"{type(e).__name__}: {e}")

    def _current_versions(self, uow: UnitOfWork) -> dict[str, int]:
        out = {}
        for agg_id in list(uow.used)[:10]:
            events = self.recorder.select_events(agg_id, desc=True, limit=1)
            if events:
                out[str(agg_id)] = events[0].originator_version
        return out

    # -- reading the log (for runs that span aggregates) -------------------------------------
    def head_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    def chain_head(self) -> dict[str, Any]:
        rows = self.db.query("SELECT position, hash FROM ledger_chain ORDER BY position DESC LIMIT 1")
        if not rows:
            return {"position": 0, "hash": "0" * 64}
        return {"position": rows[0][0], "hash": bytes(rows[0][1]).hex()}

    def notification_id_at(self, position: int) -> int:
        """The store's notification id of the event at a chain position (0 for position 0).

        Runs remember chain positions, never notification ids: PostgreSQL's id sequence advances
        for a transaction that was killed, so ids differ between two imports of the same file,
        while chain positions are contiguous and the same (issue 13)."""
        if position <= 0:
            return 0
        rows = self.db.query("SELECT notification_id FROM ledger_chain WHERE position = ?", [position])
        assert rows, f"chain position {position} is not in the log"
        return int(rows[0][0])

    def scan_chain(self, names: Sequence[str], after: int, until: int,
                   municipality: int | None = None) -> Iterator[tuple[int, str, str, int, dict[str, Any]]]:
        """`scan` between two chain positions (after, until]."""
        return self.scan(names, self.notification_id_at(after), self.notification_id_at(until), municipality)

    def scan(self, names: Sequence[str], after: int, until: int,
             municipality: int | None = None) -> Iterator[tuple[int, str, str, int, dict[str, Any]]]:
        """(position, event name, originator id, version, state) of the named events in (after, until],
        of one municipality if given.

        Read with plain SQL rather than the library's notification objects: a run reads many
        events of other municipalities, and skipping them before any decoding (the municipality
        is a top-level key of every event's compact JSON; the decoded value is checked too) is what
        keeps a run's cost to its own municipality's facts."""
        topics = [t for n in names for t in EVENT_TOPICS.get(n, ())]
        if not topics or after >= until:
            return
        db = self.db
        pos = db.position_column
        oid = "originator_id::text" if db.is_postgres else "originator_id"
        needle = None if municipality is None else b'"municipality":%d' % municipality
        # The same byte test, by the database too, so other municipalities' states never cross the wire.
        near = "" if needle is None else (" AND position(?::bytea in state) > 0" if db.is_postgres
                                          else " AND instr(state, ?) > 0")
        sql = (f"SELECT {pos}, topic, {oid}, originator_version, state FROM {db.events_table} "
               f"WHERE {pos} > ? AND {pos} <= ? AND topic IN ({','.join('?' * len(topics))}){near} "
               f"ORDER BY {pos} LIMIT 5000")
        loads = orjson.loads
        window: ScanWindow | None = getattr(self, "scan_window", None)
        if window is not None and not window.covers(after, until):
            # A municipality's first run reads its whole history: through the window that would be
            # every municipality's rows of the log, decoded, only to be dropped past the window's
            # limit; the database's own byte test below reads just this municipality's (ADR 0024).
            window = None
        if window is not None:
            # The import's runs: every municipality's rows of the stretch, read once (scan_window.py).
            every = sql.replace(near, "")

            def fetch(a: int, b: int) -> list[tuple[int, str, Any, int, bytes]]:
                out: list[tuple[int, str, Any, int, bytes]] = []
                while a < b:
                    page = db.query(every, [a, b, *topics])
                    if not page:
                        break
                    out.extend((int(n), t, o, int(v), bytes(s)) for n, t, o, v, s in page)
                    a = int(page[-1][0])
                return out

            for nid, topic, originator, version, raw in window.rows_between(topics, after, until, fetch, municipality):
                if needle is not None and needle not in raw:
                    continue
                st = loads(raw)
                if municipality is not None and st.get("municipality") != municipality:
                    continue
                yield nid, topic.rsplit(".", 1)[1], _dashed(originator), version, st
            return
        start = after
        while start < until:
            page = db.query(sql, [start, until, *topics, *(() if needle is None else (needle,))])
            if not page:
                break
            for nid, topic, originator, version, state in page:
                raw = bytes(state)
                if needle is not None and needle not in raw:
                    continue
                st = loads(raw)
                if municipality is not None and st.get("municipality") != municipality:
                    continue
                yield int(nid), topic.rsplit(".", 1)[1], _dashed(originator), int(version), st
            start = int(page[-1][0])

    # -- aggregates for readers -------------------------------------------------------------
    def history(self, aggregate_id: UUID) -> list[dict[str, Any]]:
        """Every stored event of one aggregate, as stored (for /…/events and audits)."""
        out = []
        for e in self.recorder.select_events(aggregate_id):
            state = orjson.loads(e.state)
            out.append({"version": e.originator_version, "event": e.topic.rsplit(".", 1)[1], **state})
        return out


_HEX = frozenset("0123456789abcdef")


def _dashed(originator: Any) -> str:
    """An originator id as `str(UUID(...))` spells it: PostgreSQL's `::text` already is; SQLite
    stores the library's 32 lower-case hex digits, which only need their dashes (no UUID object
    per scanned event); anything else goes through UUID."""
    text = str(originator)
    if len(text) == 32 and _HEX.issuperset(text):
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    return str(UUID(text))


def _event_topics() -> dict[str, tuple[str, ...]]:
    from eventsourcing.utils import get_topic

    from ledger.domain import (account, assessment, catalogue, citizen, delivery, interest, invoice_series, klippekort,
                               order, scheme)

    topics: dict[str, list[str]] = {}
    for module in (account, assessment, catalogue, citizen, delivery, interest, invoice_series, klippekort, order,
                   scheme):
        for obj in vars(module).values():
            if isinstance(obj, type) and obj.__module__ == module.__name__:
                for name, member in vars(obj).items():
                    if isinstance(member, type) and hasattr(member, "apply") and name[0].isupper():
                        topics.setdefault(name, []).append(get_topic(member))
    return {k: tuple(v) for k, v in topics.items()}


EVENT_TOPICS = _event_topics()
