"""Invoices as billing reads them, on SQLite and PostgreSQL: amounts worked out by hand here,
provenance, repeat runs, late deliveries, klippekort and credit notes."""

from __future__ import annotations

from ledger.domain.base import key_id
from ledger.projections import billing_queries as q
from tests.helpers.billing_factories import (AABENRAA, HERNING, aabenraa, caught_up, change_price, citizen, deliver,
                                             herning, herning_weekly_cleaning, invoice_run, open_ledger, order, withdraw)


def _lines(db, number):
    inv = q.invoice(db, HERNING if number.startswith("657") else AABENRAA, number)
    assert inv is not None
    return inv, inv["lines"]


def test_an_invoice_bills_the_minimum_and_increment_at_the_price_in_force_with_vat_half_up(database_url):
    ledger = open_ledger(database_url)
    try:
        herning(ledger)
        aabenraa(ledger)
        h = citizen(ledger, HERNING)
        a = citizen(ledger, AABENRAA)
        cleaning = order(ledger, h, "extra-cleaning", "2019-03-04", minutes=50)
        windows = order(ledger, h, "window-cleaning", "2019-03-05", minutes=30)
        d1 = deliver(ledger, cleaning, "2019-03-04", 50)
        d2 = deliver(ledger, windows, "2019-03-05", 30)
        a_order = order(ledger, a, "extra-cleaning", "2019-03-01", kind="recurring", every_weeks=1, minutes=20)
        deliver(ledger, a_order, "2019-03-04", 20)
        deliver(ledger, a_order, "2019-03-11", 70)
        herning_run = invoice_run(ledger, HERNING, "2019-03")
        aabenraa_run = invoice_run(ledger, AABENRAA, "2019-03")
        db = caught_up(ledger)

        # Herning, minimum 30 / increment 30: 50 min → 60 min × 354.00 DKK/h = 354.00, exempt.
        # Windows, standard VAT: 30 min × 292.04/h = 146.02; VAT 25 % = 36.505 → 36.51 (half up).
        inv, lines = _lines(db, "657-000001")
        assert [(x["minutes"], x["billed_minutes"], x["unit_price"], x["net"], x["vat"], x["gross"]) for x in lines] == [
            (50, 60, 35_400, 35_400, 0, 35_400),
            (30, 30, 29_204, 14_602, 3_651, 18_253),
        ]
        assert (inv["net"], inv["vat"], inv["gross"]) == (50_002, 3_651, 53_653)
        assert inv["gross"] == herning_run["invoices"][0]["gross"]
        assert (inv["citizen_id"], inv["month"], inv["issued_on"], inv["due_on"]) == (h, "2019-03", "2019-04-01", "2019-04-15")
        assert (inv["chain_position"], inv["chain_hash"]) == (herning_run["chain_head"]["position"],
                                                              herning_run["chain_head"]["hash"])
        # Provenance: the order, delivery, price version and grant events, by aggregate id:version.
        catalogue = key_id("catalogue", HERNING)
        grant = key_id("assessment", h)
        assert lines[0]["provenance"] == {"order": f"{cleaning}:1", "delivery": f"{d1}:1",
                                          "price": f"{catalogue}:2", "grant": f"{grant}:2"}
        assert lines[1]["provenance"] == {"order": f"{windows}:1", "delivery": f"{d2}:1",
                                          "price": f"{catalogue}:3", "grant": f"{grant}:2"}

        # Aabenraa, minimum 60 / increment 30, 290.00 DKK/h: 20 min → 60 = 290.00; 70 min → 90 = 435.00.
        inv, lines = _lines(db, "580-000001")
        assert [(x["minutes"], x["billed_minutes"], x["net"], x["vat"]) for x in lines] == [(20, 60, 29_000, 0),
                                                                                              (70, 90, 43_500, 0)]
        assert inv["gross"] == 72_500 == aabenraa_run["invoices"][0]["gross"]
        assert [r["gross"] for r in q.revenue(db, AABENRAA, "2019-03")] == [72_500]
        assert {(r["offer_id"], r["vat_class"]): (r["net"], r["vat"]) for r in q.revenue(db, HERNING, "2019-03")} == {
            ("extra-cleaning", "exempt"): (35_400, 0), ("window-cleaning", "standard"): (14_602, 3_651)}
    finally:
        ledger.close()


def test_a_january_price_change_reaches_a_recurring_order_placed_before_it(database_url):
    ledger = open_ledger(database_url)
    try:
        herning(ledger)
        h = citizen(ledger, HERNING)
        weekly = order(ledger, h, "extra-cleaning", "2020-12-01", kind="recurring", every_weeks=1, minutes=60)
        change_price(ledger, HERNING, "extra-cleaning", 36_100, "2021-01-01")
        deliver(ledger, weekly, "2020-12-28", 60)
        deliver(ledger, weekly, "2021-01-04", 60)
        invoice_run(ledger, HERNING, "2020-12")
        invoice_run(ledger, HERNING, "2021-01")
        db = caught_up(ledger)
        catalogue = key_id("catalogue", HERNING)
        december = q.invoices(db, HERNING, month="2020-12")
        january = q.invoices(db, HERNING, month="2021-01")
        assert [i["gross"] for i in december] == [35_400]
        assert [i["gross"] for i in january] == [36_100]
        _, lines = _lines(db, january[0]["number"])
        assert lines[0]["unit_price"] == 36_100
        assert lines[0]["provenance"]["price"] == f"{catalogue}:5"  # the PriceChanged event, not the item's first price
    finally:
        ledger.close()


def test_running_the_same_month_twice_issues_nothing_new(database_url):
    ledger = open_ledger(database_url)
    try:
        h, o = herning_weekly_cleaning(ledger)
        deliver(ledger, o, "2019-03-04", 60)
        first = invoice_run(ledger, HERNING, "2019-03")
        again = invoice_run(ledger, HERNING, "2019-03", run_date="2019-04-02")
        db = caught_up(ledger)
        assert [i["number"] for i in first["invoices"]] == ["657-000001"]
        assert again["invoices"] == []
        assert [i["number"] for i in q.invoices(db, HERNING)] == ["657-000001"]
        assert [r["invoice_count"] for r in q.runs(db, HERNING)] == [1]
    finally:
        ledger.close()


def test_a_run_dated_before_the_last_run_is_refused_and_stores_nothing(database_url):
    """Invoice numbers and their dates run together: 657-000002 may not be older than 657-000001."""
    import pytest

    from ledger.domain.errors import RuleViolated

    ledger = open_ledger(database_url)
    try:
        h, o = herning_weekly_cleaning(ledger)
        deliver(ledger, o, "2019-03-04", 60)
        deliver(ledger, o, "2019-04-01", 60)
        invoice_run(ledger, HERNING, "2019-04", run_date="2019-05-03")
        before = ledger.head_position()
        with pytest.raises(RuleViolated) as refused:
            invoice_run(ledger, HERNING, "2019-04", run_date="2019-05-01")
        assert refused.value.rule == "run-date-out-of-order"
        assert ledger.head_position() == before
        assert invoice_run(ledger, HERNING, "2019-04", run_date="2019-05-03")["invoices"] == []  # the same day is fine
    finally:
        ledger.close()


def test_a_late_recorded_delivery_lands_on_the_next_run_with_its_own_date(database_url):
    ledger = open_ledger(database_url)
    try:
        h, o = herning_weekly_cleaning(ledger)
        deliver(ledger, o, "2019-03-04", 60)
        invoice_run(ledger, HERNING, "2019-03")
        late = deliver(ledger, o, "2019-03-18", 30)  # recorded after March was invoiced
        db = caught_up(ledger)
        assert [d["delivery_id"] for d in q.unbilled_deliveries(db, HERNING, month="2019-03")] == [late]
        deliver(ledger, o, "2019-04-01", 60)
        invoice_run(ledger, HERNING, "2019-04")
        db = caught_up(ledger)
        april = q.invoices(db, HERNING, month="2019-04")
        assert len(april) == 1
        _, lines = _lines(db, april[0]["number"])
        assert [(x["delivery_id"], x["service_date"]) for x in lines][0] == (late, "2019-03-18")
        assert [x["service_date"] for x in lines] == ["2019-03-18", "2019-04-01"]
        assert q.unbilled_deliveries(db, HERNING) == []
        billed = {d["delivery_id"]: d["invoice_number"] for d in q.deliveries(db, HERNING)}
        assert billed[late] == april[0]["number"]
    finally:
        ledger.close()


def test_klippekort_hours_are_recorded_but_never_billed(database_url):
    ledger = open_ledger(database_url)
    try:
        herning(ledger)
        h = citizen(ledger, HERNING, klippekort=30)
        o = order(ledger, h, "extra-cleaning", "2019-03-01", kind="recurring", every_weeks=1, minutes=30)
        free = deliver(ledger, o, "2019-03-04", 30, klippekort=True)
        paid = deliver(ledger, o, "2019-03-11", 30)
        invoice_run(ledger, HERNING, "2019-03")
        db = caught_up(ledger)
        _, lines = _lines(db, "657-000001")
        assert [x["delivery_id"] for x in lines] == [paid]
        rows = {d["delivery_id"]: d for d in q.deliveries(db, HERNING)}
        assert (rows[free]["klippekort"], rows[free]["billable"], rows[free]["invoice_number"]) == (1, 0, None)
        assert q.unbilled_deliveries(db, HERNING) == []
    finally:
        ledger.close()


def test_cancelling_an_invoiced_delivery_yields_a_credit_note_and_leaves_the_invoice_unchanged(database_url):
    ledger = open_ledger(database_url)
    try:
        h, o = herning_weekly_cleaning(ledger)
        first = deliver(ledger, o, "2019-03-04", 60)
        second = deliver(ledger, o, "2019-03-11", 90)
        invoice_run(ledger, HERNING, "2019-03")
        result = withdraw(ledger, second, "2019-04-05")
        disputed = withdraw(ledger, first, "2019-04-06", dispute=True)
        db = caught_up(ledger)
        assert (result["credit_note"], disputed["credit_note"]) == ("657-K00001", "657-K00002")
        inv, lines = _lines(db, "657-000001")
        assert (inv["gross"], inv["credited"], inv["open_amount"]) == (35_400 + 53_100, 53_100 + 35_400, 0)
        assert [x["credit_note"] for x in lines] == ["657-K00002", "657-K00001"]
        notes = q.credit_notes(db, HERNING)
        assert [(n["number"], n["invoice_number"], n["gross"]) for n in notes] == [
            ("657-K00001", "657-000001", 53_100), ("657-K00002", "657-000001", 35_400)]
        assert notes[0]["lines"][0]["invoice_line_no"] == 2 and notes[0]["lines"][0]["billing_key"] == second
        statuses = {d["delivery_id"]: (d["status"], d["credit_note"]) for d in q.deliveries(db, HERNING)}
        assert statuses == {first: ("disputed", "657-K00002"), second: ("cancelled", "657-K00001")}
        [revenue] = q.revenue(db, HERNING, "2019-03")
        assert (revenue["invoiced_gross"], revenue["credited_gross"], revenue["gross"]) == (88_500, 88_500, 0)
        assert q.balances(db, HERNING)[0]["balance"] == 0
    finally:
        ledger.close()
