"""`ledger timeline`, `ledger audit` and `ledger export evaluation`: what evaluators and auditors read.

Each command first applies new events to the projection it reads (timeline or audit; a long
catch-up shows a progress bar), then queries its tables. Tables print money in Danish kroner with
the unit (1.336,00 kr.) and never cut an id or amount; JSON and CSV carry integer øre. A CSV is
always one tidy table: `--section` picks which, `--out DIR` writes every section to DIR/NAME.csv.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Annotated, Any

import orjson
import typer

from ledger.cli import root as app, fail, user_errors

export = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Extracts for others: the evaluation export.")
app.add_typer(export, name="export")

# Positions per catch-up step when the projection is far behind (one progress-bar tick each).
STEP = 50_000


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


MunicipalityOpt = Annotated[str, typer.Option("--municipality", "-m",
                                              help="municipality code (657), name (Herning) or 'all' (the network)")]
FormatOpt = Annotated[Format, typer.Option(
    "--format", "-f", help="table (money in kroner, 1.336,00 kr.), json or csv (money in integer øre)")]
OutOpt = Annotated[str | None, typer.Option(
    "--out", help="with -f csv: a directory to write every section to as NAME.csv, or - for standard output "
                  "(one section)", show_default=False)]
DialectOpt = Annotated[str, typer.Option(
    "--dialect", help="CSV dialect: plain (comma, øre) or excel-da (semicolon, kroner with decimal comma, "
                      "UTF-8 BOM)")]
CatchUpOpt = Annotated[bool, typer.Option("--catch-up/--no-catch-up", help="apply new events before reading")]
AtPositionOpt = Annotated[int | None, typer.Option(
    "--at-position", min=0, help="answer exactly at this log position (the log_position of another answer, so "
                                 "both are of one cut); refused when beyond the log or already passed by the "
                                 "read models", show_default=False)]

MONEY = frozenset({"revenue_net", "revenue_vat", "revenue_gross", "ineligible_gross", "weekday_day", "evening", "weekend", "cost_total",
                   "shortfall_per_unit", "sold_net", "sold_gross", "net_after_credits", "net", "gross"})


# -- helpers ------------------------------------------------------------------------------


def kr(ore: int | None) -> str:
    from ledger.cli.tables import kr as danish

    return danish(ore)


def _database(projection: Any, catch_up: bool) -> Any:
    from ledger.db import Database
    from ledger.cli import settings

    db = Database(settings().database_url)
    db.ensure_schema()
    if catch_up:
        _catch_up(db, projection)
    else:
        from ledger.projections.engine import Engine

        engine = Engine(db, [projection])
        engine.ensure_tables()
        if any(r["needs_rebuild"] for r in engine.status()):
            fail(f"the {projection.name} projection was built by another version of the code; "
                 f"run: ledger projections rebuild {projection.name}")
    return db


def _catch_up(db: Any, projection: Any) -> None:
    """Bring one projection to the head of the log; in steps with a progress bar when far behind."""
    from ledger.projections.engine import Engine, NeedsRebuild
    from ledger.projections.reader import head_position

    engine = Engine(db, [projection])
    try:
        start = next(r["position"] for r in engine.status() if r["name"] == projection.name)
        head = head_position(db)
        if head - start <= STEP:
            engine.catch_up([projection.name])
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      transient=True, console=_err_console()) as bar:
            task = bar.add_task(f"catching up {projection.name}", total=head - start)
            until = start
            while until < head:
                until = min(until + STEP, head)
                engine.catch_up([projection.name], until=until)
                bar.update(task, completed=until - start)
    except NeedsRebuild as e:
        fail(f"{e}; run: ledger projections rebuild {projection.name}")


def at_cut(db: Any, names: Sequence[str], read: Any, at_position: int | None, catch_up: bool) -> tuple[Any, int]:
    """(the answer of `read()`, the log position it reflects): the projections `names` read at one
    cut (ledger.projections.cut); a position that cannot be read is exit 2 with the reason."""
    from ledger.projections import cut

    try:
        return cut.read_cut(db, names, read, at_position=at_position, catch_up=catch_up)
    except cut.PositionError as e:
        fail(f"{e.code}: {e.message}")
        raise  # not reached: fail() exits


def _err_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _municipalities(value: str, known: Sequence[int]) -> list[int]:
    """'all' → the municipalities with a scheme; else one code or name."""
    from ledger.domain.municipalities import municipality_code

    if value.strip().casefold() == "all":
        return list(known)
    return [municipality_code(value)]


def _date(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    from ledger.domain.values import parse_date, plausible_date

    return plausible_date(parse_date(value.strip(), field), field).isoformat()


Block = tuple[str, Sequence[str], list[dict[str, Any]]]


def _emit(blocks: list[Block], fmt: Format, section: str | None, out: str | None = None,
          titles: dict[str, str] | None = None, dialect: str = "plain") -> None:
    """Print (name, columns, rows) blocks as rich tables, or as CSV: one table per file."""
    from ledger.cli.csvout import write_rows

    names = [b[0] for b in blocks]
    if section is not None:
        section = section.replace("-", "_")
        if section not in names:
            fail(f"--section must be one of {', '.join(names)}; got {section!r}")
        blocks = [b for b in blocks if b[0] == section]
    if fmt is Format.csv:
        if out not in (None, "-"):
            from pathlib import Path

            target = Path(out)
            if target.exists() and not target.is_dir():
                fail(f"--out {out} exists and is not a directory (with several sections it names a directory)")
            target.mkdir(parents=True, exist_ok=True)
            for name, columns, rows in blocks:
                path = target / f"{name}.csv"
                write_rows(path, columns, rows, MONEY, dialect)
                typer.echo(f"{path}: {len(rows)} rows", err=True)
            return
        if len(blocks) > 1:
            # A CSV is one table: the first section goes out, and the reader is told how to get the others.
            typer.echo(f"CSV holds one table: printing {blocks[0][0]}; the others ({', '.join(names[1:])}) with "
                       "--section NAME, or all of them as files with --out DIR", err=True)
        name, columns, rows = blocks[0]
        write_rows("-", columns, rows, MONEY, dialect)
        return
    from rich.console import Console

    from ledger.cli.tables import render

    console = Console()
    titles = titles or {}
    for name, columns, rows in blocks:
        title = titles.get(name, name)
        if not rows:
            console.print(f"[bold]{title}[/bold]: none")
            continue
        render(console, title, columns, rows, MONEY)


def _json(value: Any) -> None:
    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode())


# -- ledger timeline ----------------------------------------------------------------------


SUMMARY_COLUMNS = ("municipality", "name", "scheme", "window", "sections", "citizens_with_active_grants",
                   "citizens_with_covered_grants", "buyers", "orders_placed", "deliveries", "missed_visits",
                   "minutes_delivered", "revenue_net", "revenue_vat", "revenue_gross", "ineligible_deliveries",
                   "ineligible_gross")
GRANTED_COLUMNS = ("municipality", "fsiii", "buyers_citizens", "buyers_weekly_minutes", "non_buyers_citizens",
                   "non_buyers_weekly_minutes")
CATALOGUE_COLUMNS = ("municipality", "offer_id", "kind", "name", "unit", "fsiii", "vat_class", "weekday_day",
                     "evening", "weekend", "cost_total", "valid_from", "valid_to", "price_ref")
SERIES_COLUMNS = ("municipality", "month", "on", "buyers", "citizens_with_active_grants",
                  "citizens_with_covered_grants", "buyers_weekly_minutes", "non_buyers_weekly_minutes",
                  "orders_placed", "deliveries", "minutes_delivered", "revenue_net", "revenue_gross",
                  "ineligible_deliveries", "ineligible_gross")
HISTORY_COLUMNS = ("municipality", "offer_id", "name", "valid_from", "valid_to", "retired_from", "vat_class",
                   "weekday_day", "evening", "weekend", "cost_total", "recorded", "price_ref")


def _summary_row(m: Any, name: str, scheme: str | None, window: str | None, sections: str | None,
                 figures: dict[str, Any]) -> dict[str, Any]:
    month = figures["month"]
    return {"municipality": m, "name": name, "scheme": scheme, "window": window, "sections": sections,
            "citizens_with_active_grants": figures["citizens_with_active_grants"],
            "citizens_with_covered_grants": figures["citizens_with_covered_grants"], "buyers": figures["buyers"],
            "orders_placed": month["orders_placed"], "deliveries": month["deliveries"],
            "missed_visits": month["missed_visits"], "minutes_delivered": month["minutes_delivered"],
            "revenue_net": month["revenue"]["net"], "revenue_vat": month["revenue"]["vat"],
            "revenue_gross": month["revenue"]["gross"], "ineligible_deliveries": month["ineligible_deliveries"],
            "ineligible_gross": month["ineligible_amount"]["gross"]}


def _entry_row(e: dict[str, Any]) -> dict[str, Any]:
    s = e["scheme"]
    return _summary_row(e["municipality"], e["name"], s["name"],
                        "..".join(s["window"]) if s["window"] else "not in a window",
                        ",".join(s["rules"]["sections"]) if s["rules"] else None, e)


def _granted_rows(m: Any, granted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"municipality": m, "fsiii": g["fsiii"], "buyers_citizens": g["buyers"]["citizens"],
             "buyers_weekly_minutes": g["buyers"]["weekly_minutes"], "non_buyers_citizens": g["non_buyers"]["citizens"],
             "non_buyers_weekly_minutes": g["non_buyers"]["weekly_minutes"]} for g in granted]


def _offer_row(m: int, o: dict[str, Any]) -> dict[str, Any]:
    return {"municipality": m, **{k: v for k, v in o.items() if k != "prices"}, **o["prices"]}


def _series_rows(s: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"municipality": s["municipality"], "month": x["month"], "on": x["on"], "buyers": x["buyers"],
             "citizens_with_active_grants": x["citizens_with_active_grants"],
             "citizens_with_covered_grants": x["citizens_with_covered_grants"],
             "buyers_weekly_minutes": sum(g["buyers"]["weekly_minutes"] for g in x["granted_minutes"]),
             "non_buyers_weekly_minutes": sum(g["non_buyers"]["weekly_minutes"] for g in x["granted_minutes"]),
             "orders_placed": x["orders_placed"], "deliveries": x["deliveries"],
             "minutes_delivered": x["minutes_delivered"], "revenue_net": x["revenue"]["net"],
             "revenue_gross": x["revenue"]["gross"], "ineligible_deliveries": x["ineligible_deliveries"],
             "ineligible_gross": x["ineligible_amount"]["gross"]} for x in s["months"]]


@app.command("timeline")
@user_errors
def timeline_command(
    municipality: MunicipalityOpt,
    as_of: Annotated[str, typer.Option("--as-of", help="the date D: the world as effective on D (YYYY-MM-DD)")],
    known_at: Annotated[str | None, typer.Option(
        "--known-at", help="the instant K: only what was recorded by then (a date means the end of that day, UTC); "
                           "default: everything recorded")] = None,
    fmt: FormatOpt = Format.table,
    series: Annotated[bool | None, typer.Option(
        "--series/--no-series", help="the monthly series across the scheme's windows (default: on for one "
                                     "municipality, off for all)", show_default=False)] = None,
    history: Annotated[bool | None, typer.Option(
        "--history/--no-history", help="the catalogue's change history (default as --series)",
        show_default=False)] = None,
    section: Annotated[str | None, typer.Option(help="print one section only (summary, granted_minutes, "
                                                     "catalogue, surveys, series, catalogue_history)")] = None,
    catch_up: CatchUpOpt = True,
    out: OutOpt = None,
    dialect: DialectOpt = "plain",
    at_position: AtPositionOpt = None,
) -> None:
    """The trial on date D as the records showed at K: schemes, catalogue, grants, buyers, the month."""
    from ledger.projections import survey_queries as sq
    from ledger.projections import timeline_queries as tq
    from ledger.projections.timeline import TimelineProjection

    d = tq.as_of_date(as_of)
    k = tq.known_key(known_at)
    db = _database(TimelineProjection(), catch_up and at_position is None)
    network = municipality.strip().casefold() == "all"
    with_series = (not network) if series is None else series
    with_history = (not network) if history is None else history

    def read() -> tuple[list[int], dict[str, Any], dict[int, Any], dict[int, Any]]:
        ms = _municipalities(municipality, tq.scheme_municipalities(db, k))
        if network and not ms:
            fail("no municipality had a scheme as known at that instant")
        report = tq.timeline(db, None if network else ms[0], d, k)
        series_of = {m: tq.series(db, m, k) for m in ms} if with_series else {}
        history_of = {m: tq.catalogue_history(db, m, k) for m in ms} if with_history else {}
        return ms, report, series_of, history_of

    try:
        (ms, report, series_of, history_of), position = at_cut(db, ("timeline", "surveys"), read, at_position, catch_up)
    finally:
        db.close()
    if fmt is Format.json:
        _json({"log_position": position, "timeline": report, **({"series": series_of} if with_series else {}),
               **({"catalogue_history": history_of} if with_history else {})})
        return
    entries = report["municipalities"]
    summary = [_entry_row(e) for e in entries]
    granted = [r for e in entries for r in _granted_rows(e["municipality"], e["granted_minutes"])]
    if network:
        t = report["totals"]
        summary.append(_summary_row("all", f"{t['municipalities']} municipalities", None,
                                    f"{t['in_window']} in a window", None, t))
        granted += _granted_rows("all", t["granted_minutes"])
    blocks: list[Block] = [
        ("summary", SUMMARY_COLUMNS, summary),
        ("granted_minutes", GRANTED_COLUMNS, granted),
        ("catalogue", CATALOGUE_COLUMNS, [_offer_row(e["municipality"], o) for e in entries for o in e["catalogue"]]),
    ]
    surveyed = [r for e in entries for r in sq.survey_rows(e["municipality"], e["surveys"])]
    if surveyed or fmt is not Format.table or section is not None:  # a table view leaves out a date with none
        blocks.append(("surveys", sq.SURVEY_COLUMNS, surveyed))
    if with_series:
        blocks.append(("series", SERIES_COLUMNS, [r for m in ms for r in _series_rows(series_of[m])]))
    if with_history:
        blocks.append(("catalogue_history", HISTORY_COLUMNS,
                       [_offer_row(m, o) for m in ms for o in history_of[m]]))
    titles = {"summary": f"summary on {d}" + (f", as known at {report['known_at']}" if report["known_at"] else "")
              + f" (log position {position})"}
    _emit(blocks, fmt, section, out, titles, _dialect(dialect, fmt, out))


# -- ledger audit -------------------------------------------------------------------------

AUDIT_SECTIONS = ("substitution", "overlap", "full-cost", "ineligible", "completeness", "evaluation")
# The completeness section holds four tables; each can be asked for on its own (one CSV each).
COMPLETENESS_TABLES = ("uninvoiced-deliveries", "lines-without-delivery", "orders-never-delivered",
                       "same-day-deliveries")
AUDIT_CHOICES = (*AUDIT_SECTIONS, *COMPLETENESS_TABLES)


def _audit_blocks(m: int, a: dict[str, Any]) -> list[tuple[str, Sequence[str], list[dict[str, Any]]]]:
    blocks: list[tuple[str, Sequence[str], list[dict[str, Any]]]] = []
    if "substitution" in a:
        blocks.append(("substitution", ("municipality", "citizen_id", "fsiii", "cut_on", "minutes_before",
                                        "minutes_after", "grant_refs", "order_starts", "order_refs"),
                       [{"municipality": m, **s, "grant_refs": ";".join(s["grant_refs"]),
                         "order_refs": ";".join(s["order_refs"]),
                         "order_starts": ";".join(o["start"] for o in s["orders"])} for s in a["substitution"]]))
    if "overlap" in a:
        blocks.append(("overlap", ("municipality", "finding", "citizen_id", "order_id", "offer_id", "fsiii",
                                   "vat_class", "start", "order_ref", "grant_refs"),
                       [{"municipality": m, **o, "grant_refs": ";".join(o["grant_refs"])} for o in a["overlap"]]))
    if "full_cost" in a:
        blocks.append(("full_cost", ("municipality", "offer_id", "name", "price_ref", "status", "direction",
                                     "in_force_from",
                                     "in_force_to", "days_in_force", "cost_total", "shortfall_per_unit",
                                     "bands_below_cost", "sold_lines", "sold_net", "sold_gross", "net_after_credits"),
                       [{"municipality": m, **f, "bands_below_cost": ";".join(f["bands_below_cost"]),
                         "sold_lines": f["sold"]["lines"], "sold_net": f["sold"]["net"],
                         "sold_gross": f["sold"]["gross"], "net_after_credits": f["sold"]["net_after_credits"]}
                        for f in a["full_cost"]]))
    if "ineligible" in a:  # deliveries a back-dated fact made ineligible, and the credit that took them back
        blocks.append(("ineligible", ("municipality", "citizen_id", "delivery_id", "service_date", "offer_id",
                                      "invoice_number", "invoice_line_no", "credit_note", "credited_gross", "why",
                                      "caused_by"),
                       [{"municipality": m, **x, "caused_by": ";".join(x["caused_by"])} for x in a["ineligible"]]))
    if "completeness" in a:
        c = a["completeness"]
        blocks.append(("uninvoiced_deliveries", ("municipality", "citizen_id", "delivery_id", "order_id", "offer_id",
                                                 "date", "minutes", "missed_by_run_for", "delivery_ref"),
                       [{"municipality": m, **x} for x in c["uninvoiced_deliveries"]]))
        blocks.append(("lines_without_delivery", ("municipality", "citizen_id", "invoice_number", "line_no",
                                                  "delivery_id", "service_date", "problem", "net", "gross",
                                                  "invoice_ref"),
                       [{"municipality": m, **x} for x in c["lines_without_delivery"]]))
        blocks.append(("orders_never_delivered", ("municipality", "citizen_id", "order_id", "offer_id", "kind",
                                                  "start", "end", "cancelled_from", "missed_visits", "order_ref"),
                       [{"municipality": m, **x} for x in c["orders_never_delivered"]]))
        # One row per delivery, the deliveries of one order and date together, for a clerk to check.
        blocks.append(("same_day_deliveries", ("municipality", "citizen_id", "order_id", "offer_id", "date",
                                               "deliveries", "delivery_id", "minutes", "klippekort",
                                               "invoice_number", "delivery_ref"),
                       [{"municipality": m, **{k: v for k, v in x.items() if k != "deliveries"},
                         "deliveries": len(x["deliveries"]), **d}
                        for x in c["same_day_deliveries"] for d in x["deliveries"]]))
    if "evaluation" in a:
        blocks.append(("evaluation", ("municipality", "month", "on", "start_band", "buyers_citizens",
                                      "buyers_mean_weekly_minutes", "non_buyers_citizens",
                                      "non_buyers_mean_weekly_minutes"),
                       [{"municipality": m, "month": e["month"], "on": e["on"], "start_band": e["start_band"],
                         "buyers_citizens": e["buyers"]["citizens"],
                         "buyers_mean_weekly_minutes": e["buyers"]["mean_weekly_minutes"],
                         "non_buyers_citizens": e["non_buyers"]["citizens"],
                         "non_buyers_mean_weekly_minutes": e["non_buyers"]["mean_weekly_minutes"]}
                        for e in a["evaluation"]]))
    return blocks


@app.command("audit")
@user_errors
def audit_command(
    municipality: MunicipalityOpt,
    date_from: Annotated[str | None, typer.Option("--from", help="first date audited (YYYY-MM-DD)")] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="last date audited (YYYY-MM-DD)")] = None,
    fmt: FormatOpt = Format.table,
    section: Annotated[str | None, typer.Option(help="one of: " + ", ".join(AUDIT_CHOICES))] = None,
    window_days: Annotated[int | None, typer.Option(
        "--window-days", help="substitution window in days (default LEDGER_SUBSTITUTION_WINDOW_DAYS, 90)",
        show_default=False)] = None,
    catch_up: CatchUpOpt = True,
    out: OutOpt = None,
    dialect: DialectOpt = "plain",
    at_position: AtPositionOpt = None,
) -> None:
    """Substitution signals, overlaps, prices below full cost, completeness, and the evaluation view."""
    from ledger.projections import audit_queries as aq
    from ledger.cli import settings
    from ledger.projections.audit import AuditProjection

    d1, d2 = _date(date_from, "from"), _date(date_to, "to")
    if d1 and d2 and d1 > d2:
        fail(f"--from {d1} is after --to {d2}")
    if section is not None:
        section = section.strip().replace("_", "-")
        if section not in AUDIT_CHOICES:
            fail(f"--section must be one of {', '.join(AUDIT_CHOICES)}; got {section!r}")
    table = section.replace("-", "_") if section in COMPLETENESS_TABLES else None
    if section in COMPLETENESS_TABLES:
        section = "completeness"
    window = settings().substitution_window_days if window_days is None else window_days
    if not 1 <= window <= 730:
        fail(f"--window-days must be between 1 and 730, got {window}")
    wanted = aq.SECTIONS if section is None else (section.replace("-", "_"),)
    db = _database(AuditProjection(), catch_up and at_position is None)
    if catch_up and at_position is None:
        from ledger.projections.billing import BillingProjection

        _catch_up(db, BillingProjection())  # the ineligible section reads the billing tables

    def read() -> tuple[list[int], dict[int, dict[str, Any]]]:
        known = [int(r[0]) for r in db.query("SELECT municipality FROM au_schemes ORDER BY municipality")]
        ms = _municipalities(municipality, known)
        return ms, {m: aq.audit(db, m, date_from=d1, date_to=d2, window_days=window, sections=wanted) for m in ms}

    try:
        (ms, reports), position = at_cut(db, ("audit", "billing"), read, at_position, catch_up)
        from ledger.cli.access import log_read

        for m in ms:  # the audit names citizens: logged as the API's /audit is
            log_read(db, "ledger audit", "audit", municipality=m, answer=reports[m])
    finally:
        db.close()
    if fmt is Format.json:
        # One municipality: its audit, as the API answers it; several: {"log_position": P, "audits": [...]}.
        _json({"log_position": position, **reports[ms[0]]} if len(ms) == 1
              else {"log_position": position, "audits": [reports[m] for m in ms]})
        return
    merged: dict[str, tuple[Sequence[str], list[dict[str, Any]]]] = {}
    for m in ms:
        for name, columns, rows in _audit_blocks(m, reports[m]):
            merged.setdefault(name, (columns, []))[1].extend(rows)
    _emit([(name, columns, rows) for name, (columns, rows) in merged.items()], fmt, table, out,
          dialect=_dialect(dialect, fmt, out))


def _dialect(dialect: str, fmt: Format, out: str | None) -> str:
    from ledger.cli.csvout import DIALECTS

    if dialect not in DIALECTS:
        fail(f"--dialect must be one of {', '.join(DIALECTS)}, got {dialect!r}")
    if fmt is not Format.csv and (out is not None or dialect != "plain"):
        fail("--out and --dialect go with -f csv")
    return dialect


# `ledger export evaluation` lives in ledger/cli/evaluation.py (registered on `export` above).
