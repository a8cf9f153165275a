"""Payments a citizen makes, their reversal, and refunds of credit on the account."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal
from uuid import UUID

from ledger.application.commands._base import Command, Day, Ore, ShortId, Text
from ledger.application.commands._spec import Result, Services, declare
from ledger.application.commands.citizens import citizen
from ledger.application.commands.deliveries import series
from ledger.application.uow import UnitOfWork
from ledger.domain.base import Context
from ledger.domain.citizen import Citizen
from ledger.domain.account import Account, account_id
from ledger.domain.base import key_id
from ledger.domain.errors import NotFound, rule


class ReceivePayment(Command):
    payment_id: ShortId | None = None
    citizen_id: UUID
    amount: Ore
    date: Day
    method: Literal["digital_post", "direct_debit", "bank_transfer", "card", "cash"]
    reference: ShortId | None = None


class ReversePayment(Command):
    citizen_id: UUID
    payment_id: ShortId
    date: Day
    reason: Text


class RefundCredit(Command):
    citizen_id: UUID
    amount: Ore
    date: Day
    method: Literal["nemkonto", "bank_transfer", "card", "cash"]
    reason: Text
    reference: ShortId | None = None


def account(uow: UnitOfWork, ctx: Context, person: Citizen, on: date, create: bool) -> Account:
    a = uow.find(Account, account_id(person.id))
    if a is None:
        if not create:
            raise NotFound(f"citizen {person.id} has no account yet")
        a = uow.add(Account.open(ctx, person.id, person.municipality, on))
    return a


@declare(ReceivePayment, name="receive_payment", roles=["billing_clerk"], creates=True, etag="account",
         location="/citizens/{citizen_id}/account/events",
         example={"citizen_id": "2554e582-e697-59f2-9cfd-e5850753d758", "amount": 35400, "date": "2019-04-20", "method": "bank_transfer",
                  "reference": "FIK-123"})
def receive(uow: UnitOfWork, cmd: ReceivePayment, ctx: Context, svc: Services) -> Result:
    person = citizen(uow, cmd.citizen_id)
    today = ctx.timestamp().date()
    rule(cmd.date <= today, "payment-in-future", f"a payment dated {cmd.date} cannot be received before {today}")
    a = account(uow, ctx, person, cmd.date, create=True)
    pid = cmd.payment_id or f"p-{key_id('payment', ctx.command_id).hex[:12]}"
    a.receive_payment(ctx, pid, cmd.amount, cmd.date, cmd.method, cmd.reference)
    return {"citizen_id": str(person.id), "payment_id": pid, "balance_ore": a.state().balance}


@declare(ReversePayment, name="reverse_payment", roles=["billing_clerk"], path=["citizen_id", "payment_id"],
         if_match="account", example={"date": "2019-04-25", "reason": "the transfer bounced"})
def reverse(uow: UnitOfWork, cmd: ReversePayment, ctx: Context, svc: Services) -> Result:
    """Record that the bank reversed a payment. If its money had been refunded as credit, the
    refunded money the account no longer holds becomes a claim on the citizen, numbered from the
    municipality's gapless claim series and saved with the account in one transaction
    (docs/adr/0029, round 9)."""
    person = citizen(uow, cmd.citizen_id)
    a = account(uow, ctx, person, cmd.date, create=False)
    claim = None
    if a.claim_on_reversal(cmd.payment_id, cmd.date) > 0:
        number, raised_on = series(uow, ctx, person.municipality, cmd.date).take_claim_number(
            ctx, str(person.id), cmd.payment_id, cmd.date)
        claim = (number, raised_on, raised_on + timedelta(days=svc.settings.payment_terms_days))
    amount = a.reverse_payment(ctx, cmd.payment_id, cmd.date, cmd.reason, claim)
    return {"citizen_id": str(person.id), "payment_id": cmd.payment_id, "balance_ore": a.state().balance,
            "claim_number": claim[0] if claim else None, "claim_ore": amount}


@declare(RefundCredit, name="refund_credit", roles=["billing_clerk"], creates=True, etag="account",
         location="/citizens/{citizen_id}/account/events",
         example={"citizen_id": "2554e582-e697-59f2-9cfd-e5850753d758", "amount": 10000, "date": "2019-05-01",
                  "method": "nemkonto", "reason": "overpaid 657-000002", "reference": "bank-2019-0501"})
def refund_credit(uow: UnitOfWork, cmd: RefundCredit, ctx: Context, svc: Services) -> Result:
    """Pay credit on a citizen's account out to them, under the next number of the municipality's
    gapless refund series (saved with the account in one transaction, as invoices are)."""
    person = citizen(uow, cmd.citizen_id)
    today = ctx.timestamp().date()
    rule(cmd.date <= today, "refund-in-future", f"a refund dated {cmd.date} cannot be made before {today}")
    a = account(uow, ctx, person, cmd.date, create=False)
    number = series(uow, ctx, person.municipality, cmd.date).take_refund_number(ctx, cmd.date)
    a.refund_credit(ctx, number, cmd.amount, cmd.date, cmd.method, cmd.reference, cmd.reason)
    return {"citizen_id": str(person.id), "refund_number": number, "balance_ore": a.state().balance}
