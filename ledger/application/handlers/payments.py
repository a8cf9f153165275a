from __future__ import annotations

from typing import Any

from ledger.application import commands as c
from ledger.application.handlers import handles
from ledger.application.handlers.citizens import citizen
from ledger.domain.account import Account, account_id
from ledger.domain.base import key_id
from ledger.domain.errors import NotFound, rule


def account(uow: Any, ctx: Any, person: Any, on: Any, create: bool) -> Account:
    a = uow.find(Account, account_id(person.id))
    if a is None:
        if not create:
            raise NotFound(f"citizen {person.id} has no account yet")
        a = uow.add(Account.open(ctx, person.id, person.municipality, on))
    return a


@handles("receive_payment")
def receive(uow: Any, cmd: c.ReceivePayment, ctx: Any, svc: Any) -> dict[str, Any]:
    person = citizen(uow, cmd.citizen_id)
    today = ctx.timestamp().date()
    rule(cmd.date <= today, "payment-in-future", f"a payment dated {cmd.date} cannot be received before {today}")
    a = account(uow, ctx, person, cmd.date, create=True)
    pid = cmd.payment_id or f"p-{key_id('payment', ctx.command_id).hex[:12]}"
    a.receive_payment(ctx, pid, cmd.amount, cmd.date, cmd.method, cmd.reference)
    return {"citizen_id": str(person.id), "payment_id": pid, "balance_ore": a.state().balance}


@handles("reverse_payment")
def reverse(uow: Any, cmd: c.ReversePayment, ctx: Any, svc: Any) -> dict[str, Any]:
    person = citizen(uow, cmd.citizen_id)
    a = account(uow, ctx, person, cmd.date, create=False)
    a.reverse_payment(ctx, cmd.payment_id, cmd.date, cmd.reason)
    return {"citizen_id": str(person.id), "payment_id": cmd.payment_id, "balance_ore": a.state().balance}
