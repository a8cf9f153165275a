"""The order a batch's events are saved in follows from the commands alone (ADR 0024, round 7)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ledger.application.uow import UnitOfWork


class Stub:
    """Just what the unit of work reads off an aggregate: id, version, pending events."""

    def __init__(self, n: int) -> None:
        self.id = UUID(int=n)
        self.version = 1
        self.pending_events: list[Any] = []

    def change(self) -> None:
        self.version += 1
        self.pending_events.append(object())


class Repository:
    def __init__(self, stubs: dict[UUID, Stub]) -> None:
        self.stubs = stubs

    def get(self, aggregate_id: UUID) -> Stub:
        return self.stubs[aggregate_id]


class App:
    def __init__(self, *stubs: Stub) -> None:
        self.repository = Repository({s.id: s for s in stubs})


def _run(commands: list[list[tuple[int, bool]]], looked_at_first: list[int]) -> list[int]:
    """Each command: (aggregate, changes it?) in the order it finds them; `looked_at_first`: what a
    first, read-only command finds. The ids in the order `pending()` would save them."""
    stubs = {n: Stub(n) for n in range(1, 7)}
    uow = UnitOfWork(App(*stubs.values()))
    mark = len(uow.handed)
    for n in looked_at_first:
        uow.find(Stub, stubs[n].id)  # type: ignore[type-var]
    uow.changed_since(mark)
    for command in commands:
        mark = len(uow.handed)
        for n, changes in command:
            agg = uow.find(Stub, stubs[n].id)  # type: ignore[type-var]
            assert agg is not None
            if changes:
                agg.change()
        uow.changed_since(mark)
    return [a.id.int for a in uow.pending()]


def test_what_an_earlier_command_only_looked_at_does_not_move_a_later_commands_events() -> None:
    commands = [[(2, False), (3, True)], [(5, True), (1, True)], [(3, True), (4, True)]]
    alone = _run(commands, [])
    assert alone == [3, 5, 1, 4]
    for looked in ([1], [4, 1], [1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]):
        assert _run(commands, looked) == alone, looked


def test_a_discarded_unit_forgets_the_order_it_noted() -> None:
    a, b = Stub(1), Stub(2)
    uow = UnitOfWork(App(a, b))
    uow.find(Stub, a.id)  # type: ignore[type-var]
    a.change()
    uow.changed_since(0)
    uow.discard()
    assert uow.changed == {} and uow.pending() == []
