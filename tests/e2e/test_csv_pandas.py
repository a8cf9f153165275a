"""Every CSV the CLI writes is one tidy table that pandas reads without options, and its sums
equal the projection's totals (on a demo store, its smallest scale)."""

from __future__ import annotations

from collections.abc import Iterator

import io
from pathlib import Path

import orjson
import pandas as pd
import pytest
from typer.testing import CliRunner

from ledger.cli import app
from ledger.cli.billing import MONEY_KEYS
from ledger.db import Database
from ledger.demo import EXAMPLE_MONTH, EXAMPLE_MUNICIPALITY_CODE
from ledger.projections import billing_queries as bq
from tests.helpers import demo_store

KBH = EXAMPLE_MUNICIPALITY_CODE  # København: invoices in several months at the demo's scales, EXAMPLE_MONTH among them
AS_OF = "2018-04-30"  # the end of EXAMPLE_MONTH: the timeline has revenue then


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from demo_store.store(request, tmp_path_factory, "csv")


def cli(store: str, *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"LEDGER_DATABASE_URL": store, "COLUMNS": "80"})
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.stdout


def months_with_invoices(store: str) -> list[str]:
    db = Database(store)
    try:
        return sorted({i["month"] for i in bq.invoices(db, KBH)})
    finally:
        db.close()


def test_the_billing_export_and_its_totals_read_as_they_are_and_add_up(store, tmp_path: Path):
    months = months_with_invoices(store)
    assert len(months) >= 3
    db = Database(store)
    try:
        assert EXAMPLE_MONTH in months
        for month in (months[0], EXAMPLE_MONTH, months[-1]):
            out = tmp_path / f"kbh-{month}.csv"
            cli(store, "billing", "export", "-m", str(KBH), "--month", month, "--out", str(out))
            lines = pd.read_csv(out)
            totals = pd.read_csv(tmp_path / f"kbh-{month}.totals.csv")
            expected = bq.invoice_totals(db, KBH, month)
            assert len(totals) == 1 and set(lines["record_type"]) == {"line"}
            assert len(lines) == expected["lines"] == totals["lines"][0]
            assert lines["invoice_number"].nunique() == expected["invoices"] == totals["invoices"][0]
            for column, key in (("net_ore", "net"), ("vat_ore", "vat"), ("gross_ore", "gross")):
                assert lines[column].dtype.kind == "i"  # integer øre, never a float
                assert lines[column].sum() == expected[key] == totals[column][0]
            # The Danish spreadsheet dialect: the same money, in kroner with a decimal comma.
            excel = tmp_path / f"kbh-{month}-excel.csv"
            cli(store, "billing", "export", "-m", str(KBH), "--month", month, "--out", str(excel), "--excel")
            assert excel.read_bytes().startswith("\ufeff".encode())
            da = pd.read_csv(excel, sep=";", decimal=",", encoding="utf-8-sig")
            # Every money column in kroner (ADR 0018), none left in øre beside them.
            assert list(da.columns) == [c[:-4] + "_kr" if c.endswith("_ore") else c for c in lines.columns]
            assert round(da["gross_kr"].sum() * 100) == expected["gross"]
            for column in ("credited_gross", "debited_gross", "charged_gross"):
                assert round(da[f"{column}_kr"].sum() * 100) == lines[f"{column}_ore"].sum()
            # --out - : the same file on standard output.
            assert cli(store, "billing", "export", "-m", str(KBH), "--month", month, "--out", "-") == out.read_text(
                encoding="utf-8")
    finally:
        db.close()


@pytest.mark.parametrize("command", ["invoices", "balances", "open-items", "payments", "credit-notes", "revenue",
                                     "unbilled"])
def test_each_billing_csv_reads_as_it_is_and_sums_to_the_projection(store, command):
    frame = pd.read_csv(io.StringIO(cli(store, "billing", command, "-m", str(KBH), "-f", "csv")))
    rows = orjson.loads(cli(store, "billing", command, "-m", str(KBH), "-f", "json"))[command.replace("-", "_")]
    assert len(frame) == len(rows)
    for column in frame.columns:
        if column in MONEY_KEYS and rows:
            assert frame[column].sum() == sum(r[column] or 0 for r in rows), column


def test_the_timeline_audit_and_evaluation_csvs_are_one_table_each(store, tmp_path: Path):
    cli(store, "timeline", "-m", "all", "--as-of", AS_OF, "-f", "csv", "--out", str(tmp_path / "tl"))
    cli(store, "audit", "-m", "all", "-f", "csv", "--out", str(tmp_path / "au"))
    cli(store, "export", "evaluation", "-m", "all", "--out", str(tmp_path / "ev"))
    files = sorted((tmp_path / "tl").glob("*.csv")) + sorted((tmp_path / "au").glob("*.csv")) + sorted(
        (tmp_path / "ev").glob("*.csv"))
    assert len(files) >= 3 + 7 + 4
    for path in files:
        frame = pd.read_csv(path)  # no options: one header, one table
        assert len(frame.columns) > 1, path
    report = orjson.loads(cli(store, "timeline", "-m", "all", "--as-of", AS_OF, "-f", "json"))["timeline"]
    summary = pd.read_csv(tmp_path / "tl" / "summary.csv")
    per_municipality = summary[summary["municipality"] != "all"]
    assert per_municipality["revenue_gross"].sum() == report["totals"]["month"]["revenue"]["gross"] > 0
    assert summary[summary["municipality"] == "all"]["revenue_gross"].iloc[0] == per_municipality["revenue_gross"].sum()
    audits = orjson.loads(cli(store, "audit", "-m", "all", "-f", "json"))["audits"]
    substitution = pd.read_csv(tmp_path / "au" / "substitution.csv")
    assert len(substitution) == sum(len(a["substitution"]) for a in audits) > 0
    ineligible = pd.read_csv(tmp_path / "au" / "ineligible.csv")  # the demo's back-dated grant end
    assert len(ineligible) == sum(len(a["ineligible"]) for a in audits) > 0
    full_cost = pd.read_csv(tmp_path / "au" / "full_cost.csv")
    assert full_cost["sold_gross"].sum() == sum(f["sold"]["gross"] for a in audits for f in a["full_cost"])


def test_a_section_error_lists_only_the_sections(store):
    result = CliRunner().invoke(app, ["timeline", "-m", "101", "--as-of", AS_OF, "--section", "nope"],
                                env={"LEDGER_DATABASE_URL": store})
    assert result.exit_code == 2
    assert "summary, granted_minutes, catalogue, surveys, series, catalogue_history; got 'nope'" in result.output
    assert "summary on" not in result.output
    result = CliRunner().invoke(app, ["audit", "-m", "101", "--section", "nope"], env={"LEDGER_DATABASE_URL": store})
    assert result.exit_code == 2 and "uninvoiced-deliveries" in result.output


def test_billing_csv_in_the_danish_spreadsheet_dialect(store):
    said = cli(store, "billing", "invoices", "-m", str(KBH), "-f", "csv", "--dialect", "excel-da")
    assert said.startswith("\ufeff")
    frame = pd.read_csv(io.StringIO(said), sep=";", decimal=",", encoding="utf-8-sig")
    rows = orjson.loads(cli(store, "billing", "invoices", "-m", str(KBH), "-f", "json"))["invoices"]
    assert "gross_kr" in frame.columns and round(frame["gross_kr"].sum() * 100) == sum(r["gross"] for r in rows)
