"""Deliveries: what was delivered against an order, visits that did not happen, and withdrawing a
delivery (cancelled or disputed; a credit note follows when it was already invoiced)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path
from starlette.responses import Response

from ledger.application import commands as c
from ledger.api.commanding import Command, Run, declared
from ledger.api.deps import CallerDep, ServicesDep, reader, AtPosition
from ledger.api.reads import history, etag
from ledger.api.routes import COMMAND_ERRORS
from ledger.api.schemas import History

router = APIRouter(prefix="/deliveries", tags=["deliveries"], responses=COMMAND_ERRORS)
DeliveryPath = Annotated[UUID, Path(description="the delivery's id")]


@router.post("", **declared(c.RecordDelivery))
def record_delivery(run: Run[c.RecordDelivery] = Command(c.RecordDelivery)) -> Response:
    return run()


@router.post("/missed", **declared(c.RecordMissedVisit))
def record_missed_visit(run: Run[c.RecordMissedVisit] = Command(c.RecordMissedVisit)) -> Response:
    return run()


@router.post("/{delivery_id}/cancel", **declared(c.CancelDelivery))
def cancel_delivery(run: Run[c.CancelDelivery] = Command(c.CancelDelivery)) -> Response:
    return run()


@router.post("/{delivery_id}/dispute", **declared(c.DisputeDelivery))
def dispute_delivery(run: Run[c.DisputeDelivery] = Command(c.DisputeDelivery)) -> Response:
    return run()


@router.get("/{delivery_id}/events", response_model=History, dependencies=[Depends(reader("citizen"))])
def delivery_events(delivery_id: DeliveryPath, svc: ServicesDep, who: CallerDep, response: Response,
                    at_position: AtPosition = None) -> dict[str, Any]:
    return etag(response, history(svc, who, delivery_id, "Delivery", "delivery", "delivery-events", at_position))
