"""A month's invoices for the finance system: one CSV row per invoice line, then a totals row.

The columns are a published contract (docs/billing-export.md): never rename or reorder them; add
new ones at the end. Rows are streamed from the billing projection (constant memory), and the
totals row is checked against the projection's invoice totals before the file is put in place:
an export that does not add up to the øre is refused, never written.
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


def write_export(db: Database, municipality: int, month: str, out: TextIO) -> dict[str, Any]:
    """Write the export to an open text stream; returns the totals. Raises ExportMismatch."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    lines = net = vat = gross = 0
    invoices: set[str] = set()
    for row in line_rows(db, municipality, month):
        writer.writerow(["" if v is None else v for v in row])
        lines += 1
        net += row[22]
        vat += row[23]
        gross += row[24]
        invoices.add(row[2])
    expected = invoice_totals(db, municipality, month)
    got = {"invoices": len(invoices), "lines": lines, "net": net, "vat": vat, "gross": gross}
    if got != expected:
        raise ExportMismatch(f"the export of {municipality} {month} does not add up: lines give {got}, "
                             f"the projection's invoices {expected}")
    # The totals row: line_no holds the number of line rows, the amount columns their sums.
    total = dict.fromkeys(COLUMNS, "")
    total.update({"record_type": "total", "municipality": municipality, "invoice_month": month, "line_no": lines,
                  "quantity": len(invoices), "net_ore": net, "vat_ore": vat, "gross_ore": gross})
    writer.writerow([total[c] for c in COLUMNS])
    return {"municipality": municipality, "month": month, **got}


def export_month(db: Database, municipality: int, month: str, path: str | Path) -> dict[str, Any]:
    """Write the export to `path` atomically: a temporary file is renamed into place only when
    the totals check has passed, so a reader never sees a partial or wrong file."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.partial")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as out:
            summary = write_export(db, municipality, month, out)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return {**summary, "path": str(target)}
