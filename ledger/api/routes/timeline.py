"""The trial timeline for evaluators: what was true on date D (effective time) as the records
showed at instant K (recorded time), from the timeline projection (timeline_queries)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from ledger.api.deps import AtPosition, Caller, ServicesDep, caught_up, reader
from ledger.api.reads import TIMELINE, at_cut, scope
from ledger.api.routes import READ_ERRORS, Day, KnownAtQuery, MunicipalityQuery, ordered, problems
from ledger.api.schemas import CatalogueHistory, Series, Timeline
from ledger.projections import timeline_queries as tq

router = APIRouter(prefix="/timeline", tags=["timeline"], responses={**READ_ERRORS, **problems(409)})
Evaluator = Annotated[Caller, Depends(reader("timeline"))]
KnownAt = KnownAtQuery
FRESH = [Depends(caught_up)]


@router.get("", response_model=Timeline, dependencies=FRESH)
def timeline(svc: ServicesDep, who: Evaluator, as_of: Annotated[Day, Query(description="as effective on (D)")],
             municipality: MunicipalityQuery = None, known_at: KnownAt = None,
             at_position: AtPosition = None) -> dict[str, Any]:
    """The trial on D as known at K: schemes, catalogue, buyers, granted minutes, the month's flows. Without a
    municipality: the network (every municipality with a scheme), for callers who may read them all."""
    if municipality is None and who.principal.municipalities is None:
        m = None
    else:
        m = scope(svc, who, municipality, "timeline")
    answer, position = at_cut(svc, TIMELINE, at_position, lambda: tq.timeline(svc.ledger.db, m, as_of, known_at))
    return {**answer, "log_position": position}


@router.get("/series", response_model=Series, dependencies=FRESH)
def series(svc: ServicesDep, who: Evaluator, municipality: MunicipalityQuery = None, known_at: KnownAt = None,
           first: Annotated[Day | None, Query(description="first month's date (default: first window start)")] = None,
           last: Annotated[Day | None, Query(description="last date (default: last window end)")] = None,
           at_position: AtPosition = None) -> dict[str, Any]:
    """Month by month across the scheme's windows, as known at K."""
    ordered(first, last, ("first", "last"))
    m = scope(svc, who, municipality, "timeline")
    answer, position = at_cut(svc, TIMELINE, at_position, lambda: tq.series(
        svc.ledger.db, m, known_at, first=first.isoformat() if first else None, last=last.isoformat() if last else None))
    return {**answer, "log_position": position}


@router.get("/catalogue", response_model=CatalogueHistory, dependencies=FRESH)
def catalogue(svc: ServicesDep, who: Evaluator, municipality: MunicipalityQuery = None,
              known_at: KnownAt = None, at_position: AtPosition = None) -> dict[str, Any]:
    """Every price version of every offer as known at K (the catalogue's change history)."""
    m = scope(svc, who, municipality, "timeline")
    offers, position = at_cut(svc, TIMELINE, at_position, lambda: tq.catalogue_history(svc.ledger.db, m, known_at))
    return {"municipality": m, "log_position": position, "offers": offers}
