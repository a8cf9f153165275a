"""What every fact in the ledger carries, and the aggregate base that records it.

Two times on every fact: `effective` (when it holds in the world, an ISO date) and `timestamp`
(when we learned it: the recorded instant, UTC). Besides those: the municipality, the acting user
and role, and the id of the command that caused the event. Event payloads hold only JSON-native
values (str, int, bool, list, dict, None) so the stored bytes are plain JSON for ever.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

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
        self.trigger_event(event_class, **common, **fields)

    def event_ref(self, version: int | None = None) -> str:
        """A stable reference to one event: '<aggregate id>:<version>' (provenance uses these)."""
        return f"{self.id}:{self.version if version is None else version}"

