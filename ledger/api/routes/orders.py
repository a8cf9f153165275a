"""Orders: place, change, cancel (with the catalogue's late-cancellation terms)."""

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

router = APIRouter(prefix="/orders", tags=["orders"], responses=COMMAND_ERRORS)
OrderPath = Annotated[UUID, Path(description="the order's id")]


@router.post("", status_code=201, response_model=CommandResponse)
def place_order(body: b.PlaceOrderBody, run: Runner = Command("place_order")) -> Response:
    return run(body)


@router.post("/{order_id}/changes", response_model=CommandResponse)
def change_order(order_id: OrderPath, body: b.ChangeOrderBody, run: Runner = Command("change_order")) -> Response:
    return run(body, order_id=order_id)


@router.post("/{order_id}/cancel", response_model=CommandResponse)
def cancel_order(order_id: OrderPath, body: b.CancelOrderBody, run: Runner = Command("cancel_order")) -> Response:
    return run(body, order_id=order_id)


@router.get("/{order_id}/events", response_model=History, dependencies=[Depends(reader("citizen"))])
def order_events(order_id: OrderPath, svc: ServicesDep, who: CallerDep, response: Response,
                 at_position: AtPosition = None) -> dict[str, Any]:
    return etag(response, history(svc, who, order_id, "Order", "order", "order-events", at_position))
