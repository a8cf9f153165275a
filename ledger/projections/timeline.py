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
"live read at K" equal "rebuild of the events recorded by K" for every K. The one exception is the
pre-summed totals over all citizens (`tl_agg_*`, below), which are versioned by a recorded
high-water mark that only moves forward and corrected at read time for what arrived late.

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

from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson

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
     "price_weekend": "BIGINT", "cost_total": "BIGINT", "cost_basis": "TEXT", "items": "TEXT", "price_ref": "TEXT",
     "version_recorded": "TEXT", "retired_from": "TEXT"},
    ("municipality", "offer_id", "valid_from", "recorded_from"),
)
GRANTS = Table(
    "tl_grants",
    {"citizen_id": "TEXT", "grant_id": "TEXT", **_BITEMPORAL, "municipality": "INTEGER", "fsiii": "TEXT",
     "section": "TEXT", "weekly_minutes": "INTEGER", "ref": "TEXT"},
    ("citizen_id", "grant_id", "valid_from", "recorded_from"),
    indexes=_STABBED,
)
ORDERS = Table(
    "tl_orders",
    {"order_id": "TEXT", **_BITEMPORAL, "municipality": "INTEGER", "citizen_id": "TEXT", "offer_id": "TEXT",
     "fsiii": "TEXT", "kind": "TEXT", "every_weeks": "INTEGER", "minutes": "INTEGER"},
    ("order_id", "valid_from", "recorded_from"),
    indexes=_STABBED,
)
# Totals over all citizens of a municipality (citizens and weekly minutes per FSIII code, citizens
# per set of sections) are pre-summed: a timeline read at (D, K) then costs the same for 200 or
# 20,000 citizens. Each citizen's profile (per effective period: minutes per code, the sections
# granted) changes by deltas at effective dates; the deltas are summed in a Fenwick tree over
# effective days (node i holds the sum of the deltas dated in its range), one per (municipality,
# key). Node values are versioned by the week of the recorded high-water mark `hw` (the latest
# recorded instant seen so far), which never runs backwards even when recorded instants arrive out
# of order across aggregates. A read at K takes each node's last version from a week before K's
# week and adds the deltas that version cannot hold: those recorded in K's own week up to K, and
# the "late" ones recorded before that week but applied after it began (see timeline_queries).
# A node's latest value is its head (with the week it was last changed in); when a change arrives
# in a later week, the head's value is first kept as that earlier week's final version.
AGG_KEYS = Table("tl_agg_keys", {"municipality": "INTEGER", "key": "TEXT"}, ("municipality", "key"))
_NODE = {"municipality": "INTEGER", "key": "TEXT", "node": "INTEGER", "period": "TEXT", "v1": "BIGINT", "v2": "BIGINT"}
AGG_HEADS = Table("tl_agg_heads", _NODE, ("municipality", "key", "node"))
AGG_NODES = Table("tl_agg_nodes", _NODE, ("municipality", "key", "node", "period"))
AGG_DELTAS = Table(
    "tl_agg_deltas",
    {"municipality": "INTEGER", "position": "BIGINT", "seq": "INTEGER", "key": "TEXT", "edate": "TEXT", "ts": "TEXT",
     "hw": "TEXT", "v1": "BIGINT", "v2": "BIGINT", "sclass": "INTEGER", "skey": "TEXT"},
    ("municipality", "ts", "position", "seq"),  # the key serves "recorded between" reads too
    indexes=(("municipality", "sclass", "skey"),),
)
FENWICK_BASE = date(1990, 1, 1).toordinal()  # effective days are counted from here ...
FENWICK_SIZE = 1 << 15  # ... for 89 years; dates outside are clamped to the ends
NOT_LATE = -1  # sclass of a delta applied in the week it was recorded

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
    version = 2
    rebuild_cost = 3.0
    # Every row but the totals' recorded high-water mark belongs to one municipality; the mark
    # is combined across partitions (partition_share / partition_combine below).
    partition_by = "municipality"
    _totals: Totals  # set by start_batch (or the in_partition setter) before any event is applied
    _in_partition = False

    @property
    def in_partition(self) -> bool:
        return self._in_partition

    @in_partition.setter
    def in_partition(self, value: bool) -> None:
        # A partition's totals wait for every partition's recorded instants (partition_finish).
        self._in_partition = value
        self._totals = Totals()
    tables = (STATE, WINDOWS, RULES, OFFERS, GRANTS, ORDERS, PLACED, DELIVERIES, AGG_KEYS, AGG_HEADS, AGG_NODES,
              AGG_DELTAS)

    # batches --------------------------------------------------------------------------
    def start_batch(self, view: View) -> None:
        if not self._in_partition or self._totals is None:
            self._totals = Totals()
        # Entity states saved in this batch, kept decoded (kind, key) -> state: an entity's later
        # events in the batch use them as they are, and each is encoded and put once, at the end.
        self._saved: dict[tuple[str, str], dict[str, Any]] = {}

    def end_batch(self, view: View) -> None:
        if not self._in_partition:
            self._totals.apply(view)
        self._put_states(view)

    # partitions (a parallel rebuild) ---------------------------------------------------
    def partition_share(self) -> list[tuple[int, str]]:
        """(position, recorded) of this partition's events that changed the totals."""
        return [(position, ts) for _m, _d, position, ts in self._totals.pending]

    @classmethod
    def partition_combine(cls, shares: list[Any]) -> list[Any]:
        """The high-water mark after each of a partition's totals-changing events, as one pass
        over all partitions in log order would have it; the last partition writes the final mark."""
        merged = sorted((position, ts, part, i) for part, share in enumerate(shares) for i, (position, ts)
                        in enumerate(share or ()))
        hws: list[list[str]] = [[""] * len(share or ()) for share in shares]
        hw = None
        for _position, ts, part, i in merged:
            if hw is None or ts > hw:
                hw = ts
            hws[part][i] = hw
        return [{"hws": hws[part], "final": hw if part == len(shares) - 1 else None} for part in range(len(shares))]

    def partition_finish(self, view: View, answer: Any) -> None:
        self._totals.apply(view, answer["hws"], answer["final"])

    def _put_states(self, view: View) -> None:
        dumps = orjson.dumps
        for (kind, key), data in self._saved.items():
            view.put(STATE, {"kind": kind, "key": key, "data": dumps(data).decode()})
        self._saved = {}

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
                price_weekend=prices["weekend"], cost_total=sum(cost.values()),
                cost_basis=orjson.dumps(cost, option=orjson.OPT_SORT_KEYS).decode(),
                items=orjson.dumps(st["items"]).decode(), price_ref=ref, version_recorded=version_recorded,
                retired_from=st["retired"]))
        st["segs"] = revise(view, OFFERS, {"municipality": m, "offer_id": offer_id}, st["segs"], wanted,
                            recorded_key(e.recorded))
        self._save(view, "offer", f"{m}|{offer_id}", st)

    # grants ---------------------------------------------------------------------------
    def on_AssessmentOpened(self, e: RawEvent, view: View) -> None:
        view.put(STATE, {"kind": "assessment", "key": e.originator_id, "data": e.state["citizen_id"]})

    def _citizen(self, view: View, e: RawEvent) -> tuple[str, dict[str, Any]]:
        row = view.get(STATE, "assessment", e.originator_id)
        assert row is not None, f"assessment {e.originator_id} was opened before its grants"
        citizen = row["data"]
        st = self._load(view, "citizen", citizen) or {"m": e.state["municipality"], "grants": {}, "profile": []}
        return citizen, st

    def on_GrantAwarded(self, e: RawEvent, view: View) -> None:
        s = e.state
        citizen, st = self._citizen(view, e)
        st["grants"][s["grant_id"]] = {
            "fsiii": s["fsiii"], "section": s["section"], "from": s["valid_from"], "to": s["valid_to"],
            "changes": [[s["valid_from"], s["amount"]["weekly_minutes"], _ref(e)]], "segs": []}
        self._grants(view, citizen, s["grant_id"], st, e)

    def _grant_change(self, e: RawEvent, view: View) -> None:
        citizen, st = self._citizen(view, e)
        gid = e.state["grant_id"]
        g = st["grants"][gid]
        g["changes"] = upsert_version(g["changes"], [e.state["effective"], e.state["amount"]["weekly_minutes"], _ref(e)])
        self._grants(view, citizen, gid, st, e)

    on_GrantReassessed = _grant_change
    on_GrantCorrected = _grant_change

    def on_GrantEnded(self, e: RawEvent, view: View) -> None:
        citizen, st = self._citizen(view, e)
        gid = e.state["grant_id"]
        st["grants"][gid]["to"] = e.state["effective"]
        self._grants(view, citizen, gid, st, e)

    def _grants(self, view: View, citizen: str, gid: str, st: dict[str, Any], e: RawEvent) -> None:
        g = st["grants"][gid]
        wanted = [segment(start, end, municipality=st["m"], fsiii=g["fsiii"], section=g["section"],
                          weekly_minutes=weekly, ref=ref) for start, end, weekly, ref in grant_pieces(g)]
        at = recorded_key(e.recorded)
        g["segs"] = revise(view, GRANTS, {"citizen_id": citizen, "grant_id": gid}, g["segs"], wanted, at)
        profile = citizen_profile(st["grants"])
        # Periods in both profiles add the same deltas: only the ones that changed are summed.
        before = {orjson.dumps(p) for p in st["profile"]}
        after = {orjson.dumps(p) for p in profile}
        deltas = profile_deltas([p for p in profile if orjson.dumps(p) not in before])
        for key_date, values in profile_deltas([p for p in st["profile"] if orjson.dumps(p) not in after]).items():
            old = deltas.setdefault(key_date, [0, 0])
            old[0] -= values[0]
            old[1] -= values[1]
        st["profile"] = profile
        deltas = {k: v for k, v in deltas.items() if v != [0, 0]}
        if deltas:
            # Summed into the totals at the end of the batch, in log order (see Totals).
            self._totals.add(st["m"], deltas, e.position, recorded_key(e.recorded))
            if len(self._totals) >= _TOTALS_CHUNK and not self._in_partition:
                self._totals.apply(view)
        self._save(view, "citizen", citizen, st)

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


# -- citizen profiles and the pre-summed totals -------------------------------------------


def grant_pieces(g: dict[str, Any]) -> list[tuple[str, str, int, str]]:
    """(from, to exclusive, weekly minutes, ref) of one grant; a grant of 0 minutes is not an
    active grant (Assessment.active_on), so such pieces are left out."""
    cap = next_day(g["to"]) if g["to"] else OPEN_DATE
    return [(a, b, change[1], change[2]) for a, b, change in _pieces(g["changes"], g["from"], cap) if change[1] > 0]


def citizen_profile(grants: dict[str, dict[str, Any]]) -> list[list[Any]]:
    """[from, to, {fsiii: weekly minutes}, "sections"] per effective period in which the citizen's
    active grants are the same, in date order; periods without any active grant left out."""
    starts: dict[str, list[tuple[str, str, int]]] = {}
    ends: dict[str, list[tuple[str, str, int]]] = {}
    for gid, g in grants.items():
        for a, b, w, _ in grant_pieces(g):
            piece = (gid, a, w)
            starts.setdefault(a, []).append(piece)
            ends.setdefault(b, []).append(piece)
    active: dict[tuple[str, str, int], None] = {}  # a sweep over the dates where pieces begin or end
    out: list[list[Any]] = []
    points = sorted(starts.keys() | ends.keys())
    for a, b in zip(points, points[1:]):
        for piece in ends.get(a, ()):
            active.pop(piece, None)
        for piece in starts.get(a, ()):
            active[piece] = None
        if not active:
            continue
        minutes: dict[str, int] = {}
        sections: set[str] = set()
        for gid, _start, w in active:
            g = grants[gid]
            minutes[g["fsiii"]] = minutes.get(g["fsiii"], 0) + w
            sections.add(g["section"])
        profile = [a, b, dict(sorted(minutes.items())), ",".join(sorted(sections))]
        if out and out[-1][1] == a and out[-1][2:] == profile[2:]:
            out[-1][1] = b
        else:
            out.append(profile)
    return out


def profile_deltas(profile: list[list[Any]]) -> dict[tuple[str, str], list[int]]:
    """The profile as dated changes of the totals it adds to: (key, date) → [citizens, minutes].
    Keys: "c:<fsiii>" (citizens with that code, their weekly minutes) and "s:<sections>" (citizens
    whose active grants are under exactly those sections)."""
    out: dict[tuple[str, str], list[int]] = {}

    def add(key: str, on: str, citizens: int, minutes: int) -> None:
        if on >= OPEN_DATE:
            return
        v = out.setdefault((key, on), [0, 0])
        v[0] += citizens
        v[1] += minutes

    for a, b, minutes, sections in profile:
        for code, weekly in minutes.items():
            add(f"c:{code}", a, 1, weekly)
            add(f"c:{code}", b, -1, -weekly)
        add(f"s:{sections}", a, 1, 0)
        add(f"s:{sections}", b, -1, 0)
    return out


@lru_cache(maxsize=1 << 16)  # pure, and called with the same few dates over and over
def fenwick_index(on: str) -> int:
    return min(max(date.fromisoformat(on).toordinal() - FENWICK_BASE + 1, 1), FENWICK_SIZE)


def fenwick_path(on: str) -> list[int]:
    """The nodes whose sum is the total of all deltas dated on or before `on`."""
    i, out = fenwick_index(on), []
    while i > 0:
        out.append(i)
        i -= i & -i
    return out


@lru_cache(maxsize=1 << 16)  # pure, and called with the same few dates over and over
def week_of(day: str) -> str:
    """The Monday of the week of an ISO date: the period node versions are kept by."""
    d = date.fromisoformat(day[:10])
    return (d - timedelta(days=d.weekday())).isoformat()


_STATES_CHUNK = 20_000  # decoded entity states held in a batch before they are encoded and put
_TOTALS_CHUNK = 20_000  # events' deltas held before they are summed in (bounds a rebuild's memory)


class Totals:
    """The pre-summed totals' changes of one batch, summed in at its end.

    Only `_grants` writes the totals and nothing reads them while events are applied, so the
    deltas of a batch can be summed in after it, in log order, with the same result as one event
    at a time (`aggregate`). Done together, each Fenwick node touched is read from the view and
    written back once per batch, not once per delta (a rebuild: once), and the high-water mark
    once: that was most of the timeline's row operations.
    """

    def __init__(self) -> None:
        self.pending: list[tuple[int, dict[tuple[str, str], list[int]], int, str]] = []

    def __len__(self) -> int:
        return len(self.pending)

    def add(self, m: int, deltas: dict[tuple[str, str], list[int]], position: int, ts: str) -> None:
        self.pending.append((m, deltas, position, ts))

    def apply(self, view: View, hws: list[str] | None = None, final: str | None = None) -> None:
        """Sum the pending deltas in. `hws` (a partition of a parallel rebuild): the high-water
        mark after each pending event, as combined over all partitions; `final` the mark to
        store (given to one partition only)."""
        get, put = view.get, view.put
        if hws is not None:
            if final is not None:
                put(STATE, {"kind": "hw", "key": "", "data": final})
            start_hw = hw = None
        else:
            if not self.pending:
                return
            mark = get(STATE, "hw", "")
            start_hw = hw = mark["data"] if mark else None
        # (municipality, key) -> node -> [period, v1, v2], or None where the view has no head. A
        # key without its tl_agg_keys row has no heads at all (the row comes with its first
        # delta), so only a known key's nodes are looked up in the view.
        series: dict[tuple[int, str], dict[int, list[Any] | None]] = {}
        known: dict[tuple[int, str], bool] = {}
        for n, (m, deltas, position, ts) in enumerate(self.pending):
            if hws is not None:
                hw = hws[n]
            elif hw is None or ts > hw:
                hw = ts
            period = week_of(hw)
            late = week_of(ts) < period
            for seq, ((key, on), (v1, v2)) in enumerate(sorted(deltas.items())):
                mk = (m, key)
                nodes = series.get(mk)
                if nodes is None:
                    nodes = series[mk] = {}
                    known[mk] = get(AGG_KEYS, m, key) is not None
                    if not known[mk]:
                        put(AGG_KEYS, {"municipality": m, "key": key})
                lookup = known[mk]
                i = fenwick_index(on)
                while i <= FENWICK_SIZE:
                    head = nodes.get(i, _UNREAD)
                    if head is _UNREAD:
                        row = get(AGG_HEADS, m, key, i) if lookup else None
                        head = nodes[i] = None if row is None else [row["period"], row["v1"], row["v2"]]
                    if head is None:
                        nodes[i] = [period, v1, v2]
                    else:
                        if head[0] != period:  # the final version of the week it was last changed in
                            put(AGG_NODES, {"municipality": m, "key": key, "node": i, "period": head[0],
                                            "v1": head[1], "v2": head[2]})
                            head[0] = period
                        head[1] += v1
                        head[2] += v2
                    i += i & -i
                put(AGG_DELTAS, {
                    "municipality": m, "position": position, "seq": seq, "key": key, "edate": on, "ts": ts, "hw": hw,
                    "v1": v1, "v2": v2, "sclass": RECORDED + recorded_span_class(ts, hw) if late else NOT_LATE,
                    "skey": ts})
        for (m, key), nodes in series.items():
            for i, head in nodes.items():
                if head is not None:
                    put(AGG_HEADS, {"municipality": m, "key": key, "node": i, "period": head[0], "v1": head[1],
                                    "v2": head[2]})
        if hws is None and hw != start_hw:
            put(STATE, {"kind": "hw", "key": "", "data": hw})
        self.pending = []


_UNREAD: Any = object()


def aggregate(view: View, m: int, deltas: dict[tuple[str, str], list[int]], e: RawEvent) -> None:
    """Add one event's deltas to the municipality's pre-summed totals (see AGG_NODES above), one
    event at a time: the reference that `Totals` (which the projection uses) must equal."""
    if not deltas:
        return
    ts = recorded_key(e.recorded)
    mark = view.get(STATE, "hw", "")
    hw = max(mark["data"], ts) if mark else ts
    if mark is None or hw != mark["data"]:
        view.put(STATE, {"kind": "hw", "key": "", "data": hw})
    period = week_of(hw)
    late = week_of(ts) < period
    get, put = view.get, view.put
    for seq, ((key, on), (v1, v2)) in enumerate(sorted(deltas.items())):
        if get(AGG_KEYS, m, key) is None:
            put(AGG_KEYS, {"municipality": m, "key": key})
        i = fenwick_index(on)
        while i <= FENWICK_SIZE:
            head = get(AGG_HEADS, m, key, i)
            if head is None:
                head = {"municipality": m, "key": key, "node": i, "period": period, "v1": v1, "v2": v2}
            else:
                if head["period"] != period:
                    put(AGG_NODES, head.copy())  # the final version of the week it was last changed in
                    head["period"] = period
                head["v1"] += v1
                head["v2"] += v2
            put(AGG_HEADS, head)
            i += i & -i
        put(AGG_DELTAS, {
            "municipality": m, "position": e.position, "seq": seq, "key": key, "edate": on, "ts": ts, "hw": hw,
            "v1": v1, "v2": v2, "sclass": RECORDED + recorded_span_class(ts, hw) if late else NOT_LATE, "skey": ts})
