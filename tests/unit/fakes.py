"""A unit of work and application services in memory, for fast tests of aggregates and handlers.

`FakeUnitOfWork` has the real one's interface (find, get, add, pending, discard, saved); `commit()`
stands for the application's one `save()`: it takes the pending events off the aggregates and
keeps them, per aggregate, in the order they were made. After a refusal, `discard()` rebuilds the
touched aggregates from what was committed, as the real application forgets half-changed ones.
`FakeLedger.execute` runs a command the way `Ledger.execute_batch` does (parse the payload, call the
handler, commit or discard), with no database anywhere.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from functools import reduce
from typing import Any, TypeVar
from uuid import UUID

from ledger.application.commands import lookup
from ledger.domain.base import Context, LedgerAggregate
from ledger.domain.errors import NotFound
from ledger.settings import Settings

A = TypeVar("A", bound=LedgerAggregate)
RECORDED = datetime(2019, 6, 1, 12, tzinfo=timezone.utc)


class FakeUnitOfWork:
    def __init__(self) -> None:
        self.aggregates: dict[UUID, LedgerAggregate] = {}
        self.committed: dict[UUID, list[Any]] = {}  # aggregate id -> its stored events, oldest first
        self.used: dict[UUID, LedgerAggregate] = {}

    def find(self, cls: type[A], aggregate_id: UUID) -> A | None:
        agg = self.aggregates.get(aggregate_id)
        if not isinstance(agg, cls):
            return None
        self.used[aggregate_id] = agg
        return agg

    def get(self, cls: type[A], aggregate_id: UUID, what: str | None = None) -> A:
        agg = self.find(cls, aggregate_id)
        if agg is None:
            raise NotFound(f"no {what or cls.__name__.lower()} {aggregate_id}")
        return agg

    def add(self, agg: A) -> A:
        self.aggregates[agg.id] = agg
        self.used[agg.id] = agg
        return agg

    def pending(self) -> list[LedgerAggregate]:
        return [a for a in self.used.values() if a.pending_events]

    def commit(self) -> list[Any]:
        """What one `save()` would store: the pending events of every aggregate used."""
        events = [e for agg in self.pending() for e in agg.collect_events()]
        for e in events:
            self.committed.setdefault(e.originator_id, []).append(e)
        self.saved()
        return events

    def discard(self) -> None:
        for agg in self.pending():
            history = self.committed.get(agg.id)
            if history:
                self.aggregates[agg.id] = reduce(lambda a, e: e.mutate(a), history, None)  # type: ignore[assignment]
            else:
                self.aggregates.pop(agg.id, None)
        self.used.clear()

    def saved(self) -> None:
        self.used.clear()

    def events_of(self, aggregate_id: UUID | str) -> list[str]:
        """The names of one aggregate's committed events."""
        key = aggregate_id if isinstance(aggregate_id, UUID) else UUID(aggregate_id)
        return [type(e).__name__ for e in self.committed.get(key, [])]


class FakeIdentity:
    """The erasable identity store, as a dict (handlers only put, erase and seal)."""

    def __init__(self) -> None:
        self.people: dict[str, tuple[str, str]] = {}

    def put(self, citizen_id: str, cpr: str, name: str) -> None:
        self.people[citizen_id] = (cpr, name)

    def erase(self, citizen_id: str) -> None:
        self.people.pop(citizen_id, None)

    def seal(self, citizen_id: str, text: str) -> str:
        return f"sealed:{citizen_id}:{len(text)}"


class FakeLedger:
    """The services a handler is given, with commands executed against a FakeUnitOfWork."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.identity = FakeIdentity()
        self.uow = FakeUnitOfWork()
        self._ids = itertools.count(1)
        self.last_context: Context | None = None

    def context(self, command_type: str, role: str = "administrator") -> Context:
        self.last_context = Context("tester", role, f"cmd-{next(self._ids)}", RECORDED, command_type)
        return self.last_context

    def execute(self, command_type: str, payload: dict[str, Any], role: str = "administrator") -> dict[str, Any]:
        """Parse, handle, commit; on any refusal discard and re-raise (nothing is kept)."""
        spec = lookup(command_type)
        command = spec.parse(payload)
        try:
            result = spec.handler(self.uow, command, self.context(command_type, role), self)
        except BaseException:
            self.uow.discard()
            raise
        self.uow.commit()
        return result
