"""Corrections reach the money (issue 11), hand-worked on SQLite and PostgreSQL.

Herning: minimum 30 minutes, increment 30, extra cleaning 354.00 DKK/h without VAT, windows
292.04 DKK/h + 25 % VAT. Every figure below is worked by hand in the comment beside it.
"""

from __future__ import annotations

from datetime import date

import pytest

from ledger.application import Ledger
from ledger.application.reconciliation import reconcile
from ledger.domain.assessment import assessment_id
from ledger.domain.catalogue import catalogue_id
from ledger.domain.errors import RuleViolated
from ledger.domain.invoice_series import series_id
from ledger.projections import audit_queries as aq
from ledger.settings import Settings
from replay.invoice import reproduce
from replay.store import open_store
from tests.helpers.billing_factories import (COST, HERNING, account_state, caught_up, citizen, deliver, herning,
                                             invoice_run, open_ledger, order, pay, prices, refund, reverse, run)
from tests.helpers.costs import append_legacy_catalogue_event, at_cost


def _grant(ledger, cid: str) -> str:
    return ledger.repository.get(assessment_id(cid)).active_on(date(2019, 1, 1))[0]["grant_id"]


def _correct(ledger, price: int, effective: str = "2018-06-01", offer: str = "extra-cleaning") -> dict:
    return run(ledger, "correct_price_version", {
        "municipality": HERNING, "offer_id": offer, "effective": effective, "vat_class": "exempt",
        "prices": prices(price), "cost_basis": at_cost(prices(price)),
        "reason": "the wage basis was last year's"},
        role="catalogue_manager")


def _january(ledger) -> tuple[str, str, list[str]]:
    herning(ledger)
    h = citizen(ledger, HERNING)
    o = order(ledger, h, "extra-cleaning", "2019-01-01", kind="recurring", every_weeks=1, minutes=60)
    ds = [deliver(ledger, o, "2019-01-07", 60), deliver(ledger, o, "2019-01-14", 45)]  # 60 and 60 billed
    (inv,) = invoice_run(ledger, HERNING, "2019-01")["invoices"]
    assert inv["gross"] == 70_800  # 2 × 354.00
    return h, o, ds


def test_a_price_correction_after_invoicing_bills_exactly_the_delta_naming_the_correction(database_url):
    ledger = open_ledger(database_url)
    try:
        h, _, ds = _january(ledger)
        corrected = _correct(ledger, 36_400)  # 354.00 → 364.00 DKK/h from the version's own date
        # Two issued lines priced by the version; each hour costs 10.00 more: 2 × 1,000 øre.
        assert corrected["affected_lines"] == 2
        assert corrected["rerating"] == {"net": 2_000, "vat": 0, "gross": 2_000}
        assert corrected["months"] == {"2019-01": 2_000}
        before = reconcile(ledger, HERNING)
        assert before["agree"] is False
        assert [(d["difference"], d["why"]) for d in before["months"][0]["differences"]] == [
            (1_000, "re-rating due: price"), (1_000, "re-rating due: price")]
        correction_ref = f"{catalogue_id(HERNING)}:{ledger.history(catalogue_id(HERNING))[-1]['version']}"
        assert all(d["caused_by"] == [correction_ref] for d in before["months"][0]["differences"])
        feb = invoice_run(ledger, HERNING, "2019-02")
        assert feb["invoices"] == [] and feb["credit_notes"] == []
        (note,) = feb["debit_notes"]
        assert (note["number"], note["invoice_number"], note["gross"], note["lines"]) == (
            "657-D00001", "657-000001", 2_000, 2)
        correction = ledger.history(catalogue_id(HERNING))[-1]
        assert correction["event"] == "PriceVersionCorrected"
        assert note["caused_by"] == [f"{catalogue_id(HERNING)}:{correction['version']}"]
        # Every line names the invoice line it adjusts.
        db = caught_up(ledger)
        from ledger.projections import billing_queries as q

        assert [n["number"] for n in q.invoice(db, HERNING, "657-000001")["debit_notes"]] == ["657-D00001"]
        (debit,) = q.debit_notes(db, HERNING)
        assert [(x["invoice_number"], x["invoice_line_no"], x["billing_key"], x["gross"]) for x in debit["lines"]] == [
            ("657-000001", 1, ds[0], 1_000), ("657-000001", 2, ds[1], 1_000)]
        assert debit["open_amount"] == 2_000
        # Revenue of the month billed now includes the debit: the books say what the timeline says.
        assert sum(r["gross"] for r in q.revenue(db, HERNING, "2019-01")) == 72_800
        (balance,) = q.balances(db, HERNING)
        assert balance["invoiced"] == 72_800 and balance["owed"] == 72_800
        # The export shows what the notes did to each exported line.
        import csv
        import io

        from ledger.projections.billing_export import write_export

        out = io.StringIO()
        write_export(db, HERNING, "2019-01", out)
        rows = [r for r in csv.DictReader(io.StringIO(out.getvalue())) if r["record_type"] == "line"]
        assert [(r["gross_ore"], r["debited_gross_ore"], r["charged_gross_ore"]) for r in rows] == [
            ("35400", "1000", "36400"), ("35400", "1000", "36400")]
        # A second run issues nothing; the books agree; the invoice still reproduces as issued.
        again = invoice_run(ledger, HERNING, "2019-02")
        assert again["debit_notes"] == again["credit_notes"] == again["invoices"] == []
        report = reconcile(ledger, HERNING)
        assert report["agree"] is True
        assert [(r["month"], r["invoiced"], r["owed"]) for r in report["months"]] == [("2019-01", 72_800, 72_800)]
    finally:
        ledger.close()
    store = open_store(database_url)
    try:
        assert reproduce(store, "657-000001", HERNING).ok
    finally:
        store.close()


def test_a_price_cut_after_invoicing_is_credited_line_by_line(database_url):
    ledger = open_ledger(database_url)
    try:
        _january(ledger)
        _correct(ledger, 35_000)  # 354.00 → 350.00: 4.00 less per hour, two hours
        (note,) = invoice_run(ledger, HERNING, "2019-02")["credit_notes"]
        assert (note["number"], note["gross"], note["lines"]) == ("657-K00001", 800, 2)
        assert reconcile(ledger, HERNING)["agree"] is True
    finally:
        ledger.close()


def test_a_claim_after_a_reversed_refunded_payment_leaves_re_rating_and_reconciliation_agreeing(database_url):
    ledger = open_ledger(database_url)
    try:
        h, _, _ = _january(ledger)
        pid = pay(ledger, h, 100_000, "2019-02-10")  # 708.00 owed: 292.00 over
        refund(ledger, h, 29_200, "2019-02-12")
        assert reverse(ledger, h, pid, "2019-02-20")["claim_ore"] == 29_200  # 657-B00001
        _correct(ledger, 35_000)  # 4.00 less per hour, two hours: credit note 8.00
        (note,) = invoice_run(ledger, HERNING, "2019-02")["credit_notes"]
        assert note["gross"] == 800
        assert reconcile(ledger, HERNING)["agree"] is True  # the claim bills no delivery
        state = account_state(ledger, h)
        assert state.owed == {"657-000001": 70_000, "657-B00001": 29_200} and state.credit == 0
        assert state.balance == 70_800 - 800 - 0 + 29_200  # invoiced − credited − paid + refunded
    finally:
        ledger.close()


def test_a_back_dated_grant_end_credits_the_deliveries_it_made_ineligible(database_url):
    ledger = open_ledger(database_url)
    try:
        h, _, ds = _january(ledger)
        run(ledger, "end_grant", {"citizen_id": h, "grant_id": _grant(ledger, h), "last_day": "2019-01-10"},
            role="assessor")
        # The delivery of 14 January lies after the grant's last day: credited in full, 354.00.
        feb = invoice_run(ledger, HERNING, "2019-02")
        (note,) = feb["credit_notes"]
        assert (note["invoice_number"], note["gross"], note["lines"]) == ("657-000001", 35_400, 1)
        ended = ledger.history(assessment_id(h))[-1]
        assert ended["event"] == "GrantEnded"
        assert note["caused_by"] == [f"{assessment_id(h)}:{ended['version']}"]
        db = caught_up(ledger)
        from ledger.projections import billing_queries as q

        (credit,) = q.credit_notes(db, HERNING)
        assert [x["billing_key"] for x in credit["lines"]] == [ds[1]]
        # The audit lists the delivery the back-dated end made ineligible, and what took it back.
        (found,) = aq.ineligible(db, HERNING)
        assert (found["delivery_id"], found["service_date"], found["credit_note"], found["credited_gross"],
                found["why"], found["caused_by"]) == (ds[1], "2019-01-14", note["number"], 35_400, "no-active-grant",
                                                      note["caused_by"])
        assert reconcile(ledger, HERNING)["agree"] is True
        assert invoice_run(ledger, HERNING, "2019-02")["credit_notes"] == []
    finally:
        ledger.close()


def test_a_delivery_after_the_grant_ended_is_refused_and_stores_nothing(database_url):
    ledger = open_ledger(database_url)
    try:
        herning(ledger)
        h = citizen(ledger, HERNING)
        o = order(ledger, h, "extra-cleaning", "2019-01-01", kind="recurring", every_weeks=1, minutes=60)
        run(ledger, "end_grant", {"citizen_id": h, "grant_id": _grant(ledger, h), "last_day": "2019-04-05"})
        head = ledger.chain_head()
        with pytest.raises(RuleViolated) as refused:
            deliver(ledger, o, "2019-05-06", 60)
        assert refused.value.rule == "no-active-grant"
        assert ledger.chain_head() == head
        run(ledger, "choose_provider", {"citizen_id": h, "effective": "2019-04-01", "provider": "private:Hjem ApS"})
        with pytest.raises(RuleViolated) as private:
            deliver(ledger, o, "2019-04-02", 60)
        assert private.value.rule == "provider-not-municipal"
    finally:
        ledger.close()


def test_late_cancellation_is_measured_to_the_visits_planned_start(database_url):
    ledger = open_ledger(database_url)
    try:
        herning(ledger)
        h = citizen(ledger, HERNING)
        # 08:00 Danish time on Wednesday 6 March 2019 is 07:00 UTC; notice 24 hours.
        o = run(ledger, "place_order", {"citizen_id": h, "offer_id": "escort-day", "kind": "one_off",
                                        "start": "2019-03-06", "start_time": "08:00"})["order_id"]
        # 31 hours before the visit (midnight would be only 23 hours away): not late.
        r = run(ledger, "cancel_order", {"order_id": o, "effective": "2019-03-06",
                                         "notified_at": "2019-03-05T00:00:00Z"})
        assert r["late"] is False
        o2 = run(ledger, "place_order", {"citizen_id": h, "offer_id": "escort-day", "kind": "one_off",
                                         "start": "2019-03-07", "start_time": "08:00"})["order_id"]
        # 23 hours before 08:00 on 7 March (07:00 UTC): late.
        assert run(ledger, "cancel_order", {"order_id": o2, "effective": "2019-03-07",
                                            "notified_at": "2019-03-06T08:00:00Z"})["late"] is True
        # A recurring order's visits move to 14:00 from 11 March: notice is measured to the new time.
        weekly = run(ledger, "place_order", {"citizen_id": h, "offer_id": "extra-cleaning", "kind": "recurring",
                                             "every_weeks": 1, "minutes": 60, "start": "2019-03-04",
                                             "start_time": "08:00"})["order_id"]
        run(ledger, "change_order", {"order_id": weekly, "effective": "2019-03-11", "start_time": "14:00"})
        # 14:00 on 12 March is 13:00 UTC: notified 27 hours before, not late (to 08:00 it would be 21: late).
        assert run(ledger, "cancel_order", {"order_id": weekly, "effective": "2019-03-12",
                                            "notified_at": "2019-03-11T10:00:00Z"})["late"] is False
        # Without a start time the band's start is used: weekday daytime 07:00 (06:00 UTC in winter).
        o3 = run(ledger, "place_order", {"citizen_id": h, "offer_id": "escort-day", "kind": "one_off",
                                         "start": "2019-03-08"})["order_id"]
        assert run(ledger, "cancel_order", {"order_id": o3, "effective": "2019-03-08",
                                            "notified_at": "2019-03-07T05:59:00Z"})["late"] is False
    finally:
        ledger.close()


def test_klippekort_is_refused_for_a_non_holder_and_beyond_the_weeks_minutes(database_url):
    ledger = open_ledger(database_url)
    try:
        herning(ledger)
        home = citizen(ledger, HERNING)
        o = order(ledger, home, "extra-cleaning", "2019-03-01", kind="recurring", every_weeks=1, minutes=30)
        with pytest.raises(RuleViolated) as no_card:
            deliver(ledger, o, "2019-03-04", 30, klippekort=True)
        assert no_card.value.rule == "no-klippekort"
        with pytest.raises(RuleViolated) as at_home:
            run(ledger, "grant_klippekort", {"citizen_id": home, "minutes_per_week": 30, "valid_from": "2019-01-01"})
        assert at_home.value.rule == "klippekort-not-nursing-home"
        resident = citizen(ledger, HERNING, klippekort=30)
        o2 = order(ledger, resident, "extra-cleaning", "2019-03-01", kind="recurring", every_weeks=1, minutes=30)
        deliver(ledger, o2, "2019-03-04", 20, klippekort=True)  # Monday of ISO week 10: 20 of 30 used
        with pytest.raises(RuleViolated) as exhausted:
            deliver(ledger, o2, "2019-03-06", 15, klippekort=True)  # 20 + 15 > 30
        assert exhausted.value.rule == "klippekort-exhausted"
        last = deliver(ledger, o2, "2019-03-06", 10, klippekort=True)  # exactly 30
        with pytest.raises(RuleViolated):
            deliver(ledger, o2, "2019-03-07", 10, klippekort=True)
        run(ledger, "cancel_delivery", {"delivery_id": last, "effective": "2019-03-08", "reason": "recorded twice"})
        deliver(ledger, o2, "2019-03-07", 10, klippekort=True)  # a withdrawn visit gives its minutes back
        deliver(ledger, o2, "2019-03-11", 30, klippekort=True)  # a new week
        run(ledger, "end_klippekort", {"citizen_id": resident, "last_day": "2019-03-12"})
        with pytest.raises(RuleViolated):
            deliver(ledger, o2, "2019-03-18", 30, klippekort=True)
    finally:
        ledger.close()


def test_a_re_rating_older_than_the_limit_is_reported_not_billed(database_url):
    ledger = Ledger(Settings(database_url=database_url, rerate_months=1))
    try:
        _january(ledger)
        _correct(ledger, 36_400)
        # Run for March: with a one-month limit, only service from February on may be billed.
        march = invoice_run(ledger, HERNING, "2019-03")
        assert march["debit_notes"] == []
        assert [(b["invoice_number"], b["delta"]["gross"]) for b in march["barred"]] == [
            ("657-000001", 1_000), ("657-000001", 1_000)]
        report = reconcile(ledger, HERNING)
        assert report["agree"] is True and report["months"][0]["barred"] is True
    finally:
        ledger.close()


def test_an_old_order_payload_without_a_start_time_loads_with_its_bands_start():
    from ledger.domain.order import Order

    state = {"band": "evening"}
    Order.OrderPlaced.upcast_v1_v2(state)
    assert state["start_time"] == "17:00"
    changed: dict = {}
    Order.OrderChanged.upcast_v1_v2(changed)
    assert changed == {"start_time": None}


def test_a_second_price_version_on_the_same_date_is_refused_as_a_silent_correction(database_url):
    ledger = open_ledger(database_url)
    try:
        herning(ledger)
        with pytest.raises(RuleViolated) as same:
            run(ledger, "change_price", {"municipality": HERNING, "offer_id": "extra-cleaning",
                                         "effective": "2018-06-01", "vat_class": "exempt", "prices": prices(36_400),
                                         "cost_basis": at_cost(prices(36_400))})
        assert same.value.rule == "price-version-exists"
    finally:
        ledger.close()



def test_the_audit_flags_old_versions_above_full_cost_as_well_as_below_beyond_the_tolerance(database_url):
    """A version off full cost can no longer be recorded (docs/adr/0027); versions stored before,
    with one cost basis (upcast: the weekday daytime cost), are audited against it."""
    from ledger.projections.audit import AuditProjection
    from ledger.projections.engine import Engine

    ledger = open_ledger(database_url)
    try:
        herning(ledger)  # every band at its full cost, recorded per band: never flagged
        for item_id, price in (("dear", 35_400), ("cheap", 30_000)):  # against one basis of 330.00
            append_legacy_catalogue_event(ledger.db, HERNING, "ItemAdded", {
                "item_id": item_id, "name": item_id.capitalize(), "unit": "hour", "fsiii": "H1.8",
                "vat_class": "exempt", "prices": prices(price), "cost_basis": COST,
                "cancellation": {"notice_hours": 24, "fee_ore": 0}}, "2018-05-20T10:00:00+00:00", "2018-06-01")
        Engine(ledger.db, [AuditProjection()]).catch_up()
        both = {(f["offer_id"], f["direction"]) for f in aq.full_cost(ledger.db, HERNING, direction="both")}
        assert both == {("dear", "above"), ("cheap", "below")}  # 354.00 is 7.27 % above, 300.00 below
        # Below only: "dear" is still listed, since its evening and weekend costs are not stated.
        assert {(f["offer_id"], f["direction"]) for f in aq.full_cost(ledger.db, HERNING)} == {
            ("cheap", "below"), ("dear", "cost not stated")}
        [dear] = [f for f in aq.full_cost(ledger.db, HERNING, direction="both") if f["offer_id"] == "dear"]
        assert (dear["bands_above_cost"], dear["bands_cost_not_stated"], dear["excess_per_unit"]) == (
            ["weekday_day"], ["evening", "weekend"], 2_400)
        assert dear["costs"] == {"weekday_day": 33_000, "evening": None, "weekend": None}
        # 8 % tolerance: 354.00 is within it; 300.00 (9.1 % below) is not.
        tolerant = {(f["offer_id"], f["direction"]) for f in
                    aq.full_cost(ledger.db, HERNING, direction="both", tolerance_bp=800)}
        assert ("dear", "above") not in tolerant and ("cheap", "below") in tolerant
        audit = aq.audit(ledger.db, HERNING, sections=("full_cost",), full_cost_tolerance_bp=0)
        assert {f["direction"] for f in audit["full_cost"]} == {"above", "below"}
    finally:
        ledger.close()


def test_default_interest_is_computed_to_the_ore_from_the_rate_table_and_reproduces(database_url):

    ledger = open_ledger(database_url)
    ledger.settings = ledger.settings.replace(default_interest=True)
    try:
        herning(ledger)
        h = citizen(ledger, HERNING)
        o = order(ledger, h, "extra-cleaning", "2019-01-01", kind="recurring", every_weeks=1, minutes=60)
        deliver(ledger, o, "2019-01-07", 60)
        with pytest.raises(RuleViolated) as no_rate:
            invoice_run(ledger, HERNING, "2019-01")
        assert no_rate.value.rule == "no-reference-rate"
        run(ledger, "set_reference_rate", {"municipality": HERNING, "effective": "2018-07-01", "rate_bp": 5})
        run(ledger, "set_reference_rate", {"municipality": HERNING, "effective": "2019-01-01", "rate_bp": -10})
        (jan,) = invoice_run(ledger, HERNING, "2019-01")["invoices"]  # issued 1 February, due 15 February
        assert jan["gross"] == 35_400
        # The April run (1 May) charges 15 Feb (the due date) .. 30 Apr on 354.00 open, at the rate
        # in force from 1 January (a reference rate changes on 1 January and 1 July only):
        #   75 days at −0.10 % + 8 % = 790 bp → 75 × 790 = 59,250
        #   35,400 × 59,250 / 3,650,000 = 574.64… → 575 øre
        # (a line across a rate change: tests/unit/test_interest_dates.py)
        (apr,) = invoice_run(ledger, HERNING, "2019-04")["invoices"]
        assert apr["gross"] == 575
        # Paid in part on 10 May: the May run (1 June) charges 1 May .. 31 May on what was open each day.
        run(ledger, "receive_payment", {"citizen_id": h, "amount": 30_000, "date": "2019-05-10",
                                        "method": "bank_transfer", "reference": jan["number"]}, role="billing_clerk")
        # Changed in round 9 (ADR 0028 amendment): this expected 36 øre, 5,400 × 31 days, i.e. the
        # amount open at the run charged for all of May, which let the 1-9 May default on the full
        # 354.00 go uncharged. Now the principal is what was open at the end of each day:
        #   1 May .. 9 May: 35,400 × 9 × 790 = 251,694,000; 10 May .. 31 May: 5,400 × 22 × 790 = 93,852,000
        #   345,546,000 / 3,650,000 = 94.67… → 95 øre;
        # the April invoice (575 of interest, due 15 May) is open too, but interest bears no interest.
        (may,) = invoice_run(ledger, HERNING, "2019-05")["invoices"]
        assert may["gross"] == 95
        db = caught_up(ledger)
        from ledger.projections import billing_queries as q

        lines = q.invoice(db, HERNING, may["number"])["lines"]
        assert [(x["kind"], x["gross"]) for x in lines] == [("interest", 95)]
        assert invoice_run(ledger, HERNING, "2019-05")["invoices"] == []  # a second run charges no day twice
    finally:
        ledger.close()
    store = open_store(database_url)
    try:
        for number in (jan["number"], apr["number"], may["number"]):
            assert reproduce(store, number, HERNING).ok, number
        # The line names each run of days with its own principal (the open amount changed in May).
        (stored,) = [x.stored for x in reproduce(store, may["number"], HERNING).lines]
        assert stored["interest"]["periods"] == [["2019-05-01", "2019-05-09", 790, 35_400],
                                                 ["2019-05-10", "2019-05-31", 790, 5_400]]
    finally:
        store.close()


def test_the_first_re_rating_run_looks_at_every_billed_delivery_once(database_url, monkeypatch):
    """A series billed before re-rating existed has no triggers to follow: its first re-rating run
    re-rates every billed delivery (here with the triggers switched off to show it), once."""
    import ledger.application.commands.billing as billing

    ledger = open_ledger(database_url)
    try:
        h, _, ds = _january(ledger)
        run(ledger, "end_grant", {"citizen_id": h, "grant_id": _grant(ledger, h), "last_day": "2019-01-10"})
        monkeypatch.setattr(billing, "affected", lambda *args: {})
        (note,) = invoice_run(ledger, HERNING, "2019-02")["credit_notes"]
        assert (note["gross"], note["lines"]) == (35_400, 1)
        events = [e["event"] for e in ledger.history(series_id(HERNING))]
        assert events.count("RerateBaselined") == 1
        invoice_run(ledger, HERNING, "2019-03")
        assert [e["event"] for e in ledger.history(series_id(HERNING))].count("RerateBaselined") == 1
    finally:
        ledger.close()


def test_a_grant_end_moved_later_bills_again_what_the_earlier_end_credited(database_url):
    ledger = open_ledger(database_url)
    try:
        h, _, ds = _january(ledger)
        grant = _grant(ledger, h)
        run(ledger, "end_grant", {"citizen_id": h, "grant_id": grant, "last_day": "2019-01-10"})
        (credit,) = invoice_run(ledger, HERNING, "2019-02")["credit_notes"]
        assert credit["gross"] == 35_400
        # The end was recorded wrongly: the grant held to the end of January. 14 January is billable again.
        run(ledger, "end_grant", {"citizen_id": h, "grant_id": grant, "last_day": "2019-01-31"})
        (debit,) = invoice_run(ledger, HERNING, "2019-02")["debit_notes"]
        assert (debit["gross"], debit["lines"]) == (35_400, 1)
        assert reconcile(ledger, HERNING)["agree"] is True
    finally:
        ledger.close()


def test_a_withdrawal_after_a_debit_credits_everything_charged_and_leaves_nothing_in_default(database_url):

    from tests.helpers.billing_factories import herning_january_invoiced, withdraw

    ledger = open_ledger(database_url)
    ledger.settings = ledger.settings.replace(default_interest=True)
    try:
        run(ledger, "set_reference_rate", {"municipality": HERNING, "effective": "2018-01-01", "rate_bp": 0})
        h, d = herning_january_invoiced(ledger)
        _correct(ledger, 36_400)
        (debit,) = invoice_run(ledger, HERNING, "2019-01", run_date="2019-02-02")["debit_notes"]
        assert debit["gross"] == 1_000
        credit = withdraw(ledger, d, "2019-02-03")["credit_note"]  # 354.00 invoiced + 10.00 debited
        db = caught_up(ledger)
        from ledger.projections import billing_queries as q

        assert [(n["number"], n["gross"]) for n in q.credit_notes(db, HERNING)] == [(credit, 36_400)]
        (balance,) = q.balances(db, HERNING)
        assert balance["balance"] == 0
        # Nothing is overdue in substance, so no default interest, however late the next run is.
        assert invoice_run(ledger, HERNING, "2019-06")["invoices"] == []
        assert reconcile(ledger, HERNING)["agree"] is True
    finally:
        ledger.close()
