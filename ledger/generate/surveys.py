"""Survey rounds: each trial municipality's yearly user-satisfaction survey (seed 000 l. 60-68,
l. 121), answered by a sample of the citizens who hold a grant on the round's day.

Answers are drawn from one distribution for everyone (mostly satisfied, as such surveys are):
the simulation assumes no effect of buying on satisfaction (`Behaviour.buyer_satisfaction_lift`
is 0 by default), so any difference the export shows between buyers and non-buyers is noise or
the parameter, never something planted unannounced.
"""

from __future__ import annotations

from ledger.generate.clock import d, iso_date
from ledger.generate.life import LifeBase
from ledger.generate.people import pick

SCORES = ((3, 1), (7, 2), (18, 3), (42, 4), (30, 5))  # weights of 1..5 (estimate: mostly satisfied)
SURVEY_SAMPLE = 0.5  # of citizens with a grant on the round's day who are asked (estimate)
PRACTICAL = ("H1.7", "H1.8", "H1.9")


class Surveying(LifeBase):
    def survey(self) -> None:
        trial = self.trial
        if trial is None:
            return
        rng = self.rng
        first, last = int(iso_date(trial.window_start)[:4]), int(iso_date(trial.window_end)[:4])
        for year in range(first, last + 1):
            day = d(f"{year}-10-01") + rng.randrange(0, 30)
            if not trial.window_start <= day <= trial.window_end or (self.leave is not None and day > self.leave):
                continue
            active = [g for g in self.grants if g.start <= day and (g.end is None or day <= g.end)]
            if not active or rng.random() >= SURVEY_SAMPLE * self.b.survey_response_rate:
                continue
            lift = self.b.buyer_satisfaction_lift if self.bought_by(day) else 0.0

            def score(lift: float = lift) -> int:  # bound now: called only within this round
                s = pick(rng, SCORES)
                return min(5, s + 1) if lift and rng.random() < lift else s

            practical = any(g.fsiii in PRACTICAL for g in active)
            care = any(g.fsiii == "H1.1" for g in active)
            answers = {"safety": score(), "information": score(), "coherence": score(),
                       "practical_help": score() if practical else None,
                       "personal_care": score() if care else None}
            for k in ("information", "coherence"):
                if rng.random() < 0.05:
                    answers[k] = None  # left blank
            t = self.office(day + rng.randrange(2, 25))
            self.add(t, "record_survey_response", {
                "citizen_id": self.citizen_id, "round_id": f"tilfredshed-{self.m}-{year}",
                "answered_on": iso_date(day), "answers": answers}, f"survey-{self.m}", "assessor", day)
            self.stats.survey_responses += 1

    def bought_by(self, day: int) -> bool:
        return any(c.type == "record_delivery" and c.effective <= day for c in self.cmds)
