"""What the ledger will bill, as the generator foresees it, so payments can be for the right amounts.

The generator does not run the ledger: it mirrors the billing rules with the domain's own pure
functions (minimum and increment, price in force on the delivery's date, VAT, half-up rounding;
allocation of payments to invoices), and the invoice-run calendar of `World.runs`. If a figure here
ever differed from the ledger's, only a payment amount would be off (credit or a small balance
left), never the validity of a line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger.domain.allocation import MoneyEvent, allocate
from ledger.domain.pricing import PriceVersion, price_delivery
from ledger.domain.values import line_amounts
from ledger.generate.world import World

PAYMENT_TERMS_DAYS = 14  # the ledger's default (LEDGER_PAYMENT_TERMS_DAYS)
REMINDER_FEE_ORE = 10_000  # the ledger's default and the legal maximum (LEDGER_REMINDER_FEE_ORE)
REMINDER_MAX = 3
REMINDER_DAYS_APART = 10


def delivery_gross(world: World, m: int, offer_id: str, day: int, band: str, minutes: int, units: int) -> int:
    offer = world.catalogues[m].offer(offer_id)
    version = offer.version_on(day)
    minimum, increment = world.rules_on(m, day) if offer.spec.unit == "hour" else (0, 1)
    priced = price_delivery(offer.spec.unit, PriceVersion("", version.vat_class, version.prices), band, minutes, units,
                            minimum, increment)
    return priced.amounts.gross


def fee_gross(world: World, m: int, offer_id: str, fee: int) -> int:
    return line_amounts(fee, world.catalogues[m].offer(offer_id).spec.vat_class)[2]


@dataclass(slots=True)
class Billable:
    """A delivery or a late-cancellation fee the next invoice run after `t` will bill."""

    kind: str  # delivery | fee
    day: int  # the date it is billed for
    t: int  # when it was recorded
    gross: int
    delivery_id: str | None = None
    withdrawn: int | None = None  # instant it was cancelled or disputed
    run: int | None = None  # index into World.runs[m] of the run that bills it


def assign_runs(world: World, m: int, items: list[Billable]) -> dict[int, list[Billable]]:
    """run index → the items that run bills (an item recorded after its own month's run goes on the next)."""
    runs = world.runs[m]
    billed: dict[int, list[Billable]] = {}
    for item in items:
        for k, (_month, last, instant) in enumerate(runs):
            if instant > item.t and last >= item.day:
                if item.withdrawn is None or item.withdrawn > instant:
                    item.run = k
                    billed.setdefault(k, []).append(item)
                break
    return billed


class AccountSim:
    """A citizen's account as the ledger will hold it: money events in order, `allocate` for what is owed."""

    def __init__(self) -> None:
        self.money: list[MoneyEvent] = []  # dated "" : the simulation allocates without as_of
        self.invoices: list[dict[str, Any]] = []  # {key, due, reminders: [days]}

    def invoice(self, key: str, gross: int, due: int) -> None:
        self.money.append(MoneyEvent.invoice(key, gross, ""))
        self.invoices.append({"key": key, "due": due, "reminders": []})

    def credit(self, key: str, gross: int) -> None:
        self.money.append(MoneyEvent.credit_note(key, gross, ""))

    def pay(self, payment_id: str, amount: int) -> None:
        self.money.append(MoneyEvent.payment(payment_id, amount, "", None))

    def balance(self) -> int:
        return allocate(self.money).balance

    def remind(self, day: int) -> int:
        """Reminders a run on `day` issues (the rules of Account.remind); returns how many."""
        issued = 0
        # One allocation serves every invoice: a reminder's fee changes only its own invoice's debt.
        state = allocate(self.money)
        for inv in self.invoices:
            owed = state.owed.get(inv["key"], 0)
            if owed <= 0 or day <= inv["due"] or len(inv["reminders"]) >= REMINDER_MAX:
                continue
            if inv["reminders"] and day - inv["reminders"][-1] < REMINDER_DAYS_APART:
                continue
            inv["reminders"].append(day)
            self.money.append(MoneyEvent.reminder(inv["key"], REMINDER_FEE_ORE, ""))
            issued += 1
        return issued
