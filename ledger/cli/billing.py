"""`ledger billing ...`: the invoice run, reminders, the finance export and what billing reads.

The run and the reminders are commands through the application (a fresh command id each time);
every read comes from the billing projection, caught up first so it shows what was just stored.
Money is printed in Danish kroner with the unit in tables (1.336,00 kr.) and as integer øre in
JSON and CSV. Tables never cut an id or an amount (ledger.cli.tables); `--columns` picks columns.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Annotated, Any

import orjson
import typer

from ledger.cli import root as app, fail, open_ledger, user_errors

billing = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Invoice runs, reminders, exports, invoices, balances and ageing.")
app.add_typer(billing, name="billing")


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


MunicipalityOpt = Annotated[str, typer.Option("--municipality", "-m", help="municipality code (657) or name (Herning)")]
FormatOpt = Annotated[Format, typer.Option(
    "--format", "-f", help="table (money in kroner, 1.336,00 kr.), json or csv (money in integer øre)")]
DialectOpt = Annotated[str, typer.Option(
    "--dialect", help="with -f csv: plain (comma, øre) or excel-da (';', kroner with decimal comma, UTF-8 BOM)")]
ColumnsOpt = Annotated[str | None, typer.Option(
    "--columns", help="table columns to show, comma-separated, or 'all' (default: a set that fits)",
    show_default=False)]
CatchUpOpt = Annotated[bool, typer.Option("--catch-up/--no-catch-up",
                                          help="apply new events to the billing projection before reading")]
AtPositionOpt = Annotated[int | None, typer.Option(
    "--at-position", min=0, help="answer exactly at this log position (the log_position of another answer, so "
                                 "both are of one cut); refused when beyond the log or already passed by the "
                                 "billing projection", show_default=False)]

MONEY_KEYS = frozenset({"difference", "owed_now", "net", "vat", "gross", "fees", "credited", "charged", "open_amount", "amount", "allocated",
                        "unallocated", "invoiced", "paid", "refunded", "owed", "credit", "balance", "fee", "open", "unit_price",
                        "not_due", "days_1_30", "days_31_60", "days_61_90", "days_over_90", "invoiced_net",
                        "invoiced_vat", "invoiced_gross", "credited_net", "credited_vat", "credited_gross"})


# -- helpers ------------------------------------------------------------------------------------

def kr(ore: int | None) -> str:
    """Øre as Danish kroner with the unit (1.336,00 kr.), in integers only (money never touches a float)."""
    from ledger.cli.tables import kr as danish

    return danish(ore)


def municipality(value: str) -> int:
    from ledger.domain.municipalities import municipality_code

    return municipality_code(value)


def month_arg(value: str) -> str:
    from ledger.domain.values import parse_month

    parse_month(value)
    return value


def date_arg(value: str, field: str) -> str:
    from ledger.domain.values import parse_date, plausible_date

    return plausible_date(parse_date(value, field), field).isoformat()


def billing_db(catch_up: bool = True) -> Any:
    """The database, with the billing projection caught up to the head of the log."""
    from ledger.db import Database
    from ledger.cli import settings

    db = Database(settings().database_url)
    db.ensure_schema()
    if catch_up:
        catch_up_billing(db)
    return db


def catch_up_billing(db: Any) -> None:
    from ledger.projections.billing import BillingProjection
    from ledger.projections.engine import Engine, NeedsRebuild

    try:
        Engine(db, [BillingProjection()]).catch_up(["billing"])
    except NeedsRebuild as e:
        fail(f"{e} (ledger projections rebuild billing)")


def emit(rows: Sequence[dict[str, Any]], fmt: Format, columns: Sequence[str], title: str | None = None,
         empty: str = "nothing to show", shown: str | None = None, default: Sequence[str] | None = None,
         dialect: str = "plain", listing: tuple[str, dict[str, Any]] | None = None) -> None:
    """Print rows as a rich table (money in kroner; `shown`/`default` pick its columns), JSON (øre)
    or CSV (øre, every column). With `listing` (name, head), JSON is the API's listing:
    {**head, name: rows}, the head stating the municipality and the log position."""
    if fmt is Format.json:
        value: Any = list(rows) if listing is None else {**listing[1], listing[0]: list(rows)}
        typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())
        return
    if dialect not in ("plain", "excel-da"):
        fail(f"--dialect must be plain or excel-da, got {dialect!r}")
    if fmt is Format.csv:
        from ledger.cli.csvout import write_rows

        write_rows("-", columns, rows, MONEY_KEYS, dialect)
        return
    from rich.console import Console

    console = Console()
    if not rows:
        console.print(empty)
        return
    from ledger.cli.tables import render, select

    render(console, title, select(columns, shown, default), rows, MONEY_KEYS)


def _query(fn: Callable[..., Any], *args: Any, catch_up: bool = True, at_position: int | None = None,
           logged: tuple[str, int, str | None] | None = None, **kwargs: Any) -> tuple[Any, int]:
    """(what `fn(db, ...)` answers, the log position it reflects): the billing projection read at
    one cut, the head or `at_position` (ledger.projections.cut). With `logged` (the billing data
    read, as the API names it: `invoices`; the municipality; the citizen asked for), the read is
    recorded in the access log with every citizen the answer shows (ledger/cli/access.py)."""
    from ledger.cli.reports import at_cut

    db = billing_db(catch_up and at_position is None)
    try:
        answer = at_cut(db, ("billing",), lambda: fn(db, *args, **kwargs), at_position, catch_up)
        if logged is not None:
            log_billing_read(db, *logged, answer=answer[0])
        return answer
    finally:
        db.close()


def log_billing_read(db: Any, name: str, m: int, citizen_id: str | None = None, answer: Any = None,
                     what: str | None = None) -> None:
    """The access-log entry of `ledger billing NAME` (what: `billing:NAME` unless named, as the API's)."""
    from ledger.cli.access import log_read

    log_read(db, f"ledger billing {name}", what or f"billing:{name}", citizen_id=citizen_id, municipality=m,
             answer=answer)


# -- commands that record ---------------------------------------------------------------------

@billing.command("run")
@user_errors
def run(
    municipality_: MunicipalityOpt,
    month: Annotated[str, typer.Option("--month", help="the month to bill, YYYY-MM (must be over)")],
    run_date: Annotated[str | None, typer.Option("--run-date", help="the invoice date, YYYY-MM-DD (default today)")] = None,
    command_id: Annotated[str | None, typer.Option(help="idempotency key; a retry with the same id issues nothing")] = None,
    actor: Annotated[str, typer.Option(help="who is acting")] = "cli",
    fmt: FormatOpt = Format.table,
) -> None:
    """Issue the month's invoices (in arrears), then show them."""
    from ledger.domain.base import Context
    from ledger.projections.billing_queries import invoice

    m = municipality(municipality_)
    payload: dict[str, Any] = {"municipality": m, "month": month_arg(month)}
    if run_date is not None:
        payload["run_date"] = date_arg(run_date, "run_date")
    ledger = open_ledger()
    try:
        outcome = ledger.execute("run_invoices", payload, Context(actor, "billing_clerk", command_id or str(uuid.uuid4())))
        catch_up_billing(ledger.db)
        issued = [invoice(ledger.db, m, i["number"]) for i in outcome.result["invoices"]]
    finally:
        ledger.close()
    rows = [{k: v for k, v in inv.items() if k != "lines"} for inv in issued if inv is not None]
    emit(rows, fmt, ("number", "citizen_id", "line_count", "net", "vat", "gross", "due_on"),
         title=f"Invoices issued for {month} (municipality {m})",
         empty=f"no invoices issued: nothing new to bill for {month} in municipality {m}")
    if fmt is Format.table and rows:
        typer.echo(f"{len(rows)} invoices, {kr(sum(r['gross'] for r in rows))} in all; "
                   f"made at chain position {outcome.result['chain_head']['position']}")
    if fmt is Format.table:
        # The re-rating of earlier months (docs/adr/0011): what changed since it was invoiced.
        for kind, label in (("debit_notes", "debit note"), ("credit_notes", "credit note")):
            for note in outcome.result.get(kind, []):
                typer.echo(f"{label} {note['number']} on invoice {note['invoice_number']}: {kr(note['gross'])}, "
                           f"{note['lines']} lines, caused by {', '.join(note['caused_by'])}")
        barred = outcome.result.get("barred", [])
        if barred:
            never = sum(1 for b in barred if b["invoice_number"] is None)
            typer.echo(f"{len(barred)} lines past the limitation period (LEDGER_RERATE_MONTHS before the run's date) "
                       f"were not billed: {len(barred) - never} re-rating differences, {never} never invoiced "
                       f"({kr(sum(b['delta']['gross'] for b in barred))}; see ledger billing reconcile)")
        from ledger.application.published import lines as published  # ADR 0021

        for line in published(outcome.result):
            typer.echo(line)


@billing.command("reminders")
@user_errors
def reminders(
    municipality_: MunicipalityOpt,
    on: Annotated[str, typer.Option("--date", help="the reminder date, YYYY-MM-DD")],
    command_id: Annotated[str | None, typer.Option(help="idempotency key")] = None,
    actor: Annotated[str, typer.Option(help="who is acting")] = "cli",
    fmt: FormatOpt = Format.table,
) -> None:
    """Issue reminders for overdue invoices and debit notes (at most 3 each, at least 10 days apart)."""
    from ledger.domain.base import Context
    from ledger.projections.billing_queries import reminders as query

    m = municipality(municipality_)
    day = date_arg(on, "date")
    ledger = open_ledger()
    try:
        outcome = ledger.execute("issue_reminders", {"municipality": m, "date": day},
                                 Context(actor, "billing_clerk", command_id or str(uuid.uuid4())))
        catch_up_billing(ledger.db)
        issued = {(r["invoice_number"], r["sequence"]) for r in outcome.result["reminders"]}
        rows = [r for r in query(ledger.db, m, issued_on=day) if (r["invoice_number"], r["sequence"]) in issued]
    finally:
        ledger.close()
    emit(rows, fmt, ("invoice_number", "sequence", "citizen_id", "issued_on", "fee"),
         title=f"Reminders issued on {day}", empty=f"no reminders due on {day}")


@billing.command("reconcile")
@user_errors
def reconcile(
    municipality_: MunicipalityOpt,
    month: Annotated[str | None, typer.Option("--month", help="only this month of service, YYYY-MM")] = None,
    fmt: FormatOpt = Format.table,
    at_position: Annotated[int | None, typer.Option(
        "--at-position", min=0, help="answer only if the log stands exactly here (the reconciliation reads the "
                                     "records as they are now)", show_default=False)] = None,
) -> None:
    """Per month: invoiced (invoices − credit notes + debit notes) against what the facts as known now
    say is owed, with each difference and the events behind them. Exit 0 when they agree, 1 otherwise."""
    from ledger.application.reconciliation import reconcile as query
    from ledger.projections import cut

    m = municipality(municipality_)
    ledger = open_ledger()
    try:
        for _ in range(3):
            head = cut.store_position(ledger.db)
            if at_position is not None and at_position != head:
                fail(f"position-ahead-of-log: at_position {at_position} is beyond the log head {head}"
                     if at_position > head else
                     f"position-passed: the reconciliation reads the records as they are now, at position {head}, "
                     f"past {at_position}")
            report = query(ledger, m, month_arg(month) if month else None)
            if cut.store_position(ledger.db) == head:  # nothing recorded meanwhile: the answer is of `head`
                break
        else:
            fail("not-caught-up: the log kept moving during the reconciliation; retry")
        log_billing_read(ledger.db, "reconcile", m, answer=report, what="billing:reconciliation")
    finally:
        ledger.close()
    if fmt is Format.json:
        typer.echo(orjson.dumps({**report, "log_position": head}, option=orjson.OPT_INDENT_2).decode())
    else:
        rows = [{**r, "differences": len(r["differences"]), "barred": "barred" if r["barred"] else ""}
                for r in report["months"]]
        emit(rows, fmt, ("month", "invoiced", "owed", "difference", "differences", "barred"),
             title=f"Reconciliation of municipality {m} through {report['through']} (log position {head})",
             empty=f"municipality {m} has invoiced nothing yet")
        diffs = [{"month": r["month"], **d, "caused_by": " ".join(d["caused_by"])}
                 for r in report["months"] for d in r["differences"]]
        if diffs:
            emit(diffs, fmt, ("month", "citizen_id", "date", "invoice_number", "invoice_line_no", "charged", "owed",
                              "difference", "why", "caused_by"), title="Differences")
        if fmt is Format.table:
            typer.echo("agree: every month invoiced is what is owed as the facts are known now" if report["agree"]
                       else "DISAGREE: the next invoice run will bill or credit the differences above")
    raise typer.Exit(0 if report["agree"] else 1)


# -- the export -------------------------------------------------------------------------------

@billing.command("export")
@user_errors
def export(
    municipality_: MunicipalityOpt,
    month: Annotated[str, typer.Option("--month", help="the month billed, YYYY-MM")],
    out: Annotated[str, typer.Option("--out", help="the CSV file to write, or - for standard output")],
    catch_up: CatchUpOpt = True,
    totals: Annotated[str | None, typer.Option(
        "--totals", help="where the totals go (a one-row CSV); default: NAME.totals.csv beside --out, none "
                         "with --out -", show_default=False)] = None,
    trailer: Annotated[bool, typer.Option(
        "--trailer", help="also append the totals as a last row with record_type 'total' (opt-in; a naive "
                          "column sum then counts the month twice)")] = False,
    excel: Annotated[bool, typer.Option(
        "--excel", help="for a Danish spreadsheet: ';', kroner with decimal comma (columns *_kr), UTF-8 BOM; "
                        "same as --dialect excel-da")] = False,
    dialect: Annotated[str, typer.Option(
        "--dialect", help="plain (comma, money in integer øre, columns *_ore) or excel-da")] = "plain",
    at_position: AtPositionOpt = None,
) -> None:
    """Write a month's invoice lines as CSV for the finance system (see docs/billing-export.md).

    Money: integer øre (plain) or kroner with a decimal comma (excel-da). The summary line: kroner."""
    from ledger.projections.billing_export import ExportMismatch, export_month, totals_path_for

    if excel:
        dialect = "excel-da"
    if dialect not in ("plain", "excel-da"):
        fail(f"--dialect must be plain or excel-da, got {dialect!r}")
    if totals is None and out != "-":
        totals = str(totals_path_for(out))
    from ledger.cli.reports import at_cut

    m = municipality(municipality_)
    db = billing_db(catch_up and at_position is None)
    try:
        summary, position = at_cut(db, ("billing",), lambda: export_month(
            db, m, month_arg(month), out, trailer=trailer, dialect=dialect, totals=totals), at_position, catch_up)
        log_billing_read(db, "export", m)
    except ExportMismatch as e:
        fail(str(e), code=1)
    except OSError as e:
        fail(f"cannot write {e.filename or out}: {e.strerror}")
    finally:
        db.close()
    where = "standard output" if summary["path"] == "-" else summary["path"]
    typer.echo(f"wrote {summary['lines']} lines of {summary['invoices']} invoices to {where}: "
               f"net {kr(summary['net'])}, VAT {kr(summary['vat'])}, gross {kr(summary['gross'])} "
               f"(equal to the invoice totals), at log position {position}"
               + (f"; totals in {summary['totals_path']}" if summary["totals_path"] not in (None, "-") else ""),
               err=out == "-")


# -- reads ------------------------------------------------------------------------------------

@billing.command("invoices")
@user_errors
def invoices(
    municipality_: MunicipalityOpt,
    month: Annotated[str | None, typer.Option("--month", help="only this month billed, YYYY-MM")] = None,
    citizen: Annotated[str | None, typer.Option("--citizen", help="only this citizen (pseudonym)")] = None,
    fmt: FormatOpt = Format.table,
    catch_up: CatchUpOpt = True,
    columns: ColumnsOpt = None,
    dialect: DialectOpt = "plain",
    at_position: AtPositionOpt = None,
) -> None:
    """List invoices (number, citizen, month, amounts, what is still open)."""
    from ledger.projections.billing_queries import invoices as query

    m = municipality(municipality_)
    rows, position = _query(query, m, month_arg(month) if month else None, citizen, catch_up=catch_up,
                            at_position=at_position, logged=("invoices", m, citizen))
    emit(rows, fmt, ("number", "citizen_id", "month", "issued_on", "due_on", "line_count", "net", "vat", "gross",
                     "credited", "fees", "open_amount"), title="Invoices", empty="no invoices", shown=columns,
         default=("number", "citizen_id", "gross", "open_amount"), dialect=dialect,
         listing=("invoices", {"municipality": m, "log_position": position}))


@billing.command("invoice")
@user_errors
def invoice(
    number: Annotated[str, typer.Argument(help="the invoice number, e.g. 657-000001")],
    municipality_: Annotated[str | None, typer.Option(
        "--municipality", "-m", help="municipality code (657) or name (Herning); default: the one the number "
                                     "starts with", show_default=False)] = None,
    fmt: FormatOpt = Format.table,
    catch_up: CatchUpOpt = True,
    at_position: AtPositionOpt = None,
) -> None:
    """One invoice with its lines and the provenance of each (order, delivery, price, grant)."""
    from ledger.api.documents import API_LISTS, WHAT
    from ledger.domain.document_numbers import municipality_of, series_of
    from ledger.projections.billing_queries import invoice as query

    named = municipality_of(number)
    if municipality_ is None and named is None:
        fail(f"{number!r} is not an invoice number (657-000001): give --municipality")
    kind = series_of(number)
    if kind != "invoice":  # as the API's route does (ledger/api/documents.py): say where that one is
        listing = API_LISTS[kind].rsplit("/", 1)[1]  # /billing/claims: `ledger billing claims`
        fail(f"{number} is {WHAT[kind]}, not an invoice: `ledger billing {listing} -m {named or municipality_}` "
             "lists it", code=2)
    m = municipality(municipality_) if municipality_ is not None else named
    assert m is not None  # refused above otherwise
    found, position = _query(query, m, number, catch_up=catch_up, at_position=at_position,
                             logged=("invoice", m, None))
    if found is None:
        fail(f"municipality {m} has no invoice {number}")
    if fmt is Format.json:  # as the API answers: {municipality, log_position, invoice}
        typer.echo(orjson.dumps({"municipality": m, "log_position": position, "invoice": found},
                                option=orjson.OPT_INDENT_2).decode())
        return
    lines = [{**line, **{f"prov_{k}": v for k, v in line["provenance"].items()}} for line in found["lines"]]
    amounts = ("line_no", "service_date", "offer_id", "band", "minutes", "billed_minutes", "quantity", "unit_price",
               "vat_class", "net", "vat", "gross", "credit_note")
    provenance = ("line_no", "prov_order", "prov_delivery", "prov_price", "prov_grant", "prov_cancellation")
    if fmt is Format.csv:
        emit(lines, fmt, amounts + provenance[1:])
        return
    typer.echo(f"Invoice {found['number']} · citizen {found['citizen_id']} · month {found['month']} · "
               f"issued {found['issued_on']} · due {found['due_on']}")
    typer.echo(f"net {kr(found['net'])} + VAT {kr(found['vat'])} = gross {kr(found['gross'])}; "
               f"fees {kr(found['fees'])}, credited {kr(found['credited'])}, open {kr(found['open_amount'])}; "
               f"made at chain position {found['chain_position']} ({found['chain_hash']})")
    emit(lines, fmt, amounts, title="Lines")
    for note in found.get("debit_notes", []):  # re-rating: what was added to this invoice's lines since
        typer.echo(f"debit note {note['number']} ({note['reason']}): {kr(note['gross'])}, due {note['due_on']}, "
                   f"payment id {note['payment_id']}, lines {', '.join(str(x['invoice_line_no']) for x in note['lines'])}")
    # Provenance: the stored events (aggregate id:version) each line was computed from.
    emit(lines, fmt, provenance, title="Provenance (event refs)")


def _simple(name: str, query_name: str, columns: tuple[str, ...], doc: str, title: str) -> None:
    """Register a read command that lists one query's rows for a municipality."""

    @billing.command(name, help=doc)
    @user_errors
    def command(municipality_: MunicipalityOpt, fmt: FormatOpt = Format.table, catch_up: CatchUpOpt = True,
                shown: ColumnsOpt = None, dialect: DialectOpt = "plain", at_position: AtPositionOpt = None) -> None:
        from ledger.projections import billing_queries

        m = municipality(municipality_)
        rows, position = _query(getattr(billing_queries, query_name), m, catch_up=catch_up, at_position=at_position,
                                logged=(name, m, None))
        emit(rows, fmt, columns, title=title, shown=shown, dialect=dialect,
             listing=(name.replace("-", "_"), {"municipality": m, "log_position": position}))


_simple("balances", "balances", ("citizen_id", "invoiced", "fees", "credited", "paid", "refunded", "owed", "credit",
                                 "balance", "open_invoices"),
        "Each citizen's balance: invoiced, fees, credited, paid, owed and credit.", "Balances")
_simple("open-items", "open_items", ("number", "kind", "citizen_id", "due_on", "charged", "open_amount",
                                     "reminder_count"),
        "Invoices, debit notes and claims with something still owed, oldest due first.", "Open items")
_simple("payments", "payments", ("paid_on", "citizen_id", "payment_id", "method", "reference", "amount", "allocated",
                                 "refunded", "unallocated", "reversed"),
        "Payments: how much of each was allocated to invoices, refunded from its leftover credit (oldest credit "
        "first), and is unallocated.", "Payments")
_simple("refunds", "refunds", ("number", "refunded_on", "citizen_id", "method", "reference", "amount", "reason"),
        "Credit paid out to citizens (refund_credit), in refund-number order.", "Refunds")
_simple("claims", "claims", ("number", "issued_on", "due_on", "citizen_id", "payment_id", "amount", "fees",
                             "open_amount"),
        "Claims on citizens: refunded money a reversed payment left uncovered, owed like an invoice, in claim-number "
        "order.", "Claims")
_simple("credit-notes", "credit_notes", ("number", "invoice_number", "citizen_id", "issued_on", "net", "vat", "gross",
                                         "reason"),
        "Credit notes, each referencing the invoice it credits.", "Credit notes")
_simple("debit-notes", "debit_notes", ("number", "invoice_number", "citizen_id", "issued_on", "due_on", "net", "vat",
                                       "gross", "open_amount", "payment_id", "reason"),
        "Debit notes (re-rating), each referencing the invoice whose lines it adjusts.", "Debit notes")
_simple("revenue", "revenue", ("month", "offer_id", "vat_class", "lines", "invoiced_gross", "credited_gross", "net",
                               "vat", "gross"),
        "Revenue per month billed, item and VAT class.", "Revenue")
_simple("unbilled", "unbilled_deliveries", ("service_date", "delivery_id", "citizen_id", "offer_id", "minutes"),
        "Billable deliveries not on any invoice yet.", "Unbilled deliveries")


@billing.command("ageing")
@user_errors
def ageing(
    municipality_: MunicipalityOpt,
    as_of: Annotated[str, typer.Option("--as-of", help="the date to age open items at, YYYY-MM-DD")],
    fmt: FormatOpt = Format.table,
    catch_up: CatchUpOpt = True,
    columns: ColumnsOpt = None,
    dialect: DialectOpt = "plain",
    at_position: AtPositionOpt = None,
) -> None:
    """Open amounts per citizen by days past due: not due, 1–30, 31–60, 61–90, over 90."""
    from ledger.domain.values import parse_date, plausible_date
    from ledger.projections.billing_queries import AGEING_BUCKETS
    from ledger.projections.billing_queries import ageing as query

    m = municipality(municipality_)
    day = plausible_date(parse_date(as_of, "as_of"), "as_of")
    rows, position = _query(query, m, day, catch_up=catch_up, at_position=at_position, logged=("ageing", m, None))
    if fmt is Format.table and rows:
        rows = [*rows, {"citizen_id": "total", **{k: sum(r[k] for r in rows) for k in (*AGEING_BUCKETS, "open", "credit")}}]
    emit(rows, fmt, ("citizen_id", *AGEING_BUCKETS, "open", "credit"), title=f"Ageing at {as_of}",
         empty=f"nothing open on {as_of}", shown=columns, dialect=dialect,
         listing=("ageing", {"municipality": m, "log_position": position, "as_of": day.isoformat()}))
