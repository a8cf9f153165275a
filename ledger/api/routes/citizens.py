"""Citizens: registration (with the identity store), provider and residence, erasure; their record,
grants, account and event histories. Every read of a citizen's data is recorded in the access log."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from ledger.application import commands as c
from ledger.api.commanding import Command, Run, declared
from ledger.api.deps import CallerDep, ServicesDep, caught_up, in_municipality, reader, AtPosition, wait_for
from ledger.api.policy import may_read
from ledger.api.reads import citizen, history, etag
from ledger.api.routes import COMMAND_ERRORS, CitizenPath, Day, Instant
from ledger.api.schemas import CitizenView, History, CitizenAsOf
from ledger.domain.account import account_id
from ledger.domain.assessment import assessment_id
from ledger.domain.errors import InvalidInput


router = APIRouter(prefix="/citizens", tags=["citizens"], responses=COMMAND_ERRORS)


@router.post("", **declared(c.RegisterCitizen))
def register_citizen(run: Run[c.RegisterCitizen] = Command(c.RegisterCitizen)) -> Response:
    return run()


@router.post("/{citizen_id}/provider", **declared(c.ChooseProvider))
def choose_provider(run: Run[c.ChooseProvider] = Command(c.ChooseProvider)) -> Response:
    return run()


@router.post("/{citizen_id}/klippekort", **declared(c.GrantKlippekort))
def grant_klippekort(run: Run[c.GrantKlippekort] = Command(c.GrantKlippekort)) -> Response:
    """A nursing-home resident's klippekort: free minutes per ISO week, from/to."""
    return run()


@router.post("/{citizen_id}/klippekort/end", **declared(c.EndKlippekort))
def end_klippekort(run: Run[c.EndKlippekort] = Command(c.EndKlippekort)) -> Response:
    return run()


@router.post("/{citizen_id}/residence", **declared(c.ChangeResidence))
def change_residence(run: Run[c.ChangeResidence] = Command(c.ChangeResidence)) -> Response:
    return run()


@router.post("/{citizen_id}/surveys", **declared(c.RecordSurveyResponse))
def record_survey_response(run: Run[c.RecordSurveyResponse] = Command(c.RecordSurveyResponse)) -> Response:
    """The citizen's answers to one round of the user-satisfaction survey (five measures, 1-5 or null)."""
    return run()


@router.delete("/{citizen_id}/identity", **declared(c.EraseIdentity))
def erase_identity(run: Run[c.EraseIdentity] = Command(c.EraseIdentity)) -> Response:
    """Crypto-shred the citizen's CPR number and name (administrators only); amounts and dates stay."""
    return run()


@router.get("/{citizen_id}", response_model=CitizenView, dependencies=[Depends(reader("citizen"))])
def get_citizen(citizen_id: CitizenPath, svc: ServicesDep, who: CallerDep, response: Response,
                at_position: AtPosition = None) -> dict[str, Any]:
    """The citizen's record and grants (at `at_position`, or now); the identity only for roles that must address
    them."""
    return etag(response, citizen(svc, who, citizen_id, with_identity=may_read(who.role, "identity"),
                                  at_position=at_position))


@router.get("/{citizen_id}/as-of", response_model=CitizenAsOf,
            dependencies=[Depends(reader("citizen")), Depends(caught_up)])
def citizen_as_of(citizen_id: CitizenPath, svc: ServicesDep, who: CallerDep,
                  as_of: Annotated[Day | None, Query(description="effective date D")] = None,
                  date: Annotated[Day | None, Query(deprecated=True, description="the earlier name of as_of")] = None,
                  known_at: Annotated[Instant | None, Query(description="as the records showed at K "
                                                                "(default: now)")] = None) -> dict[str, Any]:
    """The citizen's grants, provider, orders, deliveries and balance as effective on D (`as_of`) and as
    known at K. Bounded by a recorded instant K, not by a position: `log_position` is the head when the
    read began."""
    from ledger.projections.citizen_asof import citizen_as_of as read

    # `as_of` is D's name on every read (the timeline's, the CLI's `--as-of`); `date` still works.
    if as_of is not None and date is not None and as_of != date:
        raise InvalidInput(f"as_of ({as_of}) and date, its earlier name ({date}), differ", field="as_of")
    day = as_of or date
    if day is None:
        raise InvalidInput("as_of (the effective date D, YYYY-MM-DD) is required", field="as_of")
    record = svc.records.get(citizen_id, "Citizen", "citizen")
    in_municipality(svc, who, record.municipality, "citizen", str(citizen_id))
    if known_at is not None and known_at.tzinfo is None:
        known_at = known_at.replace(tzinfo=dt.timezone.utc)
    # The citizen's orders and deliveries are found through the read models' index (the aggregates
    # themselves are read from the log): let it reach the log's head first, so an order answered
    # a moment ago is in the answer, as its grants are.
    from ledger.projections.reader import head_position

    wait_for(svc, head_position(svc.ledger.db))
    answer = read(svc.ledger, str(citizen_id), day.isoformat(), known_at.isoformat() if known_at else None)
    svc.access.record(who.access("citizen-as-of", str(citizen_id), record.municipality))
    return answer


@router.get("/{citizen_id}/events", response_model=History, dependencies=[Depends(reader("citizen"))])
def citizen_events(citizen_id: CitizenPath, svc: ServicesDep, who: CallerDep, response: Response,
                   at_position: AtPosition = None) -> dict[str, Any]:
    return etag(response, history(svc, who, citizen_id, "Citizen", "citizen", "citizen-events", at_position))


@router.get("/{citizen_id}/assessment/events", response_model=History, dependencies=[Depends(reader("citizen"))])
def assessment_events(citizen_id: CitizenPath, svc: ServicesDep, who: CallerDep, response: Response,
                      at_position: AtPosition = None) -> dict[str, Any]:
    """The citizen's grants, re-assessments, corrections and endings, as recorded."""
    svc.records.get(citizen_id, "Citizen", "citizen")
    return etag(response, history(svc, who, assessment_id(citizen_id), "Assessment", "assessment", "grant-events",
                                  at_position))


@router.get("/{citizen_id}/account/events", response_model=History, dependencies=[Depends(reader("billing"))])
def account_events(citizen_id: CitizenPath, svc: ServicesDep, who: CallerDep, response: Response,
                   at_position: AtPosition = None) -> dict[str, Any]:
    """Invoices, credit notes, reminders, payments and reversals of the citizen, as recorded."""
    svc.records.get(citizen_id, "Citizen", "citizen")
    return etag(response, history(svc, who, account_id(citizen_id), "Account", "account", "account-events",
                                  at_position))
