"""Acceptance probe: how a delivery becomes money, rule by rule, as a billing clerk checks it.

Each test is named for the rule it checks and cites where the rule comes from: /work/shared/domain.md
("domain.md l.N") or /work/shared/notes/billing-conventions.md ("conventions l.N"). Every fact goes
through the application's front door (`Ledger.execute`), so these are the ledger's answers, not a
re-implementation. Figures are the published Herning and Aabenraa ones (domain.md l.65-69).
"""

from __future__ import annotations

import pytest

from ledger.domain.errors import InvalidInput, RuleViolated
from ledger.projections import billing_queries as q
from tests.helpers.billing_factories import (AABENRAA, HERNING, aabenraa, caught_up, citizen, deliver, herning,
                                             invoice_run, item, missed, open_ledger, order, prices, run, scheme)
from tests.helpers.costs import at_cost


@pytest.fixture
def ledger(database_url):
    opened = open_ledger(database_url)
    yield opened
    opened.close()


def _billed(ledger, municipality: int, month: str) -> list[dict]:
    """Run the month's invoices; the lines they bill, in order (from the billing read model)."""
    invoice_run(ledger, municipality, month)
    db = caught_up(ledger)
    return [line for inv in q.invoices(db, municipality, month)
            for line in q.invoice(db, municipality, inv["number"])["lines"]]


def _one_visit(ledger, municipality: int, offer: str, on: str, minutes: int, band: str = "weekday_day",
               **kw) -> dict:
    """One citizen, one one-off order and one delivery; the invoice line it bills."""
    c = citizen(ledger, municipality)
    deliver(ledger, order(ledger, c, offer, on, minutes=minutes), on, minutes, band=band, **kw)
    (line,) = _billed(ledger, municipality, on[:7])
    return line


def test_herning_minimum_half_an_hour_twenty_minutes_bill_thirty(ledger):
    """domain.md l.66: Herning practical help 354 DKK/h (no VAT for more of a granted service),
    'minimum half an hour'. 20 minutes bill 30 minutes: 177,00 kr."""
    herning(ledger)
    line = _one_visit(ledger, HERNING, "extra-cleaning", "2019-03-05", 20)
    assert (line["minutes"], line["billed_minutes"], line["unit_price"]) == (20, 30, 35_400)
    assert (line["net"], line["vat"], line["gross"]) == (17_700, 0, 17_700)


def test_herning_half_hour_steps_forty_minutes_bill_an_hour(ledger):
    """domain.md l.66 (minimum half an hour) with half-hour steps (the scheme's increment 30):
    40 minutes round up to 60, never down, never to the minute."""
    herning(ledger)
    line = _one_visit(ledger, HERNING, "extra-cleaning", "2019-03-05", 40)
    assert (line["billed_minutes"], line["gross"]) == (60, 35_400)


def test_aabenraa_minimum_one_hour_then_half_hours(ledger):
    """domain.md l.67-68: Aabenraa 290 DKK/h (more of a granted service, no VAT), 'minimum 1 h then
    half hours'. 20 minutes bill 60 (290,00 kr.), 70 minutes bill 90 (435,00 kr.)."""
    aabenraa(ledger)
    c = citizen(ledger, AABENRAA)
    o = order(ledger, c, "extra-cleaning", "2019-03-01", kind="recurring", every_weeks=1, minutes=60)
    deliver(ledger, o, "2019-03-05", 20)
    deliver(ledger, o, "2019-03-12", 70)
    assert [(x["billed_minutes"], x["gross"]) for x in _billed(ledger, AABENRAA, "2019-03")] == [
        (60, 29_000), (90, 43_500)]


def test_a_new_kind_of_service_carries_25_percent_vat_more_of_a_granted_one_none(ledger):
    """domain.md l.70-71: 'more of a granted service was sold without VAT; a new kind of service
    carried 25 % VAT'. Herning's window cleaning at 292,04 kr./h + 25 %: one hour is 365,05 kr."""
    herning(ledger)
    c = citizen(ledger, HERNING)
    deliver(ledger, order(ledger, c, "window-cleaning", "2019-03-05", minutes=60), "2019-03-05", 60)
    deliver(ledger, order(ledger, c, "extra-cleaning", "2019-03-06", minutes=60), "2019-03-06", 60)
    lines = {x["offer_id"]: x for x in _billed(ledger, HERNING, "2019-03")}
    assert (lines["window-cleaning"]["vat_class"], lines["window-cleaning"]["net"],
            lines["window-cleaning"]["vat"], lines["window-cleaning"]["gross"]) == ("standard", 29_204, 7_301, 36_505)
    assert (lines["extra-cleaning"]["vat_class"], lines["extra-cleaning"]["vat"]) == ("exempt", 0)


def test_each_line_is_rounded_half_up_to_whole_ore_once(ledger):
    """ADR 0003 / money in integer øre: 30 minutes at 354,01 kr./h is 177,005 kr., rounded half up
    to 177,01 kr.; its 25 % VAT 44,2525 kr. to 44,25 kr. No float, one rounding per amount."""
    scheme(ledger, HERNING, 30, 30)
    item(ledger, HERNING, "odd", 35_401, vat_class="standard", fsiii="H3.2")
    line = _one_visit(ledger, HERNING, "odd", "2019-03-05", 30)
    assert (line["net"], line["vat"], line["gross"]) == (17_701, 4_425, 22_126)
    assert all(isinstance(line[k], int) for k in ("net", "vat", "gross", "unit_price"))


def test_weekday_daytime_evening_and_weekend_are_priced_at_their_own_band(ledger):
    """domain.md l.65-67: Herning personal care weekday daytime 403, weekend daytime 496, evening
    665 DKK/h (excl. VAT). A delivery bills its band's price."""
    scheme(ledger, HERNING, 30, 30)
    run(ledger, "add_item", {
        "municipality": HERNING, "item_id": "care", "name": "Personlig pleje", "unit": "hour", "fsiii": "H1.1",
        "vat_class": "exempt", "prices": prices(40_300, 66_500, 49_600),
        "cost_basis": at_cost(prices(40_300, 66_500, 49_600)), "effective": "2018-06-01"})
    c = citizen(ledger, HERNING)
    o = order(ledger, c, "care", "2019-03-01", kind="recurring", every_weeks=1, minutes=60)
    deliver(ledger, o, "2019-03-04", 60)  # Monday
    deliver(ledger, o, "2019-03-05", 60, band="evening")  # Tuesday evening
    deliver(ledger, o, "2019-03-09", 60, band="weekend")  # Saturday
    assert [(x["band"], x["gross"]) for x in _billed(ledger, HERNING, "2019-03")] == [
        ("weekday_day", 40_300), ("evening", 66_500), ("weekend", 49_600)]


@pytest.mark.parametrize("band, day, why", [
    ("weekday_day", "2019-03-09", "a Saturday is never weekday daytime (domain.md l.66-68)"),
    ("weekday_day", "2019-03-10", "a Sunday is never weekday daytime"),
    ("weekend", "2019-03-05", "an ordinary Tuesday is not the weekend band"),
])
def test_a_band_that_does_not_fit_the_day_is_refused(ledger, band, day, why):
    """domain.md l.65-68: weekday daytime, weekend daytime and evening are priced apart, so a visit
    cannot be recorded at a band its date cannot have (`band-not-on-day`)."""
    herning(ledger)
    c = citizen(ledger, HERNING)
    o = order(ledger, c, "extra-cleaning", "2019-03-01", kind="recurring", every_weeks=1, minutes=60)
    with pytest.raises(RuleViolated) as refused:
        deliver(ledger, o, day, 60, band=band)
    assert refused.value.rule == "band-not-on-day", why


def test_a_one_off_order_is_not_quoted_a_band_its_date_cannot_have(ledger):
    """domain.md l.65-68 (weekday and weekend daytime priced apart) and l.33-36 (the citizen pays the
    price of what is delivered): a one-off order for a Saturday at weekday daytime was quoted 354 kr.
    and its visit could then never be recorded at that band; it is refused as the delivery is
    (`band-not-on-day`), and at the weekend band it is quoted the weekend price."""
    herning(ledger)
    c = citizen(ledger, HERNING)
    with pytest.raises(RuleViolated) as refused:
        order(ledger, c, "extra-cleaning", "2019-03-09")  # a Saturday, the default band weekday_day
    assert refused.value.rule == "band-not-on-day"
    quoted = run(ledger, "place_order", {"citizen_id": c, "offer_id": "extra-cleaning", "kind": "one_off",
                                         "start": "2019-03-09", "minutes": 60, "band": "weekend"})["quoted"]
    assert quoted["price_ore"] == 35_400  # the factory's catalogue prices every band alike


def test_a_weekday_public_holiday_may_be_priced_at_the_weekend_band(ledger):
    """Holidays (helligdage): the seeds (/work/shared/seeds/*) and domain.md say nothing about them;
    the ledger lets a weekday public holiday take the weekend band (Easter Monday 2019-04-22) and
    also still takes weekday daytime there (see the report: no seed line says a holiday is the
    weekend rate, so that is not refused)."""
    herning(ledger)
    c = citizen(ledger, HERNING)
    o = order(ledger, c, "extra-cleaning", "2019-04-01", kind="recurring", every_weeks=1, minutes=60)
    deliver(ledger, o, "2019-04-22", 60, band="weekend")
    deliver(ledger, o, "2019-05-30", 60)  # Ascension Day (Kristi himmelfartsdag), weekday daytime
    assert [x["band"] for x in _billed(ledger, HERNING, "2019-04") + _billed(ledger, HERNING, "2019-05")] == [
        "weekend", "weekday_day"]


def test_klippekort_hours_are_never_billed(ledger):
    """domain.md l.74: '"Klippekort" hours (a free half hour a week for nursing-home residents) are
    never billed.' A klippekort visit is recorded, no invoice line bills it."""
    herning(ledger)
    c = citizen(ledger, HERNING, klippekort=30)
    o = order(ledger, c, "extra-cleaning", "2019-03-01", kind="recurring", every_weeks=1, minutes=30)
    deliver(ledger, o, "2019-03-05", 30, klippekort=True)
    deliver(ledger, o, "2019-03-12", 30)
    lines = _billed(ledger, HERNING, "2019-03")
    assert [x["service_date"] for x in lines] == ["2019-03-12"]


def test_klippekort_is_for_nursing_home_residents_and_at_most_its_weekly_minutes(ledger):
    """domain.md l.74: a free half hour a week for nursing-home residents: a citizen at home gets no
    klippekort, and a second klippekort visit in the same ISO week beyond the allowance is refused."""
    herning(ledger)
    at_home = citizen(ledger, HERNING)
    with pytest.raises(RuleViolated) as refused:
        run(ledger, "grant_klippekort", {"citizen_id": at_home, "minutes_per_week": 30, "valid_from": "2019-01-01"})
    assert refused.value.rule == "klippekort-not-nursing-home"
    resident = citizen(ledger, HERNING, klippekort=30)
    o = order(ledger, resident, "extra-cleaning", "2019-03-01", kind="recurring", every_weeks=1, minutes=30)
    deliver(ledger, o, "2019-03-05", 30, klippekort=True)
    with pytest.raises(RuleViolated) as exhausted:
        deliver(ledger, o, "2019-03-07", 30, klippekort=True)
    assert exhausted.value.rule == "klippekort-exhausted"


def test_a_missed_visit_is_never_billed(ledger):
    """domain.md l.79 (billing: 'credit notes for cancelled or disputed deliveries'): only what was
    delivered is billed; a visit that did not happen is recorded with its reason and bills nothing."""
    herning(ledger)
    c = citizen(ledger, HERNING)
    o = order(ledger, c, "extra-cleaning", "2019-03-01", kind="recurring", every_weeks=1, minutes=60)
    missed(ledger, o, "2019-03-05")
    deliver(ledger, o, "2019-03-12", 60)
    assert [x["service_date"] for x in _billed(ledger, HERNING, "2019-03")] == ["2019-03-12"]


def test_holiday_escort_is_billed_per_escort_day_plus_its_fee(ledger):
    """domain.md l.69: 'Holiday escort: about 2,700 per escort-day plus a 250 fee.' Three days of
    escort bill 3 × 2.700,00 kr.; the 250 kr. fee is its own item (both + 25 % VAT: a new kind)."""
    scheme(ledger, HERNING, 30, 30)
    item(ledger, HERNING, "holiday-escort", 270_000, unit="day", vat_class="standard", fsiii="H3.2")
    item(ledger, HERNING, "holiday-fee", 25_000, unit="visit", vat_class="standard", fsiii="H3.2")
    c = citizen(ledger, HERNING)
    deliver(ledger, order(ledger, c, "holiday-escort", "2019-06-10", minutes=None), "2019-06-10", 3 * 24 * 60 // 6,
            units=3)
    deliver(ledger, order(ledger, c, "holiday-fee", "2019-06-10", minutes=None), "2019-06-10", 30)
    lines = {x["offer_id"]: x for x in _billed(ledger, HERNING, "2019-06")}
    assert (lines["holiday-escort"]["quantity"], lines["holiday-escort"]["net"]) == (3, 810_000)
    assert (lines["holiday-fee"]["net"], lines["holiday-fee"]["gross"]) == (25_000, 31_250)


def test_the_price_in_force_on_the_delivery_date_is_billed_after_a_1_january_adjustment(ledger):
    """domain.md l.67: 'prices adjusted each 1 January'. A recurring order placed in December bills
    December at the old price and January at the new one (the price in force on each date)."""
    herning(ledger)
    run(ledger, "change_price", {"municipality": HERNING, "offer_id": "extra-cleaning", "effective": "2020-01-01",
                                 "vat_class": "exempt", "prices": prices(36_500),
                                 "cost_basis": at_cost(prices(36_500))}, role="catalogue_manager")
    c = citizen(ledger, HERNING)
    o = order(ledger, c, "extra-cleaning", "2019-12-02", kind="recurring", every_weeks=1, minutes=60)
    deliver(ledger, o, "2019-12-30", 60)
    deliver(ledger, o, "2020-01-06", 60)
    invoice_run(ledger, HERNING, "2019-12")
    invoice_run(ledger, HERNING, "2020-01")
    db = caught_up(ledger)
    got = [(line["service_date"], line["unit_price"]) for month in ("2019-12", "2020-01")
           for inv in q.invoices(db, HERNING, month) for line in q.invoice(db, HERNING, inv["number"])["lines"]]
    assert got == [("2019-12-30", 35_400), ("2020-01-06", 36_500)]


def test_money_is_whole_ore_a_float_or_a_negative_amount_is_refused(ledger):
    """Rules of the house (money in integer øre) / conventions: a payment of 100.5 øre or of -1 øre
    is malformed input, stored nowhere."""
    herning(ledger)
    c = citizen(ledger, HERNING)
    for amount in (100.5, -100, 0):
        with pytest.raises(InvalidInput):
            run(ledger, "receive_payment", {"citizen_id": c, "amount": amount, "date": "2019-04-01",
                                            "method": "bank_transfer"}, role="billing_clerk")
