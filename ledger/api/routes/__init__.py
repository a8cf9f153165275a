"""One router per resource. A route parses its request, makes one call and returns; errors are
raised as domain errors or ApiProblem and turned into problem+json in one place (problems.py)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import Path, Query

from ledger.api.problems import PROBLEMS
from ledger.api.schemas import Problem


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
MonthQuery = Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM")]
