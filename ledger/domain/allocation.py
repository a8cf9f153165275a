"""How payments meet invoices: a pure function of a citizen's money events, in order.

Allocation is derived, never stored as its own fact, so the account aggregate and the billing
projection compute the same answer from the same events and a replay reproduces it exactly.
Rules: a payment goes first to the invoice its reference names (if open; by number or by the FI
payment id on its slip), then to open invoices
oldest first; whatever is left is credit on the account, which the next invoice consumes.
A reversed payment counts as never made. Reminder fees are owed on the invoice they remind of.
A credit note reduces what its invoice owes; if the invoice was already paid, the excess
becomes credit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ledger.domain.fi_payment import invoice_for_reference


@dataclass
class AccountState:
    owed: dict[str, int] = field(default_factory=dict)  # invoice number → still open, in issue order
    charged: dict[str, int] = field(default_factory=dict)  # invoice number → gross + fees − credit notes
    credit: int = 0  # unallocated money on the account
    allocations: list[tuple[str, str, int]] = field(default_factory=list)  # (payment id, invoice number, øre)

    @property
    def balance(self) -> int:
        """What the citizen owes now; negative means credit on the account."""
        return sum(self.owed.values()) - self.credit

    def _pay(self, payment_id: str, number: str, available: int) -> int:
        take = min(available, self.owed.get(number, 0))
        if take > 0:
            self.owed[number] -= take
            self.allocations.append((payment_id, number, take))
        return available - take


def allocate(money_events: list[dict[str, Any]]) -> AccountState:
    """money_events: dicts with 'kind' in invoice|reminder|credit_note|payment and their amounts.

    invoice, debit_note: number, gross · reminder: invoice_number, fee · credit_note: invoice_number, gross
    payment: payment_id, amount, reference, reversed (bool)
    """
    s = AccountState()
    for e in money_events:
        kind = e["kind"]
        if kind in ("invoice", "debit_note"):  # a debit note is owed as an invoice is, under its own number
            n = e["number"]
            s.owed[n] = e["gross"]
            s.charged[n] = e["gross"]
            if s.credit > 0:
                s.credit = s._pay("credit", n, s.credit)
        elif kind == "reminder":
            n = e["invoice_number"]
            s.owed[n] = s.owed.get(n, 0) + e["fee"]
            s.charged[n] = s.charged.get(n, 0) + e["fee"]
        elif kind == "credit_note":
            n = e["invoice_number"]
            s.charged[n] = s.charged.get(n, 0) - e["gross"]
            reduce = min(e["gross"], s.owed.get(n, 0))
            s.owed[n] = s.owed.get(n, 0) - reduce
            s.credit += e["gross"] - reduce
        elif kind == "payment":
            if e.get("reversed"):
                continue
            left = e["amount"]
            ref = invoice_for_reference(e.get("reference"))  # an invoice number or its FI payment id
            if ref and ref in s.owed:
                left = s._pay(e["payment_id"], ref, left)
            for n in list(s.owed):
                if left <= 0:
                    break
                left = s._pay(e["payment_id"], n, left)
            s.credit += left
        else:  # pragma: no cover - programmer error
            raise AssertionError(f"unknown money event {kind}")
    return s
