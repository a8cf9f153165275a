"""The timeline's two axes as properties (SQLite): for random histories recorded out of order,
the live projection read "as known at K" equals a fresh projection built only from the events
recorded by K, and a full rebuild equals the live tables row for row."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from conftest import fewer_examples

from ledger.application import Ledger
from ledger.domain.base import Context
from ledger.domain.errors import LedgerError
from ledger.projections.audit import AuditProjection
from ledger.projections.engine import Engine
from ledger.projections.reader import recorded_key
from ledger.projections.timeline import TimelineProjection
from ledger.projections.timeline_queries import KNOWN_NOW, catalogue_history, series, stab_arms, timeline
from ledger.settings import Settings
from tests.helpers.costs import at_cost

MUNICIPALITIES = (657, 580)
FIRST = date(2018, 1, 1)

days = st.integers(min_value=0, max_value=3 * 365)  # an offset from 2018-01-01
in_trial = st.integers(min_value=151, max_value=911)  # 2018-06-01 .. 2020-06-30, the schemes' window
minutes = st.sampled_from([0, 30, 45, 60, 90, 120, 240])
offers = st.sampled_from(["clean", "windows"])
grants = st.sampled_from(["g1", "g2"])
citizens = st.integers(0, 3)
place = st.tuples(st.just("order"), citizens, offers, in_trial, st.sampled_from(["one_off", "recurring"]))
deliver = st.tuples(st.just("deliver"), st.integers(0, 7), st.integers(0, 60), st.integers(10, 150), st.booleans())
reassess = st.tuples(st.sampled_from(["reassess", "correct"]), citizens, grants, minutes, in_trial)
step = st.one_of(
    place, place, deliver, deliver, deliver, reassess, reassess,
    st.tuples(st.just("award"), citizens, st.just("g2"), st.sampled_from(["H1.8", "H1.9"]),
              st.sampled_from(["83", "85"]), minutes, days),
    st.tuples(st.just("end"), citizens, grants, in_trial),
    st.tuples(st.just("price"), st.sampled_from(MUNICIPALITIES), offers, in_trial, st.integers(20_000, 50_000)),
    st.tuples(st.just("retire"), st.sampled_from(MUNICIPALITIES), offers, st.integers(700, 1095)),
    st.tuples(st.just("rules"), st.sampled_from(MUNICIPALITIES), days, st.sampled_from([["83"], ["83", "85"]])),
    st.tuples(st.just("window"), st.sampled_from(MUNICIPALITIES), st.integers(600, 1095)),
    st.tuples(st.just("change"), st.integers(0, 5), in_trial, in_trial),
    st.tuples(st.just("cancel"), st.integers(0, 5), in_trial),
    st.tuples(st.just("withdraw"), st.integers(0, 8), days),
)
# When each step was recorded: a day and second, or the very instant of an earlier step.
recorded = st.one_of(st.tuples(days, st.integers(0, 86_399)), st.integers(0, 40).map(lambda i: ("same", i)))
histories = st.lists(st.tuples(step, recorded), min_size=10, max_size=45)
starting = st.lists(st.tuples(st.sampled_from([30, 60, 120]), st.integers(0, 300), st.integers(0, 400)),
                    min_size=4, max_size=4)


def _day(offset: int) -> str:
    return (FIRST + timedelta(days=offset)).isoformat()


class _Runner:
    def __init__(self, app: Ledger) -> None:
        self.app = app
        self.instants: list[datetime] = []
        self.stored: list[datetime] = []  # instants of commands that stored events
        self.citizens: list[tuple[str, int]] = []
        self.orders: list[str] = []
        self.deliveries: list[str] = []
        self.n = 0

    def at(self, when: Any) -> datetime:
        if when[0] == "same" and self.instants:
            return self.instants[when[1] % len(self.instants)]
        if when[0] == "same":
            when = (0, when[1])
        moment = datetime(2018, 1, 1, tzinfo=timezone.utc) + timedelta(days=when[0], seconds=when[1])
        self.instants.append(moment)
        return moment

    def grants_of(self, citizen_id: str) -> dict[str, Any]:
        from ledger.domain.assessment import Assessment, assessment_id

        try:
            found = self.app.repository.get(assessment_id(uuid.UUID(citizen_id)))
        except Exception:  # no assessment yet
            return {}
        return found.grants if isinstance(found, Assessment) else {}

    def run(self, command_type: str, payload: dict[str, Any], when: Any) -> dict[str, Any] | None:
        self.n += 1
        ctx = Context("prop", "administrator", f"p-{self.n}-{uuid.uuid4().hex[:6]}", self.at(when))
        try:
            result = self.app.execute(command_type, payload, ctx).result
            self.stored.append(ctx.recorded)
            return result
        except LedgerError:
            return None  # refused by a rule: nothing stored, which is itself part of any history


def _setup(r: _Runner, start: list[tuple[int, int, int]]) -> None:
    for i, m in enumerate(MUNICIPALITIES):
        r.run("establish_scheme", {"municipality": m, "name": f"S{m}", "window_start": "2018-06-01",
                                   "window_end": "2020-06-30", "sections": ["83"], "minimum_minutes": 30,
                                   "increment_minutes": 15}, (100 + i, 0))
        for item, unit, vat in (("clean", "hour", "exempt"), ("windows", "visit", "standard")):
            r.run("add_item", {"municipality": m, "item_id": item, "name": item, "unit": unit, "fsiii": "H1.8",
                               "vat_class": vat, "prices": {"weekday_day": 35_000, "evening": 40_000,
                                                            "weekend": 45_000},
                               "cost_basis": at_cost({"weekday_day": 35_000, "evening": 40_000, "weekend": 45_000}),
                               "effective": "2018-06-01"}, (120 + i, 0))
    for i, (weekly, valid_from, awarded) in enumerate(start):
        cid = str(uuid.uuid4())
        m = MUNICIPALITIES[i % 2]
        r.run("register_citizen", {"citizen_id": cid, "municipality": m, "effective": "2018-01-01",
                                   "residence": "own_home"}, (i * 30, 0))
        r.run("award_grant", {"citizen_id": cid, "grant_id": "g1", "fsiii": "H1.8", "section": "83",
                              "amount": {"minutes_per_week": weekly}, "valid_from": _day(valid_from)},
              (i * 30 + awarded, 0))
        r.citizens.append((cid, m))


def _apply(r: _Runner, s: tuple, when: Any) -> None:
    kind = s[0]
    if kind == "price":
        _, m, item, d, price = s
        r.run("change_price", {"municipality": m, "offer_id": item, "effective": _day(d), "vat_class": "exempt",
                               "prices": {"weekday_day": price, "evening": price, "weekend": price},
                               "cost_basis": at_cost(dict.fromkeys(("weekday_day", "evening", "weekend"), price))},
              when)
    elif kind == "retire":
        r.run("retire_offer", {"municipality": s[1], "offer_id": s[2], "effective": _day(s[3])}, when)
    elif kind == "rules":
        r.run("change_scheme_rules", {"municipality": s[1], "effective": _day(s[2]), "sections": s[3],
                                      "minimum_minutes": 60, "increment_minutes": 30}, when)
    elif kind == "window":
        r.run("change_scheme_window", {"municipality": s[1], "window_start": "2018-06-01",
                                       "window_end": _day(max(s[2], 160))}, when)
    elif kind in ("award", "reassess", "correct", "end"):
        cid = r.citizens[s[1]][0]
        if kind == "award":
            r.run("award_grant", {"citizen_id": cid, "grant_id": s[2], "fsiii": s[3], "section": s[4],
                                  "amount": {"minutes_per_week": s[5]}, "valid_from": _day(s[6])}, when)
        elif kind == "end":
            r.run("end_grant", {"citizen_id": cid, "grant_id": s[2], "last_day": _day(s[3])}, when)
        else:
            payload = {"citizen_id": cid, "grant_id": s[2], "effective": _day(s[4]),
                       "amount": {"minutes_per_week": s[3]}}
            if kind == "correct":  # it names the grant's award (a grant not awarded: refused anyway)
                grant = r.grants_of(cid).get(s[2])
                payload["corrects"] = grant["awarded_ref"] if grant else "no such event"
            r.run(f"{kind}_grant", payload, when)
    elif kind == "order":
        payload = {"citizen_id": r.citizens[s[1]][0], "offer_id": s[2], "kind": s[4], "start": _day(s[3]),
                   "minutes": 60 if s[2] == "clean" else None}
        if s[4] == "recurring":
            payload["every_weeks"] = 1
        done = r.run("place_order", payload, when)
        if done:
            r.orders.append(done["order_id"])
    elif kind in ("change", "cancel") and r.orders:
        order = r.orders[s[1] % len(r.orders)]
        if kind == "change":
            r.run("change_order", {"order_id": order, "effective": _day(s[2]), "end": _day(s[3]), "minutes": 90}, when)
        else:
            r.run("cancel_order", {"order_id": order, "effective": _day(s[2])}, when)
    elif kind == "deliver" and r.orders:
        order = r.orders[s[1] % len(r.orders)]
        placed = r.app.repository.get(uuid.UUID(order))
        on = (date.fromisoformat(placed.start) + timedelta(days=s[2] if placed.kind == "recurring" else 0)).isoformat()
        # Recorded on the day of the visit or later (a visit cannot be recorded before it happens).
        later = ((date.fromisoformat(on) - FIRST).days + s[2] % 3, when[1] if when[0] != "same" else 64_800)
        done = r.run("record_delivery", {"order_id": order, "date": on, "band": "weekday_day", "minutes": s[3],
                                         "staff_id": "s", "klippekort": s[4]}, later)
        if done:
            r.deliveries.append(done["delivery_id"])
    elif kind == "withdraw" and r.deliveries:
        r.run("cancel_delivery", {"delivery_id": r.deliveries[s[1] % len(r.deliveries)], "effective": _day(s[2]),
                                  "reason": "wrong"}, when)


@contextmanager
def _history(start: list[tuple[int, int, int]], history: list) -> Iterator[_Runner]:
    """A runner over a ledger in a fresh SQLite file holding the set-up and the history. Memory-backed when
    available: each example commits ~100 small transactions."""
    folder = tempfile.mkdtemp(prefix="tl-prop-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    app = Ledger(Settings(database_url=f"sqlite:///{folder}/ledger.db"))
    try:
        r = _Runner(app)
        _setup(r, start)
        for s, when in history:
            _apply(r, s, when)
        yield r
    finally:
        app.close()
        shutil.rmtree(folder, ignore_errors=True)


def _row_level(db: Any, d: str, k: str) -> dict[int, Any]:
    """The grant figures on (D, K) counted row by row with plain predicates: the oracle for the
    pre-summed totals (Fenwick nodes, week versions, late deltas)."""
    visible = "valid_from <= ? AND valid_to > ? AND recorded_from <= ? AND recorded_to > ?"
    grants = db.query(f"SELECT municipality, citizen_id, fsiii, section, weekly_minutes FROM tl_grants WHERE {visible}",
                      [d, d, k, k])
    buyers = set(db.query(f"SELECT municipality, citizen_id FROM tl_orders WHERE {visible}", [d, d, k, k]))
    sections = dict(db.query(f"SELECT municipality, sections FROM tl_scheme_rules WHERE {visible}", [d, d, k, k]))
    out: dict[int, Any] = {}
    for m in MUNICIPALITIES:
        mine = [g for g in grants if g[0] == m]
        covered = set((sections.get(m) or "").split(","))
        per: dict[str, Any] = {}
        for code in sorted({g[2] for g in mine}):
            rows = [g for g in mine if g[2] == code]
            group = {b: [g for g in rows if ((m, g[1]) in buyers) == b] for b in (True, False)}
            per[code] = {name: {"citizens": len({g[1] for g in group[b]}), "weekly_minutes": sum(g[4] for g in group[b])}
                         for name, b in (("buyers", True), ("non_buyers", False))}
        out[m] = {"citizens_with_active_grants": len({g[1] for g in mine}),
                  "citizens_with_covered_grants": len({g[1] for g in mine if g[3] in covered}),
                  "buyers": len({c for mm, c in buyers if mm == m}),
                  "granted_minutes": [{"fsiii": code, **v} for code, v in per.items()]}
    return out


def _without_known_at(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_known_at(v) for k, v in value.items() if k != "known_at"}
    if isinstance(value, list):
        return [_without_known_at(v) for v in value]
    return value


@fewer_examples(10)
@given(starting, histories, st.lists(st.integers(0, 10_000), min_size=4, max_size=4),
       st.lists(in_trial, min_size=1, max_size=1))
def test_the_timeline_known_at_k_equals_a_rebuild_of_the_events_recorded_by_k(start, history, picks, ds):
    with _history(start, history) as r:
        app = r.app
        engine = Engine(app.db, [TimelineProjection(), AuditProjection()], batch_size=7)
        engine.catch_up()

        # K: instants where believed rows were closed and others opened (read from the live tables,
        # where the edge cases are), a microsecond before one, any stored instant, any time of day.
        # D: dates where rows begin or end, and any date in the trial.
        closing = sorted({row[0] for t in ("tl_grants", "tl_orders", "tl_deliveries", "tl_offer_versions")
                          for row in app.db.query(f"SELECT recorded_to FROM {t} WHERE recorded_to < ?",
                                                  ["9999-01-01"])}) or [recorded_key(r.stored[-1])]
        edges = sorted({row[0] for t in ("tl_grants", "tl_orders")
                        for row in app.db.query(f"SELECT valid_from FROM {t} UNION SELECT valid_to FROM {t}")
                        if row[0] < "9999"}) or [_day(ds[0])]
        before = datetime.fromisoformat(closing[picks[1] % len(closing)]) - timedelta(microseconds=1)
        ks = [closing[picks[0] % len(closing)], before.isoformat(timespec="microseconds"),
              recorded_key(r.stored[picks[2] % len(r.stored)]) if picks[3] % 2 else
              f"{_day(picks[3] % (3 * 365))}T12:00:00.000000"]
        dates = [edges[picks[0] % len(edges)], edges[picks[1] % len(edges)], _day(ds[0])]
        for i, k in enumerate(ks):
            engine.rebuild(["timeline"], suffix="__k", swap=False, until_recorded=k)
            for d in dates:
                for m in (*MUNICIPALITIES, None):
                    live = timeline(app.db, m, d, k)
                    cut = timeline(app.db, m, d, None, suffix="__k")
                    assert _without_known_at(live) == _without_known_at(cut), (k, d, m)
            m = MUNICIPALITIES[i % 2]
            assert _without_known_at(series(app.db, m, k)) == _without_known_at(series(app.db, m, suffix="__k"))
            assert catalogue_history(app.db, m, k) == catalogue_history(app.db, m, suffix="__k")

        # The pre-summed totals agree with counting the rows one by one, at any (D, K).
        for k in (*ks, KNOWN_NOW):
            for d in dates:
                expected = _row_level(app.db, d, k)
                for entry in timeline(app.db, None, d, k)["municipalities"]:
                    got = {key: entry[key] for key in expected[entry["municipality"]]}
                    assert got == expected[entry["municipality"]], (k, d)

        # The span-class arms find exactly the rows a plain scan finds, at any (D, K).
        for table in ("tl_grants", "tl_orders"):
            for d in dates:
                for k in (*ks, KNOWN_NOW):
                    arms, params = stab_arms(table, "*", "municipality IN (?, ?)", list(MUNICIPALITIES), d, k)
                    found = sorted(map(tuple, app.db.query(arms, params)))
                    scanned = app.db.query(f"SELECT * FROM {table} WHERE valid_from <= ? AND valid_to > ? "
                                           "AND recorded_from <= ? AND recorded_to > ?", [d, d, k, k])
                    assert found == sorted(map(tuple, scanned)), (table, d, k)

        engine.rebuild(suffix="__full", swap=False)
        for table in (*TimelineProjection.tables, *AuditProjection.tables):
            assert engine.digest(table.name) == engine.digest(table.name + "__full"), table.name


# Days between K's date and D that sit on the edges of the totals' lag groups (timeline.lag_group).
_EDGES = (0, 1, 2, 3, 4, 7, 8, 31, 32, 33, 63, 64, 65, 127, 128, 191, 192, 400, 1000)


@fewer_examples(15)
@given(starting, histories, st.integers(1, 12), st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(_EDGES),
                                                                     st.booleans()), min_size=6, max_size=6))
def test_the_pre_summed_totals_equal_a_count_of_the_grant_rows_at_any_d_and_k(start, history, batch, picks):
    """tl_totals (ADR 0022, round 6) answers the totals at (D, K) from pre-summed points: they
    equal a count of the grant rows believed at K and valid on D (the query the timeline ran
    before) for K at instants where rows were opened or closed, a microsecond before them, and
    any time of day, with D on and around the edges of the lag groups before and after K's date,
    and after a live catch-up in batches of any size."""
    from tests.helpers.timeline_oracle import counted_totals, of_grants
    from ledger.projections.timeline_queries import totals_at

    with _history(start, history) as r:
        app = r.app
        Engine(app.db, [TimelineProjection()], batch_size=batch).catch_up()
        instants = sorted({row[0] for row in app.db.query(
            "SELECT recorded_from FROM tl_grants UNION SELECT recorded_to FROM tl_grants") if row[0] < "9999"})
        ks = [KNOWN_NOW]
        for pick, edge, after in picks:
            k = instants[pick % len(instants)] if instants else KNOWN_NOW
            if pick % 3 == 1 and k != KNOWN_NOW:
                k = (datetime.fromisoformat(k) - timedelta(microseconds=1)).isoformat(timespec="microseconds")
            elif pick % 3 == 2 and k != KNOWN_NOW:
                k = f"{k[:10]}T{pick % 24:02d}:30:00.000000"
            ks.append(k)
        for (pick, edge, after), k in zip(picks, ks[1:]):
            base = date.fromisoformat(k[:10] if k != KNOWN_NOW else "2019-06-01")
            for d in {base + timedelta(days=(edge if after else -edge) + shift) for shift in (-1, 0, 1)}:
                day = d.isoformat()
                got = of_grants(totals_at(app.db, list(MUNICIPALITIES), [day], k)[day])
                assert got == counted_totals(app.db, list(MUNICIPALITIES), day, k), (day, k)
        days = sorted({_day(p % (3 * 365)) for p, _e, _a in picks})
        for k in ks:
            together = totals_at(app.db, list(MUNICIPALITIES), days, k)
            for day in days:
                assert of_grants(together[day]) == counted_totals(app.db, list(MUNICIPALITIES), day, k), (day, k)
