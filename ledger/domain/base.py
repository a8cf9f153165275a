"""What every fact in the ledger carries, and the aggregate base that records it.

Two times on every fact: `effective` (when it holds in the world, an ISO date) and `timestamp`
(when we learned it: the recorded instant, UTC). Besides those: the municipality, the acting user
and role, and the id of the command that caused the event. Event payloads hold only JSON-native
values (str, int, bool, list, dict, None) so the stored bytes are plain JSON for ever.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, DomainEvent

# Deterministic ids: the same business key always names the same aggregate, and a retried
# command derives the same new ids, so a retry can never create a twin.
LEDGER_NAMESPACE = uuid5(NAMESPACE_URL, "urn:addon-ledger")


@lru_cache(maxsize=65_536, typed=True)
def key_id(*parts: object) -> UUID:
    # Cached: the same few keys (a municipality's scheme, catalogue and series; a citizen's
    # account) are asked for by every command and every run, and each is a SHA-1. `typed`, so
    # True and 1 (equal as keys, different as text) never share an entry.
    return uuid5(LEDGER_NAMESPACE, "/".join(str(p) for p in parts))


@dataclass(frozen=True)
class Context:
    """Who is acting, under which command, and (for imported history) when it was recorded."""

    actor: str
    role: str
    command_id: str
    recorded: datetime | None = None  # None: now
    command_type: str = ""

    def timestamp(self) -> datetime:
        return self.recorded if self.recorded is not None else datetime.now(timezone.utc)


A = TypeVar("A", bound="LedgerAggregate")

# Event classes whose objects `_record` may build directly (their field names in order), or None.
_PLAIN: dict[type, tuple[str, ...] | None] = {}
_UNCHECKED = object()


def _plain_fields(event_class: type) -> tuple[str, ...] | None:
    """The field names of an event class built by nothing but its dataclass `__init__` (every
    field given, no defaults) and the library's own `__post_init__` (which only checks that the
    originator id is a UUID): such an object is its fields, set in field order."""
    found = _PLAIN.get(event_class, _UNCHECKED)
    if found is not _UNCHECKED:
        return found if isinstance(found, tuple) else None
    names = None
    if dataclasses.is_dataclass(event_class) and getattr(event_class, "__post_init__", None) is DomainEvent.__post_init__:
        fields = dataclasses.fields(event_class)
        if all(f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
               for f in fields):
            names = tuple(f.name for f in fields)
    _PLAIN[event_class] = names
    return names


class LedgerAggregate(Aggregate):
    """Base of every aggregate: stamps each event with the common facts."""

    if TYPE_CHECKING:  # assigned by each aggregate's created event (declared for the type checker only)
        municipality: int

    class Event(Aggregate.Event):
        effective: str
        municipality: int
        actor: str
        role: str
        command_id: str

    class Created(Event, Aggregate.Created):
        pass

    @staticmethod
    def _common(ctx: Context, effective: str, municipality: int) -> dict[str, Any]:
        return {
            "effective": effective,
            "municipality": municipality,
            "actor": ctx.actor,
            "role": ctx.role,
            "command_id": ctx.command_id,
            "timestamp": ctx.timestamp(),
        }

    @classmethod
    def _start(cls: type[A], event_class: type, id: UUID, ctx: Context, effective: str, municipality: int, **fields: Any) -> A:
        return cls._create(event_class, id=id, **cls._common(ctx, effective, municipality), **fields)

    def _record(self, event_class: type, ctx: Context, effective: str, **fields: Any) -> None:
        common = self._common(ctx, effective, self.municipality)
        # Recorded time never runs backwards within one aggregate (imports may state older instants).
        if common["timestamp"] < self.modified_on:
            common["timestamp"] = self.modified_on
        names = _plain_fields(event_class)
        values = {**common, **fields, "originator_id": self.id, "originator_version": self.version + 1}
        if names is None or len(values) != len(common) + len(fields) + 2 or len(values) != len(names) \
                or not isinstance(self.id, UUID) or getattr(type(self), "TOPIC", None):
            self.trigger_event(event_class, **common, **fields)
            return
        # What `trigger_event` builds, without its per-event keyword copies and the frozen
        # dataclass's one `object.__setattr__` per field (an import builds tens of thousands).
        event: Any = object.__new__(event_class)
        try:
            event.__dict__.update({name: values[name] for name in names})
        except KeyError:  # not this class's fields: the library's constructor says what is wrong
            self.trigger_event(event_class, **common, **fields)
            return
        event.mutate(self)
        self._pending_events.append(event)

    def event_ref(self, version: int | None = None) -> str:
        """A stable reference to one event: '<aggregate id>:<version>' (provenance uses these)."""
        return f"{self.id}:{self.version if version is None else version}"

