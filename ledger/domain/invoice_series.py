"""A municipality's numbering of invoices and credit notes: gapless and increasing.

Saving the series together with the accounts it numbered, in one transaction, is what makes the
numbers gapless: two runs racing for the same numbers conflict on the series, and one is refused
whole. Invoice numbers look like 657-000001, credit notes 657-K00001, debit notes (a re-rating's
supplementary charges) 657-D00001, refunds of credit to a citizen 657-R00001, claims on a citizen
(refunded money a reversed payment left uncovered, docs/adr/0029) 657-B00001: five series, each
without gaps.

Each series' dates run in number order too: an invoice run is refused if dated before the last
run, and a note is dated no earlier than the invoice it adjusts nor than the series' last note
(`note_date`), so a document never predates the one it corrects or the one numbered before it.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.domain.base import Context, LedgerAggregate, key_id
from ledger.domain.errors import rule
from ledger.domain.values import iso


def series_id(municipality: int) -> UUID:
    return key_id("invoice-series", municipality)


class InvoiceSeries(LedgerAggregate):
    if TYPE_CHECKING:  # state the events' apply() methods assign (declared for the type checker only)
        last_invoice: int
        last_credit_note: int
        last_debit_note: int
        last_refund: int
        last_claim: int
        runs: dict[str, list[dict[str, Any]]]
        scanned_to: int
        carried: list[dict[str, Any]]
        invoiced_citizens: set[str]
        claimed_citizens: set[str]
        baselined: bool
        dated: dict[str, str]

    class SeriesOpened(LedgerAggregate.Created):
        def apply(self, s: InvoiceSeries) -> None:
            s.municipality = self.municipality
            s.last_invoice = 0
            s.last_credit_note = 0
            s.last_debit_note = 0
            s.last_refund = 0
            s.last_claim = 0
            s.runs = {}
            # The invoice run reads the log for billable facts after `scanned_to` (a chain
            # position: contiguous and content-derived, unlike the store's notification ids);
            # facts seen but not yet due (dated after the month billed), or not billable as the
            # facts now stand (eligibility lost), are carried to the next run.
            s.scanned_to = 0
            s.carried = []
            s.invoiced_citizens = set()  # whose accounts a reminder run must look at
            s.claimed_citizens = set()  # and those with a claim (who may never have been invoiced)
            # False until a run has re-rated every billed delivery once (a series from before
            # re-rating existed, or a fresh one); from then on runs re-rate what new facts reach.
            s.baselined = False
            s.dated = {}  # series ("invoice", "credit", "debit", "refund", "claim") -> the date of its last document

    class InvoiceRunCompleted(LedgerAggregate.Event):
        # Version 2 adds `read`: what the run read of the log and its digest (ADR 0021); a
        # version-1 event is upcast with `read` None (recorded before runs published a digest).
        class_version = 2
        month: str
        first_number: str | None
        last_number: str | None
        count: int
        chain_head: dict[str, Any]
        scanned_to: int
        carried: list[Any]
        citizens: list[Any]
        read: dict[str, Any] | None

        def apply(self, s: InvoiceSeries) -> None:
            s.last_invoice += self.count
            s.invoiced_citizens.update(self.citizens)
            s.scanned_to = self.scanned_to
            s.carried = self.carried
            s.runs.setdefault(self.month, []).append({"count": self.count, "chain_head": self.chain_head,
                                                      "first": self.first_number, "last": self.last_number})
            _dated(s, "invoice", self.effective)

    class RerateBaselined(LedgerAggregate.Event):
        """Every billed delivery was re-rated once, against the facts as known at this run."""

        citizens: int

        def apply(self, s: InvoiceSeries) -> None:
            s.baselined = True

    class CreditNoteNumbered(LedgerAggregate.Event):
        number: str
        invoice_number: str

        def apply(self, s: InvoiceSeries) -> None:
            s.last_credit_note += 1
            _dated(s, "credit", self.effective)

    class DebitNoteNumbered(LedgerAggregate.Event):
        number: str
        invoice_number: str

        def apply(self, s: InvoiceSeries) -> None:
            s.last_debit_note = getattr(s, "last_debit_note", 0) + 1
            _dated(s, "debit", self.effective)

    class RefundNumbered(LedgerAggregate.Event):
        """A refund of credit to a citizen took the next number of the refund series."""

        number: str

        def apply(self, s: InvoiceSeries) -> None:
            s.last_refund = getattr(s, "last_refund", 0) + 1
            _dated(s, "refund", self.effective)

    class ClaimNumbered(LedgerAggregate.Event):
        """A claim on a citizen (a reversed payment whose money was refunded) took the next number
        of the claim series."""

        number: str
        citizen_id: str
        payment_id: str

        def apply(self, s: InvoiceSeries) -> None:
            s.last_claim = getattr(s, "last_claim", 0) + 1
            if not hasattr(s, "claimed_citizens"):  # as last_debit_note: a series held from before claims
                s.claimed_citizens = set()
            s.claimed_citizens.add(self.citizen_id)
            _dated(s, "claim", self.effective)

    @classmethod
    def open(cls, ctx: Context, municipality: int, effective: date) -> InvoiceSeries:
        return cls._start(cls.SeriesOpened, series_id(municipality), ctx, iso(effective), municipality)

    def check_run_date(self, run_date: date) -> None:
        """A run is dated on or after the last run: invoice numbers and their dates run together."""
        last = self.dated.get("invoice")
        rule(last is None or iso(run_date) >= last, "run-date-out-of-order",
             f"municipality {self.municipality} last ran invoices on {last}; a run dated {iso(run_date)} would "
             "give newer invoice numbers older dates")

    def note_date(self, kind: str, on: date, invoice_issued_on: str) -> date:
        """The date of a credit ("credit") or debit ("debit") note asked for `on`: not before the
        invoice it adjusts was issued, nor before the last note of its series."""
        return max(on, date.fromisoformat(invoice_issued_on), date.fromisoformat(self.dated.get(kind, "0001-01-01")))

    def invoice_number(self, offset: int) -> str:
        return f"{self.municipality}-{self.last_invoice + offset:06d}"

    def complete_run(self, ctx: Context, month: str, run_date: date, count: int, chain_head: dict[str, Any],
                     scanned_to: int, carried: list[dict[str, Any]], citizens: list[str],
                     read: dict[str, Any] | None = None) -> None:
        first = self.invoice_number(1) if count else None
        last = self.invoice_number(count) if count else None
        self._record(self.InvoiceRunCompleted, ctx, iso(run_date), month=month, first_number=first, last_number=last,
                     count=count, chain_head=chain_head, scanned_to=scanned_to, carried=carried,
                     citizens=sorted(set(citizens)), read=read)

    def take_credit_note_number(self, ctx: Context, invoice_number: str, on: date) -> str:
        number = f"{self.municipality}-K{self.last_credit_note + 1:05d}"
        self._record(self.CreditNoteNumbered, ctx, iso(on), number=number, invoice_number=invoice_number)
        return number

    def take_debit_note_number(self, ctx: Context, invoice_number: str, on: date) -> str:
        number = f"{self.municipality}-D{getattr(self, 'last_debit_note', 0) + 1:05d}"
        self._record(self.DebitNoteNumbered, ctx, iso(on), number=number, invoice_number=invoice_number)
        return number

    def take_refund_number(self, ctx: Context, on: date) -> str:
        """The next refund number; refunds are dated in number order, like every series."""
        last = self.dated.get("refund")
        rule(last is None or iso(on) >= last, "refund-date-out-of-order",
             f"municipality {self.municipality}'s last refund is dated {last}; a refund dated {iso(on)} would give "
             "a newer refund number an older date")
        number = f"{self.municipality}-R{getattr(self, 'last_refund', 0) + 1:05d}"
        self._record(self.RefundNumbered, ctx, iso(on), number=number)
        return number

    def owing_citizens(self) -> list[str]:
        """The citizens who may owe a document: every one invoiced, and every one with a claim."""
        return sorted(self.invoiced_citizens | getattr(self, "claimed_citizens", set()))

    def take_claim_number(self, ctx: Context, citizen_id: str, payment_id: str, on: date) -> tuple[str, date]:
        """The next claim number and the claim's date: the reversal's date, or the last claim's
        if that is later (as notes are dated, `note_date`), so claims are dated in number order."""
        raised_on = self.note_date("claim", on, iso(on))
        number = f"{self.municipality}-B{getattr(self, 'last_claim', 0) + 1:05d}"
        self._record(self.ClaimNumbered, ctx, iso(raised_on), number=number, citizen_id=citizen_id,
                     payment_id=payment_id)
        return number, raised_on

    def mark_baselined(self, ctx: Context, on: date, citizens: int) -> None:
        self._record(self.RerateBaselined, ctx, iso(on), citizens=citizens)


def _dated(s: InvoiceSeries, kind: str, effective: str) -> None:
    if effective > s.dated.get(kind, ""):
        s.dated[kind] = effective
