"""The audit of add-ons against granted hours, read from the audit projection's tables (audit.py).

Sections, each per municipality and citizen:

* substitution: a cut in a citizen's granted weekly minutes in an FSIII code (au_cuts) within
  `window_days` before or after the start of an order of an add-on with the same FSIII code.
  One signal per cut, naming the grant events that made the cut and every such order's
  OrderPlaced event.
* overlap: an add-on priced as a new service (VAT "standard") bought by a citizen who holds a grant
  in the same FSIII code on the order's start date, or one sold VAT-exempt as "more of a granted
  service" to a citizen with no grant in that code then.
* full_cost: price versions with a band price below that band's full cost (or, asked for, above
  it: profit), beyond the rounding and a tolerance, or with a band whose cost is not stated, the days each was in force, and what invoice lines sold at it
  (their provenance price ref), less credit notes. The trials required the full cost, neither
  more nor less.
* ineligible: deliveries that a back-dated fact (a grant end, a provider change, a window change)
  made ineligible after they were invoiced, and the credit note lines that took them back. Read
  from the billing projection's re-rating lines (docs/adr/0011).
* completeness: billable deliveries an invoice run should have billed but did not; invoice lines
  whose delivery is unknown or was a missed visit; orders that started and were never delivered;
  orders with two or more deliveries on one date (a citizen may get two visits, so they are billed,
  but a clerk checks they are not one visit recorded twice).
* evaluation: month by month, granted weekly minutes of buyers and of non-buyers who started in
  the same grant band (total weekly minutes on the date of their first grant).

Only the audit projection's own tables are read. `suffix` reads rebuilt copies, as in
timeline_queries.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from itertools import accumulate
from datetime import date, timedelta
from typing import Any

import orjson

from ledger.db import Database
from ledger.domain.catalogue import off_cost
from ledger.projections.audit import START_BANDS, band_of  # noqa: F401 - band_of: evaluation_export's
from ledger.domain.values import month_end
from ledger.projections.timeline_queries import month_points

_SUFFIX = re.compile(r"^[a-z0-9_]{0,20}$")


def _t(name: str, suffix: str) -> str:
    if not _SUFFIX.match(suffix):
        raise ValueError(f"suffix {suffix!r}: at most 20 characters of a-z, 0-9, _")
    return f"{name}{suffix}"


def _period(date_from: str | None, date_to: str | None, column: str) -> tuple[str, list[str]]:
    sql, params = "", []
    if date_from:
        sql += f" AND {column} >= ?"
        params.append(date_from)
    if date_to:
        sql += f" AND {column} <= ?"
        params.append(date_to)
    return sql, params


# -- substitution -------------------------------------------------------------------------


def substitution(db: Database, m: int, window_days: int = 90, date_from: str | None = None,
                 date_to: str | None = None, suffix: str = "") -> list[dict[str, Any]]:
    extra, params = _period(date_from, date_to, "c.cut_on")
    # Driven by the municipality's orders (few: a citizen's cuts and orders are in their one
    # municipality), each looking up its citizen's cuts in its code by au_cuts' primary key; a
    # municipality has a hundred times more cuts than orders. CROSS JOIN keeps SQLite to that order,
    # and the unary plus keeps it from reading each order's cuts through (municipality, cut_on).
    rows = db.query(
        "SELECT c.citizen_id, c.fsiii, c.cut_on, c.minutes_before, c.minutes_after, c.grant_refs, o.order_id, o.ref, "
        "o.offer_id, o.start, o.start_day - c.cut_day "
        f"FROM {_t('au_orders', suffix)} o CROSS JOIN {_t('au_cuts', suffix)} c "
        "WHERE o.municipality = ? AND o.ran = 1 AND c.citizen_id = o.citizen_id AND c.fsiii = o.fsiii "
        "AND o.start_day >= c.cut_day - ? AND o.start_day <= c.cut_day + ? "
        f"AND +c.municipality = ?{extra} ORDER BY c.citizen_id, c.fsiii, c.cut_on, o.start, o.order_id",
        [m, window_days, window_days, m, *params])
    signals: dict[tuple[str, str, str], dict[str, Any]] = {}
    for citizen, fsiii, cut_on, before, after, grant_refs, order_id, order_ref, offer_id, start, gap in rows:
        s = signals.setdefault((citizen, fsiii, cut_on), {
            "citizen_id": citizen, "fsiii": fsiii, "cut_on": cut_on, "minutes_before": before,
            "minutes_after": after, "grant_refs": orjson.loads(grant_refs), "orders": [], "order_refs": []})
        s["orders"].append({"order_id": order_id, "offer_id": offer_id, "start": start, "days_after_cut": int(gap)})
        s["order_refs"].append(order_ref)
    return list(signals.values())


# -- overlap ------------------------------------------------------------------------------


def overlap(db: Database, m: int, date_from: str | None = None, date_to: str | None = None,
            suffix: str = "") -> list[dict[str, Any]]:
    extra, params = _period(date_from, date_to, "o.start")
    rows = db.query(
        "SELECT o.order_id, o.citizen_id, o.offer_id, o.fsiii, o.vat_class, o.start, o.ref, g.grant_id, g.ref "
        f"FROM {_t('au_orders', suffix)} o LEFT JOIN {_t('au_grants', suffix)} g ON g.citizen_id = o.citizen_id "
        "AND g.fsiii = o.fsiii AND g.valid_from <= o.start AND g.valid_to > o.start "
        f"WHERE o.municipality = ? AND o.ran = 1{extra} ORDER BY o.citizen_id, o.start, o.order_id, g.grant_id",
        [m, *params])
    orders: dict[str, dict[str, Any]] = {}
    for order_id, citizen, offer_id, fsiii, vat, start, ref, grant_id, grant_ref in rows:
        o = orders.setdefault(order_id, {"order_id": order_id, "citizen_id": citizen, "offer_id": offer_id,
                                         "fsiii": fsiii, "vat_class": vat, "start": start, "order_ref": ref,
                                         "grant_refs": []})
        if grant_id is not None:
            o["grant_refs"].append(grant_ref)
    out = []
    for o in orders.values():
        if o["vat_class"] == "standard" and o["grant_refs"]:
            out.append({"finding": "granted_service_sold_as_new", **o})
        elif o["vat_class"] == "exempt" and not o["grant_refs"]:
            out.append({"finding": "extra_service_without_grant", **o})
    return out


# -- full cost ----------------------------------------------------------------------------


def scheme_windows(db: Database, m: int, suffix: str = "") -> list[list[str]]:
    rows = db.query(f"SELECT windows FROM {_t('au_schemes', suffix)} WHERE municipality = ?", [m])
    return orjson.loads(rows[0][0]) if rows else []


def _days(a: str, b_exclusive: str) -> int:
    return max((date.fromisoformat(b_exclusive) - date.fromisoformat(a)).days, 0)


def _bands_off(prices: dict[str, int], costs: dict[str, int | None], tolerance_bp: int) -> dict[str, str]:
    """band -> 'below', 'above' or 'cost not stated' for each band not at its full cost (the
    domain's rule, `off_cost`, with the auditor's extra tolerance in basis points of the cost)."""
    out = {}
    for b, p in prices.items():
        off = off_cost(p, costs[b], tolerance_bp)
        if off is not None:
            out[b] = off
    return out


def full_cost(db: Database, m: int, date_from: str | None = None, date_to: str | None = None,
              suffix: str = "", direction: str = "below", tolerance_bp: int = 0) -> list[dict[str, Any]]:
    """Price versions off full cost with the exact days they were in force: a band priced below
    that band's full cost (the default, a cross-subsidy), above it (profit) beyond the rounding to
    whole kroner, or both; `tolerance_bp` (basis points of the band's cost) allows more. A version
    with a band whose cost it does not state (recorded before costs were kept per band, docs/adr/0027)
    is listed too, whatever the direction: its evening and weekend prices can be neither confirmed
    nor faulted ('cost not stated', never 'above' or 'below'). A version with no end yet is counted
    to the end of the audit period (`date_to`), or else of the scheme's last window; with neither,
    its days are open (None)."""
    assert direction in ("below", "above", "both"), direction
    windows = scheme_windows(db, m, suffix)
    horizon = date_to or (max(w[1] for w in windows) if windows else None)
    rows = db.query(
        "SELECT p.price_ref, p.offer_id, p.name, p.fsiii, p.vat_class, p.status, p.effective, p.valid_from, p.valid_to, "
        "p.price_weekday_day, p.price_evening, p.price_weekend, p.cost_weekday_day, p.cost_evening, p.cost_weekend, "
        "p.cost_basis, p.retired_from, "
        "p.replaced_by, r.lines, r.net, r.vat, r.gross, r.credited_lines, r.credited_net, r.credited_vat, "
        f"r.credited_gross FROM {_t('au_prices', suffix)} p LEFT JOIN {_t('au_revenue', suffix)} r "
        "ON r.price_ref = p.price_ref WHERE p.municipality = ? "
        "ORDER BY p.offer_id, p.effective, p.price_ref", [m])
    out = []
    wanted = {"below": ("below",), "above": ("above",), "both": ("below", "above")}[direction]
    for (ref, offer_id, name, fsiii, vat, status, eff, vf, vt, p_day, p_eve, p_wkd, c_day, c_eve, c_wkd, basis, retired,
         replaced_by, lines, net, vat_amt, gross, c_lines, c_net, c_vat, c_gross) in rows:
        prices = {"weekday_day": p_day, "evening": p_eve, "weekend": p_wkd}
        costs = {"weekday_day": c_day, "evening": c_eve, "weekend": c_wkd}
        bands = _bands_off(prices, costs, tolerance_bp)
        found = [b for b, why in bands.items() if why in wanted]
        unstated = [b for b, why in bands.items() if why == "cost not stated"]
        if not found and not unstated:
            continue
        off = next((d for d in wanted if d in (bands[b] for b in found)), "cost not stated")
        stated = [(prices[b], c) for b, c in costs.items() if c is not None]
        start = max(vf, date_from) if date_from else vf
        end = vt if vt is not None else (
            (date.fromisoformat(horizon) + timedelta(days=1)).isoformat() if horizon else None)
        if end is not None and date_to:
            end = min(end, (date.fromisoformat(date_to) + timedelta(days=1)).isoformat())
        days = _days(start, end) if end is not None else None
        if (date_from or date_to) and days == 0 and status == "in_force":
            continue  # not in force within the audit period
        out.append({
            "price_ref": ref, "offer_id": offer_id, "name": name, "fsiii": fsiii, "vat_class": vat, "status": status,
            "effective": eff, "in_force_from": start if days else None,
            "in_force_to": (date.fromisoformat(end) - timedelta(days=1)).isoformat() if days and end else None,
            "open_ended": vt is None and status == "in_force", "days_in_force": days,
            "prices": prices, "costs": costs, "cost_basis": orjson.loads(basis),
            "direction": off,
            "bands_below_cost": [b for b, why in bands.items() if why == "below"],
            "bands_above_cost": [b for b, why in bands.items() if why == "above"],
            "bands_cost_not_stated": unstated,
            "excess_per_unit": max((p - c for p, c in stated), default=0),
            "shortfall_per_unit": max((c - p for p, c in stated), default=0),
            "retired_from": retired, "replaced_by": replaced_by,
            "sold": {"lines": lines or 0, "net": net or 0, "vat": vat_amt or 0, "gross": gross or 0,
                     "credited_lines": c_lines or 0, "credited_net": c_net or 0, "credited_gross": c_gross or 0,
                     "net_after_credits": (net or 0) - (c_net or 0),
                     "gross_after_credits": (gross or 0) - (c_gross or 0)},
        })
    return out


# -- ineligible deliveries ------------------------------------------------------------------

INELIGIBLE = ("no-active-grant", "provider-not-municipal", "outside-window")


def _has_table(db: Database, name: str) -> bool:
    if db.is_postgres:
        return db.query("SELECT to_regclass(?) IS NOT NULL", [name])[0][0]
    return bool(db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]))


def ineligible(db: Database, m: int, date_from: str | None = None, date_to: str | None = None) -> list[dict[str, Any]]:
    """Deliveries invoiced and later found ineligible on their date (as the facts are known now),
    with the credit note line that took each back and the events that took the eligibility away."""
    if not _has_table(db, "billing_credit_note_lines"):
        return []  # the billing projection was never built here: nothing was credited
    marks = ",".join("?" * len(INELIGIBLE))
    rows = db.query(
        "SELECT n.number, n.citizen_id, n.issued_on, l.invoice_number, l.invoice_line_no, l.billing_key, "
        "d.service_date, l.offer_id, l.gross, l.why, l.caused_by FROM billing_credit_note_lines l "
        "JOIN billing_credit_notes n ON n.number = l.number "
        "LEFT JOIN billing_deliveries d ON d.delivery_id = l.billing_key "
        f"WHERE n.municipality = ? AND l.why IN ({marks}) ORDER BY d.service_date, l.billing_key", [m, *INELIGIBLE])
    out = []
    for number, citizen, issued, invoice, line_no, key, day, offer, gross, why, causes in rows:
        if (date_from and day and day < date_from) or (date_to and day and day > date_to):
            continue
        out.append({"delivery_id": key, "citizen_id": citizen, "service_date": day, "offer_id": offer,
                    "invoice_number": invoice, "invoice_line_no": line_no, "credit_note": number,
                    "credited_on": issued, "credited_gross": gross, "why": why,
                    "caused_by": causes.split() if causes else []})
    return out


# -- completeness -------------------------------------------------------------------------


def completeness(db: Database, m: int, as_of: str, date_from: str | None = None, date_to: str | None = None,
                 suffix: str = "") -> dict[str, list[dict[str, Any]]]:
    d_extra, d_params = _period(date_from, date_to, "d.date")
    uninvoiced = db.query(
        "SELECT d.delivery_id, d.citizen_id, d.order_id, d.offer_id, d.date, d.minutes, d.ref, "
        f"(SELECT MIN(r.month) FROM {_t('au_invoice_runs', suffix)} r WHERE r.municipality = d.municipality "
        "AND r.month >= d.month AND r.position > d.position) "
        f"FROM {_t('au_deliveries', suffix)} d WHERE d.municipality = ? AND d.delivered = 1 AND d.klippekort = 0 "
        f"AND d.withdrawn IS NULL{d_extra} "
        f"AND NOT EXISTS (SELECT 1 FROM {_t('au_invoice_lines', suffix)} l WHERE l.delivery_id = d.delivery_id) "
        f"AND EXISTS (SELECT 1 FROM {_t('au_invoice_runs', suffix)} r WHERE r.municipality = d.municipality "
        "AND r.month >= d.month AND r.position > d.position) ORDER BY d.citizen_id, d.date, d.delivery_id",
        [m, *d_params])
    l_extra, l_params = _period(date_from, date_to, "l.service_date")
    orphan_lines = db.query(
        "SELECT l.invoice_number, l.line_no, l.citizen_id, l.delivery_id, l.order_id, l.service_date, l.net, l.gross, "
        f"l.ref, CASE WHEN d.delivery_id IS NULL THEN 'unknown_delivery' ELSE 'missed_visit' END "
        f"FROM {_t('au_invoice_lines', suffix)} l LEFT JOIN {_t('au_deliveries', suffix)} d "
        "ON d.delivery_id = l.delivery_id WHERE l.municipality = ? AND l.kind = 'delivery' "
        f"AND (d.delivery_id IS NULL OR d.delivered = 0){l_extra} ORDER BY l.invoice_number, l.line_no",
        [m, *l_params])
    o_extra, o_params = _period(date_from, date_to, "o.start")
    undelivered = db.query(
        "SELECT o.order_id, o.citizen_id, o.offer_id, o.kind, o.start, o.end_on, o.cancelled_from, o.missed, o.ref "
        f"FROM {_t('au_orders', suffix)} o WHERE o.municipality = ? AND o.ran = 1 AND o.deliveries = 0 "
        f"AND o.start <= ?{o_extra} ORDER BY o.citizen_id, o.start, o.order_id", [m, as_of, *o_params])
    s_extra, s_params = _period(date_from, date_to, "x.date")
    # One pass over the municipality's deliveries, each counted with the others of its order and
    # date (a window), then the few found looked up in the invoice lines. Not a join of the
    # deliveries with their own GROUP BY: without planner statistics (a rebuilt table before its
    # first ANALYZE) PostgreSQL re-ran that GROUP BY once per delivery (0.5 s for a large
    # municipality), and it planned MIN(...) as a subquery per row as a walk of au_invoice_lines
    # in invoice order.
    cols = ", ".join(f"x.{c}" for c in ("order_id", "date", "citizen_id", "offer_id", "delivery_id", "minutes",
                                        "klippekort", "ref"))
    same_day = db.query(
        f"SELECT {cols}, MIN(l.invoice_number) FROM (SELECT {cols}, COUNT(*) OVER (PARTITION BY x.order_id, x.date) "
        f"AS n FROM {_t('au_deliveries', suffix)} x WHERE x.municipality = ? AND x.delivered = 1 "
        f"AND x.withdrawn IS NULL{s_extra}) x "
        f"LEFT JOIN {_t('au_invoice_lines', suffix)} l ON l.delivery_id = x.delivery_id WHERE x.n > 1 "
        f"GROUP BY {cols} ORDER BY x.citizen_id, x.date, x.order_id, x.delivery_id", [m, *s_params])
    twice: dict[tuple[str, str], dict[str, Any]] = {}
    for order_id, on, citizen, offer_id, delivery_id, minutes, klippekort, ref, invoice in same_day:
        finding = twice.setdefault((order_id, on), {"order_id": order_id, "date": on, "citizen_id": citizen,
                                                    "offer_id": offer_id, "deliveries": []})
        finding["deliveries"].append({"delivery_id": delivery_id, "minutes": minutes, "klippekort": bool(klippekort),
                                      "invoice_number": invoice, "delivery_ref": ref})
    return {
        "uninvoiced_deliveries": [
            {"delivery_id": r[0], "citizen_id": r[1], "order_id": r[2], "offer_id": r[3], "date": r[4],
             "minutes": r[5], "delivery_ref": r[6], "missed_by_run_for": r[7]} for r in uninvoiced],
        "lines_without_delivery": [
            {"invoice_number": r[0], "line_no": r[1], "citizen_id": r[2], "delivery_id": r[3], "order_id": r[4],
             "service_date": r[5], "net": r[6], "gross": r[7], "invoice_ref": r[8], "problem": r[9]}
            for r in orphan_lines],
        "orders_never_delivered": [
            {"order_id": r[0], "citizen_id": r[1], "offer_id": r[2], "kind": r[3], "start": r[4], "end": r[5],
             "cancelled_from": r[6], "missed_visits": r[7], "order_ref": r[8]} for r in undelivered],
        "same_day_deliveries": list(twice.values()),
    }


# -- evaluation ---------------------------------------------------------------------------


def monthly_grants(db: Database, m: int, days: list[str], by_code: bool = False, suffix: str = ""
                   ) -> dict[tuple[str, ...], list[list[int]]]:
    """Granted services read on each of `days` (sorted), per (starting band, buyer "1"/"0"[, code]):
    group → [citizens per day, weekly minutes per day].

    Without codes: the municipality's totals per band are summed from au_eval_years (a row per
    year with the changes by band and month, and by day for a figure read mid-month), the
    buyers' from their own grant rows (`_scanned`), and the non-buyers' are the difference; so
    the cost does not grow with the municipality's grants. By code: one pass over all the
    municipality's grant rows."""
    if by_code:
        return _scanned(db, m, days, True, False, suffix)
    out = _scanned(db, m, days, False, True, suffix)
    n = len(days)
    by_band: dict[str, list[tuple[str, int, int]]] = {}
    by_day: dict[str, Any] = {}  # year -> its `days` (JSON text, parsed when a figure is read mid-month)
    for year, months, changes in db.query(
            f"SELECT year, months, days FROM {_t('au_eval_years', suffix)} "
            "WHERE municipality = ? AND year <= ? ORDER BY year", [m, days[-1][:4]]):
        by_day[year] = changes
        for band, of_band in orjson.loads(months).items():
            by_band.setdefault(band, []).extend((month, c, mins) for month, (c, mins) in sorted(of_band.items()))
    for band, months_ in by_band.items():
        series: list[list[int]] = [[0] * n, [0] * n]
        k, sums = 0, [0, 0]  # the sums of months_[:k]
        for i, day in enumerate(days):
            month = day[:7]
            while k < len(months_) and months_[k][0] < month:
                sums[0] += months_[k][1]
                sums[1] += months_[k][2]
                k += 1
            citizens, minutes = sums
            if day >= month_end(date.fromisoformat(day)).isoformat():
                if k < len(months_) and months_[k][0] == month:  # the day's own month, all of it
                    citizens, minutes = citizens + months_[k][1], minutes + months_[k][2]
            elif by_day.get(day[:4]) is not None:  # mid-month: the changes of its days up to `day`
                if isinstance(by_day[day[:4]], str):
                    by_day[day[:4]] = orjson.loads(by_day[day[:4]])
                for on, (dc, dm) in by_day[day[:4]].get(band, {}).items():
                    if on[:7] == month and on <= day:
                        citizens, minutes = citizens + dc, minutes + dm
            series[0][i], series[1][i] = citizens, minutes
        buyers = out.get((band, "1"), [[0] * n, [0] * n])
        rest = [[t - b for t, b in zip(series[j], buyers[j])] for j in (0, 1)]
        if any(rest[0]):
            out[(band, "0")] = rest
    return out


def _scanned(db: Database, m: int, days: list[str], by_code: bool, buyers_only: bool, suffix: str
             ) -> dict[tuple[str, ...], list[list[int]]]:
    """monthly_grants from the grant rows themselves (`buyers_only`: those of buyers).

    One pass over the grant pieces: each adds its minutes to the run of days it covers as two
    deltas (start, end) and the counts come from each citizen's merged runs, so the cost is one
    row read per piece, not one per piece and month."""
    buyers = {r[0] for r in db.query(
        f"SELECT DISTINCT citizen_id FROM {_t('au_orders', suffix)} WHERE municipality = ? AND ran = 1", [m])}
    n = len(days)
    minutes: dict[tuple[str, ...], list[int]] = {}
    spans: dict[tuple[tuple[str, ...], str], list[tuple[int, int]]] = {}
    grants, citizens = _t("au_grants", suffix), _t("au_citizens", suffix)
    if buyers_only:  # driven by the buyers (few), each one's grant rows by primary key
        sql = (f"SELECT g.citizen_id, g.fsiii, g.valid_from, g.valid_to, g.weekly_minutes, c.start_minutes "
               f"FROM (SELECT DISTINCT citizen_id FROM {_t('au_orders', suffix)} WHERE municipality = ? AND ran = 1) b "
               f"CROSS JOIN {grants} g JOIN {citizens} c ON c.citizen_id = g.citizen_id "
               "WHERE g.citizen_id = b.citizen_id AND +g.municipality = ? AND g.valid_from <= ? AND g.valid_to > ?")
        params: list[Any] = [m, m, days[-1], days[0]]
    else:
        sql = (f"SELECT g.citizen_id, g.fsiii, g.valid_from, g.valid_to, g.weekly_minutes, c.start_minutes "
               f"FROM {grants} g JOIN {citizens} c ON c.citizen_id = g.citizen_id "
               "WHERE g.municipality = ? AND g.valid_from <= ? AND g.valid_to > ?")
        params = [m, days[-1], days[0]]
    for citizen, fsiii, vf, vt, weekly, start_minutes in db.query(sql, params):
        i, j = bisect_left(days, vf), bisect_left(days, vt)  # the days d with vf <= d < vt
        if i >= j:
            continue
        group = (band_of(int(start_minutes)), "1" if citizen in buyers else "0") + ((fsiii,) if by_code else ())
        deltas = minutes.setdefault(group, [0] * (n + 1))
        deltas[i] += weekly
        deltas[j] -= weekly
        spans.setdefault((group, citizen), []).append((i, j))
    counts: dict[tuple[str, ...], list[int]] = {}
    for (group, _citizen), runs in spans.items():
        deltas = counts.setdefault(group, [0] * (n + 1))
        runs.sort()
        start, end = runs[0]
        for i, j in runs[1:]:
            if i > end:
                deltas[start] += 1
                deltas[end] -= 1
                start, end = i, j
            else:
                end = max(end, j)
        deltas[start] += 1
        deltas[end] -= 1
    out = {}
    for group in minutes:
        out[group] = [list(accumulate(counts[group][:n])), list(accumulate(minutes[group][:n]))]
    return out


def evaluation(db: Database, m: int, date_from: str | None = None, date_to: str | None = None,
               suffix: str = "") -> list[dict[str, Any]]:
    """Per month (read on its last day) and starting band: buyers' and non-buyers' citizens with
    granted minutes, their total and mean weekly minutes. Buyers are citizens with at least one
    order that ran; the period defaults to the scheme's windows."""
    windows = scheme_windows(db, m, suffix)
    first = date_from or (windows[0][0] if windows else None)
    last = date_to or (max(w[1] for w in windows) if windows else None)
    if first is None or last is None or first > last:
        return []
    points = month_points(first, last)
    series = monthly_grants(db, m, [on for _, on in points], suffix=suffix)
    out = []
    for index, (month, on) in enumerate(points):
        for label, _low, _high in START_BANDS:
            cell = _empty_cell()
            for buyer, name in (("1", "buyers"), ("0", "non_buyers")):
                found = series.get((label, buyer))
                if found and found[0][index]:
                    citizens, total = found[0][index], found[1][index]
                    cell[name] = {"citizens": citizens, "weekly_minutes": total,
                                  "mean_weekly_minutes": round(total / citizens, 1)}
            out.append({"month": month, "on": on, "start_band": label, **cell})
    return out


def _empty_cell() -> dict[str, Any]:
    return {"buyers": {"citizens": 0, "weekly_minutes": 0, "mean_weekly_minutes": None},
            "non_buyers": {"citizens": 0, "weekly_minutes": 0, "mean_weekly_minutes": None}}


# -- everything ---------------------------------------------------------------------------

SECTIONS = ("substitution", "overlap", "full_cost", "ineligible", "completeness", "evaluation")


def audit(db: Database, municipality: int, *, date_from: str | None = None, date_to: str | None = None,
          window_days: int = 90, as_of: str | None = None, sections: Sequence[str] = SECTIONS,
          suffix: str = "", full_cost_tolerance_bp: int | None = None) -> dict[str, Any]:
    """The audit of one municipality. `as_of` (default today, or `date_to`) is the date by which an
    order should have had a delivery."""
    as_of = as_of or date_to or date.today().isoformat()
    out: dict[str, Any] = {"municipality": municipality, "from": date_from, "to": date_to,
                           "substitution_window_days": window_days}
    if "substitution" in sections:
        out["substitution"] = substitution(db, municipality, window_days, date_from, date_to, suffix)
    if "overlap" in sections:
        out["overlap"] = overlap(db, municipality, date_from, date_to, suffix)
    if "full_cost" in sections:
        if full_cost_tolerance_bp is None:
            from ledger.settings import Settings

            full_cost_tolerance_bp = Settings.from_env().full_cost_tolerance_bp
        # Full cost both ways: neither a cross-subsidy (below) nor a profit (above).
        out["full_cost"] = full_cost(db, municipality, date_from, date_to, suffix, direction="both",
                                     tolerance_bp=full_cost_tolerance_bp)
    if "ineligible" in sections:
        out["ineligible"] = ineligible(db, municipality, date_from, date_to)
    if "completeness" in sections:
        out["completeness"] = completeness(db, municipality, as_of, date_from, date_to, suffix)
    if "evaluation" in sections:
        out["evaluation"] = evaluation(db, municipality, date_from, date_to, suffix)
    return out
