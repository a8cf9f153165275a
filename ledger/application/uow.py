"""A unit of work: the aggregates one business action (or one import batch) reads and changes.

Handlers get aggregates through it, so a batch of commands sees its own pending changes, and
everything the batch touched is saved in one `save(...)`: all of it, or none of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from ledger.domain.base import LedgerAggregate
from ledger.domain.errors import NotFound, StaleVersion

A = TypeVar("A", bound=LedgerAggregate)


class Absent:
    """A cache's entry for an id known not to exist (the writer's group commit looks up the ids a
    group will create in one query): `find` takes it for "no such aggregate", as its type check
    refuses it, without asking the store. Version 0, so a cache checked against the log drops it
    as soon as the id gains an event."""

    pending_events: tuple[()] = ()
    version = 0


ABSENT = Absent()


class UnitOfWork:
    def __init__(self, app: Any, expected_versions: dict[UUID, int] | None = None,
                 cache: dict[UUID, LedgerAggregate] | None = None) -> None:
        self.app = app
        self.expected = expected_versions or {}
        # A cache shared across batches (the import) is only safe while nobody else writes; a
        # stale entry is caught by the store's version check at save time, never silently.
        # It may hold ABSENT for an id known not to exist (find answers None without a load).
        self.seen: dict[UUID, LedgerAggregate] = cache if cache is not None else {}
        self.used: dict[UUID, LedgerAggregate] = {}  # what this unit handed out
        # Each hand-out with the version it had then (a new aggregate: 0), in order: what a
        # command of a batch changed is what it was handed out at a lower version than it is now.
        self.handed: list[tuple[LedgerAggregate, int]] = []
        # The changed aggregates in the order the batch's commands first changed them (changed_since
        # notes them): their events are saved in that order, so the log's order, and the chain head,
        # follow from the commands alone, not from what an earlier command only looked at.
        self.changed: dict[UUID, LedgerAggregate] = {}

    def find(self, cls: type[A], aggregate_id: UUID) -> A | None:
        agg = self.seen.get(aggregate_id)
        if agg is None:
            try:
                agg = self.app.repository.get(aggregate_id)
            except AggregateNotFoundError:
                return None
            self.seen[aggregate_id] = agg
        if not isinstance(agg, cls):
            return None
        self.used[aggregate_id] = agg
        self.handed.append((agg, agg.version))
        want = self.expected.get(aggregate_id) if self.expected else None
        if want is not None and agg.version != want:
            raise StaleVersion(f"{cls.__name__} {aggregate_id} is at version {agg.version}, not {want}",
                               current_version=agg.version)
        return agg

    def preload(self, ids: Iterable[UUID]) -> None:
        """Load ahead, all at once, aggregates a step will `find` one by one (an invoice run's
        re-rating: the assessment of every grant it scanned). Only the import's cache can
        (`AggregateCache.load_ahead`); anywhere else `find` loads them one by one, as before."""
        load_ahead = getattr(self.seen, "load_ahead", None)
        if load_ahead is not None:
            load_ahead(ids)

    def get(self, cls: type[A], aggregate_id: UUID, what: str | None = None) -> A:
        agg = self.find(cls, aggregate_id)
        if agg is None:
            raise NotFound(f"no {what or cls.__name__.lower()} {aggregate_id}")
        return agg

    def add(self, agg: A) -> A:
        self.seen[agg.id] = agg
        self.used[agg.id] = agg
        self.handed.append((agg, 0))
        return agg

    def changed_since(self, mark: int) -> dict[str, int]:
        """aggregate id -> version, of those changed since `mark` (a length of `handed`)."""
        first: dict[UUID, tuple[LedgerAggregate, int]] = {}
        for agg, version in self.handed[mark:]:
            first.setdefault(agg.id, (agg, version))
        out: dict[str, int] = {}
        for agg, version in first.values():
            if agg.version > version:
                out[str(agg.id)] = agg.version
                self.changed.setdefault(agg.id, agg)
        return out

    def pending(self) -> list[LedgerAggregate]:
        """Every aggregate this unit handed out that now has events to save: by the command that
        first changed it (as `changed_since` saw them), then in the order they were handed out."""
        order = {**self.changed, **self.used} if self.changed else self.used
        return [a for a in order.values() if a.pending_events]

    def discard(self) -> None:
        """After a refusal, forget every changed aggregate so nothing half-changed is reused."""
        for agg in self.pending():
            self.seen.pop(agg.id, None)
        self.saved()

    def saved(self) -> None:
        self.used.clear()
        self.handed.clear()
        self.changed.clear()
