"""How payments meet invoices: a pure function of a citizen's money events, in order.

Allocation is derived, never stored as its own fact, so the account aggregate and the billing
projection compute the same answer from the same events and a replay reproduces it exactly.
Rules: a payment goes first to the invoice or debit note its reference names (if open; by number or
by the FI payment id on its slip), then to open invoices and debit notes oldest first; whatever is left is
credit on the account. A reversed payment counts as never made. Reminder fees are owed on the
document (invoice or debit note) they remind of. A credit note reduces what its invoice owes; if
the invoice was already paid, the excess becomes credit. A refund pays credit out to the citizen:
it reduces the credit (the account refuses one larger than the credit it holds).

Credit is kept in lots by where it came from (a payment's leftover, or a credit note's excess),
oldest first, and everything that takes credit (a document it pays, a refund) takes the oldest lot
first; so each refund is attributed to the payments whose leftover it paid out (`refunded`, per
payment), which the payments list reads as "no longer unallocated" (docs/adr/0029, round 9).

A payment reversed after its leftover was refunded leaves refunded money that no credit covers
(`uncovered`): credit is never negative. New credit covers it first (as it did when the reversal
was allowed because a later payment had covered the refund); what is left is a claim on the citizen
(`Account.raise_claim`, 657-B00001), a document owed like an invoice, which takes the uncovered
amount over: after the claim the account is whole again, and later payments pay it oldest first.

Credit never waits beside an open document: after every money event, credit on the account pays
the open documents oldest first (allocations from "credit"). So `credit > 0` means nothing is
owed, and what `owed` says is open is exactly what the citizen has not covered: the balances, the
open items, the ageing, default interest and reminders all read that one answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeAlias

from ledger.domain.fi_payment import document_for_reference

MoneyKind: TypeAlias = Literal["invoice", "debit_note", "credit_note", "reminder", "payment", "refund", "claim"]

# The one encoding of a money event as a short list (the billing projection stores an account's
# money as JSON of these, written on every change, so their size matters):
#   ["i", invoice number, gross, issued on]        ["r", invoice number, fee, issued on]
#   ["c", invoice number, gross, issued on]        ["p", payment id, amount, paid on, reference, reversed on]
#   ["d", debit note number, gross, issued on]       ["f", refund number, amount, refunded on]
#   ["b", claim number, amount, raised on]
_CODE: dict[MoneyKind, str] = {"invoice": "i", "debit_note": "d", "credit_note": "c", "reminder": "r", "payment": "p",
                               "refund": "f", "claim": "b"}
_KIND: dict[str, MoneyKind] = {v: k for k, v in _CODE.items()}


@dataclass(frozen=True, slots=True)
class MoneyEvent:
    """One fact that moves money on an account, as allocation reads it.

    `key` is the document number for an invoice, a debit note or a claim, the invoice number for a
    credit note or a reminder, the payment id for a payment, the refund number for a refund of credit;
    `amount` its gross, fee or amount in øre."""

    kind: MoneyKind
    key: str
    amount: int
    on: str  # the effective date (ISO)
    reference: str | None = None  # payment: what the payer wrote (an invoice number or FI id)
    reversed_on: str | None = None  # payment: the date it was reversed

    # -- the money events of the Account aggregate's events -------------------------------
    @classmethod
    def invoice(cls, number: str, gross: int, on: str) -> MoneyEvent:
        return cls("invoice", number, gross, on)

    @classmethod
    def debit_note(cls, number: str, gross: int, on: str) -> MoneyEvent:
        return cls("debit_note", number, gross, on)

    @classmethod
    def credit_note(cls, invoice_number: str, gross: int, on: str) -> MoneyEvent:
        return cls("credit_note", invoice_number, gross, on)

    @classmethod
    def reminder(cls, invoice_number: str, fee: int, on: str) -> MoneyEvent:
        return cls("reminder", invoice_number, fee, on)

    @classmethod
    def payment(cls, payment_id: str, amount: int, on: str, reference: str | None) -> MoneyEvent:
        return cls("payment", payment_id, amount, on, reference)

    @classmethod
    def refund(cls, number: str, amount: int, on: str) -> MoneyEvent:
        return cls("refund", number, amount, on)

    @classmethod
    def claim(cls, number: str, amount: int, on: str) -> MoneyEvent:
        return cls("claim", number, amount, on)

    def is_payment(self, payment_id: str) -> bool:
        return self.kind == "payment" and self.key == payment_id

    def reversed(self, on: str) -> MoneyEvent:
        return replace(self, reversed_on=on)

    # -- the stored encoding --------------------------------------------------------------
    def to_row(self) -> list[Any]:
        if self.kind == "payment":
            return ["p", self.key, self.amount, self.on, self.reference, self.reversed_on]
        return [_CODE[self.kind], self.key, self.amount, self.on]

    @classmethod
    def from_row(cls, row: list[Any]) -> MoneyEvent:
        if row[0] == "p":
            return cls("payment", row[1], row[2], row[3], row[4], row[5])
        return cls(_KIND[row[0]], row[1], row[2], row[3])


def reverse_payment(money: list[MoneyEvent], payment_id: str, on: str) -> None:
    """Mark the payment reversed from `on`, in place (as Account.PaymentReversed does)."""
    for i, m in enumerate(money):
        if m.is_payment(payment_id):
            money[i] = m.reversed(on)


@dataclass
class AccountState:
    # invoice, debit note or claim number → still open, in issue order
    owed: dict[str, int] = field(default_factory=dict)
    charged: dict[str, int] = field(default_factory=dict)  # document number → gross + fees − credit notes
    credit: int = 0  # unallocated money on the account (only while nothing is owed); never negative
    allocations: list[tuple[str, str, int]] = field(default_factory=list)  # (payment id, invoice number, øre)
    # Refunded money no credit covers (a payment reversed after its leftover was refunded), until
    # new credit or a claim covers it: 0 after every command (Account.reverse_payment raises the claim).
    uncovered: int = 0
    # payment id → how much of its leftover credit was paid out (refunds take the oldest credit first)
    refunded: dict[str, int] = field(default_factory=dict)
    # (refund number, payment id, øre): which payments' leftover each refund paid out ("" a credit note's)
    funded: list[tuple[str, str, int]] = field(default_factory=list)
    # the credit by where it came from, oldest first: [payment id or "" (a credit note's excess), øre]
    lots: list[list[Any]] = field(default_factory=list)

    @property
    def balance(self) -> int:
        """What the citizen owes now; negative means credit on the account."""
        return sum(self.owed.values()) - self.credit + self.uncovered

    def _use_credit(self) -> None:
        """Credit on the account pays open documents, oldest first."""
        owed = self.owed
        for number, open_amount in owed.items():
            if self.credit <= 0:
                break
            take = min(self.credit, open_amount)
            if take > 0:
                owed[number] = open_amount - take
                self.allocations.append(("credit", number, take))
                self.credit -= take
                self._take(take)

    def _add_credit(self, source: str, amount: int) -> None:
        """Money no document takes: it covers refunded money first (as a payment that covered a
        refund always did), the rest is credit, a lot of its own."""
        cover = min(amount, self.uncovered)
        if cover > 0:
            self.uncovered -= cover
            amount -= cover
            if source:
                self.refunded[source] = self.refunded.get(source, 0) + cover
        if amount > 0:
            self.credit += amount
            self.lots.append([source, amount])

    def _take(self, amount: int) -> list[tuple[str, int]]:
        """Take `amount` of credit from the oldest lots first; where it came from."""
        taken: list[tuple[str, int]] = []
        lots = self.lots
        while amount > 0 and lots:
            lot = lots[0]
            take = min(amount, lot[1])
            taken.append((lot[0], take))
            amount -= take
            if take == lot[1]:
                lots.pop(0)
            else:
                lot[1] -= take
        return taken

    def _pay(self, payment_id: str, number: str, available: int) -> int:
        take = min(available, self.owed.get(number, 0))
        if take > 0:
            self.owed[number] -= take
            self.allocations.append((payment_id, number, take))
        return available - take


def allocate(money: Iterable[MoneyEvent], as_of: str | None = None) -> AccountState:
    """The account's state after its money events, in order; with `as_of`, only the events dated
    on or before it count (a reversal dated later has not happened yet)."""
    s = AccountState()
    for e in money:
        if as_of is not None and e.on > as_of:
            continue
        kind, n = e.kind, e.key
        if kind == "invoice" or kind == "debit_note":  # a debit note is owed as an invoice is, under its own number
            s.owed[n] = e.amount
            s.charged[n] = e.amount
        elif kind == "claim":  # refunded money a reversal left uncovered, now owed as a document
            take = min(e.amount, s.uncovered)  # all of it, except in a view as of a day before the refund
            s.uncovered -= take
            s.owed[n] = take
            s.charged[n] = take
        elif kind == "reminder":
            s.owed[n] = s.owed.get(n, 0) + e.amount
            s.charged[n] = s.charged.get(n, 0) + e.amount
        elif kind == "refund":  # credit on the account paid out to the citizen (Account.refund_credit)
            paid_out = min(e.amount, s.credit)
            s.credit -= paid_out
            for source, take in s._take(paid_out):
                s.funded.append((n, source, take))
                if source:
                    s.refunded[source] = s.refunded.get(source, 0) + take
            s.uncovered += e.amount - paid_out  # only once the payment it paid out was reversed
        elif kind == "credit_note":
            s.charged[n] = s.charged.get(n, 0) - e.amount
            reduce = min(e.amount, s.owed.get(n, 0))
            s.owed[n] = s.owed.get(n, 0) - reduce
            if e.amount > reduce:
                s._add_credit("", e.amount - reduce)
        else:  # payment
            if e.reversed_on is not None and (as_of is None or e.reversed_on <= as_of):
                continue
            left = e.amount
            ref = document_for_reference(e.reference)  # a document number or its FI payment id
            if ref and ref in s.owed:
                left = s._pay(n, ref, left)
            for number in list(s.owed):
                if left <= 0:
                    break
                left = s._pay(n, number, left)
            if left > 0:
                s._add_credit(n, left)
        if s.credit > 0:
            s._use_credit()
    return s
