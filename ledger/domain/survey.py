"""A citizen's answer to one round of the annual user-satisfaction survey.

The network planned to follow its trial in the yearly surveys on five measures (seed 000 l. 60-68:
tryghed, information, sammenhæng i hjælp, praktisk hjælp, personlig pleje; l. 121 "årlige
brugerundersøgelser"), and the national evaluation surveys buyers and non-buyers alike (seed 003
l. 1661-1663). The seeds give no scale; we take the usual 1-5 satisfaction scale (1 very
dissatisfied ... 5 very satisfied), and a measure may be left unanswered (None).

One aggregate per (round, citizen): a second answer to the same round is refused. (A correction
would be its own event naming the one it corrects; none is needed yet.) Only the pseudonymous citizen id is stored, never a
name: the answers are care opinions, not identity.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.domain.base import Context, LedgerAggregate, key_id
from ledger.domain.errors import InvalidInput
from ledger.domain.values import SURVEY_MEASURES as MEASURES, SURVEY_SCALE as SCALE, iso


def survey_response_id(round_id: str, citizen_id: UUID | str) -> UUID:
    return key_id("survey-response", round_id, citizen_id)


def answers(values: dict[str, Any]) -> dict[str, int | None]:
    """Every measure, each 1-5 or None (not answered); nothing else."""
    unknown = sorted(set(values) - set(MEASURES))
    if unknown:
        raise InvalidInput(f"unknown survey measures {', '.join(unknown)}; the measures are {', '.join(MEASURES)}",
                           field="answers")
    out: dict[str, int | None] = {}
    for m in MEASURES:
        v = values.get(m)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not SCALE[0] <= v <= SCALE[1]):
            raise InvalidInput(f"answer to {m} must be a whole number {SCALE[0]}-{SCALE[1]} or empty, got {v!r}",
                               field="answers")
        out[m] = v
    if all(v is None for v in out.values()):
        raise InvalidInput("a survey response answers at least one measure", field="answers")
    return out


class SurveyResponse(LedgerAggregate):
    if TYPE_CHECKING:  # state the events' apply() methods assign (declared for the type checker only)
        citizen_id: str
        round_id: str
        answered_on: str
        answers: dict[str, int | None]

    class SurveyResponseRecorded(LedgerAggregate.Created):
        citizen_id: str
        round_id: str
        answers: dict[str, int | None]

        def apply(self, s: SurveyResponse) -> None:
            s.municipality = self.municipality
            s.citizen_id = self.citizen_id
            s.round_id = self.round_id
            s.answered_on = self.effective
            s.answers = dict(self.answers)

    @classmethod
    def record(cls, ctx: Context, municipality: int, citizen_id: UUID, round_id: str, answered_on: date,
               values: dict[str, Any]) -> SurveyResponse:
        return cls._start(cls.SurveyResponseRecorded, survey_response_id(round_id, citizen_id), ctx, iso(answered_on),
                          municipality, citizen_id=str(citizen_id), round_id=round_id, answers=answers(values))
