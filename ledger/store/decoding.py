"""One decoder: a stored event (topic + state bytes) turned into its typed event object.

Readers used to parse the stored JSON themselves and pick fields by event name, which bypassed the
library's mapper: an event whose shape changed could never be upcast for them. Every reader that
needs an event goes through here instead (the API's tenancy, `ledger-replay`), and gets the same
object the application's repository would build, through the same `eventsourcing` mapper and the
same transcoder.

Changing an event's shape (house style: events are never edited; a new shape gets a class version
and an upcaster) follows the library's convention:

* the event class says `class_version = N`; the library writes `"class_version": N` into every
  state it stores from then on (a state without it is version 1);
* one upcaster per step, `K -> K+1`, changes a stored state (a dict, changed in place) into the
  next shape. Register it with `@upcaster(EventClass, K)`, in `ledger/store/upcasters.py`; it is
  attached where the library's mapper looks (`EventClass.upcast_vK_vK+1`), so the application's
  repository and every reader here apply the same steps, and the domain module stays free of
  storage concerns. An upcaster must not touch `timestamp` (readers of raw states see it as text,
  the mapper as a datetime).

`state()` gives the upcast state as a plain dict without building the object, for readers that
page through many events; `check_upcasters()` proves every versioned class has all its steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic, resolve_topic

from ledger.store.transcoder import OrjsonTranscoder

Upcaster = Callable[[dict[str, Any]], None]

# (topic of the event class, from version) -> the step to the next version; filled by `upcaster`.
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


class DecodingError(ValueError):
    """A stored event cannot be brought to its class's current shape."""


def upcaster(event_class: type, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register `fn(state)` as the step that brings `event_class`'s stored state from
    `from_version` to `from_version + 1` (see the module docstring)."""
    if from_version < 1:
        raise ValueError("class versions start at 1")
    name = f"upcast_v{from_version}_v{from_version + 1}"

    def register(fn: Upcaster) -> Upcaster:
        key = (get_topic(event_class), from_version)
        if key in UPCASTERS or name in vars(event_class):
            raise ValueError(f"{event_class.__qualname__} already has an upcaster from version {from_version}")
        UPCASTERS[key] = fn
        setattr(event_class, name, staticmethod(fn))  # where the library's mapper looks
        return fn

    return register


def class_version(event_class: type) -> int:
    return int(getattr(event_class, "class_version", 1))


@lru_cache(maxsize=1024)
def event_class(topic: str) -> type:
    return resolve_topic(topic)  # type: ignore[no-any-return]


def event_name(topic: str) -> str:
    """'OrderPlaced' from 'ledger.domain.order:Order.OrderPlaced'."""
    return topic.rpartition(".")[2]


def aggregate_name(topic: str) -> str:
    """'Order' from 'ledger.domain.order:Order.OrderPlaced'."""
    return topic.rpartition(":")[2].partition(".")[0]


@lru_cache(maxsize=1024)
def is_versioned(topic: str) -> bool:
    """Whether states of this topic may need upcasting (its class is past version 1). A reader on
    the hot path (the projection reader) can call `upcast` only for these and leave the rest alone."""
    return class_version(event_class(topic)) > 1


def upcast(topic: str, state: dict[str, Any]) -> dict[str, Any]:
    """Bring a decoded stored state to its class's current shape (in place; also returned)."""
    cls = event_class(topic)
    target = class_version(cls)
    version = state.pop("class_version", 1)
    while version < target:
        step = getattr(cls, f"upcast_v{version}_v{version + 1}", None)
        if step is None:
            raise DecodingError(f"{cls.__qualname__} has no upcaster from version {version}")
        step(state)
        version += 1
    if version > target:
        raise DecodingError(f"a stored {cls.__qualname__} is version {version}; this code knows {target}")
    return state


class Decoder:
    """Stored events to typed events, through the library's mapper (which applies the upcasters)."""

    def __init__(self) -> None:
        self.mapper: Mapper[UUID] = Mapper(transcoder=OrjsonTranscoder())

    def decode(self, stored: StoredEvent) -> DomainEventProtocol[UUID]:
        try:
            return self.mapper.to_domain_event(stored)
        except AttributeError as e:  # the mapper's lookup of a missing `upcast_vK_vK+1`
            raise DecodingError(f"{stored.topic}: {e}") from None

    def decode_row(self, topic: str, state: bytes, originator_id: UUID | str,
                   originator_version: int) -> DomainEventProtocol[UUID]:
        oid = originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
        return self.decode(StoredEvent(originator_id=oid, originator_version=originator_version, topic=topic,
                                       state=state))

    def decode_all(self, originator_id: UUID, rows: Iterable[tuple[int, str, bytes]]
                   ) -> Iterator[DomainEventProtocol[UUID]]:
        """One aggregate's events from (version, topic, state) rows, in the order given."""
        for version, topic, state in rows:
            yield self.decode_row(topic, state, originator_id, version)

    def state(self, topic: str, state: bytes) -> dict[str, Any]:
        """The upcast stored state as a plain dict (timestamp left as stored text), without
        building the event object: for readers that page through many events."""
        return upcast(topic, orjson.loads(state))


DECODER = Decoder()
decode = DECODER.decode
decode_row = DECODER.decode_row
decode_state = DECODER.state


def domain_event_classes() -> list[type]:
    """Every event class of the ledger's aggregates."""
    from ledger.domain import account, assessment, catalogue, citizen, delivery, invoice_series, order, scheme

    found: list[type] = []
    for module in (account, assessment, catalogue, citizen, delivery, invoice_series, order, scheme):
        for agg in vars(module).values():
            if isinstance(agg, type) and agg.__module__ == module.__name__:
                for name, member in vars(agg).items():
                    if isinstance(member, type) and hasattr(member, "apply") and name[0].isupper():
                        found.append(member)
    return found


def check_upcasters(classes: Iterable[type] | None = None) -> list[str]:
    """What is missing: every class at version N needs the steps 1->2 ... N-1->N."""
    missing = []
    for cls in domain_event_classes() if classes is None else classes:
        for k in range(1, class_version(cls)):
            if getattr(cls, f"upcast_v{k}_v{k + 1}", None) is None:
                missing.append(f"{cls.__qualname__}: no upcaster from version {k}")
    return missing
