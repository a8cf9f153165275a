"""Recording deliveries and missed visits, withdrawing them (with a credit note once invoiced), and
receiving and reversing payments: through the handlers, against a unit of work in memory."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import pytest

from ledger.domain.account import Account, account_id
from ledger.domain.errors import NotFound, RuleViolated
from tests.unit.fakes import RECORDED, FakeLedger
from tests.unit.world import herning, place


@pytest.fixture
def ledger() -> FakeLedger:
    return FakeLedger()


def _order(ledger: FakeLedger) -> tuple[str, str]:
    cid = herning(ledger)
    return cid, place(ledger, cid)["order_id"]


def _deliver(ledger: FakeLedger, order_id: str, on: str = "2019-03-04", **fields: object) -> str:
    payload = {"order_id": order_id, "date": on, "band": "weekday_day", "minutes": 60, "staff_id": "staff-1", **fields}
    return str(ledger.execute("record_delivery", payload)["delivery_id"])


def test_a_delivery_inside_the_order_is_recorded_and_its_note_sealed(ledger):
    _, oid = _order(ledger)
    did = _deliver(ledger, oid, note="the citizen was tired")
    assert ledger.uow.events_of(did) == ["DeliveryRecorded"]
    assert ledger.uow.committed[UUID(did)][0].note_sealed.startswith("sealed:")  # free text never in clear


def test_a_delivery_outside_the_order_or_in_the_future_is_refused(ledger):
    _, oid = _order(ledger)
    with pytest.raises(RuleViolated, match="outside order"):
        _deliver(ledger, oid, on="2019-03-01")
    with pytest.raises(RuleViolated) as refused:
        _deliver(ledger, oid, on=(RECORDED.date().replace(day=28)).isoformat())
    assert refused.value.rule == "delivery-in-future"


def test_a_missed_visit_is_recorded_and_cannot_be_cancelled(ledger):
    _, oid = _order(ledger)
    did = ledger.execute("record_missed_visit", {"order_id": oid, "date": "2019-03-18",
                                                 "reason": "citizen_absent"})["delivery_id"]
    with pytest.raises(RuleViolated, match="never delivered"):
        ledger.execute("cancel_delivery", {"delivery_id": did, "effective": "2019-03-19", "reason": "typo"})
    assert ledger.uow.events_of(did) == ["VisitMissed"]


def test_a_delivery_withdrawn_before_it_is_invoiced_gets_no_credit_note(ledger):
    _, oid = _order(ledger)
    did = _deliver(ledger, oid)
    result = ledger.execute("dispute_delivery", {"delivery_id": did, "effective": "2019-03-05",
                                                 "reason": "the citizen says nobody came"})
    assert result == {"delivery_id": did, "credit_note": None}
    assert ledger.uow.events_of(did) == ["DeliveryRecorded", "DeliveryDisputed"]


def test_a_delivery_withdrawn_after_it_was_invoiced_gets_a_numbered_credit_note_for_its_line(ledger):
    cid, did = _invoiced(ledger)
    result = ledger.execute("cancel_delivery", {"delivery_id": did, "effective": "2019-04-20",
                                                "reason": "recorded twice"})
    assert result == {"delivery_id": did, "credit_note": "657-K00001"}
    assert ledger.uow.events_of(account_id(cid))[-1] == "CreditNoteIssued"
    assert ledger.uow.get(Account, account_id(cid)).state().balance == 0
    with pytest.raises(RuleViolated, match="already"):
        ledger.execute("dispute_delivery", {"delivery_id": did, "effective": "2019-04-21", "reason": "again"})


def test_a_first_payment_opens_the_account_and_the_balance_is_answered(ledger):
    cid = herning(ledger)
    result = ledger.execute("receive_payment", {"citizen_id": cid, "amount": 10_000, "date": "2019-04-20",
                                                "method": "bank_transfer", "payment_id": "p-1"})
    assert result == {"citizen_id": cid, "payment_id": "p-1", "balance_ore": -10_000}  # credit on the account
    assert ledger.uow.events_of(account_id(cid)) == ["AccountOpened", "PaymentReceived"]
    reversed_ = ledger.execute("reverse_payment", {"citizen_id": cid, "payment_id": "p-1", "date": "2019-04-25",
                                                   "reason": "bounced"})
    assert reversed_["balance_ore"] == 0


def test_a_payment_dated_in_the_future_is_refused_and_nothing_is_opened(ledger):
    cid = herning(ledger)
    with pytest.raises(RuleViolated) as refused:
        ledger.execute("receive_payment", {"citizen_id": cid, "amount": 100, "date": "2019-06-02",
                                           "method": "card"})
    assert refused.value.rule == "payment-in-future"
    assert ledger.uow.events_of(account_id(cid)) == []


def test_a_reversal_needs_an_account(ledger):
    cid = herning(ledger)
    with pytest.raises(NotFound, match="no account"):
        ledger.execute("reverse_payment", {"citizen_id": cid, "payment_id": "p-1", "date": "2019-04-25",
                                           "reason": "bounced"})


def _invoiced(ledger: FakeLedger) -> tuple[str, str]:
    """A delivery on 2019-03-04, invoiced on 657-000001 issued 2019-04-01."""
    cid, oid = _order(ledger)
    did = _deliver(ledger, oid)
    account = ledger.uow.add(Account.open(ledger.context("run_invoices"), cid, 657, date(2019, 4, 1)))
    account.issue_invoice(ledger.context("run_invoices"), "657-000001", "2019-03", date(2019, 4, 1),
                          date(2019, 4, 15), [{"line_no": 1, "billing_key": did, "net": 35_400, "vat": 0,
                                               "gross": 35_400, "date": "2019-03-04",
                                               "kind": "delivery"}], {"position": 0, "hash": "0" * 64})
    ledger.uow.commit()
    return cid, did


def test_a_delivery_cannot_be_withdrawn_from_before_it_happened(ledger):
    _, did = _invoiced(ledger)
    with pytest.raises(RuleViolated) as refused:
        ledger.execute("dispute_delivery", {"delivery_id": did, "effective": "2019-03-01", "reason": "duplicate"})
    assert refused.value.rule == "withdrawn-before-delivered"
    assert ledger.uow.events_of(did) == ["DeliveryRecorded"]  # refused: nothing recorded


def test_a_credit_note_for_a_back_dated_withdrawal_is_dated_no_earlier_than_the_invoice_it_credits(ledger):
    cid, did = _invoiced(ledger)
    ledger.execute("dispute_delivery", {"delivery_id": did, "effective": "2019-03-10", "reason": "nobody came"})
    account = ledger.uow.get(Account, account_id(cid))
    note = ledger.uow.committed[account.id][-1]
    assert type(note).__name__ == "CreditNoteIssued"
    assert note.effective == "2019-04-01"  # the withdrawal holds from 03-10; the note cannot predate 657-000001


@pytest.mark.parametrize(("day", "band", "rule"), [
    ("2019-03-05", "weekend", "band-not-on-day"),  # a Tuesday
    ("2019-03-09", "weekday_day", "band-not-on-day"),  # a Saturday
])
def test_a_band_the_date_contradicts_is_refused(ledger, day, band, rule):
    _, oid = _order(ledger)
    with pytest.raises(RuleViolated) as refused:
        _deliver(ledger, oid, on=day, band=band)
    assert refused.value.rule == rule


def test_the_weekend_band_holds_on_a_saturday_and_on_a_public_holiday():
    from ledger.domain.values import band_on

    assert band_on("weekend", date(2019, 3, 9)) == "weekend"  # Saturday
    assert band_on("weekend", date(2019, 4, 22)) == "weekend"  # Easter Monday (2. påskedag), a Monday
    assert band_on("evening", date(2019, 3, 9)) == "evening"  # the date cannot tell evening from day
