"""The trial timeline for evaluators: what was true on date D (effective time) as the records
showed at instant K (recorded time), from the timeline projection (timeline_queries)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from ledger.api.deps import AtPosition, Caller, ServicesDep, caught_up, reader
from ledger.api.reads import TIMELINE, at_cut, scope
from ledger.api.routes import READ_ERRORS, MunicipalityQuery, problems
from ledger.api.schemas import CatalogueHistory, Series, Timeline
from ledger.api.screening import screen
from ledger.projections import timeline_queries as tq

router = APIRouter(prefix="/timeline", tags=["timeline"], responses={**READ_ERRORS, **problems(409)})
Evaluator = Annotated[Caller, Depends(reader("timeline"))]
KnownAt = Annotated[str | None, Query(max_length=40, description="as known at: a date (end of that day, UTC) or "
                                                                  "an instant; default: everything recorded")]
FRESH = [Depends(caught_up)]


@router.get("", response_model=Timeline, dependencies=FRESH)
def timeline(svc: ServicesDep, who: Evaluator, as_of: Annotated[date, Query(description="as effective on (D)")],
             municipality: MunicipalityQuery = None, known_at: KnownAt = None,
             at_position: AtPosition = None) -> dict[str, Any]:
    """The trial on D as known at K: schemes, catalogue, buyers, granted minutes, the month's flows. Without a
    municipality: the network (every municipality with a scheme), for callers who may read them all."""
    screen(as_of, "as_of")
    if municipality is None and who.principal.municipalities is None:
        m = None
    else:
        m = scope(svc, who, municipality, "timeline")
    answer, position = at_cut(svc, TIMELINE, at_position, lambda: tq.timeline(svc.ledger.db, m, as_of, known_at))
    return {**answer, "log_position": position}


@router.get("/series", response_model=Series, dependencies=FRESH)
def series(svc: ServicesDep, who: Evaluator, municipality: MunicipalityQuery = None, known_at: KnownAt = None,
           first: Annotated[date | None, Query(description="first month's date (default: first window start)")] = None,
           last: Annotated[date | None, Query(description="last date (default: last window end)")] = None,
           at_position: AtPosition = None) -> dict[str, Any]:
    """Month by month across the scheme's windows, as known at K."""
    screen([first, last], "first/last")
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
