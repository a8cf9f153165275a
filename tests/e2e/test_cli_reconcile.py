"""`ledger billing reconcile`, the re-rating run's output and `GET /billing/reconciliation`, on SQLite
and PostgreSQL: exit 1 while a correction is not yet billed, 0 after the next run."""

from __future__ import annotations

import functools

import orjson
import pytest

from tests.helpers.cli import invoke
from tests.helpers.billing_factories import (HERNING, herning_january_invoiced, open_ledger, prices, run)
from tests.helpers.costs import at_cost


@pytest.fixture
def cli(database_url):
    return functools.partial(invoke, database_url)


def test_reconcile_exits_1_until_the_next_run_bills_a_price_correction_then_0(database_url, cli):
    ledger = open_ledger(database_url)
    try:
        h, _ = herning_january_invoiced(ledger)
        run(ledger, "correct_price_version", {"municipality": HERNING, "offer_id": "extra-cleaning",
                                              "effective": "2018-06-01", "vat_class": "exempt",
                                              "prices": prices(36_400), "cost_basis": at_cost(prices(36_400)),
                                              "reason": "typo"})
    finally:
        ledger.close()
    before = cli("billing", "reconcile", "-m", "Herning", code=1)
    assert "DISAGREE" in before and "2019-01" in before and "re-rating due" in before
    report = orjson.loads(cli("billing", "reconcile", "-m", "657", "--format", "json", code=1))
    (month,) = report["months"]
    assert (month["invoiced"], month["owed"], month["difference"]) == (35_400, 36_400, 1_000)
    shown = cli("billing", "run", "-m", "657", "--month", "2019-02", "--run-date", "2019-03-01")
    assert "debit note 657-D00001 on invoice 657-000001: 10,00 kr." in shown
    assert "agree" in cli("billing", "reconcile", "-m", "657", "--month", "2019-01")
    notes = orjson.loads(cli("billing", "debit-notes", "-m", "657", "-f", "json"))["debit_notes"]
    assert [(n["number"], n["gross"]) for n in notes] == [("657-D00001", 1_000)]
    cli("billing", "reconcile", "-m", "657", "--month", "2019-13", code=2)


def test_the_reconciliation_is_an_api_read_for_billing(database_url):
    from tests.helpers.api import api_client, auth

    ledger = open_ledger(database_url)
    try:
        h, _ = herning_january_invoiced(ledger)
    finally:
        ledger.close()
    with api_client(database_url) as client:
        got = client.get("/billing/reconciliation", params={"municipality": 657}, headers=auth("clerk-657"))
        assert got.status_code == 200, got.text
        body = got.json()
        assert body["agree"] is True and body["through"] == "2019-01"
        assert body["months"][0]["invoiced"] == body["months"][0]["owed"] == 35_400
        assert client.get("/billing/reconciliation", params={"municipality": 657},
                          headers=auth("staff-657")).status_code == 403
