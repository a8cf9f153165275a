"""Orders: place, change, cancel (with the catalogue's late-cancellation terms)."""

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

router = APIRouter(prefix="/orders", tags=["orders"], responses=COMMAND_ERRORS)
OrderPath = Annotated[UUID, Path(description="the order's id")]


@router.post("", **declared(c.PlaceOrder))
def place_order(run: Run[c.PlaceOrder] = Command(c.PlaceOrder)) -> Response:
    return run()


@router.post("/{order_id}/changes", **declared(c.ChangeOrder))
def change_order(run: Run[c.ChangeOrder] = Command(c.ChangeOrder)) -> Response:
    return run()


@router.post("/{order_id}/cancel", **declared(c.CancelOrder))
def cancel_order(run: Run[c.CancelOrder] = Command(c.CancelOrder)) -> Response:
    return run()


@router.get("/{order_id}/events", response_model=History, dependencies=[Depends(reader("citizen"))])
def order_events(order_id: OrderPath, svc: ServicesDep, who: CallerDep, response: Response,
                 at_position: AtPosition = None) -> dict[str, Any]:
    return etag(response, history(svc, who, order_id, "Order", "order", "order-events", at_position))
