"""Deliveries: what was delivered against an order, visits that did not happen, and withdrawing a
delivery (cancelled or disputed; a credit note follows when it was already invoiced)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path
from starlette.responses import Response

from ledger.api import bodies as b
from ledger.api.commanding import Command, Runner
from ledger.api.deps import AtPosition, CallerDep, ServicesDep, reader
from ledger.api.reads import etag, history
from ledger.api.routes import COMMAND_ERRORS
from ledger.api.schemas import CommandResponse, History

router = APIRouter(prefix="/deliveries", tags=["deliveries"], responses=COMMAND_ERRORS)
DeliveryPath = Annotated[UUID, Path(description="the delivery's id")]


@router.post("", status_code=201, response_model=CommandResponse)
def record_delivery(body: b.RecordDeliveryBody, run: Runner = Command("record_delivery")) -> Response:
    return run(body)


@router.post("/missed", status_code=201, response_model=CommandResponse)
def record_missed_visit(body: b.RecordMissedVisitBody, run: Runner = Command("record_missed_visit")) -> Response:
    return run(body)


@router.post("/{delivery_id}/cancel", response_model=CommandResponse)
def cancel_delivery(delivery_id: DeliveryPath, body: b.CancelDeliveryBody,
                    run: Runner = Command("cancel_delivery")) -> Response:
    return run(body, delivery_id=delivery_id)


@router.post("/{delivery_id}/dispute", response_model=CommandResponse)
def dispute_delivery(delivery_id: DeliveryPath, body: b.DisputeDeliveryBody,
                     run: Runner = Command("dispute_delivery")) -> Response:
    return run(body, delivery_id=delivery_id)


@router.get("/{delivery_id}/events", response_model=History, dependencies=[Depends(reader("citizen"))])
def delivery_events(delivery_id: DeliveryPath, svc: ServicesDep, who: CallerDep, response: Response,
                    at_position: AtPosition = None) -> dict[str, Any]:
    return etag(response, history(svc, who, delivery_id, "Delivery", "delivery", "delivery-events", at_position))
