"""One router per resource. A route parses its request, makes one call and returns; errors are
raised as domain errors or ApiProblem and turned into problem+json in one place (problems.py)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import Path, Query

from ledger.api.problems import PROBLEMS
from ledger.api.schemas import Problem
from ledger.application.commands._base import Day as Day, DayOrInstant as DayOrInstant, Instant as Instant, Month as Month
from ledger.domain.errors import InvalidInput


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for error statuses (main.py rewrites them to application/problem+json)."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        codes = ", ".join(p.code for p in PROBLEMS if p.status == status)
        out[status] = {"model": Problem, "description": f"problem+json: {codes}"}
    return out


COMMAND_ERRORS = problems(400, 401, 403, 404, 409, 412, 413, 415, 422, 503)
READ_ERRORS = problems(400, 401, 403, 404, 413, 422, 503)


def with_etag(data: dict[str, Any], version_key: str = "version") -> Any:
    """A JSON response carrying the record's version as its ETag (what If-Match later compares)."""
    import orjson
    from starlette.responses import Response

    return Response(orjson.dumps(data), media_type="application/json", headers={"ETag": f'"{data[version_key]}"'})


MunicipalityPath = Annotated[str, Path(description="official code (657) or name (Herning)", max_length=40)]
CitizenPath = Annotated[UUID, Path(description="the citizen's pseudonym")]
ShortIdPath = Annotated[str, Path(min_length=1, max_length=64)]
MunicipalityQuery = Annotated[str | None, Query(
    max_length=40, description="code (657) or name (Herning); defaults to the caller's only municipality")]

# The value types of query parameters are the command schemas' own (ledger.application.commands._base),
# so every date, month and instant a route reads is bounded to 1900-2199 like a command's, and a far
# one is refused as invalid-request naming the parameter (`query.as_of`). Routes declare
# `Annotated[Day, Query(...)]`, never a bare `date`; tests/e2e/test_api_query_bounds.py checks every route.
MonthQuery = Annotated[Month | None, Query(description="YYYY-MM (1900-2199)")]
KnownAtQuery = Annotated[DayOrInstant | None, Query(
    max_length=40, description="as known at: a date (end of that day, UTC) or an instant; default: everything recorded")]

T = TypeVar("T", date, str)


def ordered(first: T | None, last: T | None, names: tuple[str, str]) -> None:
    """Refuse a range whose start lies after its end (well-typed, but it can only answer nothing)."""
    if first is not None and last is not None and first > last:
        raise InvalidInput(f"{names[0]} ({first}) is after {names[1]} ({last})", field=names[0])
