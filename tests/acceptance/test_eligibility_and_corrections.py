"""Acceptance probe: who may buy, the core service and full cost, and how back-dated facts reach
the money (credit and debit notes), with the document series numbered without gaps.

Citations: /work/shared/domain.md ("domain.md l.N"), /work/shared/notes/billing-conventions.md
("conventions l.N"). Every fact goes through `Ledger.execute`.
"""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from ledger.application.reconciliation import reconcile
from ledger.domain.errors import RuleViolated
from ledger.projections import audit_queries as aq
from ledger.projections import billing_queries as q
from ledger.projections.engine import Engine
from ledger.projections import all_projections
from ledger.settings import Settings
from ledger.application import Ledger
from tests.helpers.billing_factories import (HERNING, caught_up, deliver, herning, invoice_run, open_ledger, order,
                                             prices, run, withdraw)
from tests.helpers.costs import at_cost, parts


@pytest.fixture
def ledger(database_url):
    opened = open_ledger(database_url)
    yield opened
    opened.close()


def _citizen(ledger, *, section: str = "83", since: str = "2018-06-01", minutes: int = 60,
             provider: str = "municipal") -> str:
    """A Herning citizen at home with one grant `g` (H1.8 cleaning) under `section`."""
    cid = run(ledger, "register_citizen", {"municipality": HERNING, "effective": since, "residence": "own_home",
                                           "provider": provider})["citizen_id"]
    run(ledger, "award_grant", {"citizen_id": cid, "grant_id": "g", "fsiii": "H1.8", "section": section,
                                "amount": {"minutes_per_week": minutes}, "valid_from": since})
    return cid


def _refused(rule_name: str, command, *args, **kwargs) -> RuleViolated:
    with pytest.raises(RuleViolated) as refused:
        command(*args, **kwargs)
    assert refused.value.rule == rule_name, (refused.value.rule, refused.value.message)
    return refused.value


# -- who may buy (domain.md l.29-32) -----------------------------------------------------------

def test_only_a_citizen_with_an_active_83_grant_may_buy(ledger):
    """domain.md l.29-30: 'Who may buy: citizens who already hold an active grant under § 83 (and,
    in some municipalities, § 85)'. A citizen registered without a grant is refused an order."""
    herning(ledger)
    cid = run(ledger, "register_citizen", {"municipality": HERNING, "effective": "2018-06-01",
                                           "residence": "own_home"})["citizen_id"]
    _refused("no-active-grant", order, ledger, cid, "extra-cleaning", "2019-03-05")


def test_a_grant_under_a_section_the_scheme_does_not_cover_does_not_make_a_buyer(ledger):
    """domain.md l.29-31 and l.10-15: Herning's scheme covers § 83 and § 85 (seeds/001 'Forsøgets
    målgruppe ... § 85 eller/og efter Servicelovens § 83'); a § 108 resident with no § 83/85 grant
    may not buy."""
    herning(ledger)
    _refused("no-active-grant", order, ledger, _citizen(ledger, section="108"), "extra-cleaning", "2019-03-05")
    order(ledger, _citizen(ledger, section="85"), "extra-cleaning", "2019-03-05")  # § 85 is covered


def test_nothing_is_sold_outside_the_municipality_s_trial_window(ledger):
    """domain.md l.31-32 and l.48-51: 'during that municipality's trial period'; Herning sold from
    June 2018 to the end of 2021. An order on 2018-05-31 or 2022-01-03 is refused."""
    herning(ledger)
    cid = _citizen(ledger, since="2018-01-01")
    for day in ("2018-05-31", "2022-01-03"):
        _refused("outside-window", order, ledger, cid, "extra-cleaning", day)


def test_a_citizen_with_a_private_provider_buys_from_that_provider_not_the_municipality(ledger):
    """domain.md l.24-28: the trials let the *municipal* provider sell add-ons to its own citizens;
    a citizen who chose a private provider is refused (`provider-not-municipal`)."""
    herning(ledger)
    _refused("provider-not-municipal", order, ledger, _citizen(ledger, provider="private:Hjemmehjælp ApS"),
             "extra-cleaning", "2019-03-05")


def test_a_delivery_after_the_grant_ended_is_refused(ledger):
    """domain.md l.29-30 (an active grant) at every delivery: once the grant ends, a visit after its
    last day is refused, even under an order placed while it was active."""
    herning(ledger)
    cid = _citizen(ledger)
    o = order(ledger, cid, "extra-cleaning", "2019-03-01", kind="recurring", every_weeks=1, minutes=60)
    run(ledger, "end_grant", {"citizen_id": cid, "grant_id": "g", "last_day": "2019-03-10"})
    deliver(ledger, o, "2019-03-04", 60)
    _refused("no-active-grant", deliver, ledger, o, "2019-03-11", 60)


# -- the core service (domain.md l.41-43) -------------------------------------------------------

def test_buying_an_add_on_never_changes_the_granted_service(ledger):
    """domain.md l.41: 'an add-on must never replace a service the citizen is entitled to'. Orders,
    deliveries and invoices of extra cleaning leave the granted minutes exactly as assessed."""
    from ledger.projections.citizen_asof import citizen_as_of

    herning(ledger)
    cid = _citizen(ledger, minutes=60)
    before = citizen_as_of(ledger, cid, "2019-03-31")["grants"]
    o = order(ledger, cid, "extra-cleaning", "2019-03-01", kind="recurring", every_weeks=1, minutes=60)
    for day in ("04", "11", "18", "25"):
        deliver(ledger, o, f"2019-03-{day}", 60)
    invoice_run(ledger, HERNING, "2019-03")
    after = citizen_as_of(ledger, cid, "2019-03-31")["grants"]
    assert after == before and [g["weekly_minutes"] for g in after] == [60]


def test_a_cut_in_the_granted_service_then_buying_it_is_flagged_for_the_auditor(database_url):
    """domain.md l.42-43 and l.83-84: 'udhuling af kerneydelsen: a municipality cutting granted
    cleaning from weekly to fortnightly, then selling the difference back'; auditors 'check that
    ... add-ons did not replace granted services'. The audit's substitution section names it."""
    ledger = Ledger(Settings(database_url=database_url))
    try:
        herning(ledger)
        cut, kept = _citizen(ledger, minutes=60), _citizen(ledger, minutes=60)
        run(ledger, "reassess_grant", {"citizen_id": cut, "grant_id": "g", "effective": "2019-03-01",
                                       "amount": {"minutes_per_week": 30}})
        order(ledger, cut, "extra-cleaning", "2019-03-15", kind="recurring", every_weeks=2, minutes=60)
        order(ledger, kept, "extra-cleaning", "2019-03-15", kind="recurring", every_weeks=2, minutes=60)
        Engine(ledger.db, all_projections()).catch_up()
        signals = aq.substitution(ledger.db, HERNING, window_days=90)
        assert [(s["citizen_id"], s["fsiii"], s["minutes_before"], s["minutes_after"]) for s in signals] == [
            (cut, "H1.8", 60, 30)]
    finally:
        ledger.close()


# -- full cost (domain.md l.35-38) --------------------------------------------------------------

def _add(ledger, item_id: str, price: int, cost: int) -> None:
    run(ledger, "add_item", {
        "municipality": HERNING, "item_id": item_id, "name": item_id, "unit": "hour", "fsiii": "H1.8",
        "vat_class": "exempt", "prices": prices(price), "cost_basis": {b: parts(cost) for b in prices(price)},
        "effective": "2018-06-01"}, role="catalogue_manager")


def test_a_price_below_full_cost_is_refused(ledger):
    """domain.md l.35-37: 'the citizen pays the full cost ... No profit, no price below cost, no
    cross-subsidy from the core service budget'. 353,99 kr. against a cost of 354,00 is refused."""
    herning(ledger)
    _refused("price-below-full-cost", _add, ledger, "below", 35_399, 35_400)


def test_a_price_a_krone_or_more_above_full_cost_is_refused_and_rounding_up_to_the_krone_is_not(ledger):
    """domain.md l.35-37 ('no profit') with the price rounded up to whole kroner (ADR 0027): a cost
    of 353,01 kr. may be priced 354,00, not 354,01 (a krone above)."""
    herning(ledger)
    _add(ledger, "rounded-up", 35_400, 35_301)
    _add(ledger, "exact", 35_400, 35_400)
    _refused("price-above-full-cost", _add, ledger, "profit", 35_401, 35_301)


def test_vat_is_charged_on_top_of_full_cost_not_part_of_it(ledger):
    """domain.md l.70-71 with l.35: a new kind of service priced at its full cost of 292,04 kr.
    (net) bills 365,05 kr. with VAT: the cost check is on the net price."""
    herning(ledger)  # window-cleaning: net 292,04 = full cost; standard VAT
    cid = _citizen(ledger)
    deliver(ledger, order(ledger, cid, "window-cleaning", "2019-03-05", minutes=60), "2019-03-05", 60)
    (inv,) = invoice_run(ledger, HERNING, "2019-03")["invoices"]
    assert inv["gross"] == 36_505


# -- back-dated facts reach the money (conventions l.5-14) --------------------------------------

def _invoiced_january(ledger) -> tuple[str, list[str]]:
    herning(ledger)
    cid = _citizen(ledger)
    o = order(ledger, cid, "extra-cleaning", "2019-01-01", kind="recurring", every_weeks=1, minutes=60)
    ds = [deliver(ledger, o, day, 60) for day in ("2019-01-07", "2019-01-14", "2019-01-21")]
    (inv,) = invoice_run(ledger, HERNING, "2019-01")["invoices"]
    assert (inv["number"], inv["gross"]) == ("657-000001", 3 * 35_400)
    return cid, ds


def test_a_back_dated_grant_end_credits_the_deliveries_after_it_on_the_next_run(ledger):
    """The brief's rule (domain.md l.29-30 with conventions l.5-9): a delivery after a grant ended is
    not owed. Ending the grant back-dated to 2019-01-15 after January was invoiced: February's run
    issues a credit note for the 21 January visit (one line, 354,00 kr.) and the invoice is unchanged."""
    cid, ds = _invoiced_january(ledger)
    run(ledger, "end_grant", {"citizen_id": cid, "grant_id": "g", "last_day": "2019-01-15"})
    feb = invoice_run(ledger, HERNING, "2019-02")
    (note,) = feb["credit_notes"]
    assert (note["number"], note["invoice_number"], note["gross"]) == ("657-K00001", "657-000001", 35_400)
    db = caught_up(ledger)
    assert q.invoice(db, HERNING, "657-000001")["gross"] == 3 * 35_400  # never edited
    (credit,) = q.credit_notes(db, HERNING)
    assert [(x["invoice_line_no"], x["billing_key"]) for x in credit["lines"]] == [(3, ds[2])]
    assert reconcile(ledger, HERNING)["agree"] is True
    assert invoice_run(ledger, HERNING, "2019-03")["credit_notes"] == []  # credited once


def test_a_grant_correction_must_name_an_event_of_that_grant(ledger):
    """ADR 0002 / the guide: 'A correction is its own event that names what it corrects'. A name
    that is no event of the grant is refused and nothing is stored; the award's ref is accepted."""
    from ledger.domain.assessment import assessment_id
    from ledger.domain.errors import InvalidInput

    herning(ledger)
    cid = _citizen(ledger)
    award = f"{assessment_id(uuid.UUID(cid))}:2"
    before = ledger.head_position()
    for wrong in ("nonsense", f"{assessment_id(uuid.UUID(cid))}:9", f"{uuid.uuid4()}:2"):
        with pytest.raises(InvalidInput) as refused:
            run(ledger, "correct_grant", {"citizen_id": cid, "grant_id": "g", "effective": "2018-07-01",
                                          "amount": {"minutes_per_week": 30}, "corrects": wrong})
        assert refused.value.details["field"] == "corrects" and award in refused.value.message
    assert ledger.head_position() == before
    run(ledger, "correct_grant", {"citizen_id": cid, "grant_id": "g", "effective": "2018-07-01",
                                  "amount": {"minutes_per_week": 30}, "corrects": award})
    assert ledger.head_position() > before


def test_a_credit_for_a_window_closed_early_names_the_event_that_closed_that_window(ledger):
    """Each amount traceable to its events: with two trial windows, closing the first early (after
    its November visit was invoiced) credits the visit, and the credit names that change, not a
    later change of the other window."""
    from ledger.domain.scheme import scheme_id

    herning(ledger)
    cid = _citizen(ledger)
    sid = scheme_id(HERNING)
    run(ledger, "open_scheme_window", {"municipality": HERNING, "window_start": "2022-01-01",
                                       "window_end": "2022-12-31"}, role="catalogue_manager")  # version 2
    deliver(ledger, order(ledger, cid, "extra-cleaning", "2019-11-04", minutes=60), "2019-11-04", 60)
    invoice_run(ledger, HERNING, "2019-11")
    run(ledger, "change_scheme_window", {"municipality": HERNING, "window_start": "2018-06-01",
                                         "window_end": "2019-10-31"}, role="catalogue_manager")  # version 3
    run(ledger, "change_scheme_window", {"municipality": HERNING, "window_start": "2022-01-01",
                                         "window_end": "2022-06-30"}, role="catalogue_manager")  # version 4
    (note,) = invoice_run(ledger, HERNING, "2019-12")["credit_notes"]
    assert note["gross"] == 35_400
    (credit,) = q.credit_notes(caught_up(ledger), HERNING)
    assert [line["caused_by"] for line in credit["lines"]] == [[f"{sid}:3"]]


def test_a_back_dated_price_correction_bills_the_difference_as_a_debit_note(ledger):
    """conventions l.5-10: the engine 'repairs' past periods with items linked to the original
    item, never editing the issued invoice; 'debetnota (debit note, a supplementary charge)'.
    354 → 364 kr./h from the version's own date: 3 × 10,00 kr. on 657-D00001, each line naming
    the invoice line it adjusts."""
    _invoiced_january(ledger)
    corrected = run(ledger, "correct_price_version", {
        "municipality": HERNING, "offer_id": "extra-cleaning", "effective": "2018-06-01", "vat_class": "exempt",
        "prices": prices(36_400), "cost_basis": at_cost(prices(36_400)), "reason": "wage basis was last year's"},
        role="catalogue_manager")
    assert corrected["rerating"]["gross"] == 3_000
    (note,) = invoice_run(ledger, HERNING, "2019-02")["debit_notes"]
    assert (note["number"], note["invoice_number"], note["gross"], note["lines"]) == (
        "657-D00001", "657-000001", 3_000, 3)
    db = caught_up(ledger)
    (debit,) = q.debit_notes(db, HERNING)
    assert [x["invoice_line_no"] for x in debit["lines"]] == [1, 2, 3]
    assert reconcile(ledger, HERNING)["agree"] is True


def test_a_back_dated_grant_reassessment_does_not_touch_what_was_billed(ledger):
    """domain.md l.41: an add-on is bought on top of the grant; a re-assessment of the granted
    minutes (not its end) changes no add-on's price or eligibility, so no note is issued."""
    cid, _ = _invoiced_january(ledger)
    run(ledger, "reassess_grant", {"citizen_id": cid, "grant_id": "g", "effective": "2019-01-10",
                                   "amount": {"minutes_per_week": 30}})
    feb = invoice_run(ledger, HERNING, "2019-02")
    assert feb["credit_notes"] == [] and feb["debit_notes"] == []


def _july_2018_invoiced_then_its_price_corrected(ledger) -> None:
    """A visit on 2 July 2018 invoiced at 354 kr./h, then that price corrected to 364 kr./h."""
    herning(ledger)
    cid = _citizen(ledger)
    deliver(ledger, order(ledger, cid, "extra-cleaning", "2018-07-02", minutes=60), "2018-07-02", 60)
    invoice_run(ledger, HERNING, "2018-07")
    run(ledger, "correct_price_version", {
        "municipality": HERNING, "offer_id": "extra-cleaning", "effective": "2018-06-01", "vat_class": "exempt",
        "prices": prices(36_400), "cost_basis": at_cost(prices(36_400)), "reason": "wage basis"},
        role="catalogue_manager")


def test_a_difference_older_than_the_limitation_period_is_reported_not_billed(ledger):
    """conventions l.11-13: 'the general limitation period for civil claims in Denmark is 3 years
    ... keep it a setting, and report what falls outside it instead of billing it.' A correction of
    July 2018's price found in the August 2021 run (37 months on) is `barred`, no debit note."""
    _july_2018_invoiced_then_its_price_corrected(ledger)
    late = invoice_run(ledger, HERNING, "2021-08")
    assert late["debit_notes"] == []
    assert [(b["month"], b["delta"]["gross"] if isinstance(b["delta"], dict) else b["delta"])
            for b in late["barred"]] == [("2018-07", 1_000)]


def test_the_limitation_period_counts_from_the_run_s_date_not_from_the_month_it_bills(ledger):
    """conventions l.11-13 (3 years, forældelsesloven § 3). A clerk running an old month years
    later must not bill a correction the law has barred: July 2018's price corrected, then the
    August 2018 month run dated 2026-12-01 reports the difference as barred, no debit note."""
    _july_2018_invoiced_then_its_price_corrected(ledger)
    late = invoice_run(ledger, HERNING, "2018-08", run_date="2026-12-01")
    assert late["debit_notes"] == [] and late["invoices"] == []
    assert [(b["month"], b["delta"]["gross"], b["invoice_number"]) for b in late["barred"]] == [
        ("2018-07", 1_000, "657-000001")]


def test_a_delivery_recorded_after_the_limitation_period_is_reported_not_invoiced(ledger):
    """conventions l.11-13: 'report what falls outside it instead of billing it' holds for a
    delivery billed for the first time as much as for a re-rating: a July 2018 visit first seen by
    the December 2021 run (dated 2022-01-03, 42 months on) is barred; a December 2018 visit in the
    same run (36 months back from January 2022 is January 2019) is barred too, and one in
    January 2019 is billed."""
    herning(ledger)
    cid = _citizen(ledger)
    o = order(ledger, cid, "extra-cleaning", "2018-07-02", kind="recurring", every_weeks=1, minutes=60)
    deliver(ledger, o, "2018-07-02", 60)
    deliver(ledger, o, "2018-12-03", 60)
    deliver(ledger, o, "2019-01-07", 60)
    dec = invoice_run(ledger, HERNING, "2021-12", run_date="2022-01-03")
    assert [(b["month"], b["delta"]["gross"], b["invoice_number"]) for b in dec["barred"]] == [
        ("2018-07", 35_400, None), ("2018-12", 35_400, None)]
    assert [i["gross"] for i in dec["invoices"]] == [35_400]  # the January 2019 visit alone
    # Nothing barred is carried to a later run either: the next run bills nothing.
    assert invoice_run(ledger, HERNING, "2022-01", run_date="2022-02-01")["invoices"] == []


def test_the_limitation_setting_may_be_shorter_than_the_law_never_longer():
    """conventions l.12: 'A municipality may choose a shorter rule'."""
    from pydantic import ValidationError

    assert Settings(rerate_months=12).rerate_months == 12
    with pytest.raises(ValidationError):
        Settings(rerate_months=37)


def test_a_cancelled_delivery_that_was_invoiced_is_credited_the_invoice_is_never_edited(ledger):
    """domain.md l.79: 'credit notes for cancelled or disputed deliveries'; conventions l.7: never
    edit the issued invoice. The credit note references the line it credits."""
    _, ds = _invoiced_january(ledger)
    result = withdraw(ledger, ds[1], "2019-02-03")
    assert result["credit_note"] == "657-K00001"
    db = caught_up(ledger)
    inv = q.invoice(db, HERNING, "657-000001")
    assert inv["gross"] == 3 * 35_400 and [n["number"] for n in inv["credit_notes"]] == ["657-K00001"]
    _refused("already-withdrawn", withdraw, ledger, ds[1], "2019-02-04", dispute=True)


def test_each_document_series_is_numbered_without_gaps(ledger):
    """conventions l.14: 'faktura, kreditnota, debetnota; each series numbered without gaps.' Three
    months' invoices run 657-000001.. with no hole; credit notes 657-K00001, 657-K00002 in order,
    whichever way they arose (a withdrawal, a re-rating)."""
    herning(ledger)
    a, b = _citizen(ledger), _citizen(ledger)
    oa = order(ledger, a, "extra-cleaning", "2019-01-01", kind="recurring", every_weeks=1, minutes=60)
    ob = order(ledger, b, "extra-cleaning", "2019-01-01", kind="recurring", every_weeks=1, minutes=60)
    numbers, credits = [], []
    for month, days in (("2019-01", ("07", "14")), ("2019-02", ("04", "11")), ("2019-03", ("04",))):
        da = [deliver(ledger, oa, f"{month}-{d}", 60) for d in days]
        if month == "2019-01":
            deliver(ledger, ob, "2019-01-07", 60)
        result = invoice_run(ledger, HERNING, month)
        numbers += [i["number"] for i in result["invoices"]]
        credits += [n["number"] for n in result["credit_notes"]]
        if month == "2019-01":
            credits.append(withdraw(ledger, da[0], "2019-02-01")["credit_note"])  # a withdrawal
            run(ledger, "end_grant", {"citizen_id": b, "grant_id": "g", "last_day": "2019-01-06"})  # a re-rating
    assert numbers == ["657-000001", "657-000002", "657-000003", "657-000004"]
    assert credits == ["657-K00001", "657-K00002"]


def test_invoices_are_issued_in_arrears_only_after_the_month_ends(ledger):
    """domain.md l.72: 'Billing: monthly in arrears'. A run for March dated 31 March is refused;
    dated 1 April it bills; a second run bills nothing twice."""
    herning(ledger)
    cid = _citizen(ledger)
    deliver(ledger, order(ledger, cid, "extra-cleaning", "2019-03-05", minutes=60), "2019-03-05", 60)
    _refused("month-not-closed", invoice_run, ledger, HERNING, "2019-03", "2019-03-31")
    assert len(invoice_run(ledger, HERNING, "2019-03", "2019-04-01")["invoices"]) == 1
    assert invoice_run(ledger, HERNING, "2019-03", "2019-04-02")["invoices"] == []


def test_trials_windows_and_rules_are_data(ledger):
    """domain.md l.53-54: 'The ledger should not hard-code one scheme: trials, their windows and
    rules are data.' A second window opens sales again; a rule change from a date (minimum 60 from
    2019-06-01) prices visits by the rules on their own dates."""
    herning(ledger)
    run(ledger, "open_scheme_window", {"municipality": HERNING, "window_start": "2022-03-01",
                                       "window_end": "2022-12-31"}, role="catalogue_manager")
    run(ledger, "change_scheme_rules", {"municipality": HERNING, "effective": "2019-06-01", "sections": ["83", "85"],
                                        "minimum_minutes": 60, "increment_minutes": 30}, role="catalogue_manager")
    cid = _citizen(ledger)
    o = order(ledger, cid, "extra-cleaning", "2019-05-01", kind="recurring", every_weeks=1, minutes=20)
    deliver(ledger, o, "2019-05-28", 20)
    deliver(ledger, o, "2019-06-04", 20)
    order(ledger, cid, "extra-cleaning", "2022-03-07")  # the second window
    may = invoice_run(ledger, HERNING, "2019-05")["invoices"][0]["gross"]
    june = invoice_run(ledger, HERNING, "2019-06")["invoices"][0]["gross"]
    assert (may, june) == (17_700, 35_400)
    assert date(2022, 3, 7) > date(2021, 12, 31) and uuid.UUID(cid)
