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

from eventsourcing.domain import Aggregate, BaseAggregate, CanInitAggregate, DomainEvent
from eventsourcing.utils import get_topic

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


def _built(event_class: type, values: dict[str, Any], given: int, **origin: Any) -> Any:
    """The object the library's constructor builds from `values` (`given` keywords, none repeated)
    and `origin` (the originator's fields), built as that constructor builds it: for a plain class
    (`_plain_fields`) its fields set in field order, without `trigger_event`'s and `_create`'s
    keyword copies and the frozen dataclass's one `object.__setattr__` per field. None for any
    other class, or fields that do not match: then the library's constructor says what is wrong."""
    names = _plain_fields(event_class)
    values.update(origin)
    if names is None or len(values) != given + len(origin) or len(values) != len(names):
        return None
    event: Any = object.__new__(event_class)
    try:
        event.__dict__.update({name: values[name] for name in names})
    except KeyError:
        return None
    return event


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
        common = cls._common(ctx, effective, municipality)
        # What the library's `_create` and the created event's `mutate` do for our aggregates (no
        # `__init__` of their own, so the library passes it nothing, and no explicit TOPIC),
        # without their per-event keyword copies and signature filtering (an import creates
        # tens of thousands: every citizen, assessment, order, delivery).
        event = None
        if cls.__init__ is object.__init__ and cls.__base_init__ is BaseAggregate.__base_init__ \
                and getattr(event_class, "mutate", None) is CanInitAggregate.mutate \
                and not getattr(cls, "TOPIC", None) and isinstance(id, UUID):
            event = _built(event_class, {**common, **fields}, len(common) + len(fields),
                           originator_topic=get_topic(cls), originator_id=id, originator_version=cls.INITIAL_VERSION)
        if event is None:
            return cls._create(event_class, id=id, **common, **fields)
        agg = cls.__new__(cls)
        agg.__base_init__(id, cls.INITIAL_VERSION, event.timestamp)
        event.apply(agg)
        agg._pending_events.append(event)
        return agg

    def _record(self, event_class: type, ctx: Context, effective: str, **fields: Any) -> None:
        common = self._common(ctx, effective, self.municipality)
        # Recorded time never runs backwards within one aggregate (imports may state older instants).
        if common["timestamp"] < self.modified_on:
            common["timestamp"] = self.modified_on
        event = None
        if isinstance(self.id, UUID) and not getattr(type(self), "TOPIC", None):
            event = _built(event_class, {**common, **fields}, len(common) + len(fields),
                           originator_id=self.id, originator_version=self.version + 1)
        if event is None:
            self.trigger_event(event_class, **common, **fields)
            return
        event.mutate(self)
        self._pending_events.append(event)

    def event_ref(self, version: int | None = None) -> str:
        """A stable reference to one event: '<aggregate id>:<version>' (provenance uses these)."""
        return f"{self.id}:{self.version if version is None else version}"

