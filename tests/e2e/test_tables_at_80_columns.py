"""Every table at 80 columns (the width when output is piped) shows every id and amount whole.

For each table command, the same command's CSV (integer øre, every column) says what must be
visible: each id and ref as it is, each amount as Danish kroner with the unit (1.336,00 kr.),
no "…" anywhere, and no line wider than 80 columns."""

from __future__ import annotations

from collections.abc import Iterator

import csv
import io
from pathlib import Path

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from ledger.cli import app
from ledger.cli.billing import MONEY_KEYS
from ledger.cli.reports import MONEY
from ledger.cli.tables import kr
from tests.helpers import demo_store

MUNI = ["--municipality", "København"]
BILLING = [
    ["billing", "invoices", *MUNI, "--month", "2021-03"],
    ["billing", "invoices", *MUNI],
    ["billing", "balances", *MUNI],
    ["billing", "open-items", *MUNI],
    ["billing", "payments", *MUNI],
    ["billing", "credit-notes", *MUNI],
    ["billing", "revenue", *MUNI],
    ["billing", "unbilled", *MUNI],
    ["billing", "ageing", *MUNI, "--as-of", "2022-01-31"],
]
REPORTS = [
    ["timeline", *MUNI, "--as-of", "2021-03-31"],
    ["timeline", "--municipality", "all", "--as-of", "2021-03-31"],
    ["audit", "--municipality", "all"],
]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from demo_store.store(request, tmp_path_factory, "tables")


def cli(store: str, args: list[str], width: int = 80) -> str:
    result = CliRunner().invoke(app, args, env={"LEDGER_DATABASE_URL": store, "COLUMNS": str(width)})
    assert result.exit_code == 0, (args, result.output, result.exception)
    return result.output


def is_id(column: str) -> bool:
    return (column.endswith(("_id", "_ref", "_refs", "_hash")) or column.startswith("prov_")
            or column in ("number", "invoice_number", "credit_note", "reference"))


def assert_whole(table: str, rows: list[dict[str, str]], money: frozenset[str], what: object) -> int:
    assert "…" not in table, what
    wide = [line for line in table.splitlines() if cell_len(line) > 80]
    assert not wide, (what, wide[:3])
    checked = 0
    for row in rows:
        for column, value in row.items():
            if value == "":
                continue
            if column in money:
                assert kr(int(value)) in table, (what, column, value, kr(int(value)))
                checked += 1
            elif is_id(column):
                for part in value.split(";"):
                    assert part in table, (what, column, part)
                    checked += 1
    return checked


@pytest.mark.parametrize("args", BILLING, ids=lambda a: " ".join(a[1:3]))
def test_billing_tables_cut_no_id_or_amount(store, args):
    rows = list(csv.DictReader(io.StringIO(cli(store, [*args, "-f", "csv"]))))
    table = cli(store, [*args, "--columns", "all"])
    checked = assert_whole(table, rows, MONEY_KEYS, args)
    assert not rows or checked
    default = cli(store, args)  # the default columns: fewer, and still whole
    assert "…" not in default and all(cell_len(line) <= 80 for line in default.splitlines())


def test_the_invoice_table_and_its_provenance_cut_nothing(store):
    rows = list(csv.DictReader(io.StringIO(cli(store, ["billing", "invoice", "101-000001", *MUNI, "-f", "csv"]))))
    table = cli(store, ["billing", "invoice", "101-000001", *MUNI])
    assert rows and assert_whole("\n".join(table.splitlines()[2:]), rows, MONEY_KEYS, "invoice")
    assert "kr." in table.splitlines()[1]


@pytest.mark.parametrize("args", REPORTS, ids=lambda a: " ".join(a[:3]))
def test_report_tables_cut_no_id_or_amount(store, args, tmp_path: Path):
    out = tmp_path / "csv"
    cli(store, [*args, "-f", "csv", "--out", str(out)])
    table = cli(store, args)
    checked = 0
    for path in sorted(out.glob("*.csv")):
        rows = list(csv.DictReader(path.open(encoding="utf-8")))
        checked += assert_whole(table, rows, MONEY, path.name)
    assert checked


def test_money_in_tables_is_danish_with_the_unit():
    assert [kr(v) for v in (133600, 5, -123456789, 0)] == ["1.336,00 kr.", "0,05 kr.", "-1.234.567,89 kr.", "0,00 kr."]


@pytest.mark.parametrize("command", [["billing", "invoices"], ["billing", "balances"], ["billing", "export"],
                                     ["timeline"], ["audit"]])
def test_help_names_the_units_of_each_format(command):
    said = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"}).output
    assert "kroner" in said and "øre" in said, said
