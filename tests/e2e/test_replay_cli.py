"""`ledger-replay` from the outside: exit code 0 when everything holds, 1 when something does not,
2 for bad usage, and a report that names what is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ledger.projections import all_projections
from ledger.projections.engine import Engine
from replay.cli import app
from ledger.application import Ledger
from ledger.settings import Settings
from tests.integration.test_replay_chain import event_at, history, position_of, set_state
from tests.helpers.costs import at_cost

runner = CliRunner()


def replay(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"LEDGER_DATABASE_URL": ""})


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = history(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger = Ledger(Settings(database_url=url))
    Engine(ledger.db, all_projections()).catch_up()
    ledger.close()
    return url


def test_verify_exits_0_on_a_clean_store_and_1_naming_the_first_bad_position(database_url: str) -> None:
    ledger = Ledger(Settings(database_url=history(database_url)))
    Engine(ledger.db, all_projections()).catch_up()
    ok = replay("verify", "--db", database_url)
    assert ok.exit_code == 0, ok.output
    assert "VERIFIED" in ok.output and "not compared" not in ok.output
    position = position_of(ledger.db, "DeliveryRecorded")
    nid, state = event_at(ledger.db, position)
    set_state(ledger.db, nid, state.replace(b'"minutes":55', b'"minutes":56'))
    ledger.close()
    bad = replay("verify", "--db", database_url, "--skip-projections")
    assert bad.exit_code == 1
    assert f"first problem: position {position}: hash mismatch (stored state altered?)" in bad.output
    assert "NOT VERIFIED" in bad.output


def test_verify_reports_an_edited_projection_row(sqlite_url: str) -> None:
    import sqlite3

    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE billing_invoices SET gross = gross + 1 WHERE number = '657-000001'")
    result = replay("verify", "--db", sqlite_url)
    assert result.exit_code == 1
    assert "table billing_invoices differs" in result.output
    assert "number='657-000001': gross, open_amount differ" in result.output or \
           "number='657-000001': gross differ" in result.output


def test_verify_checks_an_expected_head(sqlite_url: str) -> None:
    assert replay("verify", "--db", sqlite_url, "--skip-projections", "--expect-head", f"3:{'00' * 32}").exit_code == 1
    bad = replay("verify", "--db", sqlite_url, "--expect-head", "3:nothex")
    assert bad.exit_code == 2 and "POSITION:HASH" in bad.output


@pytest.mark.parametrize("args, message", [
    (("verify", "--db", "mysql://somewhere/db"), "neither sqlite"),
    (("verify", "--db", "sqlite:////nonexistent/ledger.db"), "no database file"),
    (("verify", "--db", "postgresql://postgres@127.0.0.1:1/test"), "cannot read"),
    (("verify", "--archive", "/nonexistent/log.gz"), "no archive file"),
    (("verify", "--db", "sqlite:///x.db", "--archive", "x.gz"), "not both"),
    (("invoice", "657-000001", "--municipality", "Atlantis", "--db", "sqlite:///x.db"), "unknown municipality"),
    (("rebuild", "--known-at", "yesterday", "--out", "/tmp/x", "--db", "sqlite:///x.db"), "--known-at"),
    (("rebuild", "--known-at", "2019-01-01", "--as-of", "soon", "--out", "/tmp/x"), "--as-of"),
])
def test_bad_usage_exits_2_with_one_line(args: tuple[str, ...], message: str) -> None:
    result = replay(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_store_without_an_event_log_is_bad_usage(tmp_path: Path) -> None:
    import sqlite3

    sqlite3.connect(tmp_path / "empty.db").close()
    result = replay("verify", "--db", f"sqlite:///{tmp_path / 'empty.db'}")
    assert result.exit_code == 2 and "holds no ledger event log" in result.output


def test_invoice_exits_0_when_reproduced_and_2_when_unknown(sqlite_url: str) -> None:
    ok = replay("invoice", "657-000002", "--municipality", "Herning", "--db", sqlite_url)
    assert ok.exit_code == 0, ok.output
    assert "REPRODUCED EXACTLY" in ok.output and "late_cancellation" in ok.output
    unknown = replay("invoice", "657-999999", "--municipality", "657", "--db", sqlite_url)
    assert unknown.exit_code == 2 and "no invoice 657-999999" in unknown.output


def test_export_then_verify_the_archive(sqlite_url: str, tmp_path: Path) -> None:
    archive = tmp_path / "log.jsonl.gz"
    written = replay("export", "--out", str(archive), "--db", sqlite_url)
    assert written.exit_code == 0, written.output
    checked = replay("verify", "--archive", str(archive))
    assert checked.exit_code == 0, checked.output
    assert "VERIFIED" in checked.output


def test_the_tool_s_reads_of_billing_data_and_of_the_whole_log_are_in_the_access_log(sqlite_url: str,
                                                                                      tmp_path: Path) -> None:
    """domain.md: 'Reads of personal or financial data are logged (who, when, what)', by the
    auditors' tool too: an invoice reproduced and the log exported."""
    from ledger.access_log import AccessLog
    from ledger.db import Database

    assert replay("invoice", "657-000002", "--db", sqlite_url).exit_code == 0
    assert replay("export", "--out", str(tmp_path / "log.jsonl.gz"), "--db", sqlite_url).exit_code == 0
    db = Database(sqlite_url)
    try:
        entries = AccessLog(db).entries(municipalities=None, limit=100)
    finally:
        db.close()
    reads = [(e["route"], e["what"], e["municipality"], bool(e["citizen_id"])) for e in entries]
    assert ("ledger-replay invoice", "billing:invoice", 657, True) in reads
    assert ("ledger-replay export", "events:export", None, False) in reads
    assert all(e["user_id"].startswith("cli:") for e in entries)


def test_where_the_tool_may_not_write_it_still_answers_and_says_the_read_is_not_logged(sqlite_url: str) -> None:
    import sqlite3

    from ledger.access_log import TABLE, AccessLog
    from ledger.db import Database

    db = Database(sqlite_url)
    AccessLog(db).ensure_table()
    db.close()
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as conn:  # as a read-only grant would refuse it
        conn.execute(f"CREATE TRIGGER no_writes BEFORE INSERT ON {TABLE} BEGIN SELECT RAISE(ABORT, 'read-only'); END")
    result = replay("invoice", "657-000002", "--db", sqlite_url)
    assert result.exit_code == 0 and "REPRODUCED EXACTLY" in result.output
    assert "not in the store's access log" in result.output


def test_rebuild_writes_the_views_and_a_digest_file(sqlite_url: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = replay("rebuild", "--known-at", "2018-08-31", "--as-of", "2018-07-31", "--out", str(out),
                    "--db", sqlite_url)
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    assert {"manifest.json", "SHA256SUMS", "billing.view.json", "timeline.view.json", "audit.view.json"} <= names
    check = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_console_script_runs(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "ledger-replay"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "replay.cli"]
    result = subprocess.run([*command, "verify", "--db", f"sqlite:///{tmp_path / 'none.db'}"], capture_output=True,
                            text=True, env={**os.environ, "LEDGER_DATABASE_URL": ""})
    assert result.returncode == 2
    assert result.stderr.startswith("error: no database file")


@pytest.fixture
def notes_url(database_url: str) -> str:
    """Herning's January invoiced, then a debit note (a price corrected up) and a credit note (down)."""
    from tests.helpers.billing_factories import (HERNING, herning_january_invoiced, invoice_run, open_ledger,
                                                 prices, run)

    ledger = open_ledger(database_url)
    try:
        h, _ = herning_january_invoiced(ledger)
        for price, month in ((36_400, "2019-02"), (34_400, "2019-03")):
            run(ledger, "correct_price_version", {"municipality": HERNING, "offer_id": "extra-cleaning",
                                                  "effective": "2018-06-01", "vat_class": "exempt",
                                                  "prices": prices(price), "cost_basis": at_cost(prices(price)),
                                                  "reason": "typo"})
            invoice_run(ledger, HERNING, month)
        Engine(ledger.db, all_projections()).catch_up()
    finally:
        ledger.close()
    return database_url


def test_invoice_and_notes_print_danish_kroner_and_no_none(notes_url: str) -> None:
    shown = {}
    for number in ("657-000001", "657-D00001", "657-K00001"):
        result = runner.invoke(app, ["invoice", number, "--db", notes_url], env={"LEDGER_DATABASE_URL": "", "COLUMNS": "200"})
        assert result.exit_code == 0, result.output
        assert "REPRODUCED EXACTLY" in result.output
        assert "None" not in result.output and "DKK" not in result.output
        shown[number] = result.output
    assert "354,00 kr." in shown["657-000001"]  # the line's unit price and net, as `ledger billing` prints them
    assert "totals: net 354,00 kr., vat 0,00 kr., gross 354,00 kr." in shown["657-000001"]
    assert "gross 10,00 kr." in shown["657-D00001"] and "gross 20,00 kr." in shown["657-K00001"]


def _billing_view(url: str, out: Path, as_of: str) -> dict[str, Any]:
    import orjson

    result = runner.invoke(app, ["rebuild", "--known-at", "2199-12-31", "--as-of", as_of, "--out", str(out),
                                 "--db", url], env={"LEDGER_DATABASE_URL": ""})
    assert result.exit_code == 0, result.output
    return orjson.loads((out / "billing.view.json").read_bytes())


def test_the_billing_view_as_of_d_holds_what_was_issued_by_d_and_the_balances_on_d(notes_url: str,
                                                                                   tmp_path: Path) -> None:
    from ledger.projections import billing_queries as q

    ledger = Ledger(Settings(database_url=notes_url))
    try:
        live = {"invoices": q.invoices(ledger.db, 657), "balances": q.balances(ledger.db, 657),
                "debit": q.debit_notes(ledger.db, 657), "credit": q.credit_notes(ledger.db, 657)}
    finally:
        ledger.close()
    first = live["invoices"][0]["issued_on"]
    debit_on, credit_on = live["debit"][0]["issued_on"], live["credit"][0]["issued_on"]
    assert first < debit_on < credit_on

    def view(d: str) -> dict[str, Any]:
        found = _billing_view(notes_url, tmp_path / d, d)
        return found.get("view", found)["657"]

    before_debit = view(first)
    assert [i["number"] for i in before_debit["invoices"]] == ["657-000001"]
    assert before_debit["debit_notes"] == before_debit["credit_notes"] == []
    assert [(b["invoiced"], b["balance"]) for b in before_debit["balances"]] == [(35_400, 35_400)]
    assert all(r["run_date"] <= first for r in before_debit["runs"])
    after_debit = view(debit_on)
    assert [n["number"] for n in after_debit["debit_notes"]] == ["657-D00001"] and after_debit["credit_notes"] == []
    assert [b["balance"] for b in after_debit["balances"]] == [36_400]
    everything = view("2079-01-01")
    assert [n["number"] for n in everything["credit_notes"]] == ["657-K00001"]
    assert everything["balances"] == live["balances"]  # on a day after everything: the live balances
