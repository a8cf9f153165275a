"""Payments received from citizens, and their reversal."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from ledger.api import bodies as b
from ledger.api.commanding import Command, Runner
from ledger.api.routes import COMMAND_ERRORS, CitizenPath, ShortIdPath
from ledger.api.schemas import CommandResponse

router = APIRouter(prefix="/payments", tags=["payments"], responses=COMMAND_ERRORS)


@router.post("", status_code=201, response_model=CommandResponse)
def receive_payment(body: b.ReceivePaymentBody, run: Runner = Command("receive_payment")) -> Response:
    return run(body)


@router.post("/{citizen_id}/{payment_id}/reversal", response_model=CommandResponse)
def reverse_payment(citizen_id: CitizenPath, payment_id: ShortIdPath, body: b.ReversePaymentBody,
                    run: Runner = Command("reverse_payment")) -> Response:
    return run(body, citizen_id=citizen_id, payment_id=payment_id)
