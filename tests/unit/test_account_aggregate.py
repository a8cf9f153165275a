"""The citizen's account alone: invoices, payments, reversals and reminders, in øre."""

from __future__ import annotations

from datetime import date, datetime, timezone
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain.account import Account
from ledger.domain.base import Context
from ledger.domain.errors import InvalidInput, NotFound, RuleViolated

CTX = Context("clerk", "billing_clerk", "cmd-1", datetime(2019, 4, 1, 9, tzinfo=timezone.utc))
HEAD = {"position": 0, "hash": "0" * 64}


def line(key: str, gross: int, line_no: int = 1) -> dict[str, object]:
    return {"line_no": line_no, "billing_key": key, "net": gross, "vat": 0, "gross": gross,
            "date": "2019-03-04", "kind": "delivery"}


def account_with_invoice(gross: int = 35_400, number: str = "657-000001") -> Account:
    a = Account.open(CTX, uuid4(), 657, date(2019, 3, 1))
    a.issue_invoice(CTX, number, "2019-03", date(2019, 4, 1), date(2019, 4, 15), [line("d-1", gross)], HEAD)
    return a


def test_an_invoice_is_owed_in_full_until_paid():
    a = account_with_invoice()
    assert a.state().owed == {"657-000001": 35_400} and a.state().balance == 35_400


def test_a_delivery_is_never_billed_twice():
    a = account_with_invoice()
    with pytest.raises(RuleViolated, match="already on invoice 657-000001"):
        a.issue_invoice(CTX, "657-000002", "2019-04", date(2019, 5, 1), date(2019, 5, 15), [line("d-1", 100)], HEAD)
    assert a.line_for("d-1") == ("657-000001", line("d-1", 35_400))


def test_a_payment_is_recorded_once_and_must_be_positive():
    a = account_with_invoice()
    a.receive_payment(CTX, "p-1", 10_000, date(2019, 4, 10), "bank_transfer", "657-000001")
    with pytest.raises(InvalidInput, match="already recorded"):
        a.receive_payment(CTX, "p-1", 10_000, date(2019, 4, 11), "bank_transfer", None)
    with pytest.raises(InvalidInput):
        a.receive_payment(CTX, "p-2", 0, date(2019, 4, 11), "bank_transfer", None)
    assert a.state().owed == {"657-000001": 25_400}


def test_a_reversed_payment_is_owed_again_and_cannot_be_reversed_twice():
    a = account_with_invoice()
    a.receive_payment(CTX, "p-1", 35_400, date(2019, 4, 10), "card", None)
    a.reverse_payment(CTX, "p-1", date(2019, 4, 12), "chargeback")
    assert a.state().balance == 35_400
    with pytest.raises(RuleViolated, match="already reversed"):
        a.reverse_payment(CTX, "p-1", date(2019, 4, 13), "again")
    with pytest.raises(NotFound):
        a.reverse_payment(CTX, "p-9", date(2019, 4, 13), "unknown")


def test_reminders_wait_for_the_due_date_keep_their_distance_and_stop_at_the_maximum():
    a = account_with_invoice()
    assert not a.remind(CTX, "657-000001", date(2019, 4, 15), 10_000, 3, 10)  # not overdue yet
    assert a.remind(CTX, "657-000001", date(2019, 4, 16), 10_000, 3, 10)
    assert not a.remind(CTX, "657-000001", date(2019, 4, 20), 10_000, 3, 10)  # too soon after the first
    assert a.remind(CTX, "657-000001", date(2019, 4, 26), 10_000, 3, 10)
    assert a.remind(CTX, "657-000001", date(2019, 5, 6), 10_000, 3, 10)
    assert not a.remind(CTX, "657-000001", date(2019, 6, 1), 10_000, 3, 10)  # three is the most
    assert [e.sequence for e in a.pending_events if type(e).__name__ == "ReminderIssued"] == [1, 2, 3]


def test_a_paid_invoice_gets_no_reminder():
    a = account_with_invoice()
    a.receive_payment(CTX, "p-1", 35_400, date(2019, 4, 10), "card", None)
    assert not a.remind(CTX, "657-000001", date(2019, 5, 1), 10_000, 3, 10)


@given(st.lists(st.integers(1, 50_000), max_size=6))
def test_money_balances_to_the_ore_whatever_is_paid(payments):
    a = account_with_invoice()
    for i, amount in enumerate(payments):
        a.receive_payment(CTX, f"p-{i}", amount, date(2019, 4, 10), "card", None)
    state = a.state()
    assert state.balance == 35_400 - sum(payments)
    assert sum(state.owed.values()) == max(0, 35_400 - sum(payments))
    assert state.credit == max(0, sum(payments) - 35_400)
