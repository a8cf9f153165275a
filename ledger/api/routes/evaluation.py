"""What the evaluators collect (the VIVE extract), as JSON: offers with prices over time, sales,
buyers (numbered per answer, never by pseudonym) and granted services of buyers and non-buyers."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from ledger.api.deps import Caller, ServicesDep, caught_up, reader
from ledger.api.reads import scope
from ledger.api.routes import READ_ERRORS, MunicipalityQuery
from ledger.api.schemas import Rows
from ledger.api.screening import screen
from ledger.projections import evaluation_export as ev

router = APIRouter(prefix="/evaluation", tags=["evaluation"], responses=READ_ERRORS,
                   dependencies=[Depends(caught_up)])
Evaluator = Annotated[Caller, Depends(reader("timeline"))]


@router.get("/offers", response_model=Rows)
def offers(svc: ServicesDep, who: Evaluator, municipality: MunicipalityQuery = None) -> dict:
    """Every price version of every offer, its days in force, and whether it was below cost."""
    m = scope(svc, who, municipality, "evaluation")
    return {"municipality": m, "offers": ev.offers(svc.ledger.db, m)}


@router.get("/sales", response_model=Rows)
def sales(svc: ServicesDep, who: Evaluator, municipality: MunicipalityQuery = None) -> dict:
    """Per month and offer: orders started, buyers, deliveries, minutes, invoiced and credited."""
    m = scope(svc, who, municipality, "evaluation")
    return {"municipality": m, "sales": ev.sales(svc.ledger.db, m)}


@router.get("/buyers", response_model=Rows)
def buyers(svc: ServicesDep, who: Evaluator, municipality: MunicipalityQuery = None) -> dict:
    """One row per buyer, numbered by first purchase (no pseudonyms)."""
    m = scope(svc, who, municipality, "evaluation")
    return {"municipality": m, "buyers": ev.buyers(svc.ledger.db, m)}


@router.get("/granted-services", response_model=Rows)
def granted_services(svc: ServicesDep, who: Evaluator, municipality: MunicipalityQuery = None,
                     first: Annotated[date | None, Query()] = None,
                     last: Annotated[date | None, Query()] = None) -> dict:
    """Per month, FSIII code, starting band and group: citizens and their weekly granted minutes."""
    screen([first, last], "first/last")
    m = scope(svc, who, municipality, "evaluation")
    return {"municipality": m, "granted_services": ev.granted_services(
        svc.ledger.db, m, first.isoformat() if first else None, last.isoformat() if last else None)}
