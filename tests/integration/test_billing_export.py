"""The finance export on SQLite and PostgreSQL: its documented columns, one row per invoice line,
and totals (a file of their own, or the opt-in trailer row) equal to the projection's invoice
totals to the øre."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from ledger.projections import billing_queries as q
from ledger.projections.billing_export import COLUMNS, ExportMismatch, export_month
from tests.helpers.billing_factories import HERNING, billing_history, caught_up, open_ledger

DOC = Path(__file__).resolve().parents[2] / "docs" / "billing-export.md"
INTEGER_COLUMNS = ("municipality", "line_no", "minutes", "billed_minutes", "quantity", "unit_price_ore",
                   "vat_rate_percent", "net_ore", "vat_ore", "gross_ore", "chain_position")


def _read(path: Path) -> tuple[list[str], list[dict[str, str]], dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        return list(reader.fieldnames or []), rows[:-1], rows[-1]


def test_the_documented_columns_are_the_exported_columns_in_order():
    documented = re.findall(r"^\| \d+ \| `([a-z_]+)` \|", DOC.read_text(encoding="utf-8"), flags=re.M)
    assert tuple(documented) == COLUMNS


def test_the_export_has_one_row_per_line_and_totals_equal_the_projection_to_the_ore(database_url, tmp_path):
    ledger = open_ledger(database_url)
    try:
        billing_history(ledger)
        db = caught_up(ledger)
        for month in ("2019-03", "2019-04"):
            out = tmp_path / f"herning-{month}.csv"
            summary = export_month(db, HERNING, month, out, trailer=True)  # the opt-in totals row
            header, lines, total = _read(out)
            invoices = q.invoices(db, HERNING, month=month)
            expected_lines = [(i["number"], x["line_no"], x["gross"]) for i in invoices
                              for x in q.invoice(db, HERNING, i["number"])["lines"]]

            assert tuple(header) == COLUMNS
            assert [(r["invoice_number"], int(r["line_no"]), int(r["gross_ore"])) for r in lines] == expected_lines
            assert all(r["record_type"] == "line" for r in lines) and total["record_type"] == "total"
            for r in lines:  # money and counts are whole numbers, never decimals
                assert all(re.fullmatch(r"-?\d+", r[c]) for c in INTEGER_COLUMNS if r[c] != ""), r
                assert int(r["net_ore"]) + int(r["vat_ore"]) == int(r["gross_ore"])
            for column, key in (("net_ore", "net"), ("vat_ore", "vat"), ("gross_ore", "gross")):
                assert int(total[column]) == sum(int(r[column]) for r in lines) == sum(i[key] for i in invoices)
            assert (int(total["line_no"]), int(total["quantity"])) == (len(lines), len(invoices))
            assert summary["gross"] == q.invoice_totals(db, HERNING, month)["gross"] > 0
        march = _read(tmp_path / "herning-2019-03.csv")[1]
        assert "late_cancellation" in {r["line_kind"] for r in march}  # the late-cancellation fee is a line
        assert any(r["credit_note"] for r in march)
    finally:
        ledger.close()


def test_an_export_that_does_not_add_up_is_refused_and_nothing_is_written(database_url, tmp_path):
    ledger = open_ledger(database_url)
    try:
        billing_history(ledger)
        db = caught_up(ledger)
        with db.transaction() as cur:  # damage the read model so the lines no longer add up
            cur.execute(db.sql("UPDATE billing_invoices SET gross = gross + 1 WHERE number = ?"), ("657-000001",))
        folder = tmp_path / "out"
        folder.mkdir()
        with pytest.raises(ExportMismatch, match="does not add up"):
            export_month(db, HERNING, "2019-03", folder / "export.csv")
        assert list(folder.iterdir()) == []
    finally:
        ledger.close()


def test_an_empty_month_exports_a_header_and_a_zero_totals_row(database_url, tmp_path):
    ledger = open_ledger(database_url)
    try:
        db = caught_up(ledger)
        out = tmp_path / "empty.csv"
        export_month(db, HERNING, "2019-01", out, trailer=True)
        _, lines, total = _read(out)
        assert lines == [] and (total["line_no"], total["gross_ore"]) == ("0", "0")
    finally:
        ledger.close()
