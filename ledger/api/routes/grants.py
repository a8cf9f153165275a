"""Grants (assessments): award, re-assess, correct back-dated, end."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from ledger.application import commands as c
from ledger.api.commanding import Command, Run, declared
from ledger.api.routes import COMMAND_ERRORS

router = APIRouter(prefix="/grants", tags=["grants"], responses=COMMAND_ERRORS)


@router.post("", **declared(c.AwardGrant))
def award_grant(run: Run[c.AwardGrant] = Command(c.AwardGrant)) -> Response:
    return run()


@router.post("/{citizen_id}/{grant_id}/reassessments", **declared(c.ReassessGrant))
def reassess_grant(run: Run[c.ReassessGrant] = Command(c.ReassessGrant)) -> Response:
    return run()


@router.post("/{citizen_id}/{grant_id}/corrections", **declared(c.CorrectGrant))
def correct_grant(run: Run[c.CorrectGrant] = Command(c.CorrectGrant)) -> Response:
    return run()


@router.post("/{citizen_id}/{grant_id}/end", **declared(c.EndGrant))
def end_grant(run: Run[c.EndGrant] = Command(c.EndGrant)) -> Response:
    return run()
