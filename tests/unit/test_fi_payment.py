"""The FI payment id (+71): the modulus-10 check digit, and the id derived from an invoice number."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain import fi_payment as fi
from ledger.domain.allocation import MoneyEvent, allocate


def test_check_digits_of_the_conventions() -> None:
    # billing-conventions: id 1 becomes 18, id 2 becomes 26, left-padded to 15 digits.
    assert fi.with_check_digit(1) == "000000000000018"
    assert fi.with_check_digit(2) == "000000000000026"
    assert fi.check_digit("7992739871") == "3"  # the textbook Luhn example


def test_payment_id_of_an_invoice_number() -> None:
    pid = fi.payment_id("657-000001")
    assert pid == "657000000000014" and len(pid) == 15 and fi.is_valid(pid)
    assert fi.document_number(pid) == "657-000001"
    assert fi.code_line("657-000001", "81234567") == "+71< 657000000000014 +81234567<"


@pytest.mark.parametrize("bad", ["657000000000015", "65700000000001", "6570000000000140", "65700000000001x", ""])
def test_invalid_ids_are_refused(bad: str) -> None:
    assert not fi.is_valid(bad)
    assert fi.document_number(bad) is None


def test_a_reference_names_an_invoice_by_number_or_payment_id() -> None:
    assert fi.document_for_reference("657-000012") == "657-000012"
    assert fi.document_for_reference(fi.payment_id("657-000012")) == "657-000012"
    assert fi.document_for_reference("657 0000 0000 0121") == "657-000012"  # spaced as a bank prints it
    assert fi.document_for_reference("657000000000015") == "657000000000015"  # fails the check: kept as given
    assert fi.document_for_reference(None) is None


@given(st.integers(min_value=101, max_value=999), st.integers(min_value=1, max_value=9 * 10**10 - 1))
def test_round_trip_and_every_single_digit_error_is_caught(municipality: int, sequence: int) -> None:
    number = f"{municipality}-{sequence:06d}"
    pid = fi.payment_id(number)
    assert len(pid) == 15 and fi.is_valid(pid) and fi.document_number(pid) == number
    for i in range(15):  # the Luhn rule catches any one wrong digit
        for d in "0123456789":
            if d != pid[i]:
                assert not fi.is_valid(pid[:i] + d + pid[i + 1:])


def test_allocation_follows_the_payment_id() -> None:
    # Two open invoices; the payment quotes the younger one's slip id, so it pays that one first.
    money = [MoneyEvent.invoice("657-000001", 10_000, "2019-04-01"),
             MoneyEvent.invoice("657-000002", 5_000, "2019-05-01"),
             MoneyEvent.payment("p1", 5_000, "2019-05-10", fi.payment_id("657-000002"))]
    state = allocate(money)
    assert state.allocations == [("p1", "657-000002", 5_000)]
    assert state.owed == {"657-000001": 10_000, "657-000002": 0}


def test_a_debit_note_has_its_own_payment_id_apart_from_every_invoice_id() -> None:
    pid = fi.payment_id("657-D00001")
    assert pid == "657900000000015" and fi.is_valid(pid) and fi.document_number(pid) == "657-D00001"
    assert pid != fi.payment_id("657-000001") and fi.document_number(fi.payment_id("657-000001")) == "657-000001"
    assert fi.code_line("657-D00001", "81234567") == "+71< 657900000000015 +81234567<"
    assert fi.document_for_reference("657 9000 0000 0015") == "657-D00001"
    with pytest.raises(ValueError):
        fi.payment_id("657-90000000000")  # an invoice so far on that its id would read as a debit note's
    with pytest.raises(ValueError):
        fi.payment_id("657-K00001")  # a credit note is owed nothing: no slip


@given(st.integers(min_value=101, max_value=999), st.integers(min_value=1, max_value=10**10 - 1))
def test_a_debit_note_id_round_trips(municipality: int, sequence: int) -> None:
    number = f"{municipality}-D{sequence:05d}"
    assert fi.document_number(fi.payment_id(number)) == number


def test_allocation_follows_a_debit_notes_payment_id() -> None:
    # An open invoice and a younger debit note; the payment quotes the debit note's slip id.
    money = [MoneyEvent.invoice("657-000001", 10_000, "2019-04-01"),
             MoneyEvent.debit_note("657-D00001", 1_000, "2019-05-01"),
             MoneyEvent.payment("p1", 1_000, "2019-05-10", fi.payment_id("657-D00001"))]
    state = allocate(money)
    assert state.allocations == [("p1", "657-D00001", 1_000)]
    assert state.owed == {"657-000001": 10_000, "657-D00001": 0}


def test_a_document_number_names_its_series() -> None:
    from ledger.domain.document_numbers import is_debit_note, series_of

    assert [series_of(n) for n in ("657-000001", "657-K00001", "657-D00001", "657-R00001", "nonsense", "")] == [
        "invoice", "credit_note", "debit_note", "refund", "invoice", "invoice"]
    assert is_debit_note("580-D00012") and not is_debit_note("580-000012") and not is_debit_note("580-R00001")
