"""The trial timeline on two time axes, on SQLite and PostgreSQL.

Histories are built through `Ledger.execute` with explicit recorded instants, so "as known at K"
is controlled to the microsecond. Figures are worked out by hand in the comments.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import date, datetime, timezone
from typing import Any

from ledger.application import Ledger
from ledger.domain.base import Context, key_id
from ledger.projections.audit import AuditProjection
from ledger.projections.engine import Engine
from ledger.projections.timeline import TimelineProjection
from ledger.projections.timeline_queries import catalogue_history, series, timeline
from ledger.settings import Settings
from tests.helpers.costs import at_cost

HERNING, AABENRAA = 657, 580


def _prices(day: int, evening: int | None = None, weekend: int | None = None) -> dict[str, int]:
    return {"weekday_day": day, "evening": evening or day, "weekend": weekend or day}


class Trial:
    """A history builder: every fact through the application's front door, at a stated instant."""

    _ids = itertools.count(1)

    def __init__(self, url: str) -> None:
        self.app = Ledger(Settings(database_url=url))
        self.db = self.app.db

    def close(self) -> None:
        self.app.close()

    def run(self, command_type: str, payload: dict[str, Any], recorded: str) -> dict[str, Any]:
        at = datetime.fromisoformat(recorded).replace(tzinfo=timezone.utc)
        cid = f"t-{next(self._ids)}-{uuid.uuid4().hex[:8]}"
        return self.app.execute(command_type, payload, Context("tester", "administrator", cid, at)).result

    # schemes and catalogue ----------------------------------------------------------
    def scheme(self, m: int = HERNING, start: str = "2018-06-01", end: str = "2021-12-31",
               sections: tuple[str, ...] = ("83",), minimum: int = 30, increment: int = 30,
               recorded: str = "2018-05-01T10:00:00") -> None:
        self.run("establish_scheme", {"municipality": m, "name": f"Tilkøb {m}", "window_start": start,
                                      "window_end": end, "sections": list(sections), "minimum_minutes": minimum,
                                      "increment_minutes": increment}, recorded)

    def item(self, item_id: str, price: int, *, m: int = HERNING, unit: str = "hour", fsiii: str = "H1.8",
             vat_class: str = "exempt", effective: str = "2018-06-01", cost: dict[str, int] | None = None,
             recorded: str = "2018-05-02T10:00:00") -> None:
        self.run("add_item", {"municipality": m, "item_id": item_id, "name": item_id.replace("-", " "), "unit": unit,
                              "fsiii": fsiii, "vat_class": vat_class, "prices": _prices(price),
                              "cost_basis": cost or at_cost(_prices(price)), "effective": effective}, recorded)

    def price(self, item_id: str, price: int, effective: str, recorded: str, *, m: int = HERNING,
              vat_class: str = "exempt", cost: dict[str, int] | None = None) -> None:
        self.run("change_price", {"municipality": m, "offer_id": item_id, "effective": effective,
                                  "vat_class": vat_class, "prices": _prices(price),
                                  "cost_basis": cost or at_cost(_prices(price))},
                 recorded)

    # citizens and grants ------------------------------------------------------------
    def citizen(self, m: int = HERNING, recorded: str = "2018-01-02T09:00:00") -> str:
        cid = str(uuid.uuid4())
        self.run("register_citizen", {"citizen_id": cid, "municipality": m, "effective": "2018-01-01",
                                      "residence": "own_home"}, recorded)
        return cid

    def grant(self, citizen: str, minutes: int, *, grant_id: str = "g1", fsiii: str = "H1.8", section: str = "83",
              valid_from: str = "2018-01-01", recorded: str = "2018-01-02T09:05:00") -> str:
        self.run("award_grant", {"citizen_id": citizen, "grant_id": grant_id, "fsiii": fsiii, "section": section,
                                 "amount": {"minutes_per_week": minutes}, "valid_from": valid_from}, recorded)
        return grant_id

    def reassess(self, citizen: str, minutes: int, effective: str, recorded: str, grant_id: str = "g1") -> None:
        self.run("reassess_grant", {"citizen_id": citizen, "grant_id": grant_id, "effective": effective,
                                    "amount": {"minutes_per_week": minutes}}, recorded)

    def correct(self, citizen: str, minutes: int, effective: str, recorded: str, corrects: str,
                grant_id: str = "g1") -> None:
        self.run("correct_grant", {"citizen_id": citizen, "grant_id": grant_id, "effective": effective,
                                   "amount": {"minutes_per_week": minutes}, "corrects": corrects}, recorded)

    # orders and deliveries ----------------------------------------------------------
    def order(self, citizen: str, offer: str, start: str, recorded: str, *, kind: str = "one_off",
              minutes: int | None = 60, every_weeks: int | None = None, end: str | None = None) -> str:
        payload: dict[str, Any] = {"citizen_id": citizen, "offer_id": offer, "kind": kind, "start": start,
                                   "minutes": minutes}
        if kind == "one_off" and date.fromisoformat(start).weekday() >= 5:
            payload["band"] = "weekend"  # a one-off order's band fits its one visit's date
        if every_weeks is not None:
            payload["every_weeks"] = every_weeks
        if end is not None:
            payload["end"] = end
        return self.run("place_order", payload, recorded)["order_id"]

    def deliver(self, order: str, on: str, minutes: int, recorded: str, *, band: str = "weekday_day",
                klippekort: bool = False) -> str:
        if klippekort:
            self.klippekort_holder(self.app.repository.get(uuid.UUID(order)).citizen_id, recorded)
        return self.run("record_delivery", {"order_id": order, "date": on, "band": band, "minutes": minutes,
                                            "staff_id": "s-1", "klippekort": klippekort}, recorded)["delivery_id"]

    def klippekort_holder(self, citizen: str, recorded: str) -> None:
        """A klippekort is a nursing-home resident's entitlement: make the citizen one (once)."""
        from ledger.domain.klippekort import klippekort_id

        if klippekort_id(citizen) in self.app.repository:
            return
        self.run("change_residence", {"citizen_id": citizen, "effective": "2018-01-01", "residence": "nursing_home"},
                 recorded)
        self.run("grant_klippekort", {"citizen_id": citizen, "minutes_per_week": 60, "valid_from": "2018-01-01"},
                 recorded)

    def invoice_run(self, month: str, run_date: str, recorded: str, m: int = HERNING) -> dict[str, Any]:
        return self.run("run_invoices", {"municipality": m, "month": month, "run_date": run_date}, recorded)

    # reading ------------------------------------------------------------------------
    def engine(self) -> Engine:
        return Engine(self.db, [TimelineProjection(), AuditProjection()])

    def caught_up(self) -> Any:
        self.engine().catch_up()
        return self.db


def _granted(report: dict[str, Any], m: int = HERNING) -> dict[str, tuple[int, int, int, int]]:
    entry = next(e for e in report["municipalities"] if e["municipality"] == m)
    return {g["fsiii"]: (g["buyers"]["citizens"], g["buyers"]["weekly_minutes"], g["non_buyers"]["citizens"],
                         g["non_buyers"]["weekly_minutes"]) for g in entry["granted_minutes"]}


def _entry(report: dict[str, Any], m: int = HERNING) -> dict[str, Any]:
    return next(e for e in report["municipalities"] if e["municipality"] == m)


def test_a_back_dated_reassessment_changes_the_effective_view_but_not_what_was_known_before(database_url):
    t = Trial(database_url)
    try:
        t.scheme()
        c = t.citizen()
        t.grant(c, 120)
        # A report written on 2019-06-30 about 2019-06-15: 120 minutes of cleaning a week.
        written = timeline(t.caught_up(), HERNING, "2019-06-15", "2019-06-30")
        assert _granted(written) == {"H1.8": (0, 0, 1, 120)}
        # On 2019-09-15 the grant is re-assessed back to 2019-03-01 (60 min) and that is then
        # corrected back to 2019-05-01 (45 min); the award itself is corrected to 100 min.
        t.reassess(c, 60, "2019-03-01", "2019-09-15T08:00:00")
        award_ref = f"{key_id('assessment', c)}:2"
        t.correct(c, 45, "2019-05-01", "2019-10-01T08:00:00", corrects=award_ref)
        t.correct(c, 100, "2018-01-01", "2019-10-01T08:00:00", corrects=award_ref)
        db = t.caught_up()

        # The report can be written again, exactly, after the back-dated changes were recorded.
        assert timeline(db, HERNING, "2019-06-15", "2019-06-30") == written
        assert timeline(db, HERNING, "2019-06-15", "2019-06-30T23:59:59Z") == {**written,
                                                                              "known_at": "2019-06-30T23:59:59.000000+00:00"}
        # As effective on 2019-06-15, as now known: the correction from 2019-05-01.
        assert _granted(timeline(db, HERNING, "2019-06-15")) == {"H1.8": (0, 0, 1, 45)}
        # Known at 2019-09-20: the re-assessment but not yet the corrections.
        assert _granted(timeline(db, HERNING, "2019-06-15", "2019-09-20")) == {"H1.8": (0, 0, 1, 60)}
        assert _granted(timeline(db, HERNING, "2019-04-15", "2019-09-20")) == {"H1.8": (0, 0, 1, 60)}
        # Before the re-assessment's date the award holds, corrected to 100 once that is known.
        assert _granted(timeline(db, HERNING, "2019-02-15", "2019-09-20")) == {"H1.8": (0, 0, 1, 120)}
        assert _granted(timeline(db, HERNING, "2019-02-15")) == {"H1.8": (0, 0, 1, 100)}
        # One instant before the re-assessment was recorded it is not known; at that instant it is.
        assert _granted(timeline(db, HERNING, "2019-06-15", "2019-09-15T07:59:59.999999Z")) == {"H1.8": (0, 0, 1, 120)}
        assert _granted(timeline(db, HERNING, "2019-06-15", "2019-09-15T08:00:00Z")) == {"H1.8": (0, 0, 1, 60)}
        # Known before the citizen was registered: nobody.
        before = timeline(db, HERNING, "2019-06-15", "2017-12-31")
        assert _granted(before) == {} and _entry(before)["citizens_with_active_grants"] == 0
    finally:
        t.close()


def test_the_month_of_d_counts_orders_deliveries_minutes_and_revenue_at_the_price_in_force(database_url):
    t = Trial(database_url)
    try:
        t.scheme(sections=("83", "85"))
        t.item("extra-cleaning", 35_400)
        t.item("window-cleaning", 45_000, unit="visit", vat_class="standard")
        t.price("extra-cleaning", 36_000, "2019-03-15", "2019-02-01T10:00:00")
        buyer, other, support = t.citizen(), t.citizen(), t.citizen()
        t.grant(buyer, 60)
        t.grant(buyer, 30, grant_id="g2", fsiii="H1.9")
        t.grant(other, 90)
        t.grant(support, 45, fsiii="H1.7", section="107")  # a section the scheme does not cover
        cleaning = t.order(buyer, "extra-cleaning", "2019-03-01", "2019-02-20T10:00:00", kind="recurring",
                           every_weeks=1, end="2019-04-30", minutes=50)
        windows = t.order(buyer, "window-cleaning", "2019-03-20", "2019-03-01T10:00:00", minutes=None)
        t.deliver(cleaning, "2019-03-04", 50, "2019-03-04T15:00:00")  # 60 billed × 354.00 = 354.00
        t.deliver(cleaning, "2019-03-18", 70, "2019-03-18T15:00:00")  # 90 billed × 360.00 = 540.00
        t.deliver(cleaning, "2019-03-25", 30, "2019-03-25T15:00:00", klippekort=True)  # never billed
        t.deliver(windows, "2019-03-20", 45, "2019-03-20T15:00:00")  # 1 × 450.00 + 25 % VAT 112.50
        t.deliver(cleaning, "2019-04-01", 60, "2019-04-01T15:00:00")  # April: not in the month
        db = t.caught_up()

        report = timeline(db, HERNING, "2019-03-21")
        e = _entry(report)
        assert e["scheme"]["window"] == ["2018-06-01", "2021-12-31"]
        assert e["scheme"]["rules"] == {"sections": ["83", "85"], "minimum_minutes": 30, "increment_minutes": 30,
                                        "requires_municipal_provider": True}
        assert (e["citizens_with_active_grants"], e["citizens_with_covered_grants"], e["buyers"]) == (3, 2, 1)
        assert e["month"] == {"orders_placed": 2, "deliveries": 4, "missed_visits": 0, "withdrawn": 0,
                              "minutes_delivered": 195, "klippekort_minutes": 30, "unpriced_deliveries": 0,
                              "revenue": {"net": 35_400 + 54_000 + 45_000, "vat": 11_250,
                                          "gross": 35_400 + 54_000 + 56_250},
                              "ineligible_deliveries": 0, "ineligible_amount": {"net": 0, "vat": 0, "gross": 0}}
        assert _granted(report) == {"H1.7": (0, 0, 1, 45), "H1.8": (1, 60, 1, 90), "H1.9": (1, 30, 0, 0)}
        assert [(o["offer_id"], o["prices"]["weekday_day"], o["vat_class"]) for o in e["catalogue"]] == [
            ("extra-cleaning", 36_000, "exempt"), ("window-cleaning", 45_000, "standard")]
        # Known at 2019-03-19: two of the March deliveries, and the window cleaning order.
        early = _entry(timeline(db, HERNING, "2019-03-21", "2019-03-19"))
        assert (early["month"]["deliveries"], early["month"]["revenue"]["net"], early["buyers"]) == (2, 89_400, 1)
        # In May the recurring order has ended: no buyers, all granted minutes are non-buyers'.
        assert _granted(timeline(db, HERNING, "2019-05-02")) == {"H1.7": (0, 0, 1, 45), "H1.8": (0, 0, 2, 150),
                                                                   "H1.9": (0, 0, 1, 30)}
        # The catalogue's history: both versions of the cleaning price, each with when it was recorded.
        history = catalogue_history(db, HERNING)
        assert [(h["offer_id"], h["valid_from"], h["valid_to"], h["prices"]["weekday_day"], h["recorded"])
                for h in history] == [
            ("extra-cleaning", "2018-06-01", "2019-03-15", 35_400, "2018-05-02T10:00:00.000000+00:00"),
            ("extra-cleaning", "2019-03-15", None, 36_000, "2019-02-01T10:00:00.000000+00:00"),
            ("window-cleaning", "2018-06-01", None, 45_000, "2018-05-02T10:00:00.000000+00:00")]
        assert [h["valid_to"] for h in catalogue_history(db, HERNING, "2019-01-31")] == [None, None]
    finally:
        t.close()


def test_the_network_adds_up_its_municipalities_and_the_monthly_series_follows_the_window(database_url):
    t = Trial(database_url)
    try:
        t.scheme()
        t.scheme(AABENRAA, minimum=60, recorded="2018-05-03T10:00:00")
        t.item("extra-cleaning", 35_400)
        t.item("extra-cleaning", 29_000, m=AABENRAA, recorded="2018-05-04T10:00:00")
        h, a1, a2 = t.citizen(), t.citizen(AABENRAA), t.citizen(AABENRAA)
        t.grant(h, 60)
        t.grant(a1, 120)
        t.grant(a2, 30)
        t.reassess(a1, 90, "2018-08-01", "2018-07-25T09:00:00")
        order = t.order(a1, "extra-cleaning", "2018-07-10", "2018-07-01T09:00:00", minutes=40)
        t.deliver(order, "2018-07-10", 40, "2018-07-10T15:00:00")  # Aabenraa: minimum 60 min × 290.00
        db = t.caught_up()

        net = timeline(db, None, "2018-07-10")
        assert [e["municipality"] for e in net["municipalities"]] == [AABENRAA, HERNING]
        totals = net["totals"]
        assert (totals["municipalities"], totals["in_window"], totals["citizens_with_active_grants"],
                totals["buyers"]) == (2, 2, 3, 1)
        assert totals["month"]["revenue"] == {"net": 29_000, "vat": 0, "gross": 29_000}
        assert totals["granted_minutes"] == [{"fsiii": "H1.8", "buyers": {"citizens": 1, "weekly_minutes": 120},
                                              "non_buyers": {"citizens": 2, "weekly_minutes": 90}}]
        # Known before Aabenraa's scheme was recorded, the network is Herning alone.
        assert [e["municipality"] for e in timeline(db, None, "2018-07-10", "2018-05-02")["municipalities"]] == [HERNING]

        s = series(db, AABENRAA)
        assert s["windows"] == [["2018-06-01", "2021-12-31"]]
        assert len(s["months"]) == 43
        june, july, august = s["months"][:3]
        assert (june["month"], june["on"], june["buyers"]) == ("2018-06", "2018-06-30", 0)
        assert (july["buyers"], july["deliveries"], july["revenue"]["net"], august["buyers"]) == (0, 1, 29_000, 0)
        # Granted minutes read on each month's last day: the one-off order is over by 31 July,
        # and the re-assessment from 1 August shows in August.
        assert [(m["month"], sum(g["non_buyers"]["weekly_minutes"] for g in m["granted_minutes"]))
                for m in s["months"][:3]] == [("2018-06", 150), ("2018-07", 150), ("2018-08", 120)]
        assert series(db, AABENRAA, "2018-07-20")["months"][2]["granted_minutes"][0]["non_buyers"]["weekly_minutes"] == 150
    finally:
        t.close()


def test_a_withdrawn_delivery_leaves_the_month_as_it_was_known_before_the_withdrawal(database_url):
    t = Trial(database_url)
    try:
        t.scheme()
        t.item("extra-cleaning", 35_400)
        c = t.citizen()
        t.grant(c, 60)
        order = t.order(c, "extra-cleaning", "2019-03-04", "2019-03-01T10:00:00")
        delivery = t.deliver(order, "2019-03-04", 60, "2019-03-04T15:00:00")
        t.run("cancel_delivery", {"delivery_id": delivery, "effective": "2019-03-10", "reason": "double entry"},
              "2019-03-10T09:00:00")
        t.run("cancel_order", {"order_id": t.order(c, "extra-cleaning", "2019-03-20", "2019-03-11T10:00:00"),
                               "effective": "2019-03-20"}, "2019-03-12T10:00:00")
        db = t.caught_up()
        now = _entry(timeline(db, HERNING, "2019-03-20"))["month"]
        assert (now["deliveries"], now["withdrawn"], now["revenue"]["net"], now["orders_placed"]) == (0, 1, 0, 2)
        then = _entry(timeline(db, HERNING, "2019-03-20", "2019-03-09"))["month"]
        assert (then["deliveries"], then["withdrawn"], then["revenue"]["net"], then["orders_placed"]) == (1, 0, 35_400, 1)
        # The second order was cancelled from its first day: it was believed active only until then.
        assert _entry(timeline(db, HERNING, "2019-03-20", "2019-03-11T12:00:00Z"))["buyers"] == 1
        assert _entry(timeline(db, HERNING, "2019-03-20"))["buyers"] == 0
    finally:
        t.close()


def test_a_rebuild_gives_the_same_tables_as_the_live_projection(database_url):
    t = Trial(database_url)
    try:
        t.scheme()
        t.item("extra-cleaning", 35_400)
        c = t.citizen()
        t.grant(c, 60)
        t.reassess(c, 30, "2019-01-01", "2019-02-01T09:00:00")
        t.reassess(c, 45, "2018-10-01", "2019-02-01T09:00:00")  # same instant: rows never seen are dropped
        order = t.order(c, "extra-cleaning", "2019-03-04", "2019-03-01T10:00:00", kind="recurring", every_weeks=2)
        t.run("change_order", {"order_id": order, "effective": "2019-04-01", "minutes": 90, "end": "2019-06-30"},
              "2019-03-20T10:00:00")
        t.deliver(order, "2019-03-04", 60, "2019-03-04T15:00:00")
        t.invoice_run("2019-03", "2019-04-01", "2019-04-01T06:00:00")
        engine = t.engine()
        engine.catch_up()
        engine.rebuild(suffix="__check", swap=False)
        for table in (*TimelineProjection.tables, *AuditProjection.tables):
            assert engine.digest(table.name) == engine.digest(table.name + "__check"), table.name
        assert timeline(t.db, HERNING, "2019-04-15") == timeline(t.db, HERNING, "2019-04-15", suffix="__check")
        engine.drop_suffix("__check")
    finally:
        t.close()
