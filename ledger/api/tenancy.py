"""Which municipality a command or a read concerns (for a command: the record its spec's owner
field names; which record its version refers to is the spec's, too).

A record's municipality never changes after its first event, so it is read once from that event
(one indexed row) and cached for the life of the process. Every command and every read is checked
against the caller's municipalities before the application sees it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from ledger.application.commands import Command, CommandSpec
from ledger.domain.errors import InvalidInput, LedgerError, NotFound
from ledger.domain.municipalities import municipality_code
from ledger.store.decoding import aggregate_name, decode


C = TypeVar("C", bound=Command)


@dataclass(frozen=True)
class Record:
    """What the first event of an aggregate says about it."""

    id: UUID
    kind: str  # the aggregate class: Citizen, Order, Delivery, Account, ...
    municipality: int
    citizen_id: str | None  # the citizen a record belongs to, if any


class Records:
    def __init__(self, ledger: Any, max_cached: int = 200_000) -> None:
        self.ledger = ledger
        self.max_cached = max_cached
        self._cache: dict[UUID, Record] = {}
        self._lock = threading.Lock()

    def find(self, aggregate_id: UUID) -> Record | None:
        found = self._cache.get(aggregate_id)
        if found is not None:
            return found
        events = self.ledger.recorder.select_events(aggregate_id, limit=1)
        if not events:
            return None
        first = events[0]
        event = decode(first)  # the typed first event, upcast like every reader's
        kind = aggregate_name(first.topic)
        citizen = str(aggregate_id) if kind == "Citizen" else getattr(event, "citizen_id", None)
        record = Record(aggregate_id, kind, int(event.municipality), citizen)  # type: ignore[attr-defined]
        with self._lock:
            if len(self._cache) >= self.max_cached:
                self._cache.clear()  # crude but bounded; refilling costs one row per record
            self._cache[aggregate_id] = record
        return record

    def get(self, aggregate_id: UUID, kind: str, what: str) -> Record:
        """The record, which must be of this kind (an order id never opens a citizen's account)."""
        record = self.find(aggregate_id)
        if record is None or record.kind != kind:
            raise NotFound(f"no {what} {aggregate_id}", field=f"{what}_id")
        return record

    def municipality_of(self, spec: CommandSpec[C], command: C) -> int:
        """The municipality a command acts in, decided by its spec's owner field (raises
        NotFound/InvalidInput for unknown ids/codes)."""
        value = getattr(command, spec.owner)
        owner = spec.owner_record()
        if owner is None:
            return municipality_code(value)
        kind, what = owner
        return self.get(value if isinstance(value, UUID) else UUID(str(value)), kind, what).municipality


    def known_municipality(self, spec: CommandSpec[C], command: C) -> int | None:
        """`municipality_of` when it needs no read of the store (the owner record is cached or
        the command names its municipality), else None; never raises."""
        owner = spec.owner_record()
        value = getattr(command, spec.owner)
        try:
            if owner is None:
                return municipality_code(value)
            record = self._cache.get(value if isinstance(value, UUID) else UUID(str(value)))
        except (LedgerError, ValueError, TypeError):
            return None
        return record.municipality if record is not None and record.kind == owner[0] else None


def code_of(value: object) -> int:
    """`municipality_code` for caller-given values: text of digits that are not ASCII digits ("³", "٣")
    is refused here, because the domain's lookup would take it for a number and fail."""
    if isinstance(value, str) and value.strip().isdigit() and not value.strip().isascii():
        raise InvalidInput(f"unknown municipality {value!r}: give the three-digit code (e.g. 657) or the name",
                           field="municipality")
    return municipality_code(value)
