"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter

from ledger.api.deps import ServicesDep
from ledger.api.problems import ApiProblem
from ledger.api.routes import problems
from ledger.api.schemas import Health, Ready

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health() -> dict:
    """The process is up and answering (it does not touch the store)."""
    return {"status": "ok"}


@router.get("/ready", response_model=Ready, responses=problems(503))
def ready(svc: ServicesDep) -> dict:
    """The store answers and every projection is within the lag bound of the log head."""
    try:
        status = svc.follower.engine.status()
    except Exception as e:  # the store is down or refuses: not ready, say why
        raise ApiProblem("not-ready", f"the store did not answer: {type(e).__name__}") from None
    head = max((s["head"] for s in status), default=0)
    if not status:
        from ledger.projections.reader import head_position

        head = head_position(svc.ledger.db)
    behind = [s for s in status if s["lag"] > svc.config.ready_max_lag or s["needs_rebuild"]]
    if behind or svc.follower.error or (svc.config.follow and not svc.follower.alive):
        reasons = [f"{s['name']} lags {s['lag']}" + (" and needs a rebuild" if s["needs_rebuild"] else "")
                   for s in behind]
        if svc.follower.error:
            reasons.append(f"catch-up failing: {svc.follower.error}")
        if svc.config.follow and not svc.follower.alive:
            reasons.append("the catch-up thread is not running")
        raise ApiProblem("not-ready", "; ".join(reasons), head=head, projections=status)
    return {"status": "ready", "head": head, "reached": svc.follower.reached,
            "projections": [{k: v for k, v in s.items()} for s in status]}
