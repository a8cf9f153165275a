"""One citizen's whole history as commands: registration, grants and their re-assessments, and, in a
trial municipality, the add-ons they buy (buying.py) and pay for (paying.py).

Each life is generated from its own random generator (seeded by seed, municipality and index), so
lives are independent of each other and of the order they are made in. A life's commands are put in
recorded order at the end, which fixes the version of every Assessment event; a back-dated
correction then names the event it corrects as "<assessment id>:<version>".
"""

from __future__ import annotations

from ledger.domain.assessment import assessment_id
from ledger.generate.buying import Buying
from ledger.generate.clock import DAY, at, d, day_of, iso_date
from ledger.generate.commands import Cmd
from ledger.generate.life import FOREVER, Grant, Stats
from ledger.generate.paying import Paying
from ledger.generate.surveys import Surveying
from ledger.generate.people import PRIVATE_PROVIDERS, fake_cpr, fake_name, initial_grants, pick, reassessed, weekly
from ledger.generate.world import ACTIVITY_END, HISTORY_START, HORIZON

LEAVE_RATE = 0.12  # a year: recipients who die, move away or stop needing help
CORRECTION_SHARE = 0.04  # awards and re-assessments corrected later, back-dated

__all__ = ["LEAVE_RATE", "Life", "Stats"]


class Life(Buying, Paying, Surveying):
    def run(self) -> list[Cmd]:
        self.stats.citizens += 1
        self.register()
        self.assess()
        if self.trial is not None:
            self.buy()
            self.survey()
        return self.finish()

    def register(self) -> None:
        rng, w, m = self.rng, self.w, self.m
        stock = self.i < w.scale.recipients(m)
        if stock:  # already a recipient when the history starts: migrated from the old system in January 2017
            self.reg_day = rng.randrange(d("2010-01-01"), HISTORY_START)
            self.reg_t = self.office(HISTORY_START + rng.randrange(1, 28))
        else:
            self.reg_day = rng.randrange(HISTORY_START, ACTIVITY_END - 30)
            self.reg_t = self.office(max(HISTORY_START + 1, self.reg_day + rng.randrange(-5, 6)))
        self.stock = stock
        self.residence = pick(rng, ((85, "own_home"), (11, "nursing_home"),
                                                                   (4, "residential_care")))
        private = self.residence == "own_home" and rng.random() < 0.28
        self.provider = rng.choice(PRIVATE_PROVIDERS) if private else "municipal"
        self.citizen_id = self.uuid()
        self.assessment = str(assessment_id(self.citizen_id))
        start = max(self.reg_day, HISTORY_START, day_of(self.reg_t) + 1)
        leave = self.hazard(start, LEAVE_RATE)
        self.leave = None if leave >= ACTIVITY_END else leave
        self.add(self.reg_t, "register_citizen", {
            "citizen_id": self.citizen_id, "municipality": m, "effective": iso_date(self.reg_day),
            "residence": self.residence, "provider": self.provider,
            "identity": {"cpr": fake_cpr(rng), "name": fake_name(rng)},
        }, self.assessor, "assessor", self.reg_day, assessment=True)
        if self.residence == "nursing_home":
            self.add(self.reg_t + 30, "grant_klippekort", {"citizen_id": self.citizen_id, "minutes_per_week": 30,
                                                           "valid_from": iso_date(self.reg_day)},
                     self.assessor, "assessor", self.reg_day)

    def assess(self) -> None:
        rng = self.rng
        t = self.reg_t
        for spec in initial_grants(rng, self.residence):
            if "rehab_weeks" in spec and self.stock:
                continue  # a rehabilitation course years before the history is of no interest
            t += 60
            start = self.reg_day if self.stock else self.reg_day + rng.randrange(0, 8)
            end = start + spec["rehab_weeks"] * 7 - 1 if "rehab_weeks" in spec else None
            g = Grant(f"g-{rng.getrandbits(48):012x}", spec["fsiii"], spec["section"], spec["amount"], start, end,
                      t, t)
            payload = {"citizen_id": self.citizen_id, "grant_id": g.id, "fsiii": g.fsiii, "section": g.section,
                       "amount": g.amount, "valid_from": iso_date(start)}
            if end is not None:
                payload["valid_to"] = iso_date(end)
            award = self.add(t, "award_grant", payload, self.assessor, "assessor", start, assessment=True)
            self.grants.append(g)
            self.maybe_correct(g, award)
        if self.leave is not None:
            self.leave = max(self.leave, max((g.start for g in self.grants), default=self.reg_day) + 30)
            if self.leave >= ACTIVITY_END:
                self.leave = None
        life_end = self.leave if self.leave is not None else ACTIVITY_END
        # Nothing about a citizen can be recorded before the citizen is (migrated recipients: January 2017).
        begin = max(self.reg_day, HISTORY_START, day_of(self.reg_t) + 1)
        # Moving into a nursing home ends practical help; personal care goes on.
        self.moved = None
        if self.residence == "own_home":
            moved = self.hazard(max(begin, max((g.start for g in self.grants), default=begin) + 30), 0.03)
            if moved < life_end - 30:
                self.moved = moved
        # Changes of provider (free choice): the municipal one or a private one.
        self.providers: list[tuple[int, str, int]] = [(self.reg_day, self.provider, self.reg_t)]
        if self.residence == "own_home":
            day = self.hazard(begin, 0.04)
            while day < min(life_end, self.moved or FOREVER) - 14:
                now = self.providers[-1][1]
                new = rng.choice(PRIVATE_PROVIDERS) if now == "municipal" else "municipal"
                pt = max(self.office(day - rng.randrange(0, 8)), self.providers[-1][2] + DAY)
                self.add(pt, "choose_provider", {"citizen_id": self.citizen_id, "effective": iso_date(day),
                                                 "provider": new}, self.assessor, "assessor", day)
                self.providers.append((day, new, pt))
                day = self.hazard(day + 30, 0.04)
        for g in self.grants:
            self.reassess(g, begin, life_end)
        if self.moved is not None:
            mt = self.office(self.moved + rng.randrange(0, 5))
            self.add(mt, "change_residence", {"citizen_id": self.citizen_id, "effective": iso_date(self.moved),
                                              "residence": "nursing_home"}, self.assessor, "assessor", self.moved)
            self.add(mt + 30, "grant_klippekort", {"citizen_id": self.citizen_id, "minutes_per_week": 30,
                                                   "valid_from": iso_date(self.moved)},
                     self.assessor, "assessor", self.moved)
            for g in self.grants:
                if g.fsiii in ("H1.8", "H1.9", "H1.7") and (g.end is None or g.end >= self.moved):
                    self.end_grant(g, self.moved - 1, self.office(self.moved + rng.randrange(0, 10)))
        if self.leave is not None:
            lt = self.office(self.leave + rng.randrange(1, 20))
            for g in self.grants:
                if g.end is None or g.end > self.leave:
                    self.end_grant(g, self.leave, lt)

    def end_grant(self, g: Grant, last_day: int, t: int) -> None:
        t = max(t, g.last_t + 600)
        g.end, g.last_t = last_day, t
        self.add(t, "end_grant", {"citizen_id": self.citizen_id, "grant_id": g.id, "last_day": iso_date(last_day)},
                 self.assessor, "assessor", last_day, assessment=True)

    def reassess(self, g: Grant, begin: int, life_end: int) -> None:
        if g.section == "83a":
            return
        rng = self.rng
        stop = min(life_end, self.moved or FOREVER) if g.fsiii in ("H1.8", "H1.9", "H1.7") else life_end
        day = self.hazard(max(begin, g.start) + 30, self.b.reassess_rate)
        while day < stop - 7:
            new = reassessed(rng, g.fsiii, g.amount, allow_cut=True)
            if new is not None:
                t = max(self.office(day - rng.randrange(0, 10)), g.last_t + 600)
                if g.fsiii == "H1.8" and weekly(new) < weekly(g.amount):
                    self.cut_log.append((g.id, day, t))
                    self.stats.cuts += 1
                g.amount, g.last_t = new, t
                cmd = self.add(t, "reassess_grant", {"citizen_id": self.citizen_id, "grant_id": g.id,
                                                     "effective": iso_date(day), "amount": new},
                               self.assessor, "assessor", day, assessment=True)
                self.maybe_correct(g, cmd)
            day = self.hazard(day + 14, self.b.reassess_rate)

    def maybe_correct(self, g: Grant, corrected: Cmd) -> None:
        """Now and then an amount was registered wrongly and is corrected later, from the same date."""
        rng = self.rng
        if rng.random() >= CORRECTION_SHARE:
            return
        t = self.office(day_of(corrected.t) + rng.randrange(20, 150))
        amount = corrected.payload["amount"]
        if g.fsiii == "H1.8":
            new = reassessed(rng, g.fsiii, amount, allow_cut=True)
        elif "minutes_per_week" in amount:
            new = {"minutes_per_week": max(15, amount["minutes_per_week"] + rng.choice((-30, -15, 15, 30, 45)))}
        else:
            new = None
        if new is None or new == amount:
            return
        self.add(t, "correct_grant", {"citizen_id": self.citizen_id, "grant_id": g.id,
                                      "effective": iso_date(corrected.effective), "amount": new, "corrects": ""},
                 self.assessor, "assessor", corrected.effective, assessment=True, corrects=corrected)

    def finish(self) -> list[Cmd]:
        """The life in recorded order, with Assessment versions and correction references filled in."""
        self.cmds.sort(key=lambda c: (c.t, c.seq))
        horizon = at(HORIZON, 23, 59, 59)
        out = []
        version = 0
        for c in self.cmds:
            if c.t > horizon:
                break
            if c.assessment:
                version += 1
                c.version = version
                if c.corrects is not None:
                    c.payload["corrects"] = f"{self.assessment}:{c.corrects.version}"
            out.append(c)
        return out

