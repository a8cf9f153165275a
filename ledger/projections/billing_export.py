"""A month's invoices for the finance system: one CSV row per invoice line; the totals apart.

The columns are a published contract (docs/billing-export.md): never rename or reorder them; add
new ones at the end. Rows are streamed from the billing projection (constant memory), and their
sums are checked against the projection's invoice totals before the file is put in place: an
export that does not add up to the øre is refused, never written. The file is one tidy table (a
column's sum is the month's total); the totals go to a file of their own (`*.totals.csv`), or,
opted in, to a trailing `total` row.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from ledger.db import Database
from ledger.domain.values import VAT_RATE_PERCENT
from ledger.projections.billing_queries import invoice_totals, iter_rows

FORMAT_VERSION = 1
COLUMNS = (
    "record_type", "municipality", "invoice_number", "invoice_month", "issued_on", "due_on", "citizen_id",
    "line_no", "line_kind", "delivery_id", "order_id", "offer_id", "offer_name", "service_date", "band", "unit",
    "minutes", "billed_minutes", "quantity", "unit_price_ore", "vat_class", "vat_rate_percent", "net_ore",
    "vat_ore", "gross_ore", "prov_order", "prov_delivery", "prov_price", "prov_grant", "prov_cancellation",
    "credit_note", "chain_position", "chain_hash", "credited_gross_ore", "debited_gross_ore", "charged_gross_ore",
)

_SQL = (
    "SELECT i.number, i.month, i.issued_on, i.due_on, i.citizen_id, i.chain_position, i.chain_hash, "
    "l.line_no, l.kind, l.delivery_id, l.order_id, l.offer_id, l.offer_name, l.service_date, l.band, l.unit, "
    "l.minutes, l.billed_minutes, l.quantity, l.unit_price, l.vat_class, l.net, l.vat, l.gross, l.prov_order, "
    "l.prov_delivery, l.prov_price, l.prov_grant, l.prov_cancellation, l.credit_note, "
    # What later credit and debit notes (withdrawals, re-rating: docs/adr/0011) did to the line.
    "(SELECT COALESCE(SUM(c.gross), 0) FROM billing_credit_note_lines c "
    "WHERE c.invoice_number = l.number AND c.invoice_line_no = l.line_no) AS credited, "
    "(SELECT COALESCE(SUM(d.gross), 0) FROM billing_debit_note_lines d "
    "WHERE d.invoice_number = l.number AND d.invoice_line_no = l.line_no) AS debited "
    "FROM billing_invoices i JOIN billing_invoice_lines l ON l.number = i.number "
    "WHERE i.municipality = ? AND i.month = ? ORDER BY i.number, l.line_no"
)


class ExportMismatch(RuntimeError):
    """The exported lines do not add up to the projection's invoice totals (nothing was written)."""


def line_rows(db: Database, municipality: int, month: str) -> Iterator[list[Any]]:
    """The line rows of the export, in invoice number and line order, streamed."""
    for r in iter_rows(db, _SQL, (municipality, month), stream=True):
        yield ["line", municipality, r["number"], r["month"], r["issued_on"], r["due_on"], r["citizen_id"],
               r["line_no"], r["kind"], r["delivery_id"], r["order_id"], r["offer_id"], r["offer_name"],
               r["service_date"], r["band"], r["unit"], r["minutes"], r["billed_minutes"], r["quantity"],
               r["unit_price"], r["vat_class"], VAT_RATE_PERCENT.get(r["vat_class"], ""), r["net"], r["vat"],
               r["gross"], r["prov_order"], r["prov_delivery"], r["prov_price"], r["prov_grant"],
               r["prov_cancellation"], r["credit_note"], r["chain_position"], r["chain_hash"],
               int(r["credited"]), int(r["debited"]), r["gross"] - int(r["credited"]) + int(r["debited"])]


# Every column of øre: `--excel` writes each in kroner under its `_kr` name (ADR 0018), none left in øre.
MONEY_COLUMNS = frozenset({"unit_price_ore", "net_ore", "vat_ore", "gross_ore", "credited_gross_ore",
                           "debited_gross_ore", "charged_gross_ore"})
TOTALS_COLUMNS = ("municipality", "invoice_month", "invoices", "lines", "net_ore", "vat_ore", "gross_ore",
                  "format_version")
_NET, _VAT, _GROSS, _NUMBER = (COLUMNS.index(c) for c in ("net_ore", "vat_ore", "gross_ore", "invoice_number"))


def _writer(out: TextIO, dialect: str) -> Any:
    if dialect == "excel-da":
        # What a Danish spreadsheet opens as it is: a BOM (so æøå survive), ";" and CRLF.
        out.write("\ufeff")
        return csv.writer(out, delimiter=";", lineterminator="\r\n")
    return csv.writer(out, lineterminator="\n")


def _header(columns: tuple[str, ...], dialect: str) -> list[str]:
    if dialect != "excel-da":
        return list(columns)
    return [c[:-4] + "_kr" if c in MONEY_COLUMNS else c for c in columns]


def _cells(row: list[Any], columns: tuple[str, ...], dialect: str) -> list[Any]:
    if dialect != "excel-da":
        return ["" if v is None else v for v in row]
    return [_kroner(v) if c in MONEY_COLUMNS and isinstance(v, int) else ("" if v is None else v)
            for c, v in zip(columns, row)]


def _kroner(ore: int) -> str:
    """Øre as kroner with a decimal comma (1336,00), from integers (no float ever holds money)."""
    sign = "-" if ore < 0 else ""
    whole, part = divmod(abs(ore), 100)
    return f"{sign}{whole},{part:02d}"


def write_export(db: Database, municipality: int, month: str, out: TextIO, *, trailer: bool = False,
                 dialect: str = "plain") -> dict[str, Any]:
    """Write the export's line rows to an open text stream; returns the totals. Raises ExportMismatch.

    The file holds line rows only, so a column's sum is the month's total. `trailer` appends the
    old totals row (record_type `total`) for readers that expect it; `dialect` "excel-da" writes
    ";", kroner with a decimal comma and a BOM for Danish spreadsheets."""
    writer = _writer(out, dialect)
    writer.writerow(_header(COLUMNS, dialect))
    lines = net = vat = gross = 0
    invoices: set[str] = set()
    for row in line_rows(db, municipality, month):
        writer.writerow(_cells(row, COLUMNS, dialect))
        lines += 1
        net += row[_NET]
        vat += row[_VAT]
        gross += row[_GROSS]
        invoices.add(row[_NUMBER])
    expected = invoice_totals(db, municipality, month)
    got = {"invoices": len(invoices), "lines": lines, "net": net, "vat": vat, "gross": gross}
    if got != expected:
        raise ExportMismatch(f"the export of {municipality} {month} does not add up: lines give {got}, "
                             f"the projection's invoices {expected}")
    if trailer:
        # The totals row: line_no holds the number of line rows, the amount columns their sums.
        total: dict[str, str | int] = dict.fromkeys(COLUMNS, "")
        total.update({"record_type": "total", "municipality": municipality, "invoice_month": month, "line_no": lines,
                      "quantity": len(invoices), "net_ore": net, "vat_ore": vat, "gross_ore": gross})
        writer.writerow(_cells([total[c] for c in COLUMNS], COLUMNS, dialect))
    return {"municipality": municipality, "month": month, **got}


def write_totals(out: TextIO, summary: dict[str, Any], dialect: str = "plain") -> None:
    """The totals as a table of their own: one row, the sums of the export's line rows."""
    writer = _writer(out, dialect)
    writer.writerow(_header(TOTALS_COLUMNS, dialect))
    row = [summary["municipality"], summary["month"], summary["invoices"], summary["lines"], summary["net"],
           summary["vat"], summary["gross"], FORMAT_VERSION]
    writer.writerow(_cells(row, TOTALS_COLUMNS, dialect))


def totals_path_for(path: str | Path) -> Path:
    """herning-2019-03.csv → herning-2019-03.totals.csv (beside the export)."""
    p = Path(path)
    return p.with_name(f"{p.stem}.totals{p.suffix or '.csv'}")


def _atomic(target: Path, write: Any) -> Any:
    tmp = target.with_name(f".{target.name}.partial")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as out:
            result = write(out)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return result


def export_month(db: Database, municipality: int, month: str, path: str | Path, *, trailer: bool = False,
                 dialect: str = "plain", totals: str | Path | None = None) -> dict[str, Any]:
    """Write the export to `path` atomically: a temporary file is renamed into place only when
    the totals check has passed, so a reader never sees a partial or wrong file. `path` "-" is
    standard output (written once the check has passed). The totals go to `totals` (a path, "-"
    or None for none)."""
    import io
    import sys

    if str(path) == "-":
        buffer = io.StringIO()
        summary = write_export(db, municipality, month, buffer, trailer=trailer, dialect=dialect)
        sys.stdout.write(buffer.getvalue())
        sys.stdout.flush()
        shown = "-"
    else:
        target = Path(path)
        summary = _atomic(target, lambda out: write_export(db, municipality, month, out, trailer=trailer,
                                                           dialect=dialect))
        shown = str(target)
    written = None
    if totals is not None:
        if str(totals) == "-":
            write_totals(sys.stdout, summary, dialect)
            written = "-"
        else:
            _atomic(Path(totals), lambda out: write_totals(out, summary, dialect))
            written = str(totals)
    return {**summary, "path": shown, "totals_path": written}
