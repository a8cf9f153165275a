"""The trial timeline for evaluators: what was true on date D (effective time) as the records
showed at instant K (recorded time), from the timeline projection (timeline_queries)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from ledger.api.deps import Caller, ServicesDep, caught_up, reader
from ledger.api.reads import scope
from ledger.api.routes import READ_ERRORS, MunicipalityQuery
from ledger.api.screening import screen
from ledger.projections import timeline_queries as tq

router = APIRouter(prefix="/timeline", tags=["timeline"], responses=READ_ERRORS)
Evaluator = Annotated[Caller, Depends(reader("timeline"))]
KnownAt = Annotated[str | None, Query(max_length=40, description="as known at: a date (end of that day, UTC) or "
                                                                  "an instant; default: everything recorded")]
FRESH = [Depends(caught_up)]


@router.get("", response_model=dict[str, Any], dependencies=FRESH)
def timeline(svc: ServicesDep, who: Evaluator, as_of: Annotated[date, Query(description="as effective on (D)")],
             municipality: MunicipalityQuery = None, known_at: KnownAt = None) -> dict:
    """The trial on D as known at K: schemes, catalogue, buyers, granted minutes, the month's flows. Without a
    municipality: the network (every municipality with a scheme), for callers who may read them all."""
    screen(as_of, "as_of")
    if municipality is None and who.principal.municipalities is None:
        return tq.timeline(svc.ledger.db, None, as_of, known_at)
    return tq.timeline(svc.ledger.db, scope(svc, who, municipality, "timeline"), as_of, known_at)


@router.get("/series", response_model=dict[str, Any], dependencies=FRESH)
def series(svc: ServicesDep, who: Evaluator, municipality: MunicipalityQuery = None, known_at: KnownAt = None,
           first: Annotated[date | None, Query(description="first month's date (default: first window start)")] = None,
           last: Annotated[date | None, Query(description="last date (default: last window end)")] = None) -> dict:
    """Month by month across the scheme's windows, as known at K."""
    screen([first, last], "first/last")
    m = scope(svc, who, municipality, "timeline")
    return tq.series(svc.ledger.db, m, known_at, first=first.isoformat() if first else None,
                     last=last.isoformat() if last else None)


@router.get("/catalogue", response_model=dict[str, Any], dependencies=FRESH)
def catalogue(svc: ServicesDep, who: Evaluator, municipality: MunicipalityQuery = None,
              known_at: KnownAt = None) -> dict:
    """Every price version of every offer as known at K (the catalogue's change history)."""
    m = scope(svc, who, municipality, "timeline")
    return {"municipality": m, "offers": tq.catalogue_history(svc.ledger.db, m, known_at)}
