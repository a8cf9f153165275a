"""The evaluators' extract (what VIVE collected): offered add-ons with prices over time, sales,
buyers, and granted services over time for buyers and comparable non-buyers, as CSV files.

Everything is read from the audit projection's tables (history as now known). Citizens appear
only as a buyer number local to one export (1, 2, ... by first purchase); pseudonyms are not
written, so an extract cannot be joined back to the ledger or to another extract by citizen.
Columns are documented in docs/evaluation-export.md; money is integer øre.
"""

from __future__ import annotations

import csv
import re
import secrets
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from ledger.db import Database
from ledger.projections.audit_queries import band_of, monthly_grants, scheme_windows
from ledger.projections.timeline_queries import month_points

_SUFFIX = re.compile(r"^[a-z0-9_]{0,20}$")

OFFER_COLUMNS = ("municipality", "offer_id", "name", "kind", "unit", "fsiii", "vat_class", "valid_from", "valid_to",
                 "days_in_force", "price_weekday_day", "price_evening", "price_weekend", "cost_weekday_day",
                 "cost_evening", "cost_weekend", "below_cost", "retired_from")
SALES_COLUMNS = ("municipality", "month", "offer_id", "orders_started", "buyers", "deliveries", "delivered_minutes",
                 "invoiced_lines", "invoiced_net", "invoiced_vat", "invoiced_gross", "credited_gross")
BUYER_COLUMNS = ("municipality", "buyer_no", "start_band", "start_weekly_minutes", "first_grant_on", "first_order_on",
                 "orders", "offers", "fsiii_codes", "deliveries", "delivered_minutes", "invoiced_gross")
GRANTED_COLUMNS = ("municipality", "month", "on", "fsiii", "start_band", "group", "citizens", "weekly_minutes",
                   "mean_weekly_minutes")


def _t(name: str, suffix: str) -> str:
    if not _SUFFIX.match(suffix):
        raise ValueError(f"suffix {suffix!r}: at most 20 characters of a-z, 0-9, _")
    return f"{name}{suffix}"


def offers(db: Database, m: int, suffix: str = "") -> list[dict[str, Any]]:
    """Each price version that was in force on at least one day, in offer and date order."""
    out = []
    for (offer_id, name, kind, unit, fsiii, vat, vf, vt, p_day, p_eve, p_wkd, c_day, c_eve, c_wkd, below,
         retired) in db.query(
            "SELECT offer_id, name, kind, unit, fsiii, vat_class, valid_from, valid_to, price_weekday_day, "
            "price_evening, price_weekend, cost_weekday_day, cost_evening, cost_weekend, below_cost, retired_from "
            f"FROM {_t('au_prices', suffix)} "
            "WHERE municipality = ? AND status = 'in_force' AND (valid_to IS NULL OR valid_to > valid_from) "
            "ORDER BY offer_id, valid_from", [m]):
        last = None if vt is None else (date.fromisoformat(vt) - timedelta(days=1)).isoformat()
        days = None if vt is None else (date.fromisoformat(vt) - date.fromisoformat(vf)).days
        out.append({"municipality": m, "offer_id": offer_id, "name": name, "kind": kind, "unit": unit, "fsiii": fsiii,
                    "vat_class": vat, "valid_from": vf, "valid_to": last, "days_in_force": days,
                    "price_weekday_day": p_day, "price_evening": p_eve, "price_weekend": p_wkd,
                    "cost_weekday_day": c_day, "cost_evening": c_eve, "cost_weekend": c_wkd,
                    "below_cost": int(below), "retired_from": retired})
    return out


def sales(db: Database, m: int, suffix: str = "") -> list[dict[str, Any]]:
    """Per month and offer: orders started, buyers served, deliveries (not withdrawn) and their
    minutes, and what was invoiced for the month (billing month of the invoice lines)."""
    cells: dict[tuple[str, str], dict[str, Any]] = {}

    def cell(month: str, offer_id: str) -> dict[str, Any]:
        return cells.setdefault((month, offer_id), {
            "municipality": m, "month": month, "offer_id": offer_id, "orders_started": 0, "buyers": 0,
            "deliveries": 0, "delivered_minutes": 0, "invoiced_lines": 0, "invoiced_net": 0, "invoiced_vat": 0,
            "invoiced_gross": 0, "credited_gross": 0})

    for month, offer_id, n in db.query(
            f"SELECT substr(start, 1, 7), offer_id, COUNT(*) FROM {_t('au_orders', suffix)} "
            "WHERE municipality = ? AND ran = 1 GROUP BY 1, 2", [m]):
        cell(month, offer_id)["orders_started"] = int(n)
    for month, offer_id, n, buyers, minutes in db.query(
            f"SELECT month, offer_id, COUNT(*), COUNT(DISTINCT citizen_id), SUM(minutes) FROM {_t('au_deliveries', suffix)} "
            "WHERE municipality = ? AND delivered = 1 AND withdrawn IS NULL GROUP BY 1, 2", [m]):
        c = cell(month, offer_id)
        c["deliveries"], c["buyers"], c["delivered_minutes"] = int(n), int(buyers), int(minutes or 0)
    for month, offer_id, n, net, vat, gross, credited in db.query(
            "SELECT month, offer_id, COUNT(*), SUM(net), SUM(vat), SUM(gross), "
            f"SUM(CASE WHEN credit_note IS NULL THEN 0 ELSE gross END) FROM {_t('au_invoice_lines', suffix)} "
            "WHERE municipality = ? AND offer_id IS NOT NULL GROUP BY 1, 2", [m]):
        c = cell(month, offer_id)
        c.update(invoiced_lines=int(n), invoiced_net=int(net), invoiced_vat=int(vat), invoiced_gross=int(gross),
                 credited_gross=int(credited))
    return [cells[k] for k in sorted(cells)]


def buyers(db: Database, m: int, suffix: str = "") -> list[dict[str, Any]]:
    """One row per citizen with an order that ran, numbered by first purchase."""
    rows = db.query(
        "SELECT o.citizen_id, MIN(o.start), COUNT(*), c.first_grant_on, c.start_minutes "
        f"FROM {_t('au_orders', suffix)} o LEFT JOIN {_t('au_citizens', suffix)} c ON c.citizen_id = o.citizen_id "
        "WHERE o.municipality = ? AND o.ran = 1 GROUP BY o.citizen_id, c.first_grant_on, c.start_minutes "
        "ORDER BY MIN(o.start), o.citizen_id", [m])
    offers_of: dict[str, set[str]] = {}
    codes_of: dict[str, set[str]] = {}
    for citizen, offer_id, fsiii in db.query(
            f"SELECT citizen_id, offer_id, fsiii FROM {_t('au_orders', suffix)} WHERE municipality = ? AND ran = 1", [m]):
        offers_of.setdefault(citizen, set()).add(offer_id)
        codes_of.setdefault(citizen, set()).add(fsiii)
    delivered = {c: (int(n), int(mins or 0)) for c, n, mins in db.query(
        f"SELECT citizen_id, COUNT(*), SUM(minutes) FROM {_t('au_deliveries', suffix)} WHERE municipality = ? "
        "AND delivered = 1 AND withdrawn IS NULL GROUP BY citizen_id", [m])}
    invoiced = {c: int(g or 0) for c, g in db.query(
        f"SELECT citizen_id, SUM(CASE WHEN credit_note IS NULL THEN gross ELSE 0 END) FROM {_t('au_invoice_lines', suffix)} "
        "WHERE municipality = ? GROUP BY citizen_id", [m])}
    out = []
    for number, (citizen, first_order, orders, first_grant, start_minutes) in enumerate(rows, start=1):
        n, minutes = delivered.get(citizen, (0, 0))
        out.append({"municipality": m, "buyer_no": number,
                    "start_band": band_of(int(start_minutes)) if start_minutes is not None else None,
                    "start_weekly_minutes": start_minutes, "first_grant_on": first_grant,
                    "first_order_on": first_order, "orders": int(orders),
                    "offers": ";".join(sorted(offers_of.get(citizen, ()))),
                    "fsiii_codes": ";".join(sorted(codes_of.get(citizen, ()))), "deliveries": n,
                    "delivered_minutes": minutes, "invoiced_gross": invoiced.get(citizen, 0)})
    return out


def granted_services(db: Database, m: int, first: str | None = None, last: str | None = None,
                     suffix: str = "") -> list[dict[str, Any]]:
    """Per month (read on its last day), FSIII code, starting band and group (buyers or
    non-buyers): citizens with that granted service, their total and mean weekly minutes.
    The months default to the scheme's windows."""
    windows = scheme_windows(db, m, suffix)
    first = first or (windows[0][0] if windows else None)
    last = last or (max(w[1] for w in windows) if windows else None)
    if first is None or last is None or first > last:
        return []
    points = month_points(first, last)
    series = monthly_grants(db, m, [on for _, on in points], by_code=True, suffix=suffix)
    out = []
    for index, (month, on) in enumerate(points):
        for (band, buyer, fsiii), (citizens, minutes) in sorted(series.items(), key=lambda x: (x[0][2], x[0][0], x[0][1])):
            if citizens[index]:
                out.append({"municipality": m, "month": month, "on": on, "fsiii": fsiii, "start_band": band,
                            "group": "buyers" if buyer == "1" else "non_buyers", "citizens": citizens[index],
                            "weekly_minutes": minutes[index],
                            "mean_weekly_minutes": f"{minutes[index] / citizens[index]:.1f}"})
    return out


# Each file's columns and the function that gives its rows for one municipality.
FILES: dict[str, tuple[Sequence[str], Callable[..., list[dict[str, Any]]]]] = {
    "offers.csv": (OFFER_COLUMNS, offers),
    "sales.csv": (SALES_COLUMNS, sales),
    "buyers.csv": (BUYER_COLUMNS, buyers),
    "granted_services.csv": (GRANTED_COLUMNS, granted_services),
}


def write_evaluation(db: Database, municipalities: Sequence[int], out_dir: str | Path,
                     suffix: str = "") -> dict[str, int]:
    """Write the four CSV files for these municipalities into `out_dir` (created if missing);
    returns rows written per file."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for filename, (columns, fn) in FILES.items():
        rows = [r for m in municipalities for r in fn(db, m, suffix=suffix)]
        with open(out / filename, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(columns)
            for r in rows:
                writer.writerow(["" if r.get(c) is None else r[c] for c in columns])
        counts[filename] = len(rows)
    return counts


# -- the evaluation export as of (D, K) -------------------------------------------------------
# `ledger export evaluation --as-of D --known-at K`: what was true on D (effective time) as the
# records showed at K (recorded time). K is served by rebuilding the audit projection into tables
# of its own from only the events recorded by K (the engine's `until_recorded`), so the export
# at (D, K) is by construction what a store holding only those events would give (a test checks
# that against such a store); D then bounds every period and date read.

EXPORT_SUFFIX = "_evx"
SECTIONS = ("83", "85")
REACH_COLUMNS = ("municipality", "period_type", "period", "first_day", "last_day", "recipients",
                 *(f"{w}_{s}" for s in SECTIONS for w in ("with", "without")),
                 "buyers", "orders", "deliveries", "delivered_minutes", "adjacent_deliveries")
ITEM_COLUMNS = ("municipality", "month", "offer_id", "orders_started", "buyers", "deliveries", "delivered_minutes",
                "adjacent_deliveries", "invoiced_lines", "invoiced_net", "invoiced_vat", "invoiced_gross",
                "credited_gross")


def _periods(first: str, last: str) -> list[tuple[str, str, str, str]]:
    """(type, label, first day, last day) for each month, each calendar year and the whole span."""
    out = []
    for month, on in month_points(first, last):
        out.append(("month", month, max(first, month + "-01"), min(on, last)))
    for year in range(int(first[:4]), int(last[:4]) + 1):
        out.append(("year", str(year), max(first, f"{year}-01-01"), min(last, f"{year}-12-31")))
    out.append(("trial", f"{first}..{last}", first, last))
    return out


SURVEY_COLUMNS = ("municipality", "round_id", "measure", "group", "responses", "answered", "score_1", "score_2",
                  "score_3", "score_4", "score_5", "mean_score")


def scan_log(db: Database, known_at: str | None, until: int | None = None
             ) -> tuple[set[str], dict[str, dict[str, Any]], int]:
    """One pass over the log up to `until` (the head when None), keeping the events recorded by
    `known_at`: ids of deliveries made straight after a granted visit, the survey responses (by
    response id), and the last log position read. (Events recorded by K are not a prefix of the
    log: a batch stores each aggregate's events together, so the cut at K is by recorded time and
    the position says how much of the log it was taken from.)"""
    from ledger.projections.reader import read_batches

    flagged: set[str] = set()
    surveys: dict[str, dict[str, Any]] = {}
    position = 0
    for last, events in read_batches(db, 0, until, 10_000, known_at):
        position = max(position, last)
        for e in events:
            if e.name == "DeliveryRecorded" and e.state.get("after_granted_visit"):
                flagged.add(e.originator_id)
            elif e.name == "SurveyResponseRecorded":
                st = e.state
                surveys[e.originator_id] = {"municipality": st["municipality"], "citizen_id": st["citizen_id"],
                                            "round_id": st["round_id"], "answered_on": st["effective"],
                                            "answers": st["answers"]}
    return flagged, surveys, position


def survey_table(db: Database, m: int, as_of: str | None, responses: dict[str, dict[str, Any]],
                 suffix: str = "") -> list[dict[str, Any]]:
    """Per round, measure and group (buyers: a delivery on or before the answer; non-buyers: the
    others): responses, how many answered the measure, the count of each score and the mean."""
    from ledger.domain.values import SURVEY_MEASURES as MEASURES

    first_delivery = {c: d for c, d in db.query(
        f"SELECT citizen_id, MIN(date) FROM {_t('au_deliveries', suffix)} WHERE municipality = ? AND delivered = 1 "
        "AND withdrawn IS NULL AND klippekort = 0 GROUP BY citizen_id", [m])}
    cells: dict[tuple[str, str, str], list[int | None]] = {}
    for r in responses.values():
        if r["municipality"] != m or (as_of is not None and r["answered_on"] > as_of):
            continue
        bought = first_delivery.get(r["citizen_id"])
        group = "buyers" if bought is not None and bought <= r["answered_on"] else "non_buyers"
        for measure in MEASURES:
            cells.setdefault((r["round_id"], measure, group), []).append(r["answers"].get(measure))
    out = []
    for (round_id, measure, group), values in sorted(cells.items(), key=lambda x: (x[0][0], MEASURES.index(x[0][1]),
                                                                                     x[0][2])):
        given = [v for v in values if v is not None]
        row: dict[str, Any] = {"municipality": m, "round_id": round_id, "measure": measure, "group": group,
                               "responses": len(values), "answered": len(given)}
        for score in range(1, 6):
            row[f"score_{score}"] = sum(1 for v in given if v == score)
        # Exact to one decimal from integers (no float rounding differences between platforms).
        row["mean_score"] = f"{(sum(given) * 10 + len(given) // 2) // len(given) / 10:.1f}" if given else None
        out.append(row)
    return out


def reach(db: Database, m: int, as_of: str | None, flagged: set[str], suffix: str = "") -> list[dict[str, Any]]:
    """Distinct recipients (with and without a grant under each section), buyers, orders,
    deliveries, minutes and adjacent deliveries per month, year and the whole trial window."""
    windows = scheme_windows(db, m, suffix)
    if not windows:
        return []
    first, last = windows[0][0], max(w[1] for w in windows)
    if as_of is not None:
        last = min(last, as_of)
    if first > last:
        return []
    grants = db.query(f"SELECT citizen_id, section, valid_from, valid_to FROM {_t('au_grants', suffix)} "
                      "WHERE municipality = ? AND valid_to > valid_from", [m])
    deliveries = db.query(
        f"SELECT d.delivery_id, d.citizen_id, d.date, d.minutes, d.order_id FROM {_t('au_deliveries', suffix)} d "
        "WHERE d.municipality = ? AND d.delivered = 1 AND d.withdrawn IS NULL AND d.klippekort = 0", [m])
    orders = db.query(f"SELECT start FROM {_t('au_orders', suffix)} WHERE municipality = ? AND ran = 1", [m])
    out = []
    for kind, label, a, b in _periods(first, last):
        b_next = (date.fromisoformat(b) + timedelta(days=1)).isoformat()
        everyone: set[str] = set()
        by_section: dict[str, set[str]] = {s: set() for s in SECTIONS}
        for citizen, section, vf, vt in grants:
            if vf < b_next and vt > a:
                everyone.add(citizen)
                if section in by_section:
                    by_section[section].add(citizen)
        inside = [r for r in deliveries if a <= r[2] <= b]
        row: dict[str, Any] = {"municipality": m, "period_type": kind, "period": label, "first_day": a, "last_day": b,
                               "recipients": len(everyone)}
        for s in SECTIONS:
            row[f"with_{s}"] = len(by_section[s])
            row[f"without_{s}"] = len(everyone - by_section[s])
        row.update(buyers=len({r[1] for r in inside}), orders=sum(1 for (start,) in orders if a <= start <= b),
                   deliveries=len(inside), delivered_minutes=sum(int(r[3] or 0) for r in inside),
                   adjacent_deliveries=sum(1 for r in inside if r[0] in flagged))
        out.append(row)
    return out


def items(db: Database, m: int, as_of: str | None, flagged: set[str], suffix: str = "") -> list[dict[str, Any]]:
    """Revenue and volume by item and month (sales() with the adjacent-visit count), months up to D."""
    adjacent: dict[tuple[str, str], int] = {}
    for delivery_id, month, offer_id in db.query(
            f"SELECT delivery_id, month, offer_id FROM {_t('au_deliveries', suffix)} WHERE municipality = ? "
            "AND delivered = 1 AND withdrawn IS NULL", [m]):
        if delivery_id in flagged:
            adjacent[(month, offer_id)] = adjacent.get((month, offer_id), 0) + 1
    out = []
    for r in sales(db, m, suffix):
        if as_of is not None and r["month"] > as_of[:7]:
            continue
        out.append({**r, "adjacent_deliveries": adjacent.get((r["month"], r["offer_id"]), 0)})
    return out


def _dated(rows: list[dict[str, Any]], key: str, as_of: str | None) -> list[dict[str, Any]]:
    return rows if as_of is None else [r for r in rows if (r.get(key) or "") <= as_of]


def _tables(db: Database, municipalities: Sequence[int], as_of: str | None, known_at: str | None, suffix: str,
            until: int | None) -> tuple[dict[str, tuple[tuple[str, ...], list[dict[str, Any]]]], int]:
    flagged, responses, position = scan_log(db, known_at, until)
    tables: dict[str, tuple[tuple[str, ...], list[dict[str, Any]]]] = {
        "reach": (REACH_COLUMNS, []), "sales": (ITEM_COLUMNS, []), "offers": (OFFER_COLUMNS, []),
        "buyers": (BUYER_COLUMNS, []), "granted_services": (GRANTED_COLUMNS, []),
        "surveys": (SURVEY_COLUMNS, [])}
    for m in municipalities:
        tables["reach"][1].extend(reach(db, m, as_of, flagged, suffix))
        tables["sales"][1].extend(items(db, m, as_of, flagged, suffix))
        tables["offers"][1].extend(_dated(offers(db, m, suffix), "valid_from", as_of))
        tables["buyers"][1].extend(_dated(buyers(db, m, suffix), "first_order_on", as_of))
        tables["granted_services"][1].extend(granted_services(db, m, None, as_of, suffix=suffix))
        tables["surveys"][1].extend(survey_table(db, m, as_of, responses, suffix))
    return tables, (position if until is None else until)


def export_tables(db: Database, municipalities: Sequence[int], as_of: str | None, known_at: str | None,
                  at_position: int | None = None
                  ) -> tuple[dict[str, tuple[tuple[str, ...], list[dict[str, Any]]]], int, dict[str, str]]:
    """Every table of the export at (D, K), the log position it reflects and the digests of the
    projection tables it read.

    With `known_at`, the audit projection is rebuilt into side tables of this export's own from the
    events recorded by then. Without it, the live tables are caught up to the head (or to
    `at_position` exactly) and read as one cut with the log scan stopping at the same position
    (cut.read_at)."""
    from ledger.projections import cut
    from ledger.projections.audit import AuditProjection
    from ledger.projections.engine import Engine

    projection = AuditProjection()
    engine = Engine(db, [projection])
    if known_at is not None:
        if at_position is not None:
            raise ValueError("give --known-at or --at-position, not both")
        # Side tables of this export's own (two exports at once never share them), dropped below.
        suffix = f"{EXPORT_SUFFIX}{secrets.token_hex(4)}"
        try:
            engine.rebuild(["audit"], suffix=suffix, swap=False, until_recorded=known_at)
            tables, position = _tables(db, municipalities, as_of, known_at, suffix, None)
            digests = {t.name: engine.digest(t.name + suffix) for t in projection.tables}
        finally:
            engine.drop_suffix(suffix, ["audit"])
        return tables, position, digests

    def read(position: int) -> tuple[dict[str, tuple[tuple[str, ...], list[dict[str, Any]]]], dict[str, str]]:
        tables, _ = _tables(db, municipalities, as_of, None, "", position)
        # The same digest `ledger-replay verify` computes, so a published figure can be traced to
        # the projection content it was read from.
        return tables, {t.name: engine.digest(t.name) for t in projection.tables}

    (tables, digests), position = cut.read_at(db, [projection], read, at_position)
    return tables, position, digests


# Parquet column types, per the codebook: dates as DATE, means (one decimal, exact) as
# DECIMAL(12,1), the text columns as UTF-8 strings, everything else (counts, øre, minutes, codes,
# 0/1 flags) as 64-bit integers.
DATE_COLUMNS = frozenset({"first_day", "last_day", "valid_from", "valid_to", "retired_from", "first_grant_on",
                          "first_order_on", "on"})
DECIMAL_COLUMNS = frozenset({"mean_weekly_minutes", "mean_score"})
TEXT_COLUMNS = frozenset({"period_type", "period", "month", "offer_id", "name", "kind", "unit", "fsiii", "vat_class",
                          "start_band", "offers", "fsiii_codes", "group", "round_id", "measure"})


def parquet_type(column: str) -> str:
    """The column's Parquet (Arrow) type, as Arrow names it: date32[day], decimal128(12, 1), string or int64."""
    if column in DATE_COLUMNS:
        return "date32[day]"
    if column in DECIMAL_COLUMNS:
        return "decimal128(12, 1)"
    return "string" if column in TEXT_COLUMNS else "int64"


def write_parquet(path: Path, columns: Sequence[str], rows: list[dict[str, Any]]) -> None:
    """One table as Parquet, typed by `parquet_type`, with nothing in the file that depends on when
    or where it was written (no pandas metadata, no timestamps): the same rows give the same bytes."""
    from decimal import Decimal

    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    def arrow(column: str) -> Any:
        kind = parquet_type(column)
        return {"date32[day]": pa.date32(), "decimal128(12, 1)": pa.decimal128(12, 1), "string": pa.string(),
                "int64": pa.int64()}[kind]

    def value(column: str, v: Any) -> Any:
        if v is None:
            return None
        kind = parquet_type(column)
        if kind == "date32[day]":
            return date.fromisoformat(v)
        if kind.startswith("decimal"):
            return Decimal(str(v))
        return str(v) if kind == "string" else int(v)

    schema = pa.schema([pa.field(c, arrow(c)) for c in columns])
    table = pa.table({c: pa.array([value(c, r.get(c)) for r in rows], type=arrow(c)) for c in columns},
                     schema=schema)
    pq.write_table(table, path, compression="zstd", use_dictionary=False, write_statistics=True)


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def export(db: Database, municipalities: Sequence[int], out_dir: str | Path, as_of: str | None = None,
           known_at: str | None = None, fmt: str = "csv", at_position: int | None = None) -> dict[str, Any]:
    """Write one tidy table per file and manifest.json into `out_dir`; returns the manifest."""
    import hashlib
    import json

    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format {fmt!r}: csv or parquet")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ModuleNotFoundError:
            raise ValueError("parquet needs pyarrow, which is not installed: pip install 'addon-ledger[parquet]' "
                             "(or pyarrow), or use --format csv") from None
    tables, position, digests = export_tables(db, municipalities, as_of, known_at, at_position)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {}
    for name, (columns, rows) in tables.items():
        path = out / f"{name}.{fmt}"
        if fmt == "csv":
            with open(path, "w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f, lineterminator="\n")
                writer.writerow(columns)
                for r in rows:
                    writer.writerow([_cell(r.get(c)) for c in columns])
        else:
            write_parquet(path, columns, rows)
        files[path.name] = {"rows": len(rows), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    manifest = {"as_of": as_of, "known_at": known_at, "log_position": position, "projection_digests": digests,
                "municipalities": list(municipalities), "format": fmt, "files": files,
                "codebook": "docs/evaluation-export.md"}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return manifest
