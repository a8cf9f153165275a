"""Acceptance probe: the FI payment slip, payments and their allocation, reminders and default
interest, as a billing clerk checks them against the conventions.

Citations: /work/shared/domain.md ("domain.md l.N"), /work/shared/notes/billing-conventions.md
("conventions l.N"). Every fact goes through `Ledger.execute`.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ledger.domain import fi_payment
from ledger.projections import billing_queries as q
from ledger.settings import Settings
from ledger.application import Ledger
from tests.helpers.billing_factories import (HERNING, caught_up, citizen, deliver, herning, invoice_run, open_ledger,
                                             order, pay, remind, reverse, run)


@pytest.fixture
def ledger(database_url):
    opened = open_ledger(database_url)
    yield opened
    opened.close()


def _monthly(ledger, months: tuple[str, ...] = ("2019-01",)) -> tuple[str, list[str]]:
    """A Herning citizen with one hour of extra cleaning (354,00 kr.) in each month, each month
    invoiced on the 1st of the next (due 14 days later). -> (citizen, invoice numbers)"""
    herning(ledger)
    cid = citizen(ledger, HERNING)
    o = order(ledger, cid, "extra-cleaning", months[0] + "-01", kind="recurring", every_weeks=1, minutes=60)
    numbers = []
    for month in months:
        deliver(ledger, o, month + "-07", 60)
        numbers += [i["number"] for i in invoice_run(ledger, HERNING, month)["invoices"]]
    return cid, numbers


def _balance(ledger, cid: str) -> dict:
    (row,) = q.balances(caught_up(ledger), HERNING, cid)
    return row


# -- the FI payment slip (conventions l.16-22) --------------------------------------------------

def test_fi_card_71_payment_id_is_15_digits_with_a_luhn_check_digit(ledger):
    """conventions l.17-20: card type 71 carries a 15-digit payment id; its last digit is a
    modulus-10 check digit, weights 2, 1, 2, ... from the right: 'id 1 becomes 18, id 2 becomes
    26; left-pad with zeros to 15 digits'."""
    assert fi_payment.with_check_digit(1) == "000000000000018"
    assert fi_payment.with_check_digit(2) == "000000000000026"
    assert fi_payment.is_valid("000000000000018") and not fi_payment.is_valid("000000000000019")
    pid = fi_payment.payment_id("657-000001")
    assert len(pid) == 15 and pid.startswith("657") and fi_payment.is_valid(pid)
    assert fi_payment.document_number(pid) == "657-000001"


def test_the_code_line_reads_plus_71_id_plus_creditor_and_the_creditor_starts_with_8():
    """conventions l.17 and l.21: the code line reads `+71< PAYMENT-ID +CREDITOR<`; the creditor
    number is 8 digits and starts with 8 (anything else is refused, never printed)."""
    line = fi_payment.code_line("657-000001", "81234567")
    assert line == f"+71< {fi_payment.payment_id('657-000001')} +81234567<"
    for creditor in ("71234567", "8123456", "812345678"):
        with pytest.raises(ValueError):
            fi_payment.code_line("657-000001", creditor)


def test_every_invoice_shows_its_payment_id(ledger):
    """conventions l.16-24: the slip's payment id is printed on the invoice, so the bank can hand it
    back with the money. The invoice read carries it."""
    _, (number,) = _monthly(ledger)
    assert q.invoice(caught_up(ledger), HERNING, number)["payment_id"] == fi_payment.payment_id(number)


def test_a_payment_quoting_the_fi_id_is_allocated_to_that_invoice_first(ledger):
    """conventions l.23-24: 'A payment received through FI carries the payment id: allocate by it.'
    With January and February open, 354,00 kr. quoting February's id (with a bank's spaces) pays
    February, not the older January."""
    cid, (jan, feb) = _monthly(ledger, ("2019-01", "2019-02"))
    pid = fi_payment.payment_id(feb)
    pay(ledger, cid, 35_400, "2019-03-10", reference=f"{pid[:5]} {pid[5:10]} {pid[10:]}")
    db = caught_up(ledger)
    assert [(x["number"], x["open_amount"]) for x in q.open_items(db, HERNING, cid)] == [(jan, 35_400)]


def test_a_payment_without_reference_pays_the_oldest_open_document_first(ledger):
    """domain.md l.79 (payments, balances and ageing): money without a reference pays open invoices
    oldest first; 500,00 kr. pays January (354,00) and 146,00 of February."""
    cid, (jan, feb) = _monthly(ledger, ("2019-01", "2019-02"))
    pay(ledger, cid, 50_000, "2019-03-10")
    db = caught_up(ledger)
    assert [(x["number"], x["open_amount"]) for x in q.open_items(db, HERNING, cid)] == [(feb, 35_400 - 14_600)]


def test_an_overpayment_is_credit_that_pays_the_next_invoice(ledger):
    """domain.md l.79 (payments, balances): 400,00 kr. on a 354,00 kr. invoice leaves 46,00 kr.
    credit; February's invoice of 354,00 then owes 308,00, and nothing is both owed and credited."""
    cid, (jan,) = _monthly(ledger)
    pay(ledger, cid, 40_000, "2019-02-10", reference=jan)
    assert (_balance(ledger, cid)["credit"], _balance(ledger, cid)["balance"]) == (4_600, -4_600)
    o = order(ledger, cid, "extra-cleaning", "2019-02-11", minutes=60)
    deliver(ledger, o, "2019-02-11", 60)
    (feb,) = invoice_run(ledger, HERNING, "2019-02")["invoices"]
    row = _balance(ledger, cid)
    assert (row["owed"], row["credit"], row["balance"]) == (35_400 - 4_600, 0, 30_800)


def test_a_reversed_payment_counts_as_never_made(ledger):
    """domain.md l.79 (payments): a bounced direct debit is reversed; the invoice is open again."""
    cid, (jan,) = _monthly(ledger)
    paid = pay(ledger, cid, 35_400, "2019-02-10", reference=jan)
    assert _balance(ledger, cid)["balance"] == 0
    reverse(ledger, cid, paid, "2019-02-12")
    assert _balance(ledger, cid)["balance"] == 35_400


# -- reminders (domain.md l.72-74; conventions l.26-28) ----------------------------------------

def test_reminders_at_most_three_at_least_ten_days_apart_at_most_100_kr_each(ledger):
    """domain.md l.73 / conventions l.27: 'at most 3 reminders for the same claim, at least 10 days
    apart, at most 100 DKK each (renteloven § 9 b)'. January's invoice falls due 2019-02-15."""
    cid, (jan,) = _monthly(ledger)
    assert remind(ledger, HERNING, "2019-02-15")["reminders"] == []  # not overdue on its due date
    issued = []
    for day in ("2019-02-16", "2019-02-25", "2019-02-26", "2019-03-08", "2019-03-20", "2019-04-30"):
        issued += [(day, r["sequence"]) for r in remind(ledger, HERNING, day)["reminders"]]
    assert issued == [("2019-02-16", 1), ("2019-02-26", 2), ("2019-03-08", 3)]
    db = caught_up(ledger)
    assert [r["fee"] for r in q.reminders(db, HERNING, cid)] == [10_000] * 3
    assert _balance(ledger, cid)["balance"] == 35_400 + 3 * 10_000


@pytest.mark.parametrize("setting, value", [
    ("reminder_fee_ore", 10_001), ("reminder_max_count", 4), ("reminder_min_days_apart", 9)])
def test_no_setting_can_loosen_the_reminder_rules(setting, value):
    """domain.md l.73: the limits are the law's (renteloven § 9 b): a municipality may be stricter,
    never looser: a fee above 100 DKK, a fourth reminder or 9 days apart is refused at start-up."""
    with pytest.raises(ValidationError):
        Settings(**{setting: value})


def test_a_paid_invoice_is_not_reminded(ledger):
    """domain.md l.73: a reminder is for an overdue claim; paid on time, nothing is reminded."""
    cid, (jan,) = _monthly(ledger)
    pay(ledger, cid, 35_400, "2019-02-14", reference=jan)
    assert remind(ledger, HERNING, "2019-03-01")["reminders"] == []


# -- default interest (domain.md l.74; conventions l.29-30) ------------------------------------

def test_default_interest_is_off_unless_the_municipality_turns_it_on(ledger):
    """conventions l.30: 'Many municipalities charge none in practice: make it optional.' By
    default a run adds no interest line for an overdue invoice."""
    _monthly(ledger)
    assert invoice_run(ledger, HERNING, "2019-03")["invoices"] == []


def test_default_interest_is_the_reference_rate_plus_8_percent_a_year_on_the_overdue_amount(database_url):
    """domain.md l.74 / conventions l.29: 'the central bank's reference rate ... + 8 % a year
    (renteloven § 5), from the due date'. 354,00 kr. due 2019-02-15, reference rate 0,05 %: the
    February run on 2019-03-01 charges 15-28 February (14 days, the due date itself included:
    renteloven § 3 stk. 1 'fra forfaldsdagen') at 8,05 %:
    35.400 × 14 × 805 / 3.650.000 = 109,3 øre → 1,09 kr. (no VAT); the March run on 2019-04-01
    charges March only (31 days: 2,42 kr.), never a day twice, naming the rate fact it used."""
    ledger = Ledger(Settings(database_url=database_url, default_interest=True))
    try:
        herning(ledger)
        cid = citizen(ledger, HERNING)
        deliver(ledger, order(ledger, cid, "extra-cleaning", "2019-01-07", minutes=60), "2019-01-07", 60)
        rate = run(ledger, "set_reference_rate", {"municipality": HERNING, "effective": "2019-01-01", "rate_bp": 5},
                   role="billing_clerk")
        assert rate["default_interest_bp"] == 805
        invoice_run(ledger, HERNING, "2019-01")
        interest = []
        for month, run_date in (("2019-02", "2019-03-01"), ("2019-03", "2019-04-01")):
            (inv,) = invoice_run(ledger, HERNING, month, run_date)["invoices"]
            (line,) = q.invoice(caught_up(ledger), HERNING, inv["number"])["lines"]
            interest.append((line["kind"], line["net"], line["vat"], line["gross"]))
            assert line["provenance"]["document"] == "657-000001" and line["provenance"]["rates"]
        assert interest == [("interest", 109, 0, 109), ("interest", 242, 0, 242)]
    finally:
        ledger.close()


@pytest.fixture
def interest_ledger(database_url):
    """A ledger with default interest on and Herning's reference rate 0,05 % from 1 January 2019
    (8,05 % a year with the margin)."""
    opened = Ledger(Settings(database_url=database_url, default_interest=True))
    run(opened, "set_reference_rate", {"municipality": HERNING, "effective": "2019-01-01", "rate_bp": 5},
        role="billing_clerk")
    yield opened
    opened.close()


def _january_and_march(ledger) -> tuple[str, str]:
    """One hour of extra cleaning (354,00 kr.) in January, invoiced on 1 February (due 15
    February), and one in March, for the March run. -> (citizen, the January invoice's number)"""
    herning(ledger)
    cid = citizen(ledger, HERNING)
    o = order(ledger, cid, "extra-cleaning", "2019-01-01", kind="recurring", every_weeks=1, minutes=60)
    deliver(ledger, o, "2019-01-07", 60)
    (jan,) = invoice_run(ledger, HERNING, "2019-01")["invoices"]
    deliver(ledger, o, "2019-03-07", 60)
    return cid, jan["number"]


def _interest_lines(ledger, database_url, number):
    """The interest lines of an invoice as stored, [(document, from, to, gross, principal, periods)];
    each reproduces with `ledger-replay invoice` from the events before it."""
    from replay.invoice import reproduce
    from replay.store import open_store

    store = open_store(database_url)
    try:
        found = reproduce(store, number, HERNING)
        assert found.ok, [(x.line_no, x.differences, x.problems) for x in found.lines]
        lines = [x.stored for x in found.lines if x.kind == "interest"]
    finally:
        store.close()
    shown = {x["line_no"]: x for x in q.invoice(caught_up(ledger), HERNING, number)["lines"]}
    assert all(shown[x["line_no"]]["gross"] == x["gross"] for x in lines)  # the billing view shows the same
    return [(x["interest"]["document"], x["interest"]["from"], x["interest"]["to"], x["gross"],
             x["interest"]["principal"], x["interest"]["periods"]) for x in lines]


@pytest.mark.parametrize("february_run", [False, True])
def test_an_invoice_paid_late_before_the_run_is_charged_interest_for_exactly_the_late_days(
        interest_ledger, database_url, february_run):
    """conventions l.29: interest 'from the due date' for the days the citizen was in default
    (ADR 0028, round-9 amendment). 354,00 kr. due 2019-02-15, paid in full on 2019-03-12: 25 days
    late (15 February, the due date itself, .. 11 March). The March run on 2019-04-01 used to bill
    only March's delivery, since nothing was open at the run. Now it charges the late days:
    35.400 × 25 × 805 / 3.650.000 = 195,2 øre → 1,95 kr. With a February run on 2019-03-01 in
    between (which charged 15-28 February while the invoice was open, 1,09 kr.), the March run
    charges 1-11 March: 35.400 × 11 × 805 / 3.650.000 = 85,9 → 0,86 kr.: the same 25 days, none twice."""
    ledger = interest_ledger
    cid, jan = _january_and_march(ledger)
    found = []
    if february_run:
        (feb,) = invoice_run(ledger, HERNING, "2019-02", "2019-03-01")["invoices"]
        found += _interest_lines(ledger, database_url, feb["number"])
    pay(ledger, cid, 35_400, "2019-03-12", reference=jan)
    (mar,) = invoice_run(ledger, HERNING, "2019-03", "2019-04-01")["invoices"]
    found += _interest_lines(ledger, database_url, mar["number"])
    if february_run:
        assert found == [(jan, "2019-02-15", "2019-02-28", 109, 35_400, [["2019-02-15", "2019-02-28", 805]]),
                         (jan, "2019-03-01", "2019-03-11", 86, 35_400, [["2019-03-01", "2019-03-11", 805]])]
    else:
        assert found == [(jan, "2019-02-15", "2019-03-11", 195, 35_400, [["2019-02-15", "2019-03-11", 805]])]
    # Paid, so no later run charges it again (the April run charges only the unpaid March invoice).
    (apr,) = invoice_run(ledger, HERNING, "2019-04", "2019-05-01")["invoices"]
    assert [x[0] for x in _interest_lines(ledger, database_url, apr["number"])] == [mar["number"]]


def test_a_part_payment_made_late_lowers_the_principal_from_the_day_it_was_paid(interest_ledger, database_url):
    """354,00 kr. due 2019-02-15; 200,00 kr. paid on 1 March, the rest on 20 March. The March run on
    2019-04-01 charges 15-28 February on 354,00 kr. and 1-19 March on the 154,00 kr. still open at
    the end of each of those days; nothing from 20 March, when it was paid up:
    805 × (35.400 × 14 + 15.400 × 19) / 3.650.000 = 173,8 øre → 1,74 kr."""
    ledger = interest_ledger
    cid, jan = _january_and_march(ledger)
    pay(ledger, cid, 20_000, "2019-03-01", reference=jan)
    pay(ledger, cid, 15_400, "2019-03-20", reference=jan)
    (mar,) = invoice_run(ledger, HERNING, "2019-03", "2019-04-01")["invoices"]
    assert _interest_lines(ledger, database_url, mar["number"]) == [
        (jan, "2019-02-15", "2019-03-19", 174, 35_400, [["2019-02-15", "2019-02-28", 805, 35_400],
                                                        ["2019-03-01", "2019-03-19", 805, 15_400]])]


def test_an_invoice_paid_on_its_due_date_is_charged_no_interest(interest_ledger, database_url):
    """renteloven § 3 stk. 1 / ADR 0028: paid on the due date is paid in time; no run charges it."""
    ledger = interest_ledger
    cid, jan = _january_and_march(ledger)
    pay(ledger, cid, 35_400, "2019-02-15", reference=jan)
    assert invoice_run(ledger, HERNING, "2019-02", "2019-03-01")["invoices"] == []
    (mar,) = invoice_run(ledger, HERNING, "2019-03", "2019-04-01")["invoices"]
    assert _interest_lines(ledger, database_url, mar["number"]) == []
    (line,) = q.invoice(caught_up(ledger), HERNING, mar["number"])["lines"]
    assert line["kind"] == "delivery"


def test_a_bounced_payment_is_charged_interest_as_if_it_had_never_been_paid(interest_ledger, database_url):
    """domain allocation rule: 'A reversed payment counts as never made.' 354,00 kr. due 2019-02-15,
    paid on 14 February, so the February run on 1 March charges nothing; the bank reverses the
    payment on 5 March. The March run on 2019-04-01 charges every day from the due date as if it
    had never been paid, the February days the earlier run found paid included (they were never
    charged): 15 February .. 31 March, 45 days: 35.400 × 45 × 805 / 3.650.000 = 351,3 → 3,51 kr."""
    ledger = interest_ledger
    cid, jan = _january_and_march(ledger)
    paid = pay(ledger, cid, 35_400, "2019-02-14", reference=jan)
    assert invoice_run(ledger, HERNING, "2019-02", "2019-03-01")["invoices"] == []
    reverse(ledger, cid, paid, "2019-03-05")
    (mar,) = invoice_run(ledger, HERNING, "2019-03", "2019-04-01")["invoices"]
    assert _interest_lines(ledger, database_url, mar["number"]) == [
        (jan, "2019-02-15", "2019-03-31", 351, 35_400, [["2019-02-15", "2019-03-31", 805]])]


def test_a_debit_note_has_its_own_fi_payment_id_and_a_payment_quoting_it_pays_it(ledger):
    """conventions l.14 and l.23-24: a debit note is a supplementary charge the citizen owes like an
    invoice, on its own due date, so its slip carries its own +71 id; "A payment received through FI
    carries the payment id: allocate by it". March is left 4,00 kr. short, so a payment without a
    reference would go to the older invoice first; quoting the debit note's id, it pays the note."""
    from tests.helpers.costs import at_cost
    from tests.helpers.billing_factories import prices

    cid, (jan,) = _monthly(ledger)
    pay(ledger, cid, 35_000, "2019-02-10", reference=jan)
    run(ledger, "correct_price_version", {
        "municipality": HERNING, "offer_id": "extra-cleaning", "effective": "2018-06-01", "vat_class": "exempt",
        "prices": prices(36_400), "cost_basis": at_cost(prices(36_400)), "reason": "wage basis"},
        role="catalogue_manager")
    (note,) = invoice_run(ledger, HERNING, "2019-02")["debit_notes"]
    pid = fi_payment.payment_id(note["number"])
    assert len(pid) == 15 and fi_payment.is_valid(pid) and pid != fi_payment.payment_id(jan)
    pay(ledger, cid, 1_000, "2019-03-20", reference=pid)
    db = caught_up(ledger)
    (debit,) = q.debit_notes(db, HERNING, cid)
    assert debit["payment_id"] == pid and debit["open_amount"] == 0
    assert [(x["number"], x["open_amount"]) for x in q.open_items(db, HERNING, cid)] == [(jan, 400)]
    assert q.invoice(db, HERNING, jan)["debit_notes"][0]["payment_id"] == pid
