"""Recording a citizen's survey answers (ledger/domain/survey.py)."""

from __future__ import annotations

from typing import Any

from ledger.application import commands as c
from ledger.application.handlers import handles
from ledger.application.handlers.citizens import citizen
from ledger.domain.errors import AlreadyExists, rule
from ledger.domain.survey import SurveyResponse, survey_response_id


@handles("record_survey_response")
def record(uow: Any, cmd: c.RecordSurveyResponse, ctx: Any, svc: Any) -> dict[str, Any]:
    person = citizen(uow, cmd.citizen_id)
    rule(cmd.answered_on.isoformat() >= person.registered_on, "before-registration",
         f"an answer of {cmd.answered_on} is before the citizen was registered ({person.registered_on})")
    rid = survey_response_id(cmd.round_id, person.id)
    if uow.find(SurveyResponse, rid) is not None:
        raise AlreadyExists(f"citizen {person.id} has already answered survey round {cmd.round_id}")
    uow.add(SurveyResponse.record(ctx, person.municipality, person.id, cmd.round_id, cmd.answered_on,
                                  dict(cmd.answers)))
    return {"citizen_id": str(person.id), "round_id": cmd.round_id, "response_id": str(rid)}
