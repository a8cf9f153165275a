"""Recording a citizen's survey answers (ledger/domain/survey.py)."""

from __future__ import annotations

from uuid import UUID

from pydantic import StrictInt

from ledger.application.commands._base import Command, Day, ShortId
from ledger.application.commands._spec import Result, Services, declare
from ledger.application.commands.citizens import citizen
from ledger.application.uow import UnitOfWork
from ledger.domain.base import Context
from ledger.domain.errors import AlreadyExists, rule
from ledger.domain.survey import SurveyResponse, survey_response_id


class RecordSurveyResponse(Command):
    citizen_id: UUID
    round_id: ShortId
    answered_on: Day
    answers: dict[str, StrictInt | None]


@declare(RecordSurveyResponse, name="record_survey_response", roles=["assessor"], path=["citizen_id"],
         etag="survey_response",
         example={"round_id": "tilfredshed-657-2019", "answered_on": "2019-10-05",
                  "answers": {"safety": 4, "information": 3, "coherence": 4, "practical_help": 5,
                              "personal_care": None}})
def record(uow: UnitOfWork, cmd: RecordSurveyResponse, ctx: Context, svc: Services) -> Result:
    person = citizen(uow, cmd.citizen_id)
    rule(cmd.answered_on.isoformat() >= person.registered_on, "before-registration",
         f"an answer of {cmd.answered_on} is before the citizen was registered ({person.registered_on})")
    rid = survey_response_id(cmd.round_id, person.id)
    if uow.find(SurveyResponse, rid) is not None:
        raise AlreadyExists(f"citizen {person.id} has already answered survey round {cmd.round_id}")
    uow.add(SurveyResponse.record(ctx, person.municipality, person.id, cmd.round_id, cmd.answered_on,
                                  dict(cmd.answers)))
    return {"citizen_id": str(person.id), "round_id": cmd.round_id, "response_id": str(rid)}
