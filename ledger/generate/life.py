"""What every generated life shares: its random generator, its commands, and the facts the parts
of a life (grants, buying, paying) read from each other."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from ledger.generate.billing import Billable
from ledger.generate.clock import at
from ledger.generate.commands import Cmd
from ledger.generate.behaviour import DEFAULT, Behaviour
from ledger.generate.world import Trial, World

FOREVER = 10**9


@dataclass
class Stats:
    citizens: int = 0
    buyers: int = 0
    orders: int = 0
    deliveries: int = 0
    invoices: int = 0
    cuts: int = 0  # cuts in granted cleaning made by assessors
    survey_responses: int = 0
    # The simulation's own ground truth (written beside the history, never in it):
    substitutions: list[dict[str, str]] = field(default_factory=list)  # purchases that bought back a cut
    vat_mismatches: list[dict[str, str]] = field(default_factory=list)  # sales whose VAT class does not fit the grants


@dataclass
class Grant:
    id: str
    fsiii: str
    section: str
    amount: dict[str, int]
    start: int
    end: int | None  # last day, once known
    t: int  # recorded instant of the award
    last_t: int  # recorded instant of the latest command about it


class LifeBase:
    # Set while the life is generated (see citizen.Life): who, where, and what happens to them.
    rng: random.Random
    trial: Trial | None
    citizen_id: str
    residence: str
    reg_t: int
    leave: int | None
    moved: int | None
    providers: list[tuple[int, str, int]]

    def __init__(self, world: World, m: int, index: int, behaviour: Behaviour | None, reminders: set[tuple[int, int]],
                 stats: Stats, first_runs: dict[int, int] | None = None) -> None:
        self.w, self.m, self.i = world, m, index
        self.b = behaviour or DEFAULT
        self.reminders = reminders
        self.first_runs = first_runs if first_runs is not None else {}  # municipality → first run with invoices
        self.stats = stats
        self.rng = world.rng("citizen", m, index)
        self.cmds: list[Cmd] = []
        self.trial = world.trials.get(m)
        self.assessor = f"assessor-{m}-{self.rng.randrange(1, 2 + world.scale.recipients(m) // 400):02d}"
        self.clerk = f"billing-{m}-1"
        self.grants: list[Grant] = []
        self.cut_log: list[tuple[str, int, int]] = []  # (grant id, effective day, recorded instant) of each cut
        self.items: list[Billable] = []
        self.order_stop: dict[str, int] = {}  # offer → last day of the citizen's recurring order of it
        self.bought = False

    def add(self, t: int, type_: str, payload: dict[str, Any], actor: str, role: str, effective: int,
            **kw: Any) -> Cmd:
        if self.cmds:  # a safety net: nothing about a citizen is recorded before the registration
            t = max(t, self.cmds[0].t + 1)
        cmd = Cmd(t, type_, payload, actor, role, effective, seq=len(self.cmds), **kw)
        self.cmds.append(cmd)
        return cmd

    def office(self, day: int, lo: int = 7, hi: int = 15) -> int:
        """An instant in office hours (UTC) on a day."""
        return at(day, self.rng.randrange(lo, hi), self.rng.randrange(60), self.rng.randrange(60))

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def hazard(self, start: int, rate_per_year: float) -> int:
        return start + int(self.rng.expovariate(rate_per_year) * 365)


    def settle(self) -> None:
        """The money side of the life (paying.Paying)."""
        raise NotImplementedError

    def residence_on(self, day: int) -> str:
        return "nursing_home" if self.moved is not None and day >= self.moved else self.residence
