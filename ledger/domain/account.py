"""A citizen's account with the municipality: invoices, debit and credit notes, reminders and payments.

One Account per citizen (id from the citizen id). It is the debtor ledger: it knows which
deliveries it has billed (so none is billed twice), which invoice lines were credited, and what
is owed (see allocation.py). Invoices are never edited; a cancelled or disputed delivery that was
invoiced gets a credit note referencing the original line. A re-rating (docs/adr/0011) adds debit
notes (more owed) and credit notes (less owed), each line naming the invoice line it adjusts and
the event that caused the difference; `issued` keeps, per billed delivery or fee, what all the
documents so far charged for it, which is what a re-rating compares with. A payment reversed after
its money was refunded as credit raises a claim on the citizen (docs/adr/0029, round 9): the
refunded money the account no longer holds, owed like an invoice under its own number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.domain.allocation import AccountState, MoneyEvent, allocate, reverse_payment
from ledger.domain.base import Context, LedgerAggregate, key_id
from ledger.domain.errors import InvalidInput, NotFound, rule
from ledger.domain.document_numbers import is_debit_note
from ledger.domain.pricing import InvoiceLine, Payload
from ledger.domain.values import PAYMENT_METHODS, REFUND_METHODS, iso, one_of, ore

if TYPE_CHECKING:
    from ledger.domain.interest import ReferenceRates


def account_id(citizen_id: UUID | str) -> UUID:
    return key_id("account", citizen_id)


def _totals(lines: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    return {k: sum(line[k] for line in lines) for k in ("net", "vat", "gross")}


class Account(LedgerAggregate):
    if TYPE_CHECKING:  # state the events' apply() methods assign (declared for the type checker only)
        citizen_id: str
        invoices: dict[str, dict[str, Any]]
        billed: dict[str, tuple[str, int]]
        credited: set[tuple[str, int]]
        payments: dict[str, dict[str, Any]]
        money: list[MoneyEvent]
        issued: dict[str, dict[str, Any]]
        debit_notes: dict[str, dict[str, Any]]
        claims: dict[str, dict[str, Any]]
        interest_to: dict[str, str]

    class AccountOpened(LedgerAggregate.Created):
        citizen_id: str

        def apply(self, a: Account) -> None:
            a.municipality = self.municipality
            a.citizen_id = self.citizen_id
            a.invoices = {}
            a.billed = {}  # delivery id or fee ref → (invoice number, line no)
            a.credited = set()  # (invoice number, line no)
            a.payments = {}
            a.money = []  # the money events, in order, as allocation.allocate() reads them
            # billing key → what the documents so far charged for it: net, vat, gross, and the
            # invoice line that first billed it (invoice, line_no)
            a.issued = {}
            a.debit_notes = {}
            a.claims = {}  # claim number → the claim on the citizen a reversal raised (owed like an invoice)
            a.interest_to = {}  # document number → the last day default interest was charged for

    class InvoiceIssued(LedgerAggregate.Event):
        number: str
        month: str
        due_on: str
        lines: list[Payload]
        net: int
        vat: int
        gross: int
        chain_head: dict[str, Any]

        def apply(self, a: Account) -> None:
            a.invoices[self.number] = {"month": self.month, "issued_on": self.effective, "due_on": self.due_on,
                                       "gross": self.gross, "lines": self.lines, "reminders": []}
            for line in self.lines:
                a.billed[line["billing_key"]] = (self.number, line["line_no"])
                a.issued[line["billing_key"]] = {"net": line["net"], "vat": line["vat"], "gross": line["gross"],
                                                 "invoice": self.number, "line_no": line["line_no"],
                                                 "date": line["date"], "kind": line["kind"]}
                if line["kind"] == "interest":
                    a.interest_to[line["interest"]["document"]] = line["interest"]["to"]
            a.money.append(MoneyEvent.invoice(self.number, self.gross, self.effective))

    class CreditNoteIssued(LedgerAggregate.Event):
        number: str
        invoice_number: str
        lines: list[Payload]
        net: int
        vat: int
        gross: int
        reason: str

        def apply(self, a: Account) -> None:
            for line in self.lines:
                a.credited.add((self.invoice_number, line["invoice_line_no"]))
                a._adjust(line, -1)
            a.money.append(MoneyEvent.credit_note(self.invoice_number, self.gross, self.effective))

    class DebitNoteIssued(LedgerAggregate.Event):
        """More is owed for lines of an issued invoice than it charged (a re-rating); its own number."""

        number: str
        invoice_number: str
        due_on: str
        lines: list[Payload]
        net: int
        vat: int
        gross: int
        reason: str

        def apply(self, a: Account) -> None:
            a.debit_notes[self.number] = {"invoice_number": self.invoice_number, "issued_on": self.effective,
                                          "due_on": self.due_on, "gross": self.gross, "lines": self.lines,
                                          "reminders": []}
            for line in self.lines:
                a._adjust(line, +1)
            a.money.append(MoneyEvent.debit_note(self.number, self.gross, self.effective))

    def _adjust(self, line: dict[str, Any], sign: int) -> None:
        entry = self.issued.get(line["billing_key"])
        if entry is not None:
            for k in ("net", "vat", "gross"):
                entry[k] += sign * line[k]

    class ReminderIssued(LedgerAggregate.Event):
        """A reminder of an overdue document, with its fee (owed on that document).

        `invoice_number` is the number of the document reminded of: an invoice (`657-000001`) or a
        debit note (`657-D00001`, its own series, so the number says which). Reminders of debit
        notes need no new shape; the field kept its name so stored reminders read as they did."""

        invoice_number: str
        sequence: int
        fee_ore: int

        def apply(self, a: Account) -> None:
            a.document(self.invoice_number)["reminders"].append(self.effective)
            a.money.append(MoneyEvent.reminder(self.invoice_number, self.fee_ore, self.effective))

    class PaymentReceived(LedgerAggregate.Event):
        payment_id: str
        amount: int
        method: str
        reference: str | None

        def apply(self, a: Account) -> None:
            a.payments[self.payment_id] = {"amount": self.amount, "reversed": False}
            a.money.append(MoneyEvent.payment(self.payment_id, self.amount, self.effective, self.reference))

    class PaymentReversed(LedgerAggregate.Event):
        payment_id: str
        reason: str

        def apply(self, a: Account) -> None:
            a.payments[self.payment_id]["reversed"] = True
            reverse_payment(a.money, self.payment_id, self.effective)

    class CreditRefunded(LedgerAggregate.Event):
        """Credit on the account was paid out to the citizen (after an overpayment, or a credit
        note on a paid invoice), under a number of the municipality's refund series (657-R00001)."""

        number: str
        amount: int
        method: str
        reference: str | None
        reason: str

        def apply(self, a: Account) -> None:
            a.money.append(MoneyEvent.refund(self.number, self.amount, self.effective))

    class ClaimRaised(LedgerAggregate.Event):
        """A payment was reversed after its money had been refunded as credit: the refunded money
        the account no longer holds is owed back by the citizen, under a number of the
        municipality's claim series (657-B00001, "betalingskrav"), due like an invoice."""

        number: str
        amount: int
        due_on: str
        payment_id: str  # the reversed payment
        refunds: list[str]  # the refunds that had paid out its money
        reason: str

        def apply(self, a: Account) -> None:
            a.claims[self.number] = {"issued_on": self.effective, "due_on": self.due_on, "gross": self.amount,
                                   "payment_id": self.payment_id, "lines": [], "reminders": []}
            a.money.append(MoneyEvent.claim(self.number, self.amount, self.effective))

    # -- commands --------------------------------------------------------------------------
    @classmethod
    def open(cls, ctx: Context, citizen_id: UUID | str, municipality: int, effective: date) -> Account:
        return cls._start(cls.AccountOpened, account_id(citizen_id), ctx, iso(effective), municipality,
                          citizen_id=str(citizen_id))

    def issue_invoice(self, ctx: Context, number: str, month: str, issued_on: date, due_on: date,
                      lines: Sequence[InvoiceLine | Payload], chain_head: dict[str, Any]) -> None:
        """Issue an invoice of these lines (typed lines; a stored line's payload dict is taken as it is)."""
        assert lines, "an invoice has at least one line"
        payloads = [x.to_payload() if isinstance(x, InvoiceLine) else x for x in lines]
        for line in payloads:
            rule(line["billing_key"] not in self.billed, "billed-twice",
                 f"{line['billing_key']} is already on invoice {self.billed.get(line['billing_key'], ('?',))[0]}")
            assert all(isinstance(line[k], int) for k in ("net", "vat", "gross")), "money is integer øre"
        self._record(self.InvoiceIssued, ctx, iso(issued_on), number=number, month=month, due_on=iso(due_on),
                     lines=payloads, **_totals(payloads), chain_head=chain_head)

    def document(self, number: str) -> dict[str, Any]:
        """An issued invoice, debit note or claim, by its number: the documents a citizen owes."""
        doc = self.invoices.get(number) or self.debit_notes.get(number) or self.claims.get(number)
        if doc is None:
            raise NotFound(f"the account has no invoice, debit note or claim {number}")
        return doc

    def line_for(self, billing_key: str) -> tuple[str, dict[str, Any]] | None:
        """The invoice number and line that billed a delivery (or fee), if any."""
        if billing_key not in self.billed:
            return None
        number, line_no = self.billed[billing_key]
        return number, self.invoices[number]["lines"][line_no - 1]

    def still_charged(self, billing_key: str) -> dict[str, int]:
        """What the documents so far charge for a billed delivery or fee (zero if never billed)."""
        entry = self.issued.get(billing_key)
        return {k: entry[k] if entry else 0 for k in ("net", "vat", "gross")}

    def issue_credit_note(self, ctx: Context, number: str, invoice_number: str, line: dict[str, Any], effective: date,
                          reason: str) -> None:
        """Credit what is still charged for one invoice line (all of it, after any re-rating)."""
        left = self.still_charged(line["billing_key"])
        rule(left["gross"] > 0, "credited-twice",
             f"line {line['line_no']} of invoice {invoice_number} is already credited")
        credit = {"invoice_line_no": line["line_no"], "billing_key": line["billing_key"], **left}
        self._record(self.CreditNoteIssued, ctx, iso(effective), number=number, invoice_number=invoice_number,
                     lines=[credit], **_totals([credit]), reason=reason)

    def issue_adjustment(self, ctx: Context, number: str, invoice_number: str, lines: list[dict[str, Any]],
                         effective: date, due_on: date, reason: str) -> None:
        """A re-rating's document for one original invoice: a debit note when the lines add up to
        more (positive amounts), a credit note when less (amounts given positive, credited)."""
        assert lines and invoice_number in self.invoices, "an adjustment adjusts lines of an issued invoice"
        for line in lines:
            assert all(isinstance(line[k], int) for k in ("net", "vat", "gross")), "money is integer øre"
            assert line["billing_key"] in self.issued, "an adjustment names a billed line"
        if is_debit_note(number):
            self._record(self.DebitNoteIssued, ctx, iso(effective), number=number, invoice_number=invoice_number,
                         due_on=iso(due_on), lines=lines, **_totals(lines), reason=reason)
        else:
            self._record(self.CreditNoteIssued, ctx, iso(effective), number=number, invoice_number=invoice_number,
                         lines=lines, **_totals(lines), reason=reason)

    def receive_payment(self, ctx: Context, payment_id: str, amount: int, on: date, method: str,
                        reference: str | None) -> None:
        ore(amount, "amount", allow_zero=False)
        one_of(method, PAYMENT_METHODS, "method")
        if payment_id in self.payments:
            raise InvalidInput(f"payment {payment_id} is already recorded", field="payment_id")
        if reference is not None and (not isinstance(reference, str) or len(reference) > 64):
            raise InvalidInput("reference must be a short text (an invoice number)", field="reference")
        self._record(self.PaymentReceived, ctx, iso(on), payment_id=payment_id, amount=amount, method=method,
                     reference=reference)

    def claim_on_reversal(self, payment_id: str, on: date) -> int:
        """What reversing the payment on `on` would leave uncovered of the money refunded as
        credit (0: nothing; more: the claim on the citizen the reversal raises). Refuses a payment
        the account has not got or has already reversed."""
        p = self.payments.get(payment_id)
        if p is None:
            raise NotFound(f"the account has no payment {payment_id}")
        rule(not p["reversed"], "already-reversed", f"payment {payment_id} is already reversed")
        after = list(self.money)
        reverse_payment(after, payment_id, iso(on))
        return allocate(after).uncovered

    def reverse_payment(self, ctx: Context, payment_id: str, on: date, reason: str,
                        claim: tuple[str, date, date] | None = None) -> int:
        """The bank reversed the payment. If its money was (in part) refunded as credit, the
        account no longer holds what was paid out: `claim` (its number, date and due date, from
        the claim series) raises a claim on the citizen for that amount. The claim's amount."""
        amount = self.claim_on_reversal(payment_id, on)
        assert (amount > 0) == (claim is not None), "a reversal leaving refunded money uncovered raises one claim"
        refunds = sorted({r for r, source, _ in self.state().funded if source == payment_id})
        self._record(self.PaymentReversed, ctx, iso(on), payment_id=payment_id, reason=reason)
        if claim is not None:
            number, raised_on, due_on = claim
            self._record(self.ClaimRaised, ctx, iso(raised_on), number=number, amount=amount, due_on=iso(due_on),
                         payment_id=payment_id, refunds=refunds, reason=reason)
        return amount

    def refundable(self, on: date) -> int:
        """The credit that may be paid out on `on`: the least credit the account holds on that
        date or on any later date of its money events (credit that has since paid a document, or
        that a later-dated event still uses, is not there to pay out)."""
        day = iso(on)
        days = sorted({day} | {m.on for m in self.money if m.on > day})
        return min([allocate(self.money, as_of=d).credit for d in days] + [self.state().credit])

    def refund_credit(self, ctx: Context, number: str, amount: int, on: date, method: str,
                      reference: str | None, reason: str) -> None:
        """Pay credit on the account out to the citizen; never more than the account holds."""
        ore(amount, "amount", allow_zero=False)
        one_of(method, REFUND_METHODS, "method")
        available = self.refundable(on)
        rule(amount <= available, "refund-exceeds-credit",
             f"a refund of {amount} øre on {iso(on)} exceeds the credit on the account ({available} øre)")
        self._record(self.CreditRefunded, ctx, iso(on), number=number, amount=amount, method=method,
                     reference=reference, reason=reason)

    def remind(self, ctx: Context, number: str, on: date, fee_ore: int, max_count: int, days_apart: int) -> bool:
        """Issue the next reminder for an overdue invoice or debit note if the rules allow; False
        when they do not. Overdue means past its due date with something still open after
        allocation, which applies any credit on the account first (allocation.py): a citizen is
        not reminded of what the account already covers."""
        doc = self.document(number)
        if self.state().owed.get(number, 0) <= 0 or iso(on) <= doc["due_on"]:
            return False
        reminders = doc["reminders"]
        if len(reminders) >= max_count:
            return False
        if reminders and (on - date.fromisoformat(reminders[-1])).days < days_apart:
            return False
        self._record(self.ReminderIssued, ctx, iso(on), invoice_number=number,
                     sequence=len(reminders) + 1, fee_ore=fee_ore)
        return True

    def remind_overdue(self, ctx: Context, on: date, fee_ore: int, max_count: int,
                       days_apart: int) -> list[tuple[str, int]]:
        """Remind every overdue invoice and debit note the rules allow, oldest first; the
        (document number, reminder sequence) of each reminder issued."""
        issued = []
        for number in list(self.state().owed):
            if self.remind(ctx, number, on, fee_ore, max_count, days_apart):
                issued.append((number, len(self.document(number)["reminders"])))
        return issued

    def interest_due(self, rates: ReferenceRates, run_date: date, *, from_due_date: bool = True) -> list[InvoiceLine]:
        """Default interest lines (line_no 0) for every invoice and debit note that was in default
        since the days last charged, for each day from its due date (renteloven § 3 stk. 1: "fra
        forfaldsdagen"; docs/adr/0028), or from the day after the last day already charged, to the
        day before `run_date`, on what of it was open at the end of that day (interest.open_by_day):
        a document paid by its due date is never charged, one paid late is charged for exactly the
        days it was late, even if paid before the run, and a part payment lowers the principal from
        its day (ADR 0028, round 9). No day is charged twice (`interest_to`: a line ends on the last
        day something was open, so days a later-bounced payment had covered are still chargeable).
        The principal is at most the document's own charges (no interest on interest or reminder fees).

        `from_due_date=False` is the count of lines issued before round 7 (from the day after the
        due date), kept so `ledger-replay invoice` reproduces those stored lines."""
        from datetime import timedelta

        from ledger.domain.interest import charged_periods, open_by_day
        from ledger.domain.pricing import interest_line

        last = run_date - timedelta(days=1)
        firsts: dict[str, date] = {}  # document number → the first day not yet charged, in issue order
        for m in self.money:
            doc = self.invoices.get(m.key) if m.kind == "invoice" else (
                self.debit_notes.get(m.key) if m.kind == "debit_note" else None)
            # no interest on interest: a document of interest lines only is never charged
            if doc is None or sum(x["gross"] for x in doc["lines"] if x.get("kind") != "interest") <= 0:
                continue
            charged_to = self.interest_to.get(m.key)
            if charged_to is not None:
                first = date.fromisoformat(max(charged_to, doc["due_on"])) + timedelta(days=1)
            else:
                first = date.fromisoformat(doc["due_on"]) + timedelta(days=0 if from_due_date else 1)
            if first <= last:
                firsts[m.key] = first
        if not firsts:
            return []
        # What is open is already net of any credit on the account (allocation.py): the citizen
        # is not in default for what the account covers.
        days = open_by_day(self.money, firsts, last, run_date)
        lines: list[InvoiceLine] = []
        for number, runs in days.items():
            doc = self.invoices.get(number) or self.debit_notes[number]
            own = sum(x["gross"] for x in doc["lines"] if x.get("kind") != "interest")
            spans: list[tuple[date, date, int]] = []  # runs of days with one principal, something open
            for a, b, open_amount in runs:
                principal = min(open_amount, own)
                if principal <= 0:
                    continue
                if spans and spans[-1][2] == principal and spans[-1][1] + timedelta(days=1) == a:
                    spans[-1] = (spans[-1][0], b, principal)
                else:
                    spans.append((a, b, principal))
            if not spans:
                continue
            line = interest_line(0, number, spans[0][2], charged_periods(rates, spans))
            if line.gross > 0:
                lines.append(line)
        return lines

    # -- queries ---------------------------------------------------------------------------
    def state(self) -> AccountState:
        return allocate(self.money)
