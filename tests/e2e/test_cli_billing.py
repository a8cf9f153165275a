"""`ledger billing ...` and `ledger projections ...` through the command line, on SQLite and PostgreSQL:
the run, reads in every format, the export, and bad input refused with exit code 2 and no traceback."""

from __future__ import annotations

import csv
import functools
import io

import orjson
import pytest

from tests.helpers.cli import invoke
from tests.helpers.billing_factories import (HERNING, billing_history, citizen, deliver, herning, open_ledger, order,
                                             pay, refund, reverse)


@pytest.fixture
def cli(database_url):
    return functools.partial(invoke, database_url)


def test_billing_run_issues_the_months_invoices_once_and_shows_them(database_url, cli):
    ledger = open_ledger(database_url)
    try:
        herning(ledger)
        h = citizen(ledger, HERNING)
        o = order(ledger, h, "extra-cleaning", "2019-03-01", minutes=50)
        deliver(ledger, o, "2019-03-01", 50)
    finally:
        ledger.close()
    issued = orjson.loads(cli("billing", "run", "--municipality", "Herning", "--month", "2019-03",
                              "--run-date", "2019-04-01", "--format", "json"))
    assert [(i["number"], i["citizen_id"], i["gross"]) for i in issued] == [("657-000001", h, 35_400)]
    assert "no invoices issued" in cli("billing", "run", "-m", "657", "--month", "2019-03", "--run-date", "2019-04-02")
    table = cli("billing", "invoices", "-m", "herning")
    assert "657-000001" in table and "354,00 kr." in table
    invoice = orjson.loads(cli("billing", "invoice", "657-000001", "-m", "657", "-f", "json"))["invoice"]
    assert invoice["lines"][0]["billed_minutes"] == 60
    assert set(invoice["lines"][0]["provenance"]) == {"order", "delivery", "price", "grant"}
    shown = cli("billing", "invoice", "657-000001", "-m", "657")
    assert "Provenance" in shown and f"{o}:1" in shown


def test_billing_reads_answer_in_table_json_and_csv(database_url, cli, tmp_path):
    ledger = open_ledger(database_url)
    try:
        ids = billing_history(ledger)
        pay(ledger, ids["citizens"][0], 1_000, "2019-06-02")
    finally:
        ledger.close()
    answer = orjson.loads(cli("billing", "balances", "-m", "657", "-f", "json"))
    balances = answer["balances"]
    assert answer["municipality"] == 657 and answer["log_position"] > 0
    assert {b["citizen_id"] for b in balances} == set(ids["citizens"][:2])
    rows = list(csv.DictReader(io.StringIO(cli("billing", "balances", "-m", "657", "-f", "csv"))))
    assert [int(r["balance"]) for r in rows] == [b["balance"] for b in balances]
    ageing = orjson.loads(cli("billing", "ageing", "-m", "657", "--as-of", "2019-07-01", "-f", "json"))["ageing"]
    assert sum(a["open"] for a in ageing) == sum(b["owed"] for b in balances)
    assert "total" in cli("billing", "ageing", "-m", "657", "--as-of", "2019-07-01")
    for command in ("payments", "credit-notes", "revenue", "open-items", "unbilled"):
        cli("billing", command, "-m", "657")
    reminders = orjson.loads(cli("billing", "reminders", "-m", "657", "--date", "2019-07-01", "-f", "json"))
    assert reminders and all(r["issued_on"] == "2019-07-01" and r["fee"] <= 10_000 for r in reminders)

    out = tmp_path / "march.csv"
    said = cli("billing", "export", "-m", "657", "--month", "2019-03", "--out", str(out))
    assert "equal to the invoice totals" in said
    with out.open(encoding="utf-8") as f:
        lines = list(csv.DictReader(f))
    with (tmp_path / "march.totals.csv").open(encoding="utf-8") as f:
        (totals,) = list(csv.DictReader(f))
    assert {r["record_type"] for r in lines} == {"line"}  # one tidy table: the totals are apart
    assert int(totals["gross_ore"]) == sum(int(r["gross_ore"]) for r in lines) and int(totals["lines"]) == len(lines)


def test_billing_claims_and_payments_show_a_reversal_after_a_refund(database_url, cli):
    ledger = open_ledger(database_url)
    try:
        herning(ledger)
        h = citizen(ledger, HERNING)
        pid = pay(ledger, h, 50_000, "2019-03-11")
        refund(ledger, h, 30_000, "2019-03-12")
        payments = orjson.loads(cli("billing", "payments", "-m", "657", "-f", "json"))["payments"]
        assert [(p["refunded"], p["unallocated"]) for p in payments] == [(30_000, 20_000)]
        reverse(ledger, h, pid, "2019-03-20")
    finally:
        ledger.close()
    (claim,) = orjson.loads(cli("billing", "claims", "-m", "657", "-f", "json"))["claims"]
    assert (claim["number"], claim["payment_id"], claim["amount"], claim["refunds"]) == (
        "657-B00001", pid, 30_000, ["657-R00001"])
    table = cli("billing", "claims", "-m", "herning")
    assert "657-B00001" in table and "300,00 kr." in table
    (item,) = orjson.loads(cli("billing", "open-items", "-m", "657", "-f", "json"))["open_items"]
    assert (item["number"], item["kind"]) == ("657-B00001", "claim")
    (balance,) = orjson.loads(cli("billing", "balances", "-m", "657", "-f", "json"))["balances"]
    assert (balance["refunded"], balance["owed"], balance["balance"]) == (30_000, 30_000, 30_000)


def test_projections_status_rebuild_and_catch_up(database_url, cli):
    ledger = open_ledger(database_url)
    try:
        billing_history(ledger)
    finally:
        ledger.close()
    assert "billing at" in cli("projections", "catch-up", "billing")
    before = {r["name"]: r for r in orjson.loads(cli("projections", "status", "-f", "json"))}
    assert before["billing"]["lag"] == 0 and before["billing"]["position"] == before["billing"]["head"]
    assert "rebuilt billing" in cli("projections", "rebuild", "billing")
    after = {r["name"]: r for r in orjson.loads(cli("projections", "status", "-f", "json"))}
    assert after["billing"]["position"] == before["billing"]["position"]
    assert "billing" in cli("projections", "status")


@pytest.mark.parametrize("args, message", [
    (("billing", "run", "-m", "657", "--month", "2019-13"), "month must be YYYY-MM"),
    (("billing", "run", "-m", "Atlantis", "--month", "2019-03"), "unknown municipality"),
    (("billing", "run", "-m", "657", "--month", "2019-03", "--run-date", "2019-03-31"), "not over"),
    (("billing", "invoice", "657-999999", "-m", "657"), "no invoice 657-999999"),
    (("billing", "invoice", "657-B00001"), "a claim on the citizen, not an invoice: `ledger billing claims -m 657`"),
    (("billing", "invoice", "657-D00001"), "a debit note, not an invoice: `ledger billing debit-notes -m 657`"),
    (("billing", "ageing", "-m", "657", "--as-of", "yesterday"), "as_of must be an ISO date"),
    (("billing", "reminders", "-m", "657", "--date", "2019-02-30"), "date must be an ISO date"),
    (("billing", "export", "-m", "657", "--month", "2019-03", "--out", "/no/such/folder/x.csv"), "cannot write"),
    (("projections", "rebuild", "nosuch"), "unknown projection"),
])
def test_bad_input_exits_with_code_2_and_a_clear_message(cli, args, message):
    assert message in cli(*args, code=2)
