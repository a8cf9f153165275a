"""Grants (assessments): award, re-assess, correct back-dated, end."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from ledger.api import bodies as b
from ledger.api.commanding import Command, Runner
from ledger.api.routes import COMMAND_ERRORS, CitizenPath, ShortIdPath
from ledger.api.schemas import CommandResponse

router = APIRouter(prefix="/grants", tags=["grants"], responses=COMMAND_ERRORS)


@router.post("", status_code=201, response_model=CommandResponse)
def award_grant(body: b.AwardGrantBody, run: Runner = Command("award_grant")) -> Response:
    return run(body)


@router.post("/{citizen_id}/{grant_id}/reassessments", response_model=CommandResponse)
def reassess_grant(citizen_id: CitizenPath, grant_id: ShortIdPath, body: b.ReassessGrantBody,
                   run: Runner = Command("reassess_grant")) -> Response:
    return run(body, citizen_id=citizen_id, grant_id=grant_id)


@router.post("/{citizen_id}/{grant_id}/corrections", response_model=CommandResponse)
def correct_grant(citizen_id: CitizenPath, grant_id: ShortIdPath, body: b.CorrectGrantBody,
                  run: Runner = Command("correct_grant")) -> Response:
    return run(body, citizen_id=citizen_id, grant_id=grant_id)


@router.post("/{citizen_id}/{grant_id}/end", response_model=CommandResponse)
def end_grant(citizen_id: CitizenPath, grant_id: ShortIdPath, body: b.EndGrantBody,
              run: Runner = Command("end_grant")) -> Response:
    return run(body, citizen_id=citizen_id, grant_id=grant_id)
