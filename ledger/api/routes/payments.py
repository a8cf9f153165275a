"""Payments received from citizens, their reversal, and refunds of credit to citizens."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from ledger.application import commands as c
from ledger.api.commanding import Command, Run, declared
from ledger.api.routes import COMMAND_ERRORS

router = APIRouter(prefix="/payments", tags=["payments"], responses=COMMAND_ERRORS)


@router.post("", **declared(c.ReceivePayment))
def receive_payment(run: Run[c.ReceivePayment] = Command(c.ReceivePayment)) -> Response:
    return run()


@router.post("/{citizen_id}/{payment_id}/reversal", **declared(c.ReversePayment))
def reverse_payment(run: Run[c.ReversePayment] = Command(c.ReversePayment)) -> Response:
    return run()


@router.post("/refunds", **declared(c.RefundCredit))
def refund_credit(run: Run[c.RefundCredit] = Command(c.RefundCredit)) -> Response:
    return run()
