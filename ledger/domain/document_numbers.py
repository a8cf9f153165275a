"""What a document number says: its municipality and its series (invoice 657-000001, credit note
657-K00001, debit note 657-D00001, refund 657-R00001, claim 657-B00001; ledger/domain/invoice_series.py numbers them).

A module of its own, free of the aggregates, so the read models and the CLI can read numbers
without importing the event-sourced classes (which costs a command's start-up ~0.05 s).
"""

from __future__ import annotations


# The letter after the dash names the series; an invoice's number has none (657-000001).
SERIES = {"K": "credit_note", "D": "debit_note", "R": "refund", "B": "claim"}


def series_of(number: str) -> str:
    """The series a document number is of: "invoice", "credit_note", "debit_note", "refund" or "claim"
    (a text of no series' form reads as "invoice": looking it up then finds nothing)."""
    return SERIES.get(number.strip().partition("-")[2][:1], "invoice")


def is_debit_note(number: str) -> bool:
    """Whether a document number is of the debit-note series (657-D00001), not an invoice's."""
    return series_of(number) == "debit_note"


def municipality_of(number: str) -> int | None:
    """The municipality a document number names (657-000001, 657-K00001, 657-D00001: 657), None
    when the text is not of that form (numbers start with the three-digit municipality code)."""
    head, dash, tail = number.strip().partition("-")
    return int(head) if dash and len(head) == 3 and head.isdigit() and tail[:1].isalnum() else None
