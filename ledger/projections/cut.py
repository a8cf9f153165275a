"""One consistent cut: a read of projection tables that states the log position it reflects.

A projection's rows and its tracked position are committed in one transaction (engine.catch_up,
and a rebuild's swap). `read_at` catches the projections up to a target position P (the head, or
the `at_position` asked for), reads, and checks that the tracked positions did not move during the
read: then the tables were exactly those of the log up to P (a projection's tracked position may
stay below P when the events after it are none of its business; it has still applied all of the
log up to P). A read that raced a catch-up by someone else is read again. With `at_position`, a
position beyond the log is refused, and so is one the projections have already passed (live
tables cannot go back; `ledger-replay rebuild` reconstructs older cuts).

A read of one record from the store needs no catch-up: `version_at` says which version the record
had at P, and the record loaded at that version is exactly what the log up to P says
(docs/adr/0020-read-shapes-and-one-cut.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar
from uuid import UUID

from ledger.db import Database
from ledger.projections.engine import TRACKING_TABLE, Engine, Projection
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


class PositionPassed(PositionError):
    code = "position-passed"


class ReadRaced(PositionError):
    code = "not-caught-up"


def projections(names: Sequence[str]) -> list[Projection]:
    """New instances of the projections of these names (an engine keeps its own: a projection's
    batch state is not for two engines at once)."""
    from ledger.projections import all_projections

    found = {p.name: p for p in all_projections() if p.name in names}
    return [found[n] for n in names]


def store_position(db: Database, at_position: int | None = None) -> int:
    """The position a read of the store answers at: the head, or `at_position` when it is not beyond it."""
    head = head_position(db)
    if at_position is None:
        return head
    if at_position > head:
        raise PositionAhead(f"at_position {at_position} is beyond the log head {head}", head=head)
    return at_position


def version_at(db: Database, aggregate_id: UUID, position: int) -> int:
    """The version one record had at log position `position` (0: it did not exist yet)."""
    key = str(aggregate_id) if db.is_postgres else aggregate_id.hex
    found = db.query(f"SELECT MAX(originator_version) FROM {db.events_table} WHERE originator_id = ? "
                     f"AND {db.position_column} <= ?", (key, position))
    return int(found[0][0] or 0) if found else 0


def tracked(db: Database, names: Collection[str]) -> dict[str, int]:
    wanted = sorted(names)
    marks = ", ".join("?" for _ in wanted)
    rows = db.query(f"SELECT name, position FROM {TRACKING_TABLE} WHERE name IN ({marks})", wanted)
    found = {name: int(pos) for name, pos in rows}
    return {n: found.get(n, 0) for n in wanted}


_ENGINES: dict[tuple[int, tuple[str, ...]], tuple[Database, Engine, threading.Lock]] = {}
_ENGINES_LOCK = threading.Lock()


def _engine(db: Database, projections: list[Projection]) -> tuple[Engine, threading.Lock]:
    """One engine per store and set of projections (its table check and caches serve every read),
    with a lock: an engine's caches are not for two threads at once (the API reads in a pool)."""
    key = (id(db), tuple(sorted(p.name for p in projections)))
    with _ENGINES_LOCK:
        found = _ENGINES.get(key)
        if found is None or found[0] is not db:
            if len(_ENGINES) > 64:
                _ENGINES.clear()
            found = _ENGINES[key] = (db, Engine(db, projections), threading.Lock())
    return found[1], found[2]


def read_at(db: Database, projections: list[Projection], read: Callable[[int], T], at_position: int | None = None,
            tries: int = 5) -> tuple[T, int]:
    """(the read's answer, the log position P it reflects). `read(P)` does the reading."""
    engine, lock = _engine(db, projections)
    names = [p.name for p in projections]
    for _ in range(tries):
        head = head_position(db)
        target = head if at_position is None else at_position
        if target > head:
            raise PositionAhead(f"at_position {target} is beyond the log head {head}", head=head)
        with lock:
            engine.catch_up(names, until=target)
        before = tracked(db, names)
        if max(before.values(), default=0) > target:
            if at_position is None:
                continue  # someone applied newer events meanwhile: take the new head
            raise PositionPassed(f"the read models stand at position {max(before.values())}, past {target}; an "
                                 "older cut is reconstructed by `ledger-replay rebuild`, not read live",
                                 reached=max(before.values()))
        answer = read(target)
        if tracked(db, names) == before:
            return answer, target
    raise ReadRaced("the read models kept moving during the read; retry")


def read_cut(db: Database, names: Sequence[str], read: Callable[[], T], *, at_position: int | None = None,
             catch_up: bool = True, tries: int = 5) -> tuple[T, int]:
    """`read_at` for the projections named; without catching up (and no `at_position`), the
    position the projections stand at, when they stand together (a read of several projections
    caught up at different times reflects no single position, and is refused)."""
    if catch_up or at_position is not None:
        return read_at(db, projections(names), lambda _position: read(), at_position, tries)
    for _ in range(tries):
        before = tracked(db, names)
        answer = read()
        if tracked(db, names) == before:
            if len(set(before.values())) > 1:
                raise ReadRaced(f"the read models stand at different positions ({before}); catch them up")
            return answer, min(before.values(), default=0)
    raise ReadRaced("the read models kept moving during the read; retry")
