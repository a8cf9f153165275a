"""Payments, their allocation, reminders and ageing as billing reads them, on SQLite and PostgreSQL.

Every figure is also checked against the Account aggregate's own `state()`: the projection and the
aggregate run the same `allocate()` over the same money events and must agree to the øre.
"""

from __future__ import annotations

from typing import Any

from ledger.projections import billing_queries as q
from tests.helpers.billing_factories import (HERNING, account_state, caught_up, citizen, deliver, herning, herning_weekly_cleaning,
                                             invoice_run, open_ledger, order, pay, prices, refund, remind, reverse,
                                             run,
                                             withdraw)
from tests.helpers.costs import at_cost

HOUR = 35_400  # one hour of extra cleaning in Herning


def _two_months(ledger: Any) -> str:
    """A citizen with one hour billed in March (657-000001) and one in April (657-000002)."""
    h, o = herning_weekly_cleaning(ledger)
    deliver(ledger, o, "2019-03-04", 60)
    invoice_run(ledger, HERNING, "2019-03")
    deliver(ledger, o, "2019-04-01", 60)
    invoice_run(ledger, HERNING, "2019-04")
    return h


def _agrees_with_the_account(ledger: Any, db: Any, citizen_id: str) -> dict[str, Any]:
    state = account_state(ledger, citizen_id)
    [balance] = q.balances(db, HERNING, citizen_id)
    assert (balance["balance"], balance["credit"], balance["owed"]) == (state.balance, state.credit,
                                                                      sum(state.owed.values()))
    documents = q.invoices(db, HERNING, citizen_id=citizen_id) + q.debit_notes(db, HERNING, citizen_id=citizen_id)
    assert {d["number"]: d["open_amount"] for d in documents} == state.owed
    allocated = [(p["payment_id"], a["invoice_number"], a["amount"])
                 for p in q.payments(db, HERNING, citizen_id) for a in p["allocations"]]
    assert sorted(allocated) == sorted(a for a in state.allocations if a[0] != "credit")
    return balance


def test_a_payment_without_reference_pays_the_oldest_open_invoice_first(database_url):
    ledger = open_ledger(database_url)
    try:
        h = _two_months(ledger)
        pid = pay(ledger, h, 50_000, "2019-05-02")
        db = caught_up(ledger)
        [payment] = q.payments(db, HERNING, h)
        assert payment["allocations"] == [{"invoice_number": "657-000001", "amount": HOUR},
                                          {"invoice_number": "657-000002", "amount": 50_000 - HOUR}]
        assert (payment["payment_id"], payment["allocated"], payment["unallocated"]) == (pid, 50_000, 0)
        assert [(i["number"], i["open_amount"]) for i in q.open_items(db, HERNING)] == [
            ("657-000002", 2 * HOUR - 50_000)]
        assert _agrees_with_the_account(ledger, db, h)["balance"] == 2 * HOUR - 50_000
    finally:
        ledger.close()


def test_a_payment_naming_an_invoice_goes_to_that_invoice_first(database_url):
    ledger = open_ledger(database_url)
    try:
        h = _two_months(ledger)
        pay(ledger, h, 40_000, "2019-05-02", reference="657-000002")
        db = caught_up(ledger)
        [payment] = q.payments(db, HERNING, h)
        assert payment["allocations"] == [{"invoice_number": "657-000002", "amount": HOUR},
                                          {"invoice_number": "657-000001", "amount": 40_000 - HOUR}]
        _agrees_with_the_account(ledger, db, h)
    finally:
        ledger.close()


def test_an_over_payment_is_credit_that_the_next_invoice_consumes(database_url):
    ledger = open_ledger(database_url)
    try:
        h, o = herning_weekly_cleaning(ledger)
        deliver(ledger, o, "2019-03-04", 60)
        invoice_run(ledger, HERNING, "2019-03")
        pay(ledger, h, 50_000, "2019-04-10")
        db = caught_up(ledger)
        balance = _agrees_with_the_account(ledger, db, h)
        assert (balance["credit"], balance["balance"]) == (50_000 - HOUR, HOUR - 50_000)
        deliver(ledger, o, "2019-04-01", 60)
        invoice_run(ledger, HERNING, "2019-04")
        db = caught_up(ledger)
        balance = _agrees_with_the_account(ledger, db, h)
        assert (balance["credit"], balance["balance"]) == (0, 2 * HOUR - 50_000)
        april = q.invoice(db, HERNING, "657-000002")
        assert april["allocations"] == [{"payment_id": "credit", "amount": 50_000 - HOUR}]
        assert april["open_amount"] == 2 * HOUR - 50_000
    finally:
        ledger.close()


def test_a_reversed_payment_counts_as_never_made(database_url):
    ledger = open_ledger(database_url)
    try:
        h = _two_months(ledger)
        bounced = pay(ledger, h, 50_000, "2019-05-02")
        reverse(ledger, h, bounced, "2019-05-06")
        good = pay(ledger, h, 10_000, "2019-05-07")
        db = caught_up(ledger)
        payments = {p["payment_id"]: p for p in q.payments(db, HERNING, h)}
        assert (payments[bounced]["reversed"], payments[bounced]["allocations"]) == (True, [])
        assert payments[good]["allocations"] == [{"invoice_number": "657-000001", "amount": 10_000}]
        assert _agrees_with_the_account(ledger, db, h)["balance"] == 2 * HOUR - 10_000
    finally:
        ledger.close()


def test_reminders_are_at_most_three_at_least_ten_days_apart_with_a_capped_fee(database_url):
    ledger = open_ledger(database_url)
    try:
        h, o = herning_weekly_cleaning(ledger)
        deliver(ledger, o, "2019-03-04", 60)
        invoice_run(ledger, HERNING, "2019-03")  # due 2019-04-15
        issued = {day: len(remind(ledger, HERNING, day)["reminders"])
                  for day in ("2019-04-15", "2019-04-16", "2019-04-25", "2019-04-26", "2019-05-06", "2019-06-01")}
        assert issued == {"2019-04-15": 0, "2019-04-16": 1, "2019-04-25": 0, "2019-04-26": 1, "2019-05-06": 1,
                          "2019-06-01": 0}
        db = caught_up(ledger)
        reminders = q.reminders(db, HERNING)
        assert [(r["sequence"], r["issued_on"]) for r in reminders] == [(1, "2019-04-16"), (2, "2019-04-26"),
                                                                       (3, "2019-05-06")]
        assert all(0 < r["fee"] <= 10_000 for r in reminders)
        inv = q.invoice(db, HERNING, "657-000001")
        assert (inv["reminder_count"], inv["fees"], inv["open_amount"]) == (3, 30_000, HOUR + 30_000)
        assert _agrees_with_the_account(ledger, db, h)["balance"] == HOUR + 30_000
    finally:
        ledger.close()


def test_ageing_buckets_open_amounts_by_days_past_due_as_they_stood_on_the_date(database_url):
    ledger = open_ledger(database_url)
    try:
        h = _two_months(ledger)  # due 2019-04-15 and 2019-05-15
        pay(ledger, h, 10_000, "2019-06-20")
        db = caught_up(ledger)

        def buckets(as_of: str) -> dict[str, int]:
            [row] = q.ageing(db, HERNING, as_of)
            return {k: v for k, v in row.items() if k in q.AGEING_BUCKETS and v}

        assert q.ageing(db, HERNING, "2019-03-31") == []  # nothing issued yet
        assert buckets("2019-04-10") == {"not_due": HOUR}
        # On its due date a document is not overdue; it is from the day after (as reminders and
        # interest read it), and each bucket ends on its day: 30 days past due is still 1–30.
        assert buckets("2019-04-15") == {"not_due": HOUR}
        assert buckets("2019-04-16") == {"days_1_30": HOUR}
        assert buckets("2019-05-10") == {"days_1_30": HOUR, "not_due": HOUR}
        assert buckets("2019-05-15") == {"days_1_30": HOUR, "not_due": HOUR}
        assert buckets("2019-05-16") == {"days_31_60": HOUR, "days_1_30": HOUR}
        assert buckets("2019-06-14") == {"days_31_60": HOUR, "days_1_30": HOUR}
        # The payment of 20 June reduces the oldest invoice only from its own date on.
        assert buckets("2019-06-19") == {"days_61_90": HOUR, "days_31_60": HOUR}
        assert buckets("2019-06-20") == {"days_61_90": HOUR - 10_000, "days_31_60": HOUR}
        assert buckets("2019-08-01") == {"days_over_90": HOUR - 10_000, "days_61_90": HOUR}
    finally:
        ledger.close()


def test_credit_from_a_credit_note_covers_the_open_invoices_before_any_reminder(database_url):
    # The acceptance tester's case: both months paid (March short by 100.00), then April's delivery
    # is withdrawn; its credit note leaves money on the account that covers what March still owes.
    ledger = open_ledger(database_url)
    try:
        h, o = herning_weekly_cleaning(ledger)
        deliver(ledger, o, "2019-03-04", 60)
        invoice_run(ledger, HERNING, "2019-03")  # 657-000001, due 2019-04-15
        april = deliver(ledger, o, "2019-04-01", 60)
        invoice_run(ledger, HERNING, "2019-04")  # 657-000002, due 2019-05-15
        pay(ledger, h, HOUR, "2019-05-10", reference="657-000002")
        pay(ledger, h, HOUR - 10_000, "2019-05-10", reference="657-000001")
        withdraw(ledger, april, "2019-05-20")  # credit note 657-K00001 for the paid April hour
        assert remind(ledger, HERNING, "2019-06-05")["reminders"] == []
        db = caught_up(ledger)
        balance = _agrees_with_the_account(ledger, db, h)
        assert (balance["owed"], balance["credit"], balance["balance"], balance["fees"]) == (
            0, HOUR - 10_000, 10_000 - HOUR, 0)
        assert q.open_items(db, HERNING) == [] and q.reminders(db, HERNING) == []
        [ageing] = q.ageing(db, HERNING, "2019-06-05")
        assert (ageing["open"], ageing["credit"]) == (0, HOUR - 10_000)
        assert q.invoice(db, HERNING, "657-000001")["allocations"][-1] == {"payment_id": "credit", "amount": 10_000}
    finally:
        ledger.close()


def _debit_note(ledger: Any, overpaid: int = 0) -> str:
    """January invoiced (657-000001, 2 hours, due 2019-02-15) and paid (plus `overpaid`), then a price
    correction of +10.00/h billed by February's run as debit note 657-D00001 (2 000 øre, due 2019-03-15)."""
    herning(ledger)
    h = citizen(ledger, HERNING)
    o = order(ledger, h, "extra-cleaning", "2019-01-01", kind="recurring", every_weeks=1, minutes=60)
    deliver(ledger, o, "2019-01-07", 60)
    deliver(ledger, o, "2019-01-14", 60)
    invoice_run(ledger, HERNING, "2019-01")
    pay(ledger, h, 2 * HOUR + overpaid, "2019-02-10", reference="657-000001")
    run(ledger, "correct_price_version", {
        "municipality": HERNING, "offer_id": "extra-cleaning", "effective": "2018-06-01", "vat_class": "exempt",
        "prices": prices(HOUR + 1_000), "cost_basis": at_cost(prices(HOUR + 1_000)), "reason": "the wage basis was last year's"},
        role="catalogue_manager")
    [note] = invoice_run(ledger, HERNING, "2019-02")["debit_notes"]
    assert (note["number"], note["gross"]) == ("657-D00001", 2_000)
    return h


def test_a_debit_note_is_an_open_item_and_is_reminded_like_an_invoice(database_url):
    ledger = open_ledger(database_url)
    try:
        h = _debit_note(ledger)
        db = caught_up(ledger)
        assert [(i["number"], i["kind"], i["month"], i["open_amount"], i["reminder_count"])
                for i in q.open_items(db, HERNING)] == [("657-D00001", "debit_note", "2019-01", 2_000, 0)]
        issued = {day: [r["invoice_number"] for r in remind(ledger, HERNING, day)["reminders"]]
                  for day in ("2019-03-15", "2019-03-16", "2019-03-25", "2019-03-26", "2019-04-05", "2019-05-01")}
        assert issued == {"2019-03-15": [], "2019-03-16": ["657-D00001"], "2019-03-25": [],
                          "2019-03-26": ["657-D00001"], "2019-04-05": ["657-D00001"], "2019-05-01": []}
        db = caught_up(ledger)
        assert [(r["invoice_number"], r["sequence"], r["fee"]) for r in q.reminders(db, HERNING)] == [
            ("657-D00001", 1, 10_000), ("657-D00001", 2, 10_000), ("657-D00001", 3, 10_000)]
        [item] = q.open_items(db, HERNING)
        assert (item["number"], item["fees"], item["charged"], item["open_amount"], item["reminder_count"]) == (
            "657-D00001", 30_000, 32_000, 32_000, 3)
        [debit] = q.debit_notes(db, HERNING)
        assert debit["open_amount"] == 32_000
        state = account_state(ledger, h)
        assert state.owed == {"657-000001": 0, "657-D00001": 32_000}
        assert _agrees_with_the_account(ledger, db, h)["owed"] == 32_000
    finally:
        ledger.close()


def test_credit_on_the_account_covers_a_debit_note_so_it_is_neither_open_nor_reminded(database_url):
    ledger = open_ledger(database_url)
    try:
        h = _debit_note(ledger, overpaid=5_000)
        assert remind(ledger, HERNING, "2019-03-16")["reminders"] == []
        db = caught_up(ledger)
        assert q.open_items(db, HERNING) == []
        balance = _agrees_with_the_account(ledger, db, h)
        assert (balance["owed"], balance["credit"]) == (0, 3_000)
    finally:
        ledger.close()


def test_a_refund_pays_out_credit_in_balances_ageing_and_its_own_gapless_series(database_url):
    import pytest

    from ledger.domain.errors import RuleViolated

    ledger = open_ledger(database_url)
    try:
        h = _two_months(ledger)  # 2 × 354.00 owed
        pay(ledger, h, 2 * HOUR + 25_000, "2019-05-20")  # 250.00 too much: credit
        assert refund(ledger, h, 10_000, "2019-05-25") == "657-R00001"
        assert refund(ledger, h, 5_000, "2019-05-26", method="bank_transfer") == "657-R00002"
        db = caught_up(ledger)
        balance = _agrees_with_the_account(ledger, db, h)
        assert (balance["paid"], balance["refunded"], balance["credit"], balance["balance"]) == (
            2 * HOUR + 25_000, 15_000, 10_000, -10_000)
        assert balance["invoiced"] + balance["fees"] - balance["credited"] - balance["paid"] + balance["refunded"] \
            == balance["balance"]
        [aged] = q.ageing(db, HERNING, "2019-05-31")
        assert (aged["credit"], aged["open"], aged["balance"]) == (10_000, 0, -10_000)
        [before] = q.ageing(db, HERNING, "2019-05-24")  # as it stood before the first refund
        assert before["credit"] == 25_000
        assert [(r["number"], r["amount"], r["method"]) for r in q.refunds(db, HERNING, h)] == [
            ("657-R00001", 10_000, "nemkonto"), ("657-R00002", 5_000, "bank_transfer")]
        # Refused, and nothing written (no number taken): more than the credit, a future date.
        with pytest.raises(RuleViolated) as too_much:
            refund(ledger, h, 10_001, "2019-05-27")
        assert too_much.value.rule == "refund-exceeds-credit"
        with pytest.raises(RuleViolated) as future:
            refund(ledger, h, 1_000, "2199-01-01")
        assert future.value.rule == "refund-in-future"
        assert refund(ledger, h, 10_000, "2019-05-27") == "657-R00003"  # the series has no gap
        db = caught_up(ledger)
        assert _agrees_with_the_account(ledger, db, h)["credit"] == 0
    finally:
        ledger.close()
