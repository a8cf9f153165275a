"""The trial timeline as bitemporal tables: what held on date D, as the records showed at instant K.

Every fact row carries effective validity [valid_from, valid_to) (ISO dates, valid_to exclusive,
`OPEN_DATE` when no end is known) and recorded validity [recorded_from, recorded_to) (recorded
instants as `recorded_key` text, `OPEN_RECORDED` while the row is still believed). A reader at
(D, K) takes the rows with valid_from <= D < valid_to and recorded_from <= K < recorded_to; no
query ever replays the log (see timeline_queries.py).

How rows change: each entity (a scheme, an offer, a grant, an order, a delivery) keeps a small
state row in `tl_state` with its effective history as known so far and the rows currently
believed. An event recorded at T recomputes the entity's effective segments; rows no longer
wanted are closed (recorded_to = T) and new ones inserted (recorded_from = T). A back-dated
re-assessment therefore leaves the rows a report written before T saw untouched.

Rows are per aggregate on purpose. Recorded time runs forwards within one aggregate but not across
aggregates (imported history states its own instants), so anything that combines facts of two
aggregates (grants with the scheme's covered sections, deliveries with prices, buyers with
grants) is combined at query time, where both sides are filtered at the same K. That is what makes
"live read at K" equal "rebuild of the events recorded by K" for every K. Totals over all citizens
(citizens with active grants, per FSIII code and under sets of sections) are the one thing
pre-summed, per municipality (`TOTALS`, ADR 0022 round 6): each grant event adds the change of
its one citizen's share, dated and recorded, and a read at (D, K) sums the changes recorded by K
and dated by D. A citizen's grants are one aggregate's, so that sum is the same count of the
grant rows believed at K that the totals were before; the rows are a few per municipality and
quarter, however many events.

How a reader finds the rows on (D, K) without scanning history: every row has a span class and a
start key, one index on (municipality, sclass, skey). A row whose effective span is finite has
sclass = c, the smallest c with valid_to - valid_from <= 2**c days (at least MIN_SPAN), and
skey = valid_from: if it covers D it starts in (D - 2**c, D], one bounded index range per class.
Open-ended rows (longer than 2**13 days, or with no end) all "start before D", and every
re-assessment leaves one more of them behind, closed in recorded time; they are found along the
recorded axis instead: sclass = RECORDED + c with c the class of recorded_to - recorded_from (the
top class while still believed) and skey = recorded_from, so a row believed at K was recorded in
(K - 2**c, K]. Either way the rows a reader touches stay close to the rows it needs, however long
the history grows (`stab_arms` in timeline_queries.py builds the ranges).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson

from ledger.domain.pricing import band_costs
from ledger.domain.values import SURVEY_MEASURES as MEASURES
from ledger.projections.engine import Projection, RawEvent, Table, View
from ledger.projections.reader import recorded_key

OPEN_DATE = "9999-12-31"  # valid_to of a fact with no known end
FIRST_DATE = "0001-01-01"  # valid_from of the first scheme rules: the domain applies them to any earlier date
OPEN_RECORDED = "9999-12-31T23:59:59.999999"  # recorded_to of a row still believed
TOP_SPAN = 14  # 2**13 days is 22 years; longer rows (and open-ended ones) share one class
MIN_SPAN = 5  # rows of up to 32 days share one class: fewer index ranges per read, little overscan
RECORDED = 100  # sclass of an open-ended row: RECORDED + its recorded span class

_BITEMPORAL = {"valid_from": "TEXT", "recorded_from": "TEXT", "valid_to": "TEXT", "recorded_to": "TEXT",
               "sclass": "INTEGER", "skey": "TEXT"}
# The interval index of a table read at (D, K) (see the module docstring).
_STABBED = (("municipality", "sclass", "skey"),)

STATE = Table("tl_state", {"kind": "TEXT", "key": "TEXT", "data": "TEXT"}, ("kind", "key"))
WINDOWS = Table(
    "tl_scheme_windows",
    {"municipality": "INTEGER", **_BITEMPORAL, "name": "TEXT", "window_start": "TEXT", "window_end": "TEXT"},
    ("municipality", "valid_from", "recorded_from"),
)
RULES = Table(
    "tl_scheme_rules",
    {"municipality": "INTEGER", **_BITEMPORAL, "sections": "TEXT", "minimum_minutes": "INTEGER",
     "increment_minutes": "INTEGER", "requires_municipal_provider": "INTEGER"},
    ("municipality", "valid_from", "recorded_from"),
)
# Price versions are kept unclipped by retirement (valid_to = the next version's date): billing
# prices a delivery after retirement at the last version (pricing.price_version_on), and the
# catalogue "in force" on D also needs D < retired_from.
OFFERS = Table(
    "tl_offer_versions",
    {"municipality": "INTEGER", "offer_id": "TEXT", **_BITEMPORAL, "kind": "TEXT", "name": "TEXT", "unit": "TEXT",
     "fsiii": "TEXT", "vat_class": "TEXT", "price_weekday_day": "BIGINT", "price_evening": "BIGINT",
     "price_weekend": "BIGINT", "cost_weekday_day": "BIGINT", "cost_evening": "BIGINT", "cost_weekend": "BIGINT",
     "cost_basis": "TEXT", "items": "TEXT", "price_ref": "TEXT", "version_recorded": "TEXT", "retired_from": "TEXT"},
    ("municipality", "offer_id", "valid_from", "recorded_from"),
)
GRANTS = Table(
    "tl_grants",
    {"citizen_id": "TEXT", "grant_id": "TEXT", **_BITEMPORAL, "municipality": "INTEGER", "fsiii": "TEXT",
     "section": "TEXT", "weekly_minutes": "INTEGER", "ref": "TEXT"},
    ("citizen_id", "grant_id", "valid_from", "recorded_from"),
    # The interval index, covering: every column the totals and the series read follows its key,
    # so a read at (D, K) never visits the table (national store: 66k rows on one day; the
    # lookups into the table were half the time of a network read, ADR 0022 amendment).
    indexes=((*_STABBED[0], "recorded_from", "recorded_to", "valid_from", "valid_to", "citizen_id", "fsiii",
              "section", "weekly_minutes"),),
)
ORDERS = Table(
    "tl_orders",
    {"order_id": "TEXT", **_BITEMPORAL, "municipality": "INTEGER", "citizen_id": "TEXT", "offer_id": "TEXT",
     "fsiii": "TEXT", "kind": "TEXT", "every_weeks": "INTEGER", "minutes": "INTEGER"},
    ("order_id", "valid_from", "recorded_from"),
    indexes=_STABBED,
)
# The totals over all citizens (citizens with an active grant per FSIII code and their weekly
# minutes, citizens per set of sections) and the survey answers (responses per round, answers
# per round, measure and score) pre-summed for any (D, K) (ADR 0022, round 6): each grant event's
# change of its citizen's share, and each response, is a set of points (t, a, key, change): from
# recorded instant t on, the key's total on every date D >= a moves by the change. Totals(D, K)
# sums the points with t <= K and a <= D. Points are grouped by their lag a - date(t); within a
# group the sum is a prefix sum along one axis (see `totals` in timeline_queries.py). Rows per
# (municipality, axis, quarter): axis "u" holds each group's points of the quarter's recorded
# dates in (t, a) order with running sums, axis "a" the points of the quarter's effective dates
# summed per date, with running sums; each row starts from the sums of the quarters before it,
# so a read takes one row per axis (and the few of a window, below). Period -1 lists a
# municipality's quarters of the axis, for the catch-up's merges.
TOTALS = Table(
    "tl_totals",
    {"municipality": "INTEGER", "axis": "TEXT", "period": "INTEGER", "data": "TEXT"},
    ("municipality", "axis", "period"),
)

# The effective days a timeline can be read on (the range the totals once were pre-summed over;
# kept so that what "as of" accepts does not change): 1990-01-01 and 2**15 days on.
FENWICK_BASE = date(1990, 1, 1).toordinal()
FENWICK_SIZE = 1 << 15

# An order placed is never un-placed (a cancellation is its own fact), so one row per order with
# the instant it became known is all "orders placed in a month" needs.
PLACED = Table(
    "tl_orders_placed",
    {"order_id": "TEXT", "municipality": "INTEGER", "citizen_id": "TEXT", "offer_id": "TEXT", "fsiii": "TEXT",
     "kind": "TEXT", "start": "TEXT", "month": "TEXT", "recorded_from": "TEXT", "ref": "TEXT"},
    ("order_id",),
    indexes=(("municipality", "month"),),
)
# A delivery holds on its date; only what is believed about it changes (withdrawn later).
DELIVERIES = Table(
    "tl_deliveries",
    {"delivery_id": "TEXT", "recorded_from": "TEXT", "recorded_to": "TEXT", "municipality": "INTEGER",
     "month": "TEXT", "date": "TEXT", "order_id": "TEXT", "citizen_id": "TEXT", "offer_id": "TEXT", "band": "TEXT",
     "minutes": "INTEGER", "units": "INTEGER", "klippekort": "INTEGER", "status": "TEXT"},
    ("delivery_id", "recorded_from"),
    indexes=(("municipality", "month"),),
)

# A citizen's provider on each date (who may buy: the municipal provider, where the rules require
# it). A choice is never revised, only followed by another (a later one from the same date wins,
# as in Citizen.provider_on), so one row per choice with the instant it was recorded serves every
# K: each ProviderChosen, and the registration's provider when it is not the municipal one (most
# citizens register with it and never change: a citizen with no row has the municipal provider
# from registration on, and no delivery precedes a registration), ordered by version.
PROVIDERS = Table(
    "tl_providers",
    {"citizen_id": "TEXT", "version": "INTEGER", "municipality": "INTEGER", "effective": "TEXT", "provider": "TEXT",
     "recorded_from": "TEXT"},
    ("citizen_id", "version"),
)


# -- dates and spans ----------------------------------------------------------------------


@lru_cache(maxsize=1 << 16)  # pure, and called with the same few dates over and over
def next_day(iso_date: str) -> str:
    if iso_date >= OPEN_DATE:
        return OPEN_DATE
    return (date.fromisoformat(iso_date) + timedelta(days=1)).isoformat()


@lru_cache(maxsize=1 << 16)  # pure, and called with the same few dates over and over
def span_class(valid_from: str, valid_to: str) -> int:
    if valid_to >= OPEN_DATE or valid_from <= FIRST_DATE:
        return TOP_SPAN
    days = (date.fromisoformat(valid_to) - date.fromisoformat(valid_from)).days
    return min(max(max(days - 1, 0).bit_length(), MIN_SPAN), TOP_SPAN)


@lru_cache(maxsize=1 << 16)  # pure, and called with the same few dates over and over
def recorded_span_class(recorded_from: str, recorded_to: str) -> int:
    if recorded_to >= OPEN_RECORDED:
        return TOP_SPAN
    seconds = (datetime.fromisoformat(recorded_to) - datetime.fromisoformat(recorded_from)).total_seconds()
    days = max(-(-int(seconds) // 86_400), 1)
    return min(max((days - 1).bit_length(), MIN_SPAN), TOP_SPAN)


def stab_keys(row: dict[str, Any]) -> dict[str, Any]:
    """The row with its span class and start key set (see the module docstring)."""
    c = span_class(row["valid_from"], row["valid_to"])
    if c < TOP_SPAN:
        row["sclass"], row["skey"] = c, row["valid_from"]
    else:
        row["sclass"] = RECORDED + recorded_span_class(row["recorded_from"], row["recorded_to"])
        row["skey"] = row["recorded_from"]
    return row


def segment(valid_from: str, valid_to: str, **values: Any) -> dict[str, Any]:
    return {"valid_from": valid_from, "valid_to": valid_to, **values}


def upsert_version(history: list[list[Any]], entry: list[Any]) -> list[list[Any]]:
    """A dated change list (first element the effective date): a change on a date already listed
    replaces it, as the aggregates do; the result is in date order."""
    return sorted([h for h in history if h[0] != entry[0]] + [entry], key=lambda h: h[0])


# -- the bitemporal revision --------------------------------------------------------------


_RECORDED_FROM = b',"recorded_from":'


def _signature(seg: dict[str, Any]) -> bytes:
    """A segment's content without its recorded_from, as bytes to compare (without the closing
    brace). Segments are always built with their keys in the same order (and JSON keeps that
    order), so no key sorting is needed. A believed segment is `{**wanted, "recorded_from": at}`:
    its JSON up to that last key is the wanted segment's JSON, so no copy of the dict is made."""
    raw = orjson.dumps(seg)
    if "recorded_from" not in seg:
        return raw[:-1]
    cut = raw.rfind(_RECORDED_FROM)
    if cut > 0 and next(reversed(seg)) == "recorded_from":
        return raw[:cut]
    return orjson.dumps({k: v for k, v in seg.items() if k != "recorded_from"})[:-1]


def revise(view: View, table: Table, keys: dict[str, Any], current: list[dict[str, Any]],
           wanted: list[dict[str, Any]], at: str) -> list[dict[str, Any]]:
    """Make `wanted` the believed rows of one entity from recorded instant `at` on.

    `current` are the rows believed until now (as kept in the entity's state, with their
    recorded_from). Rows in both are left alone; rows no longer wanted are closed at `at`; new
    ones are inserted from `at`. A row recorded at `at` itself and withdrawn at `at` was never
    visible to anyone, so it is deleted rather than closed (that also keeps primary keys unique
    when one aggregate records several events in the same instant). Returns the new `current`.
    """
    if not current:  # a new entity (most deliveries): nothing to compare, nothing to close
        fresh = [{**w, "recorded_from": at} for w in wanted]
        for new in fresh:
            row = {**keys, **new, "recorded_to": OPEN_RECORDED}
            if "sclass" in table.columns:
                stab_keys(row)
            view.put(table, row)
        return fresh
    wanted_sigs = {_signature(w) for w in wanted}
    kept: dict[bytes, dict[str, Any]] = {}
    seg: dict[str, Any] | None
    for seg in current:
        sig = _signature(seg)
        if sig in wanted_sigs:
            kept[sig] = seg
            continue
        row = {**keys, **seg, "recorded_to": at}
        if "sclass" in table.columns:
            stab_keys(row)
        if seg["recorded_from"] >= at:
            view.delete(table, *(row[c] for c in table.primary_key))
        else:
            view.put(table, row)
    out = []
    for w in wanted:
        seg = kept.get(_signature(w))
        if seg is None:
            seg = {**w, "recorded_from": at}
            row = {**keys, **seg, "recorded_to": OPEN_RECORDED}
            if "sclass" in table.columns:
                stab_keys(row)
            view.put(table, row)
        out.append(seg)
    return out


# -- the projection -----------------------------------------------------------------------


class TimelineProjection(Projection):
    name = "timeline"
    # 3: totals counted at query time (no tl_agg_* tables); a citizen's grants kept in the state
    # row of their assessment (no separate assessment -> citizen row). 4: tl_providers (the
    # revenue counts only deliveries the citizen was eligible for, as known at K), and each
    # band's full cost (cost_weekday_day, ...) for one cost_total (docs/adr/0027). Still 4 for
    # the covering interval index of tl_grants (same rows, same round): a store built before it
    # keeps the narrow index until `ledger projections rebuild`. 5: tl_totals (the totals
    # pre-summed for any (D, K), ADR 0022 round 6).
    version = 5
    rebuild_cost = 2.0
    # Every row belongs to one municipality: a parallel rebuild folds each partition apart.
    partition_by = "municipality"
    tables = (STATE, WINDOWS, RULES, OFFERS, GRANTS, ORDERS, PLACED, DELIVERIES, PROVIDERS, TOTALS)

    # batches --------------------------------------------------------------------------
    def start_batch(self, view: View) -> None:
        # Entity states saved in this batch, kept decoded (kind, key) -> state: an entity's later
        # events in the batch use them as they are, and each is encoded and put once, at the end
        # (in a rebuild that fits in memory: once in all).
        self._saved: dict[tuple[str, str], dict[str, Any]] = {}
        # Grants changed in this batch, (assessment, grant) -> (its assessment's state, the
        # (recorded instant, wanted pieces) of each of its events): a grant's revisions are
        # folded in one go before its state is encoded (`_fold_grants`).
        self._pending: dict[tuple[str, str], tuple[dict[str, Any], list[tuple[str, list[Any]]]]] = {}
        # Each assessment's share of the totals as its state stands (`share_steps`), computed
        # from the state when first touched in the batch; and the points of the batch per
        # municipality (t, a, key, citizens, minutes), merged into tl_totals at its end.
        self._shares: dict[str, dict[tuple[int, str], tuple[int, int]]] = {}
        # and each of its grants' pieces (`grant_pieces`) as they stand, assessment -> grant -> pieces:
        # an event changes one grant, so only that one's are made again.
        self._pieces: dict[str, dict[str, list[tuple[str, str, int, str]]]] = {}
        self._points: dict[int, list[tuple[int, int, str, int, int]]] = defaultdict(list)
        self._n_points = 0

    def end_batch(self, view: View) -> None:
        self._put_states(view)
        self._put_totals(view)

    def _put_states(self, view: View) -> None:
        self._fold_grants(view)
        dumps = orjson.dumps
        for (kind, key), data in self._saved.items():
            view.put(STATE, {"kind": kind, "key": key, "data": dumps(data).decode()})
        self._saved = {}
        self._shares = {}  # derived from the states, which are read back from the view as needed
        self._pieces = {}

    def _put_totals(self, view: View) -> None:
        for m, points in self._points.items():
            merge_totals(view, m, points)
        self._points = defaultdict(list)
        self._n_points = 0

    # state rows -----------------------------------------------------------------------
    def _load(self, view: View, kind: str, key: str) -> dict[str, Any] | None:
        saved = self._saved.get((kind, key))
        if saved is not None:
            return saved
        row = view.get(STATE, kind, key)
        return None if row is None else orjson.loads(row["data"])

    def _save(self, view: View, kind: str, key: str, data: dict[str, Any]) -> None:
        self._saved[(kind, key)] = data
        if len(self._saved) >= _STATES_CHUNK:  # decoded states are large: bound them
            self._put_states(view)

    # schemes --------------------------------------------------------------------------
    def on_SchemeEstablished(self, e: RawEvent, view: View) -> None:
        s = e.state
        st = {"name": s["name"], "windows": [[s["window_start"], s["window_end"]]],
              "rules": [[s["window_start"], s["rules"]]], "wsegs": [], "rsegs": []}
        self._scheme(view, s["municipality"], st, e)

    def on_SchemeWindowOpened(self, e: RawEvent, view: View) -> None:
        st = self._load(view, "scheme", str(e.state["municipality"]))
        assert st is not None, "a window is opened on an established scheme"
        st["windows"] = sorted([*st["windows"], [e.state["window_start"], e.state["window_end"]]])
        self._scheme(view, e.state["municipality"], st, e)

    def on_SchemeWindowChanged(self, e: RawEvent, view: View) -> None:
        st = self._load(view, "scheme", str(e.state["municipality"]))
        assert st is not None, "a window is changed on an established scheme"
        start, end = e.state["window_start"], e.state["window_end"]
        st["windows"] = [[a, end if a == start else b] for a, b in st["windows"]]
        self._scheme(view, e.state["municipality"], st, e)

    def on_SchemeRulesChanged(self, e: RawEvent, view: View) -> None:
        st = self._load(view, "scheme", str(e.state["municipality"]))
        assert st is not None, "rules change on an established scheme"
        st["rules"] = upsert_version(st["rules"], [e.state["effective"], e.state["rules"]])
        self._scheme(view, e.state["municipality"], st, e)

    def _scheme(self, view: View, m: int, st: dict[str, Any], e: RawEvent) -> None:
        at = recorded_key(e.recorded)
        windows = [segment(a, next_day(b), name=st["name"], window_start=a, window_end=b) for a, b in st["windows"]]
        rules = []
        for i, (eff, r) in enumerate(st["rules"]):
            start = FIRST_DATE if i == 0 else eff
            end = st["rules"][i + 1][0] if i + 1 < len(st["rules"]) else OPEN_DATE
            rules.append(segment(start, end, sections=",".join(r["sections"]), minimum_minutes=r["minimum_minutes"],
                                 increment_minutes=r["increment_minutes"],
                                 requires_municipal_provider=int(bool(r["requires_municipal_provider"]))))
        keys = {"municipality": m}
        st["wsegs"] = revise(view, WINDOWS, keys, st["wsegs"], windows, at)
        st["rsegs"] = revise(view, RULES, keys, st["rsegs"], rules, at)
        self._save(view, "scheme", str(m), st)

    # catalogue ------------------------------------------------------------------------
    def on_ItemAdded(self, e: RawEvent, view: View) -> None:
        self._offer_added(e, view, e.state["item_id"], "item", e.state["unit"], [])

    def on_PackageAdded(self, e: RawEvent, view: View) -> None:
        self._offer_added(e, view, e.state["package_id"], "package", "package", e.state["items"])

    def _offer_added(self, e: RawEvent, view: View, offer_id: str, kind: str, unit: str, items: list[str]) -> None:
        s = e.state
        st = {"kind": kind, "name": s["name"], "unit": unit, "fsiii": s["fsiii"], "items": items, "retired": None,
              "versions": [self._version(e)], "segs": []}
        self._offer(view, s["municipality"], offer_id, st, e)

    def on_PriceChanged(self, e: RawEvent, view: View) -> None:
        st = self._load(view, "offer", f"{e.state['municipality']}|{e.state['offer_id']}")
        assert st is not None, "a price changes on an offer in the catalogue"
        st["versions"] = upsert_version(st["versions"], self._version(e))
        self._offer(view, e.state["municipality"], e.state["offer_id"], st, e)

    # A corrected version replaces the one of the same date, as a price change on that date does.
    on_PriceVersionCorrected = on_PriceChanged

    def on_OfferRetired(self, e: RawEvent, view: View) -> None:
        st = self._load(view, "offer", f"{e.state['municipality']}|{e.state['offer_id']}")
        assert st is not None, "a retired offer was in the catalogue"
        st["retired"] = e.state["effective"]
        self._offer(view, e.state["municipality"], e.state["offer_id"], st, e)

    @staticmethod
    def _version(e: RawEvent) -> list[Any]:
        s = e.state
        return [s["effective"], s["vat_class"], s["prices"], s["cost_basis"], f"{e.originator_id}:{e.originator_version}",
                recorded_key(e.recorded)]

    def _offer(self, view: View, m: int, offer_id: str, st: dict[str, Any], e: RawEvent) -> None:
        wanted = []
        versions = st["versions"]
        for i, (eff, vat, prices, cost, ref, version_recorded) in enumerate(versions):
            end = versions[i + 1][0] if i + 1 < len(versions) else OPEN_DATE
            wanted.append(segment(
                eff, end, kind=st["kind"], name=st["name"], unit=st["unit"], fsiii=st["fsiii"], vat_class=vat,
                price_weekday_day=prices["weekday_day"], price_evening=prices["evening"],
                price_weekend=prices["weekend"], **{f"cost_{b}": c for b, c in band_costs(cost).items()},
                cost_basis=orjson.dumps(cost, option=orjson.OPT_SORT_KEYS).decode(),
                items=orjson.dumps(st["items"]).decode(), price_ref=ref, version_recorded=version_recorded,
                retired_from=st["retired"]))
        st["segs"] = revise(view, OFFERS, {"municipality": m, "offer_id": offer_id}, st["segs"], wanted,
                            recorded_key(e.recorded))
        self._save(view, "offer", f"{m}|{offer_id}", st)

    # grants ---------------------------------------------------------------------------
    def on_AssessmentOpened(self, e: RawEvent, view: View) -> None:
        # One assessment per citizen (its id derives from the citizen's): the assessment's state
        # row holds the citizen's grants; its later events name only the assessment.
        self._save(view, "assessment", e.originator_id, {"citizen": e.state["citizen_id"], "m": None, "grants": {}})

    def _assessment(self, view: View, e: RawEvent) -> dict[str, Any]:
        st = self._load(view, "assessment", e.originator_id)
        assert st is not None, f"assessment {e.originator_id} was opened before its grants"
        if st["m"] is None:  # the municipality of the citizen's first grant
            st["m"] = e.state["municipality"]
        if e.originator_id not in self._shares:  # the share before this event changes the grants
            pieces = self._pieces[e.originator_id] = {gid: grant_pieces(g) for gid, g in st["grants"].items()}
            self._shares[e.originator_id] = _steps(st["grants"], pieces)
        return st

    def on_GrantAwarded(self, e: RawEvent, view: View) -> None:
        s = e.state
        st = self._assessment(view, e)
        st["grants"][s["grant_id"]] = {
            "fsiii": s["fsiii"], "section": s["section"], "from": s["valid_from"], "to": s["valid_to"],
            "changes": [[s["valid_from"], s["amount"]["weekly_minutes"], _ref(e)]], "segs": []}
        self._grants(view, s["grant_id"], st, e)

    def _grant_change(self, e: RawEvent, view: View) -> None:
        st = self._assessment(view, e)
        gid = e.state["grant_id"]
        g = st["grants"][gid]
        g["changes"] = upsert_version(g["changes"], [e.state["effective"], e.state["amount"]["weekly_minutes"], _ref(e)])
        self._grants(view, gid, st, e)

    on_GrantReassessed = _grant_change
    on_GrantCorrected = _grant_change

    def on_GrantEnded(self, e: RawEvent, view: View) -> None:
        st = self._assessment(view, e)
        gid = e.state["grant_id"]
        st["grants"][gid]["to"] = e.state["effective"]
        self._grants(view, gid, st, e)

    def _grants(self, view: View, gid: str, st: dict[str, Any], e: RawEvent) -> None:
        # What the grant's rows should be from this event's instant on; the revision itself is
        # folded with the grant's other events of the batch (`_fold_grants`).
        key = (e.originator_id, gid)
        pending = self._pending.get(key)
        if pending is None or pending[0] is not st:
            if pending is not None:  # pragma: no cover - a state is replaced only after a fold
                self._fold_grants(view)
            pending = self._pending[key] = (st, [])
        at = recorded_key(e.recorded)
        pieces = self._pieces[e.originator_id][gid] = grant_pieces(st["grants"][gid])
        pending[1].append((at, pieces))
        self._share_changed(view, e.originator_id, st, at)
        self._save(view, "assessment", e.originator_id, st)

    def _share_changed(self, view: View, aid: str, st: dict[str, Any], at: str) -> None:
        """The points of the change of the citizen's share of the totals at instant `at`."""
        old, new = self._shares[aid], _steps(st["grants"], self._pieces[aid])
        self._shares[aid] = new
        t = instant(at)
        points = self._points[st["m"]]
        before = len(points)
        for key, now in new.items():
            was = old.get(key)
            if was is None:
                points.append((t, key[0], key[1], now[0], now[1]))
            elif was != now:
                points.append((t, key[0], key[1], now[0] - was[0], now[1] - was[1]))
        for key, was in old.items():
            if key not in new:
                points.append((t, key[0], key[1], -was[0], -was[1]))
        self._n_points += len(points) - before
        if self._n_points >= _POINTS_CHUNK:  # bound the points held in a large rebuild
            self._put_totals(view)

    def _fold_grants(self, view: View) -> None:
        """Revise each pending grant's rows through its events of the batch, in order, at once:
        the same rows as `revise` per event (kept, closed at the event's instant, or deleted when
        recorded and withdrawn at one instant), but a row opened and closed again within the batch
        is built only closed, and the believed rows are compared as tuples."""
        put, delete = view.put, view.delete
        for (_aid, gid), (st, steps) in self._pending.items():
            g = st["grants"][gid]
            citizen, m, fsiii, section = st["citizen"], st["m"], g["fsiii"], g["section"]
            # (piece, its seg as stored or None when opened in this fold, recorded_from)
            cur: list[tuple[Any, dict[str, Any] | None, str]] = []
            for seg in g["segs"]:
                same = (seg["municipality"] == m and seg["fsiii"] == fsiii and seg["section"] == section
                        and len(seg) == 8)
                piece = (seg["valid_from"], seg["valid_to"], seg["weekly_minutes"], seg["ref"]) if same else None
                cur.append((piece, seg, seg["recorded_from"]))
            for at, pieces in steps:
                wanted = set(pieces)
                kept: dict[Any, tuple[Any, dict[str, Any] | None, str]] = {}
                for item in cur:
                    piece, seg, recorded_from = item
                    if piece in wanted:
                        kept[piece] = item
                        continue
                    if seg is None:
                        seg = {"valid_from": piece[0], "valid_to": piece[1], "municipality": m, "fsiii": fsiii,
                               "section": section, "weekly_minutes": piece[2], "ref": piece[3],
                               "recorded_from": recorded_from}
                    if recorded_from >= at:  # recorded and withdrawn at one instant: never seen
                        delete(GRANTS, citizen, gid, seg["valid_from"], recorded_from)
                    else:
                        put(GRANTS, stab_keys({"citizen_id": citizen, "grant_id": gid, **seg, "recorded_to": at}))
                cur = [kept.get(p) or (p, None, at) for p in pieces]
            segs = []
            for piece, seg, recorded_from in cur:
                if seg is None:
                    seg = {"valid_from": piece[0], "valid_to": piece[1], "municipality": m, "fsiii": fsiii,
                           "section": section, "weekly_minutes": piece[2], "ref": piece[3],
                           "recorded_from": recorded_from}
                    put(GRANTS, stab_keys({"citizen_id": citizen, "grant_id": gid, **seg,
                                           "recorded_to": OPEN_RECORDED}))
                segs.append(seg)
            g["segs"] = segs
        self._pending = {}

    # survey answers -------------------------------------------------------------------
    def on_SurveyResponseRecorded(self, e: RawEvent, view: View) -> None:
        # Never revised: one point per count, from its instant on, dated by the day it was given.
        s = e.state
        t, a, round_id = instant(recorded_key(e.recorded)), day_number(s["effective"]), s["round_id"]
        points = self._points[s["municipality"]]
        points.append((t, a, f"r:{round_id}", 1, 0))
        for measure in MEASURES:
            score = s["answers"].get(measure)
            if score is not None:
                points.append((t, a, f"q:{round_id}|{measure}|{score}", 1, 0))
        self._n_points += 1 + len(MEASURES)

    # providers ------------------------------------------------------------------------
    def on_CitizenRegistered(self, e: RawEvent, view: View) -> None:
        if e.state["provider"] != "municipal":
            self._provider(e, view)

    def on_ProviderChosen(self, e: RawEvent, view: View) -> None:
        self._provider(e, view)

    @staticmethod
    def _provider(e: RawEvent, view: View) -> None:
        s = e.state
        view.put(PROVIDERS, {"citizen_id": e.originator_id, "version": e.originator_version,
                             "municipality": s["municipality"], "effective": s["effective"], "provider": s["provider"],
                             "recorded_from": recorded_key(e.recorded)})

    # orders ---------------------------------------------------------------------------
    def on_OrderPlaced(self, e: RawEvent, view: View) -> None:
        s = e.state
        st = {"m": s["municipality"], "citizen": s["citizen_id"], "offer": s["offer_id"], "fsiii": s["fsiii"],
              "kind": s["kind"], "start": s["start"], "end": s["end"], "cancelled": None,
              "changes": [[s["start"], s["every_weeks"], s["minutes"]]], "segs": []}
        view.put(PLACED, {"order_id": e.originator_id, "municipality": s["municipality"], "citizen_id": s["citizen_id"],
                          "offer_id": s["offer_id"], "fsiii": s["fsiii"], "kind": s["kind"], "start": s["start"],
                          "month": s["start"][:7], "recorded_from": recorded_key(e.recorded), "ref": _ref(e)})
        self._order(view, e.originator_id, st, e)

    def on_OrderChanged(self, e: RawEvent, view: View) -> None:
        st = self._load(view, "order", e.originator_id)
        assert st is not None, "an order is placed before it changes"
        st["end"] = e.state["end"]
        st["changes"] = upsert_version(st["changes"], [e.state["effective"], e.state["every_weeks"], e.state["minutes"]])
        self._order(view, e.originator_id, st, e)

    def on_OrderCancelled(self, e: RawEvent, view: View) -> None:
        st = self._load(view, "order", e.originator_id)
        assert st is not None, "an order is placed before it is cancelled"
        st["cancelled"] = e.state["effective"]
        self._order(view, e.originator_id, st, e)

    def _order(self, view: View, order_id: str, st: dict[str, Any], e: RawEvent) -> None:
        cap = next_day(st["end"]) if st["end"] else OPEN_DATE
        if st["cancelled"] is not None:
            cap = min(cap, st["cancelled"])
        wanted = [segment(start, end, municipality=st["m"], citizen_id=st["citizen"], offer_id=st["offer"],
                          fsiii=st["fsiii"], kind=st["kind"], every_weeks=ew, minutes=minutes)
                  for start, end, (_eff, ew, minutes) in _pieces(st["changes"], st["start"], cap)]
        st["segs"] = revise(view, ORDERS, {"order_id": order_id}, st["segs"], wanted, recorded_key(e.recorded))
        self._save(view, "order", order_id, st)

    # deliveries -----------------------------------------------------------------------
    def on_DeliveryRecorded(self, e: RawEvent, view: View) -> None:
        self._delivery_created(e, view, "delivered", e.state["band"], e.state["minutes"], e.state["units"],
                               int(bool(e.state["klippekort"])))

    def on_VisitMissed(self, e: RawEvent, view: View) -> None:
        self._delivery_created(e, view, "missed", None, 0, 0, 0)

    def _delivery_created(self, e: RawEvent, view: View, status: str, band: str | None, minutes: int, units: int,
                          klippekort: int) -> None:
        s = e.state
        fact = {"municipality": s["municipality"], "month": s["effective"][:7], "date": s["effective"],
                "order_id": s["order_id"], "citizen_id": s["citizen_id"], "offer_id": s["offer_id"], "band": band,
                "minutes": minutes, "units": units, "klippekort": klippekort, "status": status}
        self._delivery(view, e.originator_id, {"fact": fact, "segs": []}, e)

    def _withdrawn(self, e: RawEvent, view: View, status: str) -> None:
        st = self._load(view, "delivery", e.originator_id)
        assert st is not None, "a delivery is recorded before it is withdrawn"
        st["fact"]["status"] = status
        self._delivery(view, e.originator_id, st, e)

    def on_DeliveryCancelled(self, e: RawEvent, view: View) -> None:
        self._withdrawn(e, view, "cancelled")

    def on_DeliveryDisputed(self, e: RawEvent, view: View) -> None:
        self._withdrawn(e, view, "disputed")

    def _delivery(self, view: View, delivery_id: str, st: dict[str, Any], e: RawEvent) -> None:
        st["segs"] = revise(view, DELIVERIES, {"delivery_id": delivery_id}, st["segs"], [dict(st["fact"])],
                            recorded_key(e.recorded))
        self._save(view, "delivery", delivery_id, st)


def _ref(e: RawEvent) -> str:
    return f"{e.originator_id}:{e.originator_version}"


def _pieces(changes: list[list[Any]], start: str, cap: str) -> list[tuple[str, str, list[Any]]]:
    """Cut [start, cap) at each dated change (changes in date order): (from, to, change) pieces,
    empty ones left out. A change dated before `start` holds from `start`."""
    out = []
    for i, change in enumerate(changes):
        a = max(change[0], start)
        b = min(changes[i + 1][0], cap) if i + 1 < len(changes) else cap
        if a < b:
            out.append((a, b, change))
    return out


# -- grants --------------------------------------------------------------------------------


def grant_pieces(g: dict[str, Any]) -> list[tuple[str, str, int, str]]:
    """(from, to exclusive, weekly minutes, ref) of one grant; a grant of 0 minutes is not an
    active grant (Assessment.active_on), so such pieces are left out."""
    cap = next_day(g["to"]) if g["to"] else OPEN_DATE
    return [(a, b, change[1], change[2]) for a, b, change in _pieces(g["changes"], g["from"], cap) if change[1] > 0]


_STATES_CHUNK = 20_000  # decoded entity states held in a batch before they are encoded and put
_POINTS_CHUNK = 500_000  # points of the totals held in a batch before they are merged into rows


# -- the totals, pre-summed ------------------------------------------------------------------


DAY_US = 86_400_000_000  # an instant is microseconds from the start of day 1 (date.toordinal)


def instant(key: str) -> int:
    """A recorded key ('YYYY-MM-DDTHH:MM:SS.ffffff') as an integer, in the same order."""
    seconds = int(key[11:13]) * 3600 + int(key[14:16]) * 60 + int(key[17:19])
    return (day_number(key[:10]) * 86_400 + seconds) * 1_000_000 + int(key[20:26])


@lru_cache(maxsize=1 << 16)  # pure, and called with the same few dates over and over
def day_number(iso_date: str) -> int:
    return date.fromisoformat(iso_date).toordinal()


@lru_cache(maxsize=1 << 16)
def quarter(day: int) -> int:
    """The period of a day number: year * 4 + its quarter (0-3)."""
    d = date.fromordinal(day)
    return d.year * 4 + (d.month - 1) // 3


def lag_group(lag: int) -> int:
    """The group of a point whose effective date lies `lag` days after its recorded date: 0;
    ±1..6 for 1, 2-3, 4-7, ..., 32-63 days; from 64 days on, ±(6 + lag // 64): groups at most
    64 days wide, so a read's one window (timeline_queries.totals) spans at most 63 days."""
    size = -lag if lag < 0 else lag
    g = size.bit_length() if size < 64 else 6 + size // 64
    return -g if lag < 0 else g


def lag_bounds(g: int) -> tuple[int, int]:
    """The lags (first, last) of group g."""
    size = -g if g < 0 else g
    if size == 0:
        return 0, 0
    lo, hi = (1 << (size - 1), (1 << size) - 1) if size <= 6 else ((size - 6) * 64, (size - 6) * 64 + 63)
    return (-hi, -lo) if g < 0 else (lo, hi)


def share_steps(grants: dict[str, dict[str, Any]]) -> dict[tuple[int, str], tuple[int, int]]:
    """A citizen's share of the totals as a step function of the effective date: (day number,
    key) -> the change that day of (citizens, weekly minutes). Keys: "c:<fsiii>" (1 citizen with
    an active grant of that code, the sum of their minutes) and "s:<sections>" (1 citizen whose
    active grants are under exactly these sections, sorted). Changes on OPEN_DATE are left out:
    no read reaches it.

    One sweep over the days a piece starts or ends (round 7: it was every piece on every such
    day), keeping each code's active pieces and minutes and each section's active pieces: a
    day changes only the codes and the section set its pieces move."""
    return _steps(grants, {gid: grant_pieces(g) for gid, g in grants.items()})


def _steps(grants: dict[str, dict[str, Any]], pieces: dict[str, list[tuple[str, str, int, str]]]
           ) -> dict[tuple[int, str], tuple[int, int]]:
    """`share_steps` with each grant's pieces (`grant_pieces`) given, gid -> pieces."""
    if len(grants) == 1:  # most citizens: one grant, whose pieces follow each other
        return _one_grant_steps(next(iter(grants.values())), next(iter(pieces.values())))
    moves: dict[str, list[tuple[str, str, int, int]]] = {}
    for gid, g in grants.items():
        code, section = g["fsiii"], g["section"]
        for a, b, weekly, _ref in pieces[gid]:
            moves.setdefault(a, []).append((code, section, 1, weekly))
            moves.setdefault(b, []).append((code, section, -1, -weekly))
    out: dict[tuple[int, str], tuple[int, int]] = {}
    codes: dict[str, list[int]] = {}  # code -> [active pieces, their minutes]
    sections: dict[str, int] = {}  # section -> active pieces
    held = ""  # the sections of the active pieces, as a key, before the day
    for day in sorted(moves):
        if day >= OPEN_DATE:
            break
        d = day_number(day)
        was: dict[str, tuple[int, int]] = {}  # the codes moved this day, as they stood before it
        flipped = False  # a section came or went (perhaps only for the day)
        for code, section, n, weekly in moves[day]:
            had = codes.get(code)
            if had is None:
                had = codes[code] = [0, 0]
            if code not in was:
                was[code] = (had[0], had[1])
            had[0] += n
            had[1] += weekly
            k = sections.get(section, 0)
            sections[section] = k + n
            flipped = flipped or (k == 0) != (k + n == 0)
        for code, (n0, w0) in was.items():
            n1, w1 = codes[code]
            if n0 and n1:
                if w1 != w0:
                    out[(d, "c:" + code)] = (0, w1 - w0)
            elif n1:
                out[(d, "c:" + code)] = (1, w1)
            elif n0:
                out[(d, "c:" + code)] = (-1, -w0)
        if flipped:
            now = ",".join(sorted(s for s, n in sections.items() if n))
            if now != held:
                if held:
                    out[(d, "s:" + held)] = (-1, 0)
                if now:
                    out[(d, "s:" + now)] = (1, 0)
                held = now
    return out


def _one_grant_steps(g: dict[str, Any], pieces: list[tuple[str, str, int, str]]
                     ) -> dict[tuple[int, str], tuple[int, int]]:
    """`share_steps` of a citizen with one grant: its pieces are in order and do not overlap, so
    the share steps at each piece's start (by its minutes, or by the change from the piece
    before it when the two meet) and where a piece ends with no other after it."""
    out: dict[tuple[int, str], tuple[int, int]] = {}
    code, sections = "c:" + g["fsiii"], "s:" + g["section"]
    end, was = "", 0
    for a, b, weekly, _ref in pieces:
        if a == end:
            if weekly != was:
                out[(day_number(a), code)] = (0, weekly - was)
        else:
            if end:
                d = day_number(end)
                out[(d, code)], out[(d, sections)] = (-1, -was), (-1, 0)
            d = day_number(a)
            out[(d, code)], out[(d, sections)] = (1, weekly), (1, 0)
        end, was = b, weekly
    if end and end < OPEN_DATE:
        d = day_number(end)
        out[(d, code)], out[(d, sections)] = (-1, -was), (-1, 0)
    return out


def _row_points(axis: str, data: str) -> dict[tuple[Any, ...], list[int]]:
    """A tl_totals row's own points: (group, key, t, a) (axis u) or (group, key, a) (axis a) ->
    [citizens, minutes].

    A row is group -> (JSON text of) key -> [citizens before, minutes before, (axis u: the
    instants,) the effective days, running citizens, running minutes]; the running sums start
    from the sums of the quarters before."""
    out: dict[tuple[Any, ...], list[int]] = {}
    for g, entries in orjson.loads(data).items():
        for key, entry in orjson.loads(entries).items():
            c0, m0 = entry[0], entry[1]
            spots = zip(entry[2], entry[3]) if axis == "u" else ((a,) for a in entry[2])
            for spot, c, m in zip(spots, entry[-2], entry[-1]):
                out[(int(g), key, *spot)] = [c - c0, m - m0]
                c0, m0 = c, m
    return out


def _row_ends(data: str) -> dict[tuple[int, str], list[int]]:
    """A tl_totals row's running sums at its end: (group, key) -> [citizens, minutes]."""
    return {(int(g), key): [entry[-2][-1], entry[-1][-1]] if entry[-2] else [entry[0], entry[1]]
            for g, entries in orjson.loads(data).items() for key, entry in orjson.loads(entries).items()}


def merge_totals(view: View, m: int, points: list[tuple[int, int, str, int, int]]) -> None:
    """Add points (t, a, key, citizens, minutes) of municipality m to its tl_totals rows: the
    quarters they fall in are rewritten, and the later quarters of the axis for their running
    sums. The rows are the same however the points are batched: each holds its quarter's points
    summed per (t, a) (axis "u") or per a (axis "a"), zero sums left out, in order.

    Most of a row is the running sums carried from the quarters before (every (group, key) of
    the municipality with a non-zero sum, whether or not it moved in the quarter): each carried
    entry's JSON is made once, when its sums change, and a row joins the texts (round 7)."""
    by_u: dict[int, dict[tuple[Any, ...], list[int]]] = defaultdict(dict)
    by_a: dict[int, dict[tuple[Any, ...], list[int]]] = defaultdict(dict)
    for t, a, key, c, w in points:
        u = t // DAY_US
        g = lag_group(a - u)
        cells = by_u[quarter(u)]
        had = cells.get((g, key, t, a))
        if had is None:
            cells[(g, key, t, a)] = [c, w]
        else:
            had[0] += c
            had[1] += w
        cells = by_a[quarter(a)]
        had = cells.get((g, key, a))
        if had is None:
            cells[(g, key, a)] = [c, w]
        else:
            had[0] += c
            had[1] += w
    for axis, new in (("u", by_u), ("a", by_a)):
        if new:
            _merge_axis(view, m, axis, new)


def _merge_axis(view: View, m: int, axis: str, new: dict[int, dict[tuple[Any, ...], list[int]]]) -> None:
    """`merge_totals` of one axis: new points summed per quarter and spot."""
    dumps = orjson.dumps
    empty = b",[],[],[],[]]" if axis == "u" else b",[],[],[]]"
    meta = view.get(TOTALS, m, axis, -1)
    periods: list[int] = orjson.loads(meta["data"]) if meta else []
    first = min(new)
    earlier = [p for p in periods if p < first]
    # The running sums at the end of the quarter before, non-zero only, per group: key ->
    # [citizens, minutes], and the JSON of each as an entry with no points of its own.
    running: dict[int, dict[str, list[int]]] = defaultdict(dict)
    carried: dict[int, dict[str, bytes]] = defaultdict(dict)
    names: dict[str, bytes] = {}  # key -> its JSON
    alone: dict[int, str] = {}  # group -> the JSON of its carried entries, while they stand

    def carry(g: int, key: str, c: int, w: int) -> None:
        name = names.get(key)
        if name is None:
            name = names[key] = dumps(key)
        running[g][key] = [c, w]
        carried[g][key] = b"%s:[%d,%d%s" % (name, c, w, empty)
        alone.pop(g, None)

    if earlier:  # the sums at the end of the last quarter before the first changed one
        before = view.get(TOTALS, m, axis, earlier[-1])
        assert before is not None, "a quarter listed has its row"
        for (g, key), (c, w) in _row_ends(before["data"]).items():
            if c or w:
                carry(g, key, c, w)
    kept = list(earlier)
    for p in sorted({p for p in periods if p >= first} | set(new)):
        row = view.get(TOTALS, m, axis, p)
        if row is None:  # (a rebuild: every quarter is new)
            own = new.get(p, {})
        else:
            own = _row_points(axis, row["data"])
            for spot, (c, w) in new.get(p, {}).items():
                had = own.get(spot)
                own[spot] = [c, w] if had is None else [had[0] + c, had[1] + w]
        # The quarter's own points, non-zero, per group and key, in order.
        mine: dict[int, dict[str, list[tuple[tuple[Any, ...], list[int]]]]] = {}
        for spot, v in sorted(own.items()):  # (spots are unique: sorted by spot)
            if v[0] or v[1]:
                of_group = mine.get(spot[0])
                if of_group is None:
                    of_group = mine[spot[0]] = {}
                spots = of_group.get(spot[1])
                if spots is None:
                    of_group[spot[1]] = [(spot, v)]
                else:
                    spots.append((spot, v))
        if not mine:
            if row is not None:  # its points summed to nothing: the running sums pass on
                view.delete(TOTALS, m, axis, p)
            continue
        groups: dict[str, str] = {}
        for g in sorted(carried.keys() | mine.keys()):
            if g not in mine:  # nothing of its own this quarter: the sums carried, as they stand
                text = alone.get(g)
                if text is None:
                    texts = carried[g]
                    if not texts:
                        continue
                    text = alone[g] = (b"{" + b",".join(texts[k] for k in sorted(texts)) + b"}").decode()
                groups[str(g)] = text
                continue
            texts = dict(carried[g]) if g in carried else {}
            sums = running[g]
            for key, spots in mine[g].items():
                c0, m0 = sums.get(key, (0, 0))
                cs, ms_, c, w = [], [], c0, m0
                for _spot, (dc, dw) in spots:
                    c += dc
                    w += dw
                    cs.append(c)
                    ms_.append(w)
                if axis == "u":
                    entry = [c0, m0, [s[2] for s, _v in spots], [s[3] for s, _v in spots], cs, ms_]
                else:
                    entry = [c0, m0, [s[2] for s, _v in spots], cs, ms_]
                name = names.get(key)
                if name is None:
                    name = names[key] = dumps(key)
                texts[key] = name + b":" + dumps(entry)
                if c or w:
                    carry(g, key, c, w)
                else:
                    sums.pop(key, None)
                    carried[g].pop(key, None)
                    alone.pop(g, None)
            if texts:
                # Each group's entries JSON of their own (keys in order, as OPT_SORT_KEYS
                # writes them): a read decodes the groups it needs.
                groups[str(g)] = (b"{" + b",".join(texts[k] for k in sorted(texts)) + b"}").decode()
        kept.append(p)
        view.put(TOTALS, {"municipality": m, "axis": axis, "period": p,
                          "data": dumps(groups, option=orjson.OPT_SORT_KEYS).decode()})
    if kept:
        view.put(TOTALS, {"municipality": m, "axis": axis, "period": -1, "data": dumps(kept).decode()})
    elif meta is not None:
        view.delete(TOTALS, m, axis, -1)
