"""Typed dependencies, all in one place: the process's services, the caller, the permission checks
and the read-your-writes wait. Routes name them with `Annotated` aliases and stay thin."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import Depends, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ledger.access_log import Access
from ledger.api.auth import Principal
from ledger.api.policy import may_read
from ledger.api.problems import ApiProblem
from ledger.api.services import Services

log = structlog.get_logger("ledger.api")

_bearer = HTTPBearer(auto_error=False, description="a token configured in LEDGER_TOKENS_FILE")


# The dependencies that only look at the request are `async def`: FastAPI runs a plain `def`
# dependency in the thread pool, a thread hop per dependency per request that cost more CPU than
# the command itself under load. Those that touch the database (refusals record to the access log,
# `caught_up` waits) stay plain functions.


async def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(services)]


@dataclass(frozen=True)
class Caller:
    """The authenticated principal and the request it made (for logs and the access log)."""

    principal: Principal
    request_id: str
    method: str
    route: str
    path: str

    @property
    def user(self) -> str:
        return self.principal.user

    @property
    def role(self) -> str:
        return self.principal.role

    def access(self, what: str, citizen_id: str | None = None, municipality: int | None = None,
               outcome: str = "read") -> Access:
        return Access(self.request_id, self.user, self.role, self.method, self.route, self.path, what, citizen_id,
                      municipality, outcome)


async def caller(request: Request, _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)]) -> Caller:
    # The gate (middleware.py) has authenticated the token already; this only hands the result on
    # (and declares the bearer scheme in the OpenAPI document).
    principal = request.state.principal if hasattr(request.state, "principal") else None
    if principal is None:
        raise ApiProblem("unauthorized", "send the header 'Authorization: Bearer <token>'")
    route = request.scope.get("route")
    return Caller(principal, request.state.request_id, request.method, getattr(route, "path", request.url.path),
                  request.url.path)


CallerDep = Annotated[Caller, Depends(caller)]


def refuse(svc: Services, who: Caller, detail: str, what: str, citizen_id: str | None = None,
           municipality: int | None = None, record: bool = True) -> ApiProblem:
    """Log a refusal (and, for citizen or billing data, record it in the access log); return the 403."""
    log.warning("refused", request_id=who.request_id, user=who.user, role=who.role, route=who.route, what=what,
                citizen_id=citizen_id, municipality=municipality, reason=detail)
    if record:
        svc.access.record(who.access(what, citizen_id, municipality, outcome="refused"))
    return ApiProblem("forbidden", detail)


def reader(kind: str) -> Callable[..., Caller]:
    """A dependency that lets through only roles that may read `kind` (see policy.READERS)."""

    def check(svc: ServicesDep, who: CallerDep) -> Caller:
        if not may_read(who.role, kind):
            raise refuse(svc, who, f"the role {who.role} may not read {kind} data", kind,
                         record=kind in ("citizen", "identity", "billing"))
        return who

    check.__name__ = f"reader_{kind}"  # main.py names the readers of each operation in the OpenAPI document
    return check


def in_municipality(svc: Services, who: Caller, municipality: int, what: str, citizen_id: str | None = None) -> None:
    """Refuse (403, logged) unless the caller may act in `municipality`."""
    if not who.principal.may_act_in(municipality):
        raise refuse(svc, who, f"{who.user} may not act in municipality {municipality}", what, citizen_id, municipality,
                     record=what not in ("catalogue", "timeline"))


def caught_up(svc: ServicesDep, min_position: Annotated[int | None, Query(
        ge=0, le=2**53 - 1, description="wait (at most a few seconds) until the read models have applied the log "
                                        "up to this position: pass a command response's `position` to read your "
                                        "own write")] = None) -> int | None:
    if min_position is None or min_position == 0:
        return min_position
    if svc.follower.reached >= min_position:
        return min_position
    from ledger.projections.reader import head_position

    head = head_position(svc.ledger.db)
    if min_position > head:
        raise ApiProblem("position-ahead-of-log", f"min_position {min_position} is beyond the log head {head}",
                         head=head)
    wait_for(svc, min_position)
    return min_position


def wait_for(svc: Services, min_position: int) -> None:
    """Wait (at most the configured few seconds) until the read models have applied the log up to
    `min_position`; 503 not-caught-up past that."""
    if not svc.follower.wait_for(min_position, svc.config.read_wait_seconds):
        raise ApiProblem("not-caught-up",
                         f"the read models reached position {svc.follower.reached}, not {min_position}, "
                         f"within {svc.config.read_wait_seconds:g} s", headers={"Retry-After": "1"},
                         reached=svc.follower.reached, error=svc.follower.error)


MinPosition = Annotated[int | None, Depends(caught_up)]



AtPosition = Annotated[int | None, Query(ge=0, le=2**53 - 1, description=(
    "answer exactly at this log position (the `log_position` of another answer, so both are of one cut); "
    "refused when beyond the log head (422 position-ahead-of-log) or when the read models have passed it "
    "(409 position-passed). Default: the head"))]
