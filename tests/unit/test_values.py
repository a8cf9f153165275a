"""Money, minutes and rounding: the arithmetic every invoice rests on (no I/O)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain.allocation import MoneyEvent, allocate
from ledger.domain.errors import InvalidInput
from ledger.domain.municipalities import municipality_code
from ledger.domain.values import (band_of, billable_minutes, hourly_net, line_amounts, month_end, ore, parse_month,
                                  round_half_up_div)


@pytest.mark.parametrize("minutes, minimum, increment, billed", [
    (50, 30, 30, 60), (30, 30, 30, 30), (31, 30, 30, 60), (10, 30, 30, 30),  # Herning
    (20, 60, 30, 60), (61, 60, 30, 90), (90, 60, 30, 90), (120, 60, 30, 120),  # Aabenraa
])
def test_billable_minutes_follow_the_scheme_minimum_and_increment(minutes, minimum, increment, billed):
    assert billable_minutes(minutes, minimum, increment) == billed


def test_hourly_net_rounds_half_up_to_whole_ore():
    assert hourly_net(60, 35400) == 35400
    assert hourly_net(30, 40301) == 20151  # 20150.5 → 20151
    assert hourly_net(90, 66500) == 99750


def test_vat_is_a_quarter_of_net_for_new_services_and_nothing_for_more_of_a_granted_one():
    assert line_amounts(29200, "standard") == (29200, 7300, 36500)
    assert line_amounts(29000, "exempt") == (29000, 0, 29000)
    assert line_amounts(3, "standard") == (3, 1, 4)  # 0.75 → 1


@given(st.integers(-10**9, 10**9), st.integers(1, 10**6))
def test_round_half_up_division_matches_exact_arithmetic(n, d):
    from fractions import Fraction
    exact = Fraction(n, d)
    expected = int(abs(exact) + Fraction(1, 2)) * (1 if n >= 0 else -1)
    assert round_half_up_div(n, d) == expected


def test_money_must_be_integer_ore():
    with pytest.raises(InvalidInput):
        ore(10.0, "amount")
    with pytest.raises(InvalidInput):
        ore(-1, "amount")
    with pytest.raises(InvalidInput):
        ore(True, "amount")


def test_months_and_bands():
    assert parse_month("2020-02") == (date(2020, 2, 1), date(2020, 2, 29))
    assert month_end(date(2021, 12, 5)) == date(2021, 12, 31)
    assert band_of(date(2021, 3, 6)) == "weekend"
    assert band_of(date(2021, 3, 5), start_hour=18) == "evening"
    with pytest.raises(InvalidInput):
        parse_month("2020-13")


def test_municipalities_by_code_or_name():
    assert municipality_code("Herning") == 657 == municipality_code("657") == municipality_code(657)
    assert municipality_code("aabenraa") == 580
    with pytest.raises(InvalidInput):
        municipality_code("Atlantis")


def test_allocation_pays_the_referenced_invoice_then_the_oldest_and_keeps_the_rest_as_credit():
    s = allocate([
        MoneyEvent.invoice("A", 1000, "2019-04-01"),
        MoneyEvent.invoice("B", 500, "2019-04-01"),
        MoneyEvent.payment("p1", 700, "2019-04-05", "B"),
        MoneyEvent.payment("p2", 1200, "2019-04-06", None),
        MoneyEvent.invoice("C", 300, "2019-05-01"),
    ])
    assert s.allocations == [("p1", "B", 500), ("p1", "A", 200), ("p2", "A", 800), ("credit", "C", 300)]
    assert s.owed == {"A": 0, "B": 0, "C": 0} and s.credit == 100 and s.balance == -100


def test_a_credit_note_on_a_paid_invoice_becomes_credit_and_a_reversed_payment_counts_as_never_made():
    s = allocate([
        MoneyEvent.invoice("A", 1000, "2019-04-01"),
        MoneyEvent.payment("p1", 1000, "2019-04-05", None),
        MoneyEvent.credit_note("A", 400, "2019-04-10"),
        MoneyEvent.payment("p2", 50, "2019-04-11", None).reversed("2019-04-12"),
    ])
    assert s.credit == 400 and s.balance == -400


def test_a_money_event_keeps_its_stored_encoding_both_ways():
    payment = MoneyEvent.payment("p1", 700, "2019-04-05", "B")
    assert payment.to_row() == ["p", "p1", 700, "2019-04-05", "B", None]
    assert payment.reversed("2019-04-09").to_row() == ["p", "p1", 700, "2019-04-05", "B", "2019-04-09"]
    for e in (MoneyEvent.invoice("A", 1000, "2019-04-01"), MoneyEvent.debit_note("657-D000001", 50, "2019-05-01"),
              MoneyEvent.credit_note("A", 400, "2019-04-10"), MoneyEvent.reminder("A", 10_000, "2019-04-20"),
              payment, payment.reversed("2019-04-09")):
        assert MoneyEvent.from_row(e.to_row()) == e
    assert MoneyEvent.invoice("A", 1000, "2019-04-01").to_row() == ["i", "A", 1000, "2019-04-01"]


def test_allocation_as_of_a_day_ignores_later_events_and_later_reversals():
    money = [MoneyEvent.invoice("A", 1000, "2019-04-01"),
             MoneyEvent.payment("p1", 1000, "2019-04-05", None).reversed("2019-04-20"),
             MoneyEvent.invoice("B", 500, "2019-05-01")]
    assert allocate(money, as_of="2019-04-10").owed == {"A": 0}
    assert allocate(money, as_of="2019-04-30").owed == {"A": 1000}
    assert allocate(money).owed == {"A": 1000, "B": 500}


def test_refunds_are_attributed_to_the_oldest_leftover_credit_first():
    s = allocate([
        MoneyEvent.invoice("A", 1000, "2019-04-01"),
        MoneyEvent.payment("p1", 1300, "2019-04-05", None),  # 300 left over
        MoneyEvent.payment("p2", 500, "2019-04-06", None),  # all left over
        MoneyEvent.refund("R1", 600, "2019-04-10"),
    ])
    assert s.refunded == {"p1": 300, "p2": 300} and s.credit == 200
    assert s.funded == [("R1", "p1", 300), ("R1", "p2", 300)]


def test_credit_that_paid_a_document_is_not_refunded_from_its_payment():
    s = allocate([
        MoneyEvent.payment("p1", 1000, "2019-04-05", None),
        MoneyEvent.invoice("A", 600, "2019-05-01"),  # takes 600 of p1's credit
        MoneyEvent.payment("p2", 500, "2019-05-02", None),
        MoneyEvent.refund("R1", 600, "2019-05-10"),
    ])
    assert s.refunded == {"p1": 400, "p2": 200} and s.credit == 300


def test_a_claim_takes_over_refunded_money_a_reversal_left_uncovered():
    money = [MoneyEvent.payment("p1", 1000, "2019-04-05", None).reversed("2019-04-25"),
             MoneyEvent.refund("R1", 1000, "2019-04-20")]
    assert (allocate(money).uncovered, allocate(money).credit, allocate(money).balance) == (1000, 0, 1000)
    money.append(MoneyEvent.claim("657-B00001", 1000, "2019-04-25"))
    s = allocate(money)
    assert (s.owed, s.uncovered, s.credit, s.balance) == ({"657-B00001": 1000}, 0, 0, 1000)
    assert MoneyEvent.from_row(money[-1].to_row()) == money[-1] and money[-1].to_row()[0] == "b"
