"""The citizen's account alone: invoices, payments, reversals and reminders, in øre."""

from __future__ import annotations

from datetime import date, datetime, timezone
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain.account import Account
from ledger.domain.allocation import allocate
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


# -- credit on the account covers open documents; debit notes are owed and reminded like invoices --

def account_with_two_invoices() -> Account:
    a = account_with_invoice(141_600)
    a.issue_invoice(CTX, "657-000002", "2019-04", date(2019, 5, 3), date(2019, 5, 17), [line("d-2", 70_800)], HEAD)
    return a


def debit(a: Account, gross: int, number: str = "657-D00001", due_on: date = date(2019, 6, 17)) -> None:
    lines = [{"line_no": 1, "invoice_line_no": 1, "billing_key": "d-1", "net": gross, "vat": 0, "gross": gross,
              "date": "2019-03-04", "month": "2019-03", "offer_id": "x", "vat_class": "exempt", "why": "price"}]
    a.issue_adjustment(CTX, number, "657-000001", lines, date(2019, 6, 3), due_on, "re-rating")


def test_credit_from_a_credit_note_pays_the_other_open_invoices_at_once():
    a = account_with_two_invoices()
    a.receive_payment(CTX, "p-1", 70_800, date(2019, 5, 10), "bank_transfer", "657-000002")
    a.receive_payment(CTX, "p-2", 131_600, date(2019, 5, 10), "bank_transfer", "657-000001")
    a.issue_credit_note(CTX, "657-K00001", "657-000002", line("d-2", 70_800), date(2019, 6, 3), "no grant")
    state = a.state()
    assert state.owed == {"657-000001": 0, "657-000002": 0}
    assert state.credit == 60_800 and state.balance == -60_800
    assert ("credit", "657-000001", 10_000) in state.allocations


def test_an_account_in_credit_enough_gets_no_reminder_and_no_fee():
    a = account_with_two_invoices()
    a.receive_payment(CTX, "p-1", 70_800, date(2019, 5, 10), "bank_transfer", "657-000002")
    a.receive_payment(CTX, "p-2", 131_600, date(2019, 5, 10), "bank_transfer", "657-000001")
    a.issue_credit_note(CTX, "657-K00001", "657-000002", line("d-2", 70_800), date(2019, 6, 3), "no grant")
    assert a.remind_overdue(CTX, date(2019, 6, 5), 10_000, 3, 10) == []
    assert a.state().balance == -60_800


def test_a_reminder_is_for_what_the_credit_leaves_uncovered():
    a = account_with_two_invoices()
    a.receive_payment(CTX, "p-1", 70_800, date(2019, 5, 10), "bank_transfer", "657-000002")
    a.receive_payment(CTX, "p-2", 31_600, date(2019, 5, 10), "bank_transfer", "657-000001")
    a.issue_credit_note(CTX, "657-K00001", "657-000002", line("d-2", 70_800), date(2019, 6, 3), "no grant")
    assert a.state().owed["657-000001"] == 141_600 - 31_600 - 70_800 and a.state().credit == 0
    assert a.remind_overdue(CTX, date(2019, 6, 5), 10_000, 3, 10) == [("657-000001", 1)]
    assert a.state().owed["657-000001"] == 39_200 + 10_000


def test_a_debit_note_is_owed_covered_by_credit_and_reminded_like_an_invoice():
    a = account_with_invoice()
    a.receive_payment(CTX, "p-1", 35_400, date(2019, 4, 10), "card", "657-000001")
    debit(a, 5_000)
    assert a.state().owed["657-D00001"] == 5_000
    assert not a.remind(CTX, "657-D00001", date(2019, 6, 17), 10_000, 3, 10)  # not due yet
    assert a.remind_overdue(CTX, date(2019, 6, 18), 10_000, 3, 10) == [("657-D00001", 1)]
    assert a.remind_overdue(CTX, date(2019, 6, 27), 10_000, 3, 10) == []  # too soon after the first
    assert a.remind_overdue(CTX, date(2019, 6, 28), 10_000, 3, 10) == [("657-D00001", 2)]
    assert a.remind_overdue(CTX, date(2019, 7, 8), 10_000, 3, 10) == [("657-D00001", 3)]
    assert a.remind_overdue(CTX, date(2019, 8, 8), 10_000, 3, 10) == []  # three is the most
    assert a.state().owed["657-D00001"] == 5_000 + 3 * 10_000
    assert a.debit_notes["657-D00001"]["reminders"] == ["2019-06-18", "2019-06-28", "2019-07-08"]


def test_credit_on_the_account_pays_a_debit_note_and_it_is_not_reminded():
    a = account_with_invoice()
    a.receive_payment(CTX, "p-1", 40_400, date(2019, 4, 10), "card", "657-000001")  # 5 000 too much
    debit(a, 5_000)
    assert a.state().owed["657-D00001"] == 0 and a.state().credit == 0
    assert a.remind_overdue(CTX, date(2019, 7, 1), 10_000, 3, 10) == []


def test_the_reminder_run_reminds_invoices_and_debit_notes_oldest_first():
    a = account_with_invoice()
    debit(a, 5_000)
    assert a.remind_overdue(CTX, date(2019, 6, 18), 10_000, 3, 10) == [("657-000001", 1), ("657-D00001", 1)]
    with pytest.raises(NotFound):
        a.remind(CTX, "657-D00009", date(2019, 6, 18), 10_000, 3, 10)


_MONEY = st.lists(st.one_of(
    st.tuples(st.just("pay"), st.integers(1, 60_000), st.sampled_from([None, "657-000001", "657-000002"])),
    st.tuples(st.just("credit"), st.sampled_from(["d-1", "d-2"]), st.none()),
    st.tuples(st.just("debit"), st.integers(1, 20_000), st.none()),
    st.tuples(st.just("remind"), st.integers(0, 90), st.none()),
), max_size=10)


@given(_MONEY)
def test_credit_never_waits_beside_an_open_document_and_no_covered_document_is_reminded(steps):
    a = account_with_two_invoices()
    debits = 0
    for i, (kind, x, ref) in enumerate(steps):
        state = a.state()
        if kind == "pay":
            a.receive_payment(CTX, f"p-{i}", x, date(2019, 5, 10), "card", ref)
        elif kind == "credit" and a.still_charged(x)["gross"] > 0:
            number = "657-000001" if x == "d-1" else "657-000002"
            a.issue_credit_note(CTX, f"657-K{i:05d}", number, a.line_for(x)[1], date(2019, 6, 3), "disputed")
        elif kind == "debit":
            debits += 1
            debit(a, x, f"657-D{debits:05d}", date(2019, 6, 17))
        elif kind == "remind":
            on = date.fromordinal(date(2019, 6, 18).toordinal() + x)
            for number, _ in a.remind_overdue(CTX, on, 10_000, 3, 10):
                assert state.owed[number] > 0  # only what was still open after the credit
        state = a.state()
        assert state.credit == 0 or sum(state.owed.values()) == 0
        assert all(v >= 0 for v in state.owed.values()) and state.credit >= 0
        assert state.balance == sum(state.charged.values()) - sum(
            p["amount"] for p in a.payments.values() if not p["reversed"])


class FlatRate:
    """A reference-rate table with one rate for every day (what interest_due reads of it)."""

    def periods(self, first: date, last: date) -> list[tuple[str, str, int, str]]:
        return [(first.isoformat(), last.isoformat(), 1_000, "rates:1")]


def interest_days(a: Account, run_on: date) -> list[tuple[str, str]]:
    return [(x.interest.first, x.interest.last) for x in a.interest_due(FlatRate(), run_on)  # type: ignore[arg-type]
            if x.interest is not None]


def test_default_interest_runs_from_the_due_date_to_the_day_before_the_run():
    # Due 15 April (renteloven § 3 stk. 1: "fra forfaldsdagen"): a run on R charges R − due_on days.
    a = account_with_invoice()
    assert interest_days(a, date(2019, 4, 15)) == []  # a run on the due date charges nothing
    assert interest_days(a, date(2019, 4, 16)) == [("2019-04-15", "2019-04-15")]  # one day
    assert interest_days(a, date(2019, 5, 1)) == [("2019-04-15", "2019-04-30")]  # 16 days
    # The count before round 7 (from the day after the due date), kept for replaying old lines:
    assert interest_days(a, date(2019, 5, 1)) != a.interest_due(FlatRate(), date(2019, 5, 1),  # type: ignore[arg-type]
                                                                from_due_date=False)


def test_a_document_paid_on_its_due_date_is_never_charged_interest():
    a = account_with_invoice()
    a.receive_payment(CTX, "p-1", 35_400, date(2019, 4, 15), "bank_transfer", None)
    assert interest_days(a, date(2019, 6, 1)) == []


def test_no_day_of_default_interest_is_charged_twice():
    a = account_with_invoice()
    (charged,) = a.interest_due(FlatRate(), date(2019, 5, 1))  # type: ignore[arg-type]
    a.issue_invoice(CTX, "657-000002", "2019-04", date(2019, 5, 1), date(2019, 5, 15),
                    [charged.numbered(1)], HEAD)
    assert interest_days(a, date(2019, 5, 1)) == []
    assert interest_days(a, date(2019, 6, 1)) == [("2019-05-01", "2019-05-31")]


def overpaid(by: int = 10_000) -> Account:
    """March's 354.00 paid with `by` øre too much on 10 April: credit on the account."""
    a = account_with_invoice()
    a.receive_payment(CTX, "p-1", 35_400 + by, date(2019, 4, 10), "bank_transfer", None)
    return a


def test_a_refund_pays_out_credit_and_nothing_more():
    a = overpaid()
    assert a.state().credit == 10_000
    a.refund_credit(CTX, "657-R00001", 6_000, date(2019, 4, 20), "nemkonto", None, "overpaid")
    assert a.state().credit == 4_000 and a.state().balance == -4_000
    with pytest.raises(RuleViolated) as too_much:
        a.refund_credit(CTX, "657-R00002", 4_001, date(2019, 4, 21), "nemkonto", None, "overpaid")
    assert too_much.value.rule == "refund-exceeds-credit"
    a.refund_credit(CTX, "657-R00002", 4_000, date(2019, 4, 21), "cash", None, "the rest")
    assert a.state().credit == 0 and a.state().balance == 0


@pytest.mark.parametrize("amount", [0, -1])
def test_a_refund_is_a_positive_amount(amount):
    a = overpaid()
    with pytest.raises(InvalidInput):
        a.refund_credit(CTX, "657-R00001", amount, date(2019, 4, 20), "nemkonto", None, "overpaid")


def test_a_refund_is_of_credit_held_on_its_date_and_ever_since():
    a = overpaid()
    with pytest.raises(RuleViolated):  # before the overpayment there was no credit
        a.refund_credit(CTX, "657-R00001", 1_000, date(2019, 4, 9), "nemkonto", None, "early")
    # The next invoice (1 May) takes the credit: it is no longer there to pay out, even back-dated.
    a.issue_invoice(CTX, "657-000002", "2019-04", date(2019, 5, 1), date(2019, 5, 15), [line("d-2", 35_400)], HEAD)
    assert a.state().credit == 0
    with pytest.raises(RuleViolated) as gone:
        a.refund_credit(CTX, "657-R00001", 1_000, date(2019, 4, 20), "nemkonto", None, "late")
    assert gone.value.rule == "refund-exceeds-credit"


def refunded_then_bounced(refund: int = 10_000) -> Account:
    """Overpaid by 100,00 kr. on 10 April, `refund` øre of it paid out on 20 April, and then the
    bank reversed the payment on 25 April (docs/adr/0029, round 9): a claim 657-B00001."""
    a = overpaid()
    a.refund_credit(CTX, "657-R00001", refund, date(2019, 4, 20), "nemkonto", None, "overpaid")
    assert a.claim_on_reversal("p-1", date(2019, 4, 25)) == refund
    assert a.reverse_payment(CTX, "p-1", date(2019, 4, 25), "bounced",
                             ("657-B00001", date(2019, 4, 25), date(2019, 5, 9))) == refund
    return a


def test_a_payment_reversed_after_its_credit_was_refunded_raises_a_claim_for_the_refunded_money():
    a = refunded_then_bounced()
    s = a.state()
    # March's invoice is owed again; the 100,00 kr. paid out of money that never arrived is owed back.
    assert s.owed == {"657-000001": 35_400, "657-B00001": 10_000} and s.credit == 0 and s.uncovered == 0
    assert s.balance == 45_400 == 35_400 - 0 + 10_000  # invoiced − paid + refunded: the claim adds nothing
    raised = a.collect_events()[-1]
    assert isinstance(raised, Account.ClaimRaised)
    assert (raised.amount, raised.payment_id, raised.refunds, raised.due_on) == (10_000, "p-1", ["657-R00001"],
                                                                               "2019-05-09")
    assert a.document("657-B00001")["due_on"] == "2019-05-09"


def test_a_claim_is_only_what_was_refunded_of_the_reversed_payment():
    a = refunded_then_bounced(refund=6_000)
    assert a.state().owed == {"657-000001": 35_400, "657-B00001": 6_000} and a.state().credit == 0


def test_a_reversal_of_a_payment_nothing_was_refunded_from_raises_no_claim():
    a = overpaid()
    assert a.claim_on_reversal("p-1", date(2019, 4, 25)) == 0
    assert a.reverse_payment(CTX, "p-1", date(2019, 4, 25), "bounced") == 0
    assert a.state().owed == {"657-000001": 35_400} and not any(
        isinstance(e, Account.ClaimRaised) for e in a.collect_events())


def test_a_reversal_that_needs_a_claim_is_refused_without_its_number_and_records_nothing():
    a = overpaid()
    a.refund_credit(CTX, "657-R00001", 10_000, date(2019, 4, 20), "nemkonto", None, "overpaid")
    before = len(a.money)
    with pytest.raises(AssertionError):
        a.reverse_payment(CTX, "p-1", date(2019, 4, 25), "bounced")
    assert len(a.money) == before and not a.payments["p-1"]["reversed"]


def test_a_later_payment_that_covered_the_refund_leaves_nothing_to_claim():
    a = overpaid()
    a.refund_credit(CTX, "657-R00001", 10_000, date(2019, 4, 20), "nemkonto", None, "overpaid")
    # Paid again in full: once p-1 bounces, p-2 pays March's invoice and covers what was refunded.
    a.receive_payment(CTX, "p-2", 45_400, date(2019, 4, 22), "bank_transfer", None)
    assert a.claim_on_reversal("p-1", date(2019, 4, 25)) == 0
    a.reverse_payment(CTX, "p-1", date(2019, 4, 25), "bounced")
    s = a.state()
    assert s.owed == {"657-000001": 0} and s.credit == 0 and s.balance == 0
    assert s.refunded == {"p-2": 10_000}  # the refund was paid, in the end, out of p-2's money


def test_later_payments_settle_a_claim_oldest_document_first_and_it_is_reminded_like_an_invoice():
    a = refunded_then_bounced()
    assert not a.remind(CTX, "657-B00001", date(2019, 5, 9), 10_000, 3, 10)  # not overdue on its due date
    assert a.remind(CTX, "657-B00001", date(2019, 5, 10), 10_000, 3, 10)
    assert a.state().owed["657-B00001"] == 20_000  # the reminder's fee is owed on the claim
    a.receive_payment(CTX, "p-2", 40_000, date(2019, 5, 12), "bank_transfer", None)
    s = a.state()
    assert s.allocations[-2:] == [("p-2", "657-000001", 35_400), ("p-2", "657-B00001", 4_600)]
    assert s.owed == {"657-000001": 0, "657-B00001": 15_400}
    a.receive_payment(CTX, "p-3", 15_400, date(2019, 5, 20), "bank_transfer", "657-B00001")
    assert a.state().owed == {"657-000001": 0, "657-B00001": 0} and a.state().balance == 0
    # The invoice was in default 15 April-11 May (p-1 bounced, ADR 0028 round 9); the claim bears none.
    assert [x.interest.document for x in a.interest_due(FlatRate(), date(2019, 6, 1))] == [  # type: ignore[arg-type]
        "657-000001"]


def test_no_view_of_the_account_as_of_any_day_shows_negative_credit_or_a_wrong_balance():
    # The reversal back-dated before the refund: as of 22 April the payment had bounced and nothing
    # was paid out yet; from the refund on, the claim holds what was paid out.
    a = overpaid()
    a.refund_credit(CTX, "657-R00001", 10_000, date(2019, 4, 20), "nemkonto", None, "overpaid")
    a.reverse_payment(CTX, "p-1", date(2019, 4, 15), "bounced", ("657-B00001", date(2019, 4, 15), date(2019, 4, 29)))
    for day, balance in (("2019-04-12", -10_000), ("2019-04-16", 35_400), ("2019-04-20", 45_400), ("2019-05-01", 45_400)):
        s = allocate(a.money, as_of=day)
        assert s.credit >= 0 and s.uncovered >= 0 and s.balance == balance, day
