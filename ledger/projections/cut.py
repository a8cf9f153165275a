"""One consistent cut: a read of projection tables that states the log position it reflects.

A projection's rows and its tracked position are committed in one transaction (engine.catch_up,
and a rebuild's swap), so a read that finds the same tracked positions before and after it saw
the tables as of exactly those positions. `read_at` retries a read that raced a catch-up, and with
`at_position` answers only when every projection it reads stands at that position: ahead of the
log, not yet reached, or already passed (the live tables cannot go back; `ledger-replay rebuild`
reconstructs older cuts) are refused with their own errors.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, TypeVar

from ledger.db import Database
from ledger.projections.engine import TRACKING_TABLE
from ledger.projections.reader import head_position

T = TypeVar("T")


class PositionError(Exception):
    code = "position-error"

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class PositionAhead(PositionError):
    code = "position-ahead-of-log"


class PositionNotReached(PositionError):
    code = "not-caught-up"


class PositionPassed(PositionError):
    code = "position-passed"


class ReadRaced(PositionError):
    code = "not-caught-up"


def tracked(db: Database, names: Collection[str]) -> dict[str, int]:
    wanted = sorted(names)
    marks = ", ".join("?" for _ in wanted)
    rows = db.query(f"SELECT name, position FROM {TRACKING_TABLE} WHERE name IN ({marks})", wanted)
    found = {name: int(pos) for name, pos in rows}
    return {n: found.get(n, 0) for n in wanted}


def read_at(db: Database, names: Collection[str], read: Callable[[], T], at_position: int | None = None,
            tries: int = 5) -> tuple[T, int]:
    """(the read's answer, the log position it reflects). The projections named must stand at one
    position (they do when caught up to the head together); with `at_position`, at that one."""
    for _ in range(tries):
        before = tracked(db, names)
        low, high = min(before.values()), max(before.values())
        if at_position is not None:
            head = head_position(db)
            if at_position > head:
                raise PositionAhead(f"at_position {at_position} is beyond the log head {head}", head=head)
            if low < at_position:
                raise PositionNotReached(f"the read models reached position {low}, not {at_position}", reached=low)
            if high > at_position:
                raise PositionPassed(f"the read models stand at position {high}, past {at_position}; an older cut "
                                     "is reconstructed by `ledger-replay rebuild`, not read live", reached=high)
        answer = read()
        if tracked(db, names) == before and low == high:
            return answer, low
    raise ReadRaced("the read models kept moving during the read; retry", reached=low)
