"""The audit: the access log (who read which citizen's or billing data), and the audit projection's
findings (substitution of granted services, VAT overlap, prices below full cost, completeness of
billing, the evaluation of buyers against non-buyers). Auditors and administrators only."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query

from ledger.access_log import bounds
from ledger.api.deps import AtPosition, Caller, ServicesDep, caught_up, in_municipality, reader
from ledger.api.reads import AUDIT, logged_read
from ledger.api.routes import READ_ERRORS, Day, DayOrInstant, MunicipalityQuery, ordered, problems
from ledger.api.schemas import AccessLogPage, Audit
from ledger.api.tenancy import code_of
from ledger.projections import audit_queries as aq

router = APIRouter(prefix="/audit", tags=["audit"], responses={**READ_ERRORS, **problems(409)})
Auditor = Annotated[Caller, Depends(reader("audit"))]
FRESH = [Depends(caught_up)]
DateFrom = Annotated[Day | None, Query(alias="from", description="first date (inclusive)")]
DateTo = Annotated[Day | None, Query(alias="to", description="last date (inclusive)")]
Section = Literal["substitution", "overlap", "full_cost", "ineligible", "completeness", "evaluation"]


@router.get("/access-log", response_model=AccessLogPage)
def access_log(
    svc: ServicesDep,
    who: Auditor,
    user: Annotated[str | None, Query(max_length=64)] = None,
    citizen_id: UUID | None = None,
    municipality: Annotated[str | None, Query(max_length=40, description="code or name")] = None,
    since: Annotated[DayOrInstant | None, Query(max_length=40, description="ISO instant (or date), inclusive")] = None,
    until: Annotated[DayOrInstant | None, Query(max_length=40, description="ISO instant (or date), exclusive")] = None,
    after_id: Annotated[int, Query(ge=0, le=2**53 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Entries oldest first; an auditor sees the entries of their own municipalities."""
    low, high = bounds(since, until)  # as stored instants; since after until refused (422)
    code = code_of(municipality) if municipality is not None else None
    if code is not None:  # another municipality's log is refused like every other read of it (403)
        in_municipality(svc, who, code, "access-log", str(citizen_id) if citizen_id else None)
    entries = svc.access.entries(municipalities=who.principal.municipalities, user=user,
                                 citizen_id=str(citizen_id) if citizen_id else None, municipality=code,
                                 since=low, until=high, after_id=after_id, limit=limit)
    svc.access.record(who.access("access-log", str(citizen_id) if citizen_id else None, code))
    return {"entries": entries, "next_after_id": entries[-1]["id"] if len(entries) == limit else None}


@router.get("", response_model=Audit, response_model_exclude_unset=True, dependencies=FRESH)
def audit(svc: ServicesDep, who: Auditor, municipality: MunicipalityQuery = None, date_from: DateFrom = None,
          date_to: DateTo = None,
          window_days: Annotated[int, Query(ge=1, le=730, description="substitution window around a cut")] = 90,
          as_of: Annotated[Day | None, Query(description="date by which an order should have been delivered "
                                                          "(default: `to`, else today)")] = None,
          section: Annotated[list[Section] | None, Query(description="only these sections (repeatable)")] = None,
          at_position: AtPosition = None) -> dict[str, Any]:
    """The audit of one municipality: every section, or those named."""
    ordered(date_from, date_to, ("from", "to"))
    return logged_read(svc, who, "audit", municipality, None, lambda m: aq.audit(
        svc.ledger.db, m, date_from=_iso(date_from), date_to=_iso(date_to), window_days=window_days,
        as_of=_iso(as_of), sections=tuple(section or aq.SECTIONS)), reads=AUDIT, at_position=at_position)


def _iso(d: date | None) -> str | None:
    return None if d is None else d.isoformat()
