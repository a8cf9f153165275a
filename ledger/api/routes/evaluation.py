"""What the evaluators collect (the VIVE extract), as JSON: offers with prices over time, sales,
buyers (numbered per answer, never by pseudonym) and granted services of buyers and non-buyers.

Every answer states `log_position`, the position of the log the audit projection's tables stood at
for the whole read (ledger/projections/cut.py: caught up to the head, or to `at_position=P`, and
unchanged while read), so several answers can be proven to read one cut.
The full export as of (D, K) is `ledger export evaluation` (docs/evaluation-export.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from ledger.api.deps import AtPosition, Caller, ServicesDep, caught_up, reader
from ledger.api.reads import EVALUATION, at_cut, scope
from ledger.api.routes import READ_ERRORS, Day, MunicipalityQuery, ordered, problems
from ledger.api.schemas import EvaluationBuyers, EvaluationGrantedList, EvaluationOffers, EvaluationSalesList
from ledger.projections import evaluation_export as ev

# 409: `at_position` already passed (position-passed), beside the errors every read may answer.
router = APIRouter(prefix="/evaluation", tags=["evaluation"], responses={**READ_ERRORS, **problems(409)},
                   dependencies=[Depends(caught_up)])
Evaluator = Annotated[Caller, Depends(reader("timeline"))]


@router.get("/offers", response_model=EvaluationOffers)
def offers(svc: ServicesDep, who: Evaluator, municipality: MunicipalityQuery = None,
           at_position: AtPosition = None) -> dict[str, Any]:
    """Every price version of every offer, its days in force, and whether it was below cost."""
    m = scope(svc, who, municipality, "evaluation")
    rows, position = at_cut(svc, EVALUATION, at_position, lambda: ev.offers(svc.ledger.db, m))
    return {"municipality": m, "log_position": position, "offers": rows}


@router.get("/sales", response_model=EvaluationSalesList)
def sales(svc: ServicesDep, who: Evaluator, municipality: MunicipalityQuery = None,
          at_position: AtPosition = None) -> dict[str, Any]:
    """Per month and offer: orders started, buyers, deliveries, minutes, invoiced and credited."""
    m = scope(svc, who, municipality, "evaluation")
    rows, position = at_cut(svc, EVALUATION, at_position, lambda: ev.sales(svc.ledger.db, m))
    return {"municipality": m, "log_position": position, "sales": rows}


@router.get("/buyers", response_model=EvaluationBuyers)
def buyers(svc: ServicesDep, who: Evaluator, municipality: MunicipalityQuery = None,
           at_position: AtPosition = None) -> dict[str, Any]:
    """One row per buyer, numbered by first purchase (no pseudonyms)."""
    m = scope(svc, who, municipality, "evaluation")
    rows, position = at_cut(svc, EVALUATION, at_position, lambda: ev.buyers(svc.ledger.db, m))
    return {"municipality": m, "log_position": position, "buyers": rows}


@router.get("/granted-services", response_model=EvaluationGrantedList)
def granted_services(svc: ServicesDep, who: Evaluator, municipality: MunicipalityQuery = None,
                     first: Annotated[Day | None, Query()] = None,
                     last: Annotated[Day | None, Query()] = None, at_position: AtPosition = None) -> dict[str, Any]:
    """Per month, FSIII code, starting band and group: citizens and their weekly granted minutes."""
    ordered(first, last, ("first", "last"))
    m = scope(svc, who, municipality, "evaluation")
    rows, position = at_cut(svc, EVALUATION, at_position, lambda: ev.granted_services(
        svc.ledger.db, m, first.isoformat() if first else None, last.isoformat() if last else None))
    return {"municipality": m, "log_position": position, "granted_services": rows}
