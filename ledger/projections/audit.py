"""The auditors' read model: what the audit of add-ons against granted hours needs, as now known.

Unlike the timeline this is not bitemporal: an audit judges the history as it is known today.
Its tables hold per-entity facts from several aggregates (grants, orders, deliveries, invoice
lines, price versions, invoice runs) and the findings that a single citizen's or offer's facts
determine on their own:

* `au_cuts`: every date on which a citizen's total granted weekly minutes in one FSIII code go
  down (a re-assessment, correction or end), with the grant events that made it. Whether a cut
  is a *substitution signal* depends on orders too and on the configurable window, so that join
  is made at query time (audit_queries.py); the projection stays independent of settings.
* `au_prices`: every catalogue price version with the days it was in force (until the next
  version or retirement), each band's price and that band's full cost (None where the version
  does not state it: docs/adr/0027), and whether a band's price is below its band's cost.
* `au_revenue`: what invoice lines sold at each price version (provenance price ref), less credits.

Everything is read and written by primary key (the engine's contract). A citizen's grants live in
the `data` of their au_citizens row. The segments, cuts and citizen row depend only on the grants as they stand, so
they are a fold: grant events change the grants in memory, and at the end of the batch (in a
rebuild: once, at the end) each touched citizen's segments and cuts are recomputed and only the
rows that changed are rewritten.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from typing import Any

import orjson

from ledger.domain.pricing import band_costs
from ledger.projections.engine import Projection, RawEvent, Table, View

OPEN_DATE = "9999-12-31"

OWNERS = Table("au_owners", {"aggregate_id": "TEXT", "citizen_id": "TEXT"}, ("aggregate_id",))
GRANTS = Table(
    "au_grants",
    {"citizen_id": "TEXT", "grant_id": "TEXT", "valid_from": "TEXT", "valid_to": "TEXT", "municipality": "INTEGER",
     "fsiii": "TEXT", "section": "TEXT", "weekly_minutes": "INTEGER", "ref": "TEXT"},
    ("citizen_id", "grant_id", "valid_from"),
    indexes=(("municipality", "valid_from"),),
)
CUTS = Table(
    "au_cuts",
    {"citizen_id": "TEXT", "fsiii": "TEXT", "cut_on": "TEXT", "cut_day": "INTEGER", "municipality": "INTEGER",
     "minutes_before": "INTEGER", "minutes_after": "INTEGER", "grant_refs": "TEXT"},
    ("citizen_id", "fsiii", "cut_on"),
    indexes=(("municipality", "cut_on"),),
)
# One row per citizen with grants: what the queries read, and (`data`, JSON) the citizen's grants
# with the segment and cut rows last written for them, which the next grant event starts from.
CITIZENS = Table(
    "au_citizens",
    {"citizen_id": "TEXT", "municipality": "INTEGER", "first_grant_on": "TEXT", "start_minutes": "INTEGER",
     "data": "TEXT"},
    ("citizen_id",),
    indexes=(("municipality",),),
)
ORDERS = Table(
    "au_orders",
    {"order_id": "TEXT", "municipality": "INTEGER", "citizen_id": "TEXT", "offer_id": "TEXT", "offer_kind": "TEXT",
     "fsiii": "TEXT", "kind": "TEXT", "start": "TEXT", "start_day": "INTEGER", "end_on": "TEXT",
     "cancelled_from": "TEXT", "ran": "INTEGER", "vat_class": "TEXT", "price_ref": "TEXT", "ref": "TEXT",
     "deliveries": "INTEGER", "delivered_minutes": "BIGINT", "missed": "INTEGER"},
    ("order_id",),
    indexes=(("municipality", "start"), ("citizen_id", "fsiii")),
)
DELIVERIES = Table(
    "au_deliveries",
    {"delivery_id": "TEXT", "municipality": "INTEGER", "order_id": "TEXT", "citizen_id": "TEXT", "offer_id": "TEXT",
     "date": "TEXT", "month": "TEXT", "delivered": "INTEGER", "klippekort": "INTEGER", "withdrawn": "TEXT",
     "minutes": "INTEGER", "position": "BIGINT", "ref": "TEXT"},
    ("delivery_id",),
    indexes=(("municipality", "month"),),
    ordinal=("position",),  # compared with au_invoice_runs.position only
)
LINES = Table(
    "au_invoice_lines",
    {"invoice_number": "TEXT", "line_no": "INTEGER", "municipality": "INTEGER", "citizen_id": "TEXT", "month": "TEXT",
     "kind": "TEXT", "delivery_id": "TEXT", "order_id": "TEXT", "offer_id": "TEXT", "service_date": "TEXT",
     "price_ref": "TEXT", "net": "BIGINT", "vat": "BIGINT", "gross": "BIGINT", "credit_note": "TEXT", "ref": "TEXT"},
    ("invoice_number", "line_no"),
    indexes=(("municipality", "month"), ("delivery_id",), ("order_id",)),
)
RUNS = Table("au_invoice_runs", {"municipality": "INTEGER", "month": "TEXT", "position": "BIGINT", "ref": "TEXT"},
             ("municipality", "month", "position"), ordinal=("position",))
CATALOGUE = Table("au_offer_state", {"municipality": "INTEGER", "offer_id": "TEXT", "data": "TEXT"},
                  ("municipality", "offer_id"))
PRICES = Table(
    "au_prices",
    {"price_ref": "TEXT", "municipality": "INTEGER", "offer_id": "TEXT", "name": "TEXT", "kind": "TEXT",
     "unit": "TEXT", "fsiii": "TEXT", "vat_class": "TEXT", "status": "TEXT", "effective": "TEXT",
     "valid_from": "TEXT", "valid_to": "TEXT", "price_weekday_day": "BIGINT", "price_evening": "BIGINT",
     "price_weekend": "BIGINT", "min_price": "BIGINT", "cost_weekday_day": "BIGINT", "cost_evening": "BIGINT",
     "cost_weekend": "BIGINT", "cost_basis": "TEXT", "below_cost": "INTEGER", "retired_from": "TEXT",
     "replaced_by": "TEXT"},
    ("price_ref",),
    indexes=(("municipality", "offer_id"),),
)
REVENUE = Table(
    "au_revenue",
    {"price_ref": "TEXT", "lines": "INTEGER", "net": "BIGINT", "vat": "BIGINT", "gross": "BIGINT",
     "credited_lines": "INTEGER", "credited_net": "BIGINT", "credited_vat": "BIGINT", "credited_gross": "BIGINT"},
    ("price_ref",),
)
SCHEMES = Table("au_schemes", {"municipality": "INTEGER", "name": "TEXT", "windows": "TEXT"}, ("municipality",))
# The evaluation's granted services as changes, summed over a municipality's citizens of each
# starting grant band, one row per municipality and year: `days` (JSON, band -> day -> [citizens,
# minutes]): on that day `citizens` citizens begin (+) or stop (-) holding a grant and the weekly
# minutes granted change by `minutes`; `months` the same summed by month. Summed from the start up
# to a month they give the figures on its last day (with `days`, on any day) without reading a
# grant row (audit_queries.monthly_grants). A row whose changes all net out is deleted. By year:
# a row per band and day was ~30 % more rows at national size, a row per band and month 0.13 rows
# per event of the network trial (its rows per event past 2).
EVAL_YEARS = Table(
    "au_eval_years",
    {"municipality": "INTEGER", "year": "TEXT", "months": "TEXT", "days": "TEXT"},
    ("municipality", "year"),
)


@lru_cache(maxsize=1 << 16)  # pure, and called with the same few dates over and over
def _next_day(d: str) -> str:
    return OPEN_DATE if d >= OPEN_DATE else (date.fromisoformat(d) + timedelta(days=1)).isoformat()


def _ref(e: RawEvent) -> str:
    return f"{e.originator_id}:{e.originator_version}"


def _upsert(history: list[list[Any]], entry: list[Any]) -> list[list[Any]]:
    return sorted([h for h in history if h[0] != entry[0]] + [entry], key=lambda h: h[0])


# -- pure computations on one citizen's grants --------------------------------------------


def grant_value(g: dict[str, Any], day: str) -> tuple[int, str | None]:
    """(weekly minutes, the ref of the event that set them) of one grant on `day`."""
    if day < g["from"] or (g["to"] is not None and day > g["to"]):
        return 0, None
    value, ref = 0, None
    for eff, weekly, r in g["changes"]:
        if eff <= day:
            value, ref = weekly, r
    return value, ref


def grant_segments(g: dict[str, Any]) -> list[tuple[str, str, int, str]]:
    """(valid_from, valid_to exclusive, weekly minutes, ref) of one grant, zero amounts left out."""
    cap = _next_day(g["to"]) if g["to"] else OPEN_DATE
    out = []
    changes = g["changes"]
    for i, (eff, weekly, ref) in enumerate(changes):
        a = max(eff, g["from"])
        b = min(changes[i + 1][0], cap) if i + 1 < len(changes) else cap
        if a < b and weekly > 0:
            out.append((a, b, weekly, ref))
    return out


def cuts(grants: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every (FSIII code, date) where the citizen's total granted weekly minutes in that code are
    lower than the day before, with the grant events whose change makes up the cut.

    A grant's amount changes only on the days listed (its first day, its changes, the day after
    its last), so on the day before a listed day it is what it was on the listed day before
    (none: 0); each grant's amount is looked up once per day listed (round 7: it was twice,
    the day before parsed and formatted each time)."""
    by_code: dict[str, list[dict[str, Any]]] = {}
    for _gid, g in sorted(grants.items()):
        by_code.setdefault(g["fsiii"], []).append(g)
    found = []
    for code, members in sorted(by_code.items()):
        days: set[str] = set()
        for g in members:
            days.add(g["from"])
            days.update(c[0] for c in g["changes"])
            if g["to"] is not None:
                days.add(_next_day(g["to"]))
        amounts = [0] * len(members)
        for day in sorted(days):
            if day >= OPEN_DATE:
                break
            before = after = 0
            refs = []
            for i, g in enumerate(members):
                was, (now, _ref) = amounts[i], grant_value(g, day)
                amounts[i] = now
                before += was
                after += now
                if was != now:
                    refs.append(_cause(g, day))
            if after < before:
                found.append({"fsiii": code, "cut_on": day, "minutes_before": before, "minutes_after": after,
                              "grant_refs": sorted(set(refs))})
    return found


def _cause(g: dict[str, Any], day: str) -> str:
    """The event that changed a grant's amount on `day`: a change dated that day, else the end
    (the event that set the last day: GrantEnded, or the award's own valid_to), else the award."""
    for eff, _weekly, ref in g["changes"]:
        if eff == day:
            return ref
    if g["to"] is not None and day == _next_day(g["to"]):
        return g["end_ref"] or g["award_ref"]
    return g["award_ref"]


def total_on(grants: dict[str, dict[str, Any]], day: str) -> int:
    return sum(grant_value(g, day)[0] for g in grants.values())


START_BANDS = (("<60", 0, 60), ("60-119", 60, 120), ("120-239", 120, 240), ("240+", 240, None))


def band_of(minutes: int) -> str:
    """The starting grant band of a citizen granted `minutes` weekly minutes on their first grant's date."""
    for label, low, high in START_BANDS:
        if minutes >= low and (high is None or minutes < high):
            return label
    return START_BANDS[0][0]


def grant_deltas(segs: dict[str, dict[str, Any]], band: str | None) -> dict[tuple[int, str, str], list[int]]:
    """One citizen's share of au_eval_years: (municipality, band, day) -> [citizens, minutes].
    Each grant row adds its minutes from valid_from to valid_to; the citizen counts once on each
    day covered by any of them (the rows merged into runs)."""
    out: dict[tuple[int, str, str], list[int]] = {}
    if band is None or not segs:
        return out

    def add(m: int, day: str, citizens: int, minutes: int) -> None:
        if day >= OPEN_DATE:
            return  # never reached
        d = out.setdefault((m, band, day), [0, 0])
        d[0] += citizens
        d[1] += minutes

    runs = sorted((r["municipality"], r["valid_from"], r["valid_to"]) for r in segs.values())
    for r in segs.values():
        add(r["municipality"], r["valid_from"], 0, r["weekly_minutes"])
        add(r["municipality"], r["valid_to"], 0, -r["weekly_minutes"])
    m, start, end = runs[0]
    for m2, a, b in runs[1:]:
        if m2 != m or a > end:
            add(m, start, 1, 0)
            add(m, end, -1, 0)
            m, start, end = m2, a, b
        else:
            end = max(end, b)
    add(m, start, 1, 0)
    add(m, end, -1, 0)
    return {k: v for k, v in out.items() if v != [0, 0]}


# -- price versions -----------------------------------------------------------------------


def price_rows(m: int, offer_id: str, st: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One row per price version ever recorded for the offer: the versions in force (each until
    the next one or the retirement) and the versions replaced by a later one with the same date
    (in force on no day)."""
    current = st["versions"]  # [eff, vat, prices, cost, ref] in date order, one per date
    in_force = {v[4] for v in current}
    retired = st["retired"]
    rows = {}
    for ref, (eff, vat, prices, cost) in st["all"].items():
        if ref in in_force:
            i = next(i for i, v in enumerate(current) if v[4] == ref)
            end = current[i + 1][0] if i + 1 < len(current) else OPEN_DATE
            if retired is not None:
                end = min(end, retired)
            start, end = eff, max(end, eff)
            status, replaced_by = "in_force", None
        else:
            start = end = eff
            status = "replaced"
            replaced_by = next((v[4] for v in current if v[0] == eff), None)
        costs = band_costs(cost)
        rows[ref] = {"price_ref": ref, "municipality": m, "offer_id": offer_id, "name": st["name"], "kind": st["kind"],
                     "unit": st["unit"], "fsiii": st["fsiii"], "vat_class": vat, "status": status, "effective": eff,
                     "valid_from": start, "valid_to": None if end >= OPEN_DATE else end,
                     "price_weekday_day": prices["weekday_day"], "price_evening": prices["evening"],
                     "price_weekend": prices["weekend"], "min_price": min(prices.values()),
                     "cost_weekday_day": costs["weekday_day"], "cost_evening": costs["evening"],
                     "cost_weekend": costs["weekend"],
                     "cost_basis": orjson.dumps(cost, option=orjson.OPT_SORT_KEYS).decode(),
                     "below_cost": int(any(c is not None and prices[b] < c for b, c in costs.items())),
                     "retired_from": retired,
                     "replaced_by": replaced_by}
    return rows


# -- the projection -----------------------------------------------------------------------


class AuditProjection(Projection):
    name = "audit"
    # 3: the citizen's grant state moved into au_citizens (no au_grant_state).
    # 4: au_prices holds each band's full cost (cost_weekday_day, ...) for one cost_total.
    # 5: au_eval_years (the evaluation's grant changes by starting band and day).
    version = 5
    rebuild_cost = 1.5
    # Every row belongs to one municipality's aggregates (an order, its deliveries, a catalogue
    # and the invoice lines that sold from it share one): a parallel rebuild folds each apart.
    partition_by = "municipality"
    tables = (OWNERS, GRANTS, CUTS, CITIZENS, ORDERS, DELIVERIES, LINES, RUNS, CATALOGUE, PRICES,
              REVENUE, SCHEMES, EVAL_YEARS)

    # owners of aggregates whose later events do not name the citizen --------------------
    def on_AssessmentOpened(self, e: RawEvent, view: View) -> None:
        view.put(OWNERS, {"aggregate_id": e.originator_id, "citizen_id": e.state["citizen_id"]})

    on_AccountOpened = on_AssessmentOpened

    def _citizen(self, view: View, aggregate_id: str) -> str:
        row = view.get(OWNERS, aggregate_id)
        assert row is not None, f"{aggregate_id} was opened (naming its citizen) before its other events"
        return row["citizen_id"]

    # schemes ---------------------------------------------------------------------------
    def on_SchemeEstablished(self, e: RawEvent, view: View) -> None:
        view.put(SCHEMES, {"municipality": e.state["municipality"], "name": e.state["name"],
                           "windows": orjson.dumps([[e.state["window_start"], e.state["window_end"]]]).decode()})

    def on_SchemeWindowOpened(self, e: RawEvent, view: View) -> None:
        self._windows(e, view, lambda ws: sorted([*ws, [e.state["window_start"], e.state["window_end"]]]))

    def on_SchemeWindowChanged(self, e: RawEvent, view: View) -> None:
        start, end = e.state["window_start"], e.state["window_end"]
        self._windows(e, view, lambda ws: [[a, end if a == start else b] for a, b in ws])

    def _windows(self, e: RawEvent, view: View, change: Any) -> None:
        row = view.get(SCHEMES, e.state["municipality"])
        assert row is not None, "windows change on an established scheme"
        row["windows"] = orjson.dumps(change(orjson.loads(row["windows"]))).decode()
        view.put(SCHEMES, row)

    # grants ----------------------------------------------------------------------------
    def start_batch(self, view: View) -> None:
        # citizen -> (municipality, grants, state) changed in this batch, refreshed in end_batch
        self._touched: dict[str, tuple[int, dict[str, Any], dict[str, Any]]] = {}

    def end_batch(self, view: View) -> None:
        years: dict[tuple[int, str], dict[str, dict[str, list[int]]]] = {}  # the batch's evaluation changes
        for citizen, (m, grants, st) in self._touched.items():
            self._refresh(view, citizen, m, grants, st, years)
        _add_years(view, years)
        self._touched = {}

    def _grants(self, view: View, citizen: str) -> tuple[dict[str, Any], dict[str, Any]]:
        touched = self._touched.get(citizen)
        if touched is not None:
            return touched[1], touched[2]
        row = view.get(CITIZENS, citizen)
        if row is None:
            return {}, {"grants": {}, "segs": {}, "cuts": {}}
        st = orjson.loads(row["data"])
        return st["grants"], st

    def _changed(self, citizen: str, m: int, grants: dict[str, Any], st: dict[str, Any]) -> None:
        self._touched[citizen] = (m, grants, st)

    def on_GrantAwarded(self, e: RawEvent, view: View) -> None:
        s = e.state
        citizen = self._citizen(view, e.originator_id)
        grants, st = self._grants(view, citizen)
        grants[s["grant_id"]] = {"fsiii": s["fsiii"], "section": s["section"], "from": s["valid_from"],
                                 "to": s["valid_to"], "award_ref": _ref(e), "end_ref": None,
                                 "changes": [[s["valid_from"], s["amount"]["weekly_minutes"], _ref(e)]]}
        self._changed(citizen, s["municipality"], grants, st)

    def _grant_change(self, e: RawEvent, view: View) -> None:
        citizen = self._citizen(view, e.originator_id)
        grants, st = self._grants(view, citizen)
        g = grants[e.state["grant_id"]]
        g["changes"] = _upsert(g["changes"], [e.state["effective"], e.state["amount"]["weekly_minutes"], _ref(e)])
        self._changed(citizen, e.state["municipality"], grants, st)

    on_GrantReassessed = _grant_change
    on_GrantCorrected = _grant_change

    def on_GrantEnded(self, e: RawEvent, view: View) -> None:
        citizen = self._citizen(view, e.originator_id)
        grants, st = self._grants(view, citizen)
        g = grants[e.state["grant_id"]]
        g["to"] = e.state["effective"]
        g["end_ref"] = _ref(e)
        self._changed(citizen, e.state["municipality"], grants, st)

    def _refresh(self, view: View, citizen: str, m: int, grants: dict[str, Any], st: dict[str, Any],
                 years: dict[tuple[int, str], dict[str, dict[str, list[int]]]]) -> None:
        segs: dict[str, dict[str, Any]] = {}
        for gid, g in sorted(grants.items()):
            for a, b, weekly, ref in grant_segments(g):
                segs[f"{gid}|{a}"] = {"citizen_id": citizen, "grant_id": gid, "valid_from": a, "valid_to": b,
                                      "municipality": m, "fsiii": g["fsiii"], "section": g["section"],
                                      "weekly_minutes": weekly, "ref": ref}
        found: dict[str, dict[str, Any]] = {}
        for c in cuts(grants):
            found[f"{c['fsiii']}|{c['cut_on']}"] = {
                "citizen_id": citizen, "fsiii": c["fsiii"], "cut_on": c["cut_on"],
                "cut_day": date.fromisoformat(c["cut_on"]).toordinal(), "municipality": m,
                "minutes_before": c["minutes_before"], "minutes_after": c["minutes_after"],
                "grant_refs": orjson.dumps(c["grant_refs"]).decode()}
        first = min(g["from"] for g in grants.values())
        citizen_row = {"citizen_id": citizen, "municipality": m, "first_grant_on": first,
                       "start_minutes": total_on(grants, first)}
        band = band_of(citizen_row["start_minutes"])
        _moved(years, grant_deltas(st["segs"], st.get("band")), grant_deltas(segs, band))
        _replace(view, GRANTS, st["segs"], segs)
        _replace(view, CUTS, st["cuts"], found)
        st.update(grants=grants, segs=segs, cuts=found, band=band)
        view.put(CITIZENS, {**citizen_row, "data": orjson.dumps(st).decode()})

    # orders ----------------------------------------------------------------------------
    def on_OrderPlaced(self, e: RawEvent, view: View) -> None:
        s = e.state
        quoted = s.get("quoted") or {}
        view.put(ORDERS, {"order_id": e.originator_id, "municipality": s["municipality"], "citizen_id": s["citizen_id"],
                          "offer_id": s["offer_id"], "offer_kind": s["offer_kind"], "fsiii": s["fsiii"],
                          "kind": s["kind"], "start": s["start"], "start_day": date.fromisoformat(s["start"]).toordinal(),
                          "end_on": s["end"], "cancelled_from": None, "ran": 1, "vat_class": quoted.get("vat_class"),
                          "price_ref": quoted.get("price_ref"), "ref": _ref(e), "deliveries": 0,
                          "delivered_minutes": 0, "missed": 0})

    def on_OrderChanged(self, e: RawEvent, view: View) -> None:
        row = view.get(ORDERS, e.originator_id)
        assert row is not None, "an order is placed before it changes"
        row["end_on"] = e.state["end"]
        view.put(ORDERS, row)

    def on_OrderCancelled(self, e: RawEvent, view: View) -> None:
        row = view.get(ORDERS, e.originator_id)
        assert row is not None, "an order is placed before it is cancelled"
        row["cancelled_from"] = e.state["effective"]
        # Cancelled from its first day or earlier: it never ran, so nobody bought anything.
        row["ran"] = int(e.state["effective"] > row["start"])
        view.put(ORDERS, row)

    # deliveries ------------------------------------------------------------------------
    def on_DeliveryRecorded(self, e: RawEvent, view: View) -> None:
        self._delivery(e, view, delivered=True)

    def on_VisitMissed(self, e: RawEvent, view: View) -> None:
        self._delivery(e, view, delivered=False)

    def _delivery(self, e: RawEvent, view: View, delivered: bool) -> None:
        s = e.state
        minutes = s.get("minutes", 0) if delivered else 0
        view.put(DELIVERIES, {"delivery_id": e.originator_id, "municipality": s["municipality"],
                              "order_id": s["order_id"], "citizen_id": s["citizen_id"], "offer_id": s["offer_id"],
                              "date": s["effective"], "month": s["effective"][:7], "delivered": int(delivered),
                              "klippekort": int(bool(s.get("klippekort"))), "withdrawn": None, "minutes": minutes,
                              "position": e.position, "ref": _ref(e)})
        order = view.get(ORDERS, s["order_id"])
        if order is not None:
            if delivered:
                order["deliveries"] += 1
                order["delivered_minutes"] += minutes
            else:
                order["missed"] += 1
            view.put(ORDERS, order)

    def _withdrawn(self, e: RawEvent, view: View, how: str) -> None:
        row = view.get(DELIVERIES, e.originator_id)
        assert row is not None, "a delivery is recorded before it is withdrawn"
        row["withdrawn"] = how
        view.put(DELIVERIES, row)
        order = view.get(ORDERS, row["order_id"])
        if order is not None:
            order["deliveries"] -= 1
            order["delivered_minutes"] -= row["minutes"]
            view.put(ORDERS, order)

    def on_DeliveryCancelled(self, e: RawEvent, view: View) -> None:
        self._withdrawn(e, view, "cancelled")

    def on_DeliveryDisputed(self, e: RawEvent, view: View) -> None:
        self._withdrawn(e, view, "disputed")

    # invoices --------------------------------------------------------------------------
    def on_InvoiceRunCompleted(self, e: RawEvent, view: View) -> None:
        view.put(RUNS, {"municipality": e.state["municipality"], "month": e.state["month"], "position": e.position,
                        "ref": _ref(e)})

    def on_InvoiceIssued(self, e: RawEvent, view: View) -> None:
        s = e.state
        citizen = self._citizen(view, e.originator_id)
        for line in s["lines"]:
            prov = line.get("provenance") or {}
            price_ref = prov.get("price")
            view.put(LINES, {"invoice_number": s["number"], "line_no": line["line_no"], "municipality": s["municipality"],
                             "citizen_id": citizen, "month": s["month"], "kind": line["kind"],
                             "delivery_id": line.get("delivery_id"), "order_id": line.get("order_id"),
                             "offer_id": line.get("offer_id"), "service_date": line.get("date"), "price_ref": price_ref,
                             "net": line["net"], "vat": line["vat"], "gross": line["gross"], "credit_note": None,
                             "ref": _ref(e)})
            if price_ref:
                rev = view.get(REVENUE, price_ref) or _no_revenue(price_ref)
                rev["lines"] += 1
                for k in ("net", "vat", "gross"):
                    rev[k] += line[k]
                view.put(REVENUE, rev)

    def on_CreditNoteIssued(self, e: RawEvent, view: View) -> None:
        s = e.state
        for credit in s["lines"]:
            line = view.get(LINES, s["invoice_number"], credit["invoice_line_no"])
            if line is None:  # pragma: no cover - a credit note always names an issued line
                continue
            line["credit_note"] = s["number"]
            view.put(LINES, line)
            if line["price_ref"]:
                rev = view.get(REVENUE, line["price_ref"]) or _no_revenue(line["price_ref"])
                rev["credited_lines"] += 1
                for k in ("net", "vat", "gross"):
                    rev[f"credited_{k}"] += credit[k]
                view.put(REVENUE, rev)

    # catalogue -------------------------------------------------------------------------
    def on_ItemAdded(self, e: RawEvent, view: View) -> None:
        self._added(e, view, e.state["item_id"], "item", e.state["unit"])

    def on_PackageAdded(self, e: RawEvent, view: View) -> None:
        self._added(e, view, e.state["package_id"], "package", "package")

    def _added(self, e: RawEvent, view: View, offer_id: str, kind: str, unit: str) -> None:
        s = e.state
        v = [s["effective"], s["vat_class"], s["prices"], s["cost_basis"], _ref(e)]
        st = {"name": s["name"], "kind": kind, "unit": unit, "fsiii": s["fsiii"], "retired": None, "versions": [v],
              "all": {v[4]: v[:4]}, "rows": {}}
        self._offer(view, s["municipality"], offer_id, st)

    def _offer_state(self, e: RawEvent, view: View) -> dict[str, Any]:
        row = view.get(CATALOGUE, e.state["municipality"], e.state["offer_id"])
        assert row is not None, "a price changes on an offer in the catalogue"
        return orjson.loads(row["data"])

    def on_PriceChanged(self, e: RawEvent, view: View) -> None:
        s = e.state
        st = self._offer_state(e, view)
        v = [s["effective"], s["vat_class"], s["prices"], s["cost_basis"], _ref(e)]
        st["versions"] = _upsert(st["versions"], v)
        st["all"][v[4]] = v[:4]
        self._offer(view, s["municipality"], s["offer_id"], st)

    # A corrected version replaces the one of the same date, as a price change on that date does.
    on_PriceVersionCorrected = on_PriceChanged

    def on_OfferRetired(self, e: RawEvent, view: View) -> None:
        st = self._offer_state(e, view)
        st["retired"] = e.state["effective"]
        self._offer(view, e.state["municipality"], e.state["offer_id"], st)

    def _offer(self, view: View, m: int, offer_id: str, st: dict[str, Any]) -> None:
        rows = price_rows(m, offer_id, st)
        _replace(view, PRICES, st["rows"], rows)
        st["rows"] = rows
        view.put(CATALOGUE, {"municipality": m, "offer_id": offer_id, "data": orjson.dumps(st).decode()})


def _no_revenue(price_ref: str) -> dict[str, Any]:
    return {"price_ref": price_ref, "lines": 0, "net": 0, "vat": 0, "gross": 0, "credited_lines": 0,
            "credited_net": 0, "credited_vat": 0, "credited_gross": 0}


def _moved(years: dict[tuple[int, str], dict[str, dict[str, list[int]]]], old: dict[tuple[int, str, str], list[int]],
           new: dict[tuple[int, str, str], list[int]]) -> None:
    """Add the move of one citizen's share of au_eval_years from `old` to `new` to `years`
    ((municipality, year) -> band -> day -> [citizens, minutes])."""
    def add(key: tuple[int, str, str], citizens: int, minutes: int) -> None:
        m, band, day = key
        d = years.setdefault((m, day[:4]), {}).setdefault(band, {}).setdefault(day, [0, 0])
        d[0] += citizens
        d[1] += minutes

    for key, now in new.items():  # (a rebuild: `old` is empty)
        was = old.get(key)
        if was is None:
            add(key, now[0], now[1])
        elif was != now:
            add(key, now[0] - was[0], now[1] - was[1])
    for key, was in old.items():
        if key not in new:
            add(key, -was[0], -was[1])


def _add_years(view: View, years: dict[tuple[int, str], dict[str, dict[str, list[int]]]]) -> None:
    """Apply a batch's changes to au_eval_years: each row read and written once."""
    for (m, year), bands in years.items():
        row = view.get(EVAL_YEARS, m, year)
        days: dict[str, dict[str, list[int]]] = orjson.loads(row["days"]) if row else {}
        for band, changes in bands.items():
            of_band = days.setdefault(band, {})
            for day, (dc, dm) in changes.items():
                d = of_band.setdefault(day, [0, 0])
                d[0] += dc
                d[1] += dm
                if d == [0, 0]:
                    del of_band[day]
            if not of_band:
                del days[band]
        if not days:
            view.delete(EVAL_YEARS, m, year)
            continue
        months: dict[str, dict[str, list[int]]] = {}
        for band, of_band in days.items():
            sums = months.setdefault(band, {})
            for day, (dc, dm) in of_band.items():
                d = sums.setdefault(day[:7], [0, 0])
                d[0] += dc
                d[1] += dm
        option = orjson.OPT_SORT_KEYS
        view.put(EVAL_YEARS, {"municipality": m, "year": year, "months": orjson.dumps(months, option=option).decode(),
                              "days": orjson.dumps(days, option=option).decode()})


def _replace(view: View, table: Table, old: dict[str, dict[str, Any]], new: dict[str, dict[str, Any]]) -> None:
    """Make the rows of one entity `new` where they were `old` (both by a key of our own): delete
    what went, write only what changed."""
    for key, row in old.items():
        if key not in new:
            view.delete(table, *(row[c] for c in table.primary_key))
    for key, row in new.items():
        if old.get(key) != row:
            view.put(table, dict(row))
