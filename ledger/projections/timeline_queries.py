"""Reading the trial timeline at (D, K) from the bitemporal tables of timeline.py.

D ("as effective on") is an ISO date; K ("as known at") is a recorded instant, or None for
"everything recorded so far". A row is visible at (D, K) when valid_from <= D < valid_to and
recorded_from <= K < recorded_to. Facts of different aggregates (grants and the scheme's covered
sections, deliveries and their prices) are combined here, each filtered at the same K. Totals over
all citizens are read from the points the timeline pre-sums (`totals_at`).

On PostgreSQL a report's statements run in one read-only REPEATABLE READ transaction (one state of
the tables even while a catch-up writes), as prepared statements with generic plans, with JIT and
parallel workers off: these are short index-driven reads, where planning, JIT compiling or
starting workers would cost more than the reads themselves.

Every function takes `suffix`: the tables read are `<table><suffix>`, so the same code reads the
live tables ("") or the copies a `rebuild(..., suffix=..., swap=False)` left behind.

Revenue choice: the revenue of a month is what is owed for that month's deliveries as known at K:
the billable deliveries (delivered, not klippekort, not withdrawn) that the citizen was eligible
for on their date (ledger.domain.eligibility, the rule the invoice run's re-rating and the
reconciliation apply, asked with the windows, rules, grants and provider believed at K), at the
price version and scheme rules in force on each delivery's date (as known at K), computed with the
same functions the invoice run uses (ledger.domain.pricing / values). So at K = now it is what the
reconciliation says is owed (fees for late cancellations aside), and it is defined for any (D, K),
including months not yet invoiced. A delivery found ineligible (after a grant's end, say) is
counted apart (`ineligible_deliveries`, and `ineligible_amount`: what it would bill, not owed);
what was actually invoiced and credited is the billing projection's business.
"""

from __future__ import annotations

import gc
import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache, partial
from datetime import date, datetime, timedelta, timezone
from typing import Any

import orjson

from ledger.db import Database
from ledger.domain.citizen import value_on
from ledger.domain.eligibility import may_buy
from ledger.domain.errors import InvalidInput, RuleViolated
from ledger.domain.municipalities import municipality_name
from ledger.domain.pricing import PriceVersion, price_delivery, price_version_on
from ledger.domain.values import month_end, parse_day_or_instant, plausible_date
from ledger.projections.reader import recorded_key
from ledger.projections.survey_queries import surveys_at
from ledger.projections.timeline import (DAY_US, FENWICK_BASE, FENWICK_SIZE, MIN_SPAN, OPEN_DATE, RECORDED, TOP_SPAN,
                                         day_number, instant, lag_bounds, lag_group, quarter)

KNOWN_NOW = "9999-12-31T00:00:00.000000"  # after every real instant, before OPEN_RECORDED
_SUFFIX = re.compile(r"^[a-z0-9_]{0,20}$")


# -- parameters ---------------------------------------------------------------------------


def shown_instant(key: str | None) -> str | None:
    """A stored UTC key ('2019-03-04T12:00:00.000000') as printed: with its offset (ISO 8601)."""
    return None if key is None else f"{key}+00:00"


def known_key(known_at: str | date | datetime | None) -> str:
    """K as comparable text. None: everything recorded. A date: the end of that day (UTC), so
    "known at 2019-06-30" is what a report written that day could see."""
    if known_at is None or known_at == KNOWN_NOW:  # a key made here comes back through the readers
        return KNOWN_NOW
    if isinstance(known_at, datetime):
        plausible_date(known_at.date(), "known_at")
        moment = known_at if known_at.tzinfo else known_at.replace(tzinfo=timezone.utc)
        return recorded_key(moment)
    if isinstance(known_at, date):
        return f"{plausible_date(known_at, 'known_at').isoformat()}T23:59:59.999999"
    # 1900-2199 as written, the bounds of every date the ledger takes from outside
    return known_key(parse_day_or_instant(str(known_at), "known-at"))


def as_of_date(value: str | date) -> str:
    """D as ISO text, within the days a timeline can be read on (timeline.FENWICK_*)."""
    try:
        d = value if isinstance(value, date) else date.fromisoformat(str(value).strip())
    except ValueError:
        raise InvalidInput(f"as-of must be a date (YYYY-MM-DD), got {value!r}", field="as_of") from None
    first, last = date.fromordinal(FENWICK_BASE), date.fromordinal(FENWICK_BASE + FENWICK_SIZE - 1)
    if not first <= d <= last:
        raise InvalidInput(f"as-of must be between {first} and {last}, got {d}", field="as_of")
    return d.isoformat()


def _t(name: str, suffix: str) -> str:
    if not _SUFFIX.match(suffix):
        raise ValueError(f"suffix {suffix!r}: at most 20 characters of a-z, 0-9, _")
    return f"{name}{suffix}"


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" for _ in values) or "NULL"


def _rows(db: Reader, sql: str, params: Sequence[Any]) -> list[tuple]:
    return db.query(sql, list(params))


class Snapshot:
    """The queries of one report on one connection, in one read-only transaction: the report sees
    one state of the tables even while a catch-up writes, and on SQLite the few milliseconds of
    opening a connection are paid once per report, not once per query."""

    def __init__(self, db: Database, conn: Any) -> None:
        self.db = db
        self.conn = conn
        self.is_postgres = db.is_postgres

    def query(self, text: str, params: Sequence[Any] = ()) -> list[tuple]:
        cur = self.conn.cursor()
        try:
            if self.is_postgres:
                # The same few statement texts run again and again with other dates: prepared
                # once per connection, planned once (generic plan), they skip the planner.
                cur.execute(self.db.sql(text), list(params), prepare=True)
            else:
                cur.execute(text, list(params))
            return cur.fetchall()
        finally:
            cur.close()


Reader = Database | Snapshot


@contextmanager
def snapshot(db: Database | Snapshot) -> Iterator[Snapshot]:
    if isinstance(db, Snapshot):
        yield db
        return
    with db.connection() as conn:
        if db.is_postgres:
            with conn.transaction():
                # Short index-driven reads: a parallel plan's worker start-up or a JIT compile
                # costs more than the whole query.
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET LOCAL jit = off; "
                             "SET LOCAL max_parallel_workers_per_gather = 0; "
                             "SET LOCAL plan_cache_mode = force_generic_plan")
                yield Snapshot(db, conn)
        else:
            conn.execute("BEGIN")
            try:
                yield Snapshot(db, conn)
            finally:
                conn.execute("ROLLBACK")


# -- the interval index -------------------------------------------------------------------


def _days_before(key: str, days: int) -> str:
    """The text key `days` days before `key` (a date or recorded key), "" before year 1."""
    day = date.fromisoformat(key[:10])
    if day.toordinal() <= days:
        return ""
    return (day - timedelta(days=days)).isoformat() + key[10:]


def stab_arms(table: str, columns: str, where: str, where_params: Sequence[Any], d: str,
              k: str = KNOWN_NOW) -> tuple[str, list[Any]]:
    """SELECT `columns` of the rows of `table` with valid_from <= d < valid_to, recorded_from <= k
    < recorded_to and `where`, as a UNION ALL of bounded ranges of the (municipality, sclass, skey)
    index (see timeline.py): for each effective span class c, skey = valid_from in (d - 2**c days,
    d]; for open-ended rows, per recorded span class c, skey = recorded_from in (k - 2**c days, k].
    The rows touched stay close to the rows wanted, however much history lies before d or k."""
    arms, params = [], []
    rec = "recorded_from <= ? AND recorded_to > ? AND valid_from <= ? AND valid_to > ?"
    ranges = [(c, _days_before(d, 1 << c), d) for c in range(MIN_SPAN, TOP_SPAN)]
    # Believed now (recorded_to open): no closed recorded class can hold K = "now".
    for c in (range(MIN_SPAN, TOP_SPAN + 1) if k != KNOWN_NOW else (TOP_SPAN,)):
        ranges.append((RECORDED + c, _days_before(k, 1 << c) if c < TOP_SPAN else "", k))
    for sclass, low, high in ranges:
        arms.append(f"SELECT {columns} FROM {table} WHERE {where} AND sclass = {sclass} AND skey > ? AND skey <= ? "
                    f"AND {rec}")
        params += [*where_params, low, high, k, k, d, d]
    return " UNION ALL ".join(arms), params


# -- building blocks ----------------------------------------------------------------------


def scheme_municipalities(db: Database | Snapshot, known_at: str | date | datetime | None = None,
                          suffix: str = "") -> list[int]:
    """Municipalities with a scheme as known at K (the network)."""
    k = known_key(known_at)
    with snapshot(db) as q:
            rows = _rows(q, f"SELECT DISTINCT municipality FROM {_t('tl_scheme_windows', suffix)} "
                        "WHERE recorded_from <= ? AND recorded_to > ?", [k, k])
    return sorted(int(r[0]) for r in rows)


def _schemes(db: Reader, ms: list[int], d: str, k: str, suffix: str) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {m: {"name": None, "windows": [], "window": None, "rules": None} for m in ms}
    for m, name, ws, we in _rows(
            db, f"SELECT municipality, name, window_start, window_end FROM {_t('tl_scheme_windows', suffix)} "
                f"WHERE municipality IN ({_marks(ms)}) AND recorded_from <= ? AND recorded_to > ? "
                "ORDER BY municipality, window_start", [*ms, k, k]):
        s = out[int(m)]
        s["name"] = name
        s["windows"].append([ws, we])
        if ws <= d <= we:
            s["window"] = [ws, we]
    for m, sections, minimum, increment, municipal in _rows(
            db, f"SELECT municipality, sections, minimum_minutes, increment_minutes, requires_municipal_provider "
                f"FROM {_t('tl_scheme_rules', suffix)} WHERE municipality IN ({_marks(ms)}) "
                "AND valid_from <= ? AND valid_to > ? AND recorded_from <= ? AND recorded_to > ?", [*ms, d, d, k, k]):
        out[int(m)]["rules"] = {"sections": sections.split(","), "minimum_minutes": minimum,
                                "increment_minutes": increment, "requires_municipal_provider": bool(municipal)}
    return out


_OFFER_COLS = ("municipality, offer_id, valid_from, valid_to, kind, name, unit, fsiii, vat_class, price_weekday_day, "
               "price_evening, price_weekend, cost_weekday_day, cost_evening, cost_weekend, price_ref, retired_from, "
               "version_recorded")


def _offer(row: tuple) -> dict[str, Any]:
    (m, offer_id, vf, vt, kind, name, unit, fsiii, vat, p_day, p_eve, p_wkd, c_day, c_eve, c_wkd, ref, retired,
     recorded) = row
    return {"municipality": int(m), "offer_id": offer_id, "kind": kind, "name": name, "unit": unit, "fsiii": fsiii,
            "vat_class": vat, "prices": {"weekday_day": p_day, "evening": p_eve, "weekend": p_wkd},
            "costs": {"weekday_day": c_day, "evening": c_eve, "weekend": c_wkd}, "valid_from": vf, "valid_to": None if vt >= OPEN_DATE else vt,
            "retired_from": retired, "price_ref": ref, "recorded": shown_instant(recorded)}


def _catalogue(db: Reader, ms: list[int], d: str, k: str, suffix: str) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {m: [] for m in ms}
    for row in _rows(db, f"SELECT {_OFFER_COLS} FROM {_t('tl_offer_versions', suffix)} "
                         f"WHERE municipality IN ({_marks(ms)}) AND valid_from <= ? AND valid_to > ? "
                         "AND (retired_from IS NULL OR retired_from > ?) AND recorded_from <= ? AND recorded_to > ? "
                         "ORDER BY municipality, offer_id", [*ms, d, d, d, k, k]):
        offer = _offer(row)
        out[offer.pop("municipality")].append(offer)
    return out


def catalogue_history(db: Database | Snapshot, municipality: int, known_at: str | date | datetime | None = None,
                      suffix: str = "") -> list[dict[str, Any]]:
    """Every price version of every offer as known at K, in offer and date order: the catalogue's
    change history, each version with the instant it was recorded (`recorded`)."""
    k = known_key(known_at)
    with snapshot(db) as db:
        out = []
        for row in _rows(db, f"SELECT {_OFFER_COLS} FROM {_t('tl_offer_versions', suffix)} WHERE municipality = ? "
                             "AND recorded_from <= ? AND recorded_to > ? ORDER BY offer_id, valid_from",
                         [municipality, k, k]):
            offer = _offer(row)
            offer.pop("municipality")
            out.append(offer)
        return out


def totals_at(db: Reader, ms: list[int], days: list[str], k: str, suffix: str = ""
              ) -> dict[str, dict[tuple[int, str], list[int]]]:
    """Totals over all citizens of these municipalities on each day, as known at K:
    day → (municipality, key) → [citizens, weekly minutes]. Keys: "c:<fsiii>" (citizens with an
    active grant of that code, and their weekly minutes) and "s:<sections>" (citizens whose active
    grants are under exactly those sections, in sorted order); and the survey answers given by
    the day: "r:<round>" (responses) and "q:<round>|<measure>|<score>" (answers with that score).

    Read from the points the timeline pre-sums (timeline.TOTALS, ADR 0022 round 6): the total
    on D at K is the sum of the points recorded by K (t <= K) dated by D (a <= D). Per lag group
    [l1, l2] (a - date(t) in it) and with delta = D - date(K):
    - l2 <= delta: every point recorded by K is dated by D (a <= date(t) + l2 <= D): the
      running sum along recorded time at K (axis "u");
    - l1 > delta: every point dated by D was recorded before the day of K (date(t) <= D - l1 <
      date(K)): the running sum along effective dates at D (axis "a");
    - the one group with l1 <= delta < l2: the running sum at the end of day D - l2 (those are
      all dated by D and recorded before K) and each point recorded after that, up to K, that is
      dated by D: at most 63 days of one group's points.
    At K = now every point is recorded by K: the running sums at D (axis "a") for every group."""
    with _collector_paused():
        return _totals_from_points(db, ms, days, k, suffix)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while the totals' rows are decoded and summed.

    A network read at national size decodes ~1.4 MB of JSON into some 10^5 lists of integers;
    each 700 new containers start a collection that walks the young ones, and every hundredth
    all of them: ~6 ms of the read's ~20 ms of CPU (ADR 0022 round-9 amendment). The lists hold
    no cycles: reference counting frees them when the read is done, so nothing is left for a
    collection to find. Left alone where the process turned the collector off itself."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _totals_from_points(db: Reader, ms: list[int], days: list[str], k: str, suffix: str
                        ) -> dict[str, dict[tuple[int, str], list[int]]]:
    """`totals_at`'s reading and summing."""
    out: dict[str, dict[tuple[int, str], list[int]]] = {d: {} for d in days}
    if not ms or not days:
        return out
    now = k == KNOWN_NOW
    kt = instant(k)
    kd = kt // DAY_US
    wanted = {d: day_number(d) for d in days}
    # The instant each day's window starts after (the end of day D - l2), or K when it has none.
    starts = {d: _window(n - kd, n, kt) for d, n in wanted.items()}
    table = _t("tl_totals", suffix)
    latest = (f"(SELECT MAX(x.period) FROM {table} x WHERE x.municipality = t.municipality AND x.axis = ? "
              "AND x.period >= 0 AND x.period <= ?)")
    sql = (f"SELECT municipality, axis, period, data FROM {table} t WHERE municipality IN ({_marks(ms)}) "
           f"AND axis = ? AND period <= ? AND period >= COALESCE({latest}, 0)")
    first_a, last_a = quarter(min(wanted.values())), quarter(max(wanted.values()))
    statements, params = [sql], [*ms, "a", last_a, "a", first_a]
    if not now:
        statements.append(sql)
        params += [*ms, "u", quarter(kd), "u", quarter(min(starts.values()) // DAY_US)]
    rows: dict[tuple[int, str], list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for m, axis, period, data in _rows(db, " UNION ALL ".join(statements), params):
        rows[(int(m), axis)].append((int(period), orjson.loads(data)))  # groups stay JSON text till used
    for found in rows.values():
        found.sort(key=lambda r: r[0])
    for m in ms:
        by_a, by_u = rows.get((m, "a"), []), rows.get((m, "u"), [])
        for d, n in wanted.items():
            sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
            delta = n - kd
            # (at K = now every point is recorded by K: every group along effective dates)
            _sum_running(sums, _row_on(by_a, quarter(n)), partial(_all_after, -(1 << 62) if now else delta), n)
            if not now:
                _sum_running(sums, _row_on(by_u, quarter(kd)), partial(_all_by, delta), kt)
                start = starts[d]
                if start != kt:
                    window, first_u = lag_group(delta), quarter(start // DAY_US)
                    _sum_running(sums, _row_on(by_u, first_u), partial(_holds, delta), start)
                    for period, row in by_u:
                        if first_u <= period <= quarter(kd) and str(window) in row:
                            if isinstance(row[str(window)], str):
                                row[str(window)] = orjson.loads(row[str(window)])
                            for key, entry in row[str(window)].items():
                                dc, dm = _dated_by(entry, start, kt, n)
                                v = sums[key]
                                v[0] += dc
                                v[1] += dm
            out[d].update({(m, key): v for key, v in sums.items() if v[0] or v[1]})
    return out


def _all_after(delta: int, lags: tuple[int, int]) -> bool:
    return lags[0] > delta


def _all_by(delta: int, lags: tuple[int, int]) -> bool:
    return lags[1] <= delta


def _holds(delta: int, lags: tuple[int, int]) -> bool:
    return lags[0] <= delta < lags[1]


def _sum_running(sums: dict[str, list[int]], row: dict[str, Any], wanted: Callable[[tuple[int, int]], bool],
                 at: int) -> None:
    """Add to `sums` the running sums at `at` (an instant on axis u, a day on axis a) of the
    row's groups whose lags (first, last) are `wanted`."""
    for g, entries in row.items():
        if not wanted(_lags(g)):
            continue
        if isinstance(entries, str):  # decoded once per read (a series reads a row for many days)
            entries = row[g] = orjson.loads(entries)
        for key, entry in entries.items():
            i = bisect_right(entry[2], at)
            v = sums[key]
            if i:
                v[0] += entry[-2][i - 1]
                v[1] += entry[-1][i - 1]
            else:
                v[0] += entry[0]
                v[1] += entry[1]


@lru_cache(maxsize=1024)
def _lags(g: str) -> tuple[int, int]:
    return lag_bounds(int(g))


def _window(delta: int, n: int, kt: int) -> int:
    """The instant after which the window group's points are read one by one (the end of day
    D - l2), or K itself when D - date(K) falls on no window (an edge of a group, or a group of
    one lag)."""
    l1, l2 = lag_bounds(lag_group(delta))
    return (n - l2 + 1) * DAY_US - 1 if l1 <= delta < l2 else kt


def _row_on(rows: list[tuple[int, dict[str, Any]]], period: int) -> dict[str, Any]:
    """The row that holds the running sums of `period`: the last one at or before it."""
    i = bisect_right(rows, period, key=lambda r: r[0])
    return rows[i - 1][1] if i else {}


def _dated_by(entry: list[Any], start: int, kt: int, n: int) -> tuple[int, int]:
    """The sum of one axis-u entry's points recorded after `start` and by K and dated by D."""
    ts, dated, cs, mins = entry[2], entry[3], entry[4], entry[5]
    i = bisect_right(ts, start)
    c, w = (cs[i - 1], mins[i - 1]) if i else (entry[0], entry[1])
    dc = dm = 0
    for j in range(i, bisect_right(ts, kt)):
        if dated[j] <= n:
            dc += cs[j] - c
            dm += mins[j] - w
        c, w = cs[j], mins[j]
    return dc, dm


def _figures(totals: dict[tuple[int, str], list[int]], buyer_rows: dict[tuple[int, str], tuple[int, int]],
             m: int, sections: list[str] | None) -> tuple[dict[str, int], dict[str, dict[str, dict[str, int]]]]:
    """Counts and per-code minutes of one municipality on one day from the totals (`totals_at`) and
    the buyers' own grants: non-buyers are everyone less the buyers."""
    active = covered = 0
    minutes: dict[str, dict[str, dict[str, int]]] = {}
    for (mm, key), (v1, v2) in totals.items():
        if mm != m or v1 == 0:
            continue
        kind, _, name = key.partition(":")
        if kind == "s":
            active += v1
            if sections and set(name.split(",")) & set(sections):
                covered += v1
        elif kind == "c":
            b1, b2 = buyer_rows.get((m, name), (0, 0))
            minutes[name] = {"buyers": {"citizens": b1, "weekly_minutes": b2},
                             "non_buyers": {"citizens": v1 - b1, "weekly_minutes": v2 - b2}}
    return {"active": active, "covered": covered}, dict(sorted(minutes.items()))


def _grant_figures(db: Reader, ms: list[int], d: str, k: str, suffix: str, schemes: dict[int, dict[str, Any]],
                   totals: dict[tuple[int, str], list[int]]) -> tuple[dict, dict, dict]:
    """(per municipality: citizens with active grants, under covered sections; buyers;
    per municipality and FSIII code: buyers' and non-buyers' citizens and weekly minutes).

    Buyers are few: their orders and grants are read row by row; everyone's totals are counted
    in the database (`totals_at`)."""
    where = f"municipality IN ({_marks(ms)})"
    orders_sql, orders_params = stab_arms(_t("tl_orders", suffix), "municipality, citizen_id", where, ms, d, k)
    buyers: dict[int, int] = {m: 0 for m in ms}
    buyer_rows: dict[tuple[int, str], tuple[int, int]] = {}
    for what, m, fsiii, n, total in _rows(
            db, f"WITH b AS (SELECT DISTINCT municipality, citizen_id FROM ({orders_sql}) o) "
                "SELECT 'buyers', municipality, NULL, COUNT(*), 0 FROM b GROUP BY municipality UNION ALL "
                "SELECT 'minutes', g.municipality, g.fsiii, COUNT(DISTINCT g.citizen_id), SUM(g.weekly_minutes) "
                # CROSS JOIN: the few buyers drive the join (SQLite keeps that order; PostgreSQL plans it).
                f"FROM b CROSS JOIN {_t('tl_grants', suffix)} g WHERE g.citizen_id = b.citizen_id AND g.valid_from <= ? "
                "AND g.valid_to > ? AND g.recorded_from <= ? AND g.recorded_to > ? GROUP BY g.municipality, g.fsiii",
            [*orders_params, d, d, k, k]):
        if what == "buyers":
            buyers[int(m)] = int(n)
        else:
            buyer_rows[(int(m), fsiii)] = (int(n), int(total))
    counts, minutes = {}, {}
    mine: dict[int, dict[tuple[int, str], list[int]]] = defaultdict(dict)
    for (m, key), v in totals.items():
        mine[m][(m, key)] = v
    for m in ms:
        rules = schemes[m]["rules"]
        counts[m], minutes[m] = _figures(mine[m], buyer_rows, m, rules["sections"] if rules else None)
    return counts, buyers, minutes


PriceBook = dict[tuple[int, str], list[tuple[str, PriceVersion]]]  # (municipality, offer) → [(unit, version)]
# municipality → [(valid_from, valid_to, minimum, increment, {sections, requires_municipal_provider})]
RulesBook = dict[int, list[tuple[str, str, int, int, dict[str, Any]]]]


def _price_book(db: Reader, ms: list[int], k: str, suffix: str) -> tuple[PriceBook, RulesBook]:
    """Every price version and every rules version of these municipalities as known at K."""
    prices: PriceBook = defaultdict(list)
    for m, offer_id, vf, unit, vat, p_day, p_eve, p_wkd in _rows(
            db, "SELECT municipality, offer_id, valid_from, unit, vat_class, price_weekday_day, price_evening, "
                f"price_weekend FROM {_t('tl_offer_versions', suffix)} WHERE municipality IN ({_marks(ms)}) "
                "AND recorded_from <= ? AND recorded_to > ? ORDER BY valid_from", [*ms, k, k]):
        prices[(int(m), offer_id)].append(
            (unit, PriceVersion(vf, vat, {"weekday_day": p_day, "evening": p_eve, "weekend": p_wkd})))
    rules: RulesBook = defaultdict(list)
    for m, vf, vt, minimum, increment, sections, municipal in _rows(
            db, f"SELECT municipality, valid_from, valid_to, minimum_minutes, increment_minutes, sections, "
                f"requires_municipal_provider FROM {_t('tl_scheme_rules', suffix)} WHERE municipality IN ({_marks(ms)}) "
                "AND recorded_from <= ? AND recorded_to > ? ORDER BY valid_from", [*ms, k, k]):
        rules[int(m)].append((vf, vt, minimum, increment,
                              {"sections": sections.split(","), "requires_municipal_provider": bool(municipal)}))
    return prices, rules


class Eligibility:
    """What the eligibility rule asks about the citizens with a delivery in the months read, as
    known at K: the schemes' windows, each citizen's grant pieces and provider choices (the rules
    come from the RulesBook). `refusal` asks the domain's one rule (ledger.domain.eligibility)."""

    def __init__(self, db: Reader, ms: list[int], first_month: str, last_month: str, k: str, suffix: str) -> None:
        self.windows: dict[int, list[tuple[str, str]]] = defaultdict(list)
        for m, ws, we in _rows(db, f"SELECT municipality, window_start, window_end FROM {_t('tl_scheme_windows', suffix)} "
                                   f"WHERE municipality IN ({_marks(ms)}) AND recorded_from <= ? AND recorded_to > ? "
                                   "ORDER BY window_start", [*ms, k, k]):
            self.windows[int(m)].append((ws, we))
        # The citizens with a delivery in the months read (buyers: few), each by its key.
        who = (f"SELECT DISTINCT citizen_id FROM {_t('tl_deliveries', suffix)} WHERE municipality IN ({_marks(ms)}) "
               "AND month >= ? AND month <= ? AND recorded_from <= ? AND recorded_to > ?")
        who_params = [*ms, first_month, last_month, k, k]
        self.grants: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        for citizen, section, vf, vt in _rows(
                db, f"SELECT citizen_id, section, valid_from, valid_to FROM {_t('tl_grants', suffix)} "
                    f"WHERE citizen_id IN ({who}) AND recorded_from <= ? AND recorded_to > ?", [*who_params, k, k]):
            self.grants[citizen].append((vf, vt, section))
        # Each citizen's choices in the order the citizen made them, then by date (stable), as
        # Citizen.providers holds them.
        self.providers: dict[str, list[tuple[str, str]]] = defaultdict(list)
        for citizen, _version, effective, provider in _rows(
                db, f"SELECT citizen_id, version, effective, provider FROM {_t('tl_providers', suffix)} "
                    f"WHERE citizen_id IN ({who}) AND recorded_from <= ? ORDER BY citizen_id, version",
                [*who_params, k]):
            self.providers[citizen].append((effective, provider))
        for choices in self.providers.values():
            choices.sort(key=lambda c: c[0])

    def refusal(self, m: int, citizen: str, on: str, rules: list[tuple[str, str, int, int, dict[str, Any]]]
                ) -> str | None:
        """The rule the delivery's date breaks (outside-window, no-active-grant,
        provider-not-municipal), or None when the citizen was eligible then."""
        rule = next((r[4] for r in rules if r[0] <= on < r[1]), None)
        if rule is None:
            return None  # no rules known for the date: the delivery is counted unpriced instead
        day = date.fromisoformat(on)
        try:
            may_buy(m, citizen, day, self.windows.get(m, []), rule,
                    lambda: [{"section": s} for vf, vt, s in self.grants.get(citizen, []) if vf <= on < vt],
                    # no row: the municipal provider since registration (timeline.PROVIDERS)
                    lambda: value_on(self.providers.get(citizen, []), day) or "municipal")
        except RuleViolated as refused:
            return refused.rule
        return None


def delivery_amounts(delivery: dict[str, Any], versions: list[tuple[str, PriceVersion]],
                     rules: list[tuple[str, str, int, int, dict[str, Any]]]) -> tuple[int, int, int] | None:
    """(net, vat, gross) a billable delivery bills at, priced by the domain's one rule
    (pricing.price_version_on and price_delivery, as the invoice run does); None when no price or
    rules are known for its date."""
    if not versions or not rules:
        return None
    on = delivery["date"]
    rule = next((r for r in rules if r[0] <= on < r[1]), None)
    if rule is None:
        return None
    version = price_version_on([v for _, v in versions], on)
    unit = next(u for u, v in versions if v is version)
    a = price_delivery(unit, version, delivery["band"], delivery["minutes"], delivery["units"], rule[2], rule[3]).amounts
    return a.net, a.vat, a.gross


def _flows(db: Reader, ms: list[int], first_month: str, last_month: str, k: str, suffix: str
           ) -> dict[tuple[int, str], dict[str, Any]]:
    """Per (municipality, month): orders placed, deliveries, missed visits, minutes, revenue owed
    (and the deliveries found ineligible, apart)."""
    out: dict[tuple[int, str], dict[str, Any]] = defaultdict(_empty_flow)
    for m, month, n in _rows(
            db, f"SELECT municipality, month, COUNT(*) FROM {_t('tl_orders_placed', suffix)} "
                f"WHERE municipality IN ({_marks(ms)}) AND month >= ? AND month <= ? AND recorded_from <= ? "
                "GROUP BY municipality, month", [*ms, first_month, last_month, k]):
        out[(int(m), month)]["orders_placed"] = int(n)
    deliveries = _rows(
        db, "SELECT municipality, month, date, offer_id, band, minutes, units, klippekort, status, citizen_id "
            f"FROM {_t('tl_deliveries', suffix)} WHERE municipality IN ({_marks(ms)}) AND month >= ? AND month <= ? "
            "AND recorded_from <= ? AND recorded_to > ?", [*ms, first_month, last_month, k, k])
    prices, rules = _price_book(db, ms, k, suffix) if deliveries else ({}, {})
    eligible = Eligibility(db, ms, first_month, last_month, k, suffix) if deliveries else None
    for m, month, on, offer_id, band, minutes, units, klippekort, status, citizen in deliveries:
        f = out[(int(m), month)]
        if status == "missed":
            f["missed_visits"] += 1
            continue
        if status != "delivered":
            f["withdrawn"] += 1
            continue
        f["deliveries"] += 1
        f["minutes_delivered"] += int(minutes)
        if klippekort:
            f["klippekort_minutes"] += int(minutes)
            continue
        amounts = delivery_amounts({"date": on, "band": band, "minutes": int(minutes), "units": int(units)},
                                   prices.get((int(m), offer_id), []), rules.get(int(m), []))
        if amounts is None:
            f["unpriced_deliveries"] += 1
            continue
        assert eligible is not None  # read whenever there are deliveries
        owed = eligible.refusal(int(m), citizen, on, rules.get(int(m), [])) is None
        if not owed:
            f["ineligible_deliveries"] += 1
        for key, value in zip(("net", "vat", "gross"), amounts):
            f["revenue" if owed else "ineligible_amount"][key] += value
    return out


def _empty_flow() -> dict[str, Any]:
    return {"orders_placed": 0, "deliveries": 0, "missed_visits": 0, "withdrawn": 0, "minutes_delivered": 0,
            "klippekort_minutes": 0, "unpriced_deliveries": 0, "revenue": {"net": 0, "vat": 0, "gross": 0},
            "ineligible_deliveries": 0, "ineligible_amount": {"net": 0, "vat": 0, "gross": 0}}


# -- the timeline at (D, K) ---------------------------------------------------------------


def timeline(db: Database | Snapshot, municipality: int | None, as_of: str | date,
             known_at: str | date | datetime | None = None, suffix: str = "") -> dict[str, Any]:
    """The trial on date D as the records showed at K, for one municipality (its code) or, with
    None, for the network: every municipality with a scheme as known at K."""
    d = as_of_date(as_of)
    k = known_key(known_at)
    with snapshot(db) as db:
        ms = [municipality] if municipality is not None else scheme_municipalities(db, k, suffix)
        month = d[:7]
        out: dict[str, Any] = {"as_of": d, "known_at": None if k == KNOWN_NOW else shown_instant(k), "month": month,
                               "municipalities": []}
        if not ms:
            out["totals"] = _totals([])
            return out
        schemes = _schemes(db, ms, d, k, suffix)
        catalogue = _catalogue(db, ms, d, k, suffix)
        totals = totals_at(db, ms, [d], k, suffix)[d]  # the grants' and the surveys' (tl_totals)
        counts, buyers, minutes = _grant_figures(db, ms, d, k, suffix, schemes, totals)
        flows = _flows(db, ms, month, month, k, suffix)
        surveys = surveys_at(db, ms, d, k, totals, suffix)  # survey_queries.py (ADR 0021)
        for m in ms:
            out["municipalities"].append({
                "municipality": m, "name": municipality_name(m), "scheme": schemes[m], "catalogue": catalogue[m],
                "citizens_with_active_grants": counts[m]["active"],
                "citizens_with_covered_grants": counts[m]["covered"],
                "buyers": buyers[m],
                "month": flows[(m, month)],
                "granted_minutes": [{"fsiii": code, **minutes[m][code]} for code in sorted(minutes[m])],
                "surveys": surveys[m],
            })
        out["totals"] = _totals(out["municipalities"])
        return out


def _totals(entries: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {"municipalities": len(entries),
                             "in_window": sum(1 for e in entries if e["scheme"]["window"] is not None),
                             "citizens_with_active_grants": 0, "citizens_with_covered_grants": 0, "buyers": 0,
                             "month": _empty_flow(), "granted_minutes": {}}
    for e in entries:
        for key in ("citizens_with_active_grants", "citizens_with_covered_grants", "buyers"):
            total[key] += e[key]
        for key, value in e["month"].items():
            if isinstance(value, dict):  # revenue, ineligible_amount: {net, vat, gross}
                for part, amount in value.items():
                    total["month"][key][part] += amount
            else:
                total["month"][key] += value
        for g in e["granted_minutes"]:
            t = total["granted_minutes"].setdefault(g["fsiii"], {"buyers": {"citizens": 0, "weekly_minutes": 0},
                                                                   "non_buyers": {"citizens": 0, "weekly_minutes": 0}})
            for group in ("buyers", "non_buyers"):
                for key in ("citizens", "weekly_minutes"):
                    t[group][key] += g[group][key]
    total["granted_minutes"] = [{"fsiii": code, **total["granted_minutes"][code]}
                                for code in sorted(total["granted_minutes"])]
    return total


# -- the monthly series over a scheme's windows -------------------------------------------


def month_points(first: str, last: str) -> list[tuple[str, str]]:
    """(month, the date its stock figures are read on) for each month from `first` to `last`
    (ISO dates): the month's last day, or `last` in the final month."""
    out = []
    y, mth = int(first[:4]), int(first[5:7])
    while f"{y:04d}-{mth:02d}" <= last[:7]:
        end = month_end(date(y, mth, 1)).isoformat()
        out.append((f"{y:04d}-{mth:02d}", min(end, last)))
        y, mth = (y + 1, 1) if mth == 12 else (y, mth + 1)
    return out


def series(db: Database | Snapshot, municipality: int, known_at: str | date | datetime | None = None, suffix: str = "",
           first: str | None = None, last: str | None = None) -> dict[str, Any]:
    """Month by month across the scheme's windows (first window start to last window end, as
    known at K): buyers and citizens with grants on the month's last day, granted weekly minutes
    of buyers and non-buyers then, and the month's orders, deliveries, minutes and revenue."""
    k = known_key(known_at)
    with snapshot(db) as db:
        windows = _rows(db, f"SELECT window_start, window_end FROM {_t('tl_scheme_windows', suffix)} "
                            "WHERE municipality = ? AND recorded_from <= ? AND recorded_to > ? ORDER BY window_start",
                        [municipality, k, k])
        first = first or (windows[0][0] if windows else None)
        last = last or (max(w[1] for w in windows) if windows else None)
        out: dict[str, Any] = {"municipality": municipality, "known_at": None if k == KNOWN_NOW else shown_instant(k),
                               "windows": [list(w) for w in windows], "months": []}
        if first is None or last is None or first > last:
            return out
        points = month_points(first, last)
        stock = _series_stock(db, municipality, points, k, suffix)
        flows = _flows(db, [municipality], points[0][0], points[-1][0], k, suffix)
        for month, on in points:
            s = stock.get(on, {})
            out["months"].append({"month": month, "on": on, "buyers": s.get("buyers", 0),
                                  "citizens_with_active_grants": s.get("active", 0),
                                  "citizens_with_covered_grants": s.get("covered", 0),
                                  "granted_minutes": s.get("minutes", []), **flows[(municipality, month)]})
        return out


def _series_stock(db: Reader, m: int, points: list[tuple[str, str]], k: str, suffix: str) -> dict[str, dict]:
    days = [on for _, on in points]
    values = ", ".join("(?)" for _ in days)
    window = "x.municipality = ? AND x.recorded_from <= ? AND x.recorded_to > ? AND x.valid_from <= ? AND x.valid_to > ?"
    out: dict[str, dict[str, Any]] = {on: {"buyers": 0, "active": 0, "covered": 0, "minutes": []} for on in days}
    buyer_rows: dict[str, dict[tuple[int, str], tuple[int, int]]] = defaultdict(dict)
    for what, on, fsiii, n, total in _rows(
            db, f"WITH mo(d) AS (VALUES {values}), b AS (SELECT DISTINCT mo.d AS d, x.citizen_id "
                f"FROM {_t('tl_orders', suffix)} x JOIN mo ON x.valid_from <= mo.d AND x.valid_to > mo.d WHERE {window}) "
                "SELECT 'buyers', d, NULL, COUNT(*), 0 FROM b GROUP BY d UNION ALL "
                "SELECT 'minutes', b.d, g.fsiii, COUNT(DISTINCT g.citizen_id), SUM(g.weekly_minutes) "
                f"FROM b CROSS JOIN {_t('tl_grants', suffix)} g WHERE g.citizen_id = b.citizen_id AND g.valid_from <= b.d "
                "AND g.valid_to > b.d AND g.recorded_from <= ? AND g.recorded_to > ? GROUP BY b.d, g.fsiii",
            [*days, m, k, k, days[-1], days[0], k, k]):
        if what == "buyers":
            out[on]["buyers"] = int(n)
        else:
            buyer_rows[on][(m, fsiii)] = (int(n), int(total))
    rules = _rows(db, f"SELECT valid_from, valid_to, sections FROM {_t('tl_scheme_rules', suffix)} "
                      "WHERE municipality = ? AND recorded_from <= ? AND recorded_to > ?", [m, k, k])
    for on, totals in totals_at(db, [m], days, k, suffix).items():
        sections = next((r[2].split(",") for r in rules if r[0] <= on < r[1]), None)
        counts, minutes = _figures(totals, buyer_rows[on], m, sections)
        out[on].update(counts)
        out[on]["minutes"] = [{"fsiii": code, **v} for code, v in minutes.items()]
    return out
