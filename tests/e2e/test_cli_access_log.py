"""The command line's reads of billing or a citizen's data are in the access log the API writes
(domain.md §4), the actor being the OS user; `ledger access-log` reads it. SQLite and PostgreSQL."""

from __future__ import annotations

import getpass

import orjson

from ledger.access_log import AccessLog
from tests.helpers.billing_factories import HERNING, citizen, deliver, herning, invoice_run, open_ledger, order
from tests.helpers.cli import invoke

USER = f"cli:{getpass.getuser()}"


def _entries(database_url: str, *args: str) -> list[dict]:
    return orjson.loads(invoke(database_url, "access-log", "-f", "json", *args))["entries"]


def test_a_cli_read_of_billing_data_leaves_one_access_log_entry_that_access_log_shows(database_url):
    ledger = open_ledger(database_url)
    try:
        herning(ledger)
        h = citizen(ledger, HERNING)
        deliver(ledger, order(ledger, h, "extra-cleaning", "2019-01-07"), "2019-01-07", 60)
        invoice_run(ledger, HERNING, "2019-01")
        db = ledger.db
        invoke(database_url, "billing", "invoices", "-m", str(HERNING), "-f", "json")
        (entry,) = AccessLog(db).entries(municipalities=None)  # one citizen shown: one entry
        assert (entry["user_id"], entry["role"], entry["method"], entry["route"], entry["what"],
                entry["citizen_id"], entry["municipality"], entry["outcome"]) == (
            USER, "cli", "CLI", "ledger billing invoices", "billing:invoices", h, HERNING, "read")
        shown = _entries(database_url)
        assert [e["id"] for e in shown] == [entry["id"]]
        assert shown[0]["what"] == "billing:invoices" and shown[0]["user_id"] == USER
        # Reading the log is itself logged, as the API's read of it is.
        assert [e["what"] for e in _entries(database_url, "--user", USER)] == ["billing:invoices", "access-log"]
        assert [e["what"] for e in _entries(database_url, "--citizen", h)] == ["billing:invoices"]
        # A citizen's own records: one entry naming the citizen.
        invoke(database_url, "citizen", "as-of", h, "--as-of", "2019-01-31")
        invoke(database_url, "history", h)
        assert [(e["what"], e["route"]) for e in _entries(database_url, "--citizen", h)] == [
            ("billing:invoices", "ledger billing invoices"), ("access-log", "ledger access-log"),  # asked for h
            ("citizen-as-of", "ledger citizen as-of"), ("citizen-events", "ledger history")]
        table = invoke(database_url, "access-log", "--citizen", h)
        assert "ledger billing" in table and USER in table
    finally:
        ledger.close()


def test_an_access_log_range_that_ends_before_it_starts_is_refused_with_exit_2(database_url):
    out = invoke(database_url, "access-log", "--since", "2019-12-01", "--until", "2019-01-01", code=2)
    assert "since (2019-12-01) is after until (2019-01-01)" in out
    invoke(database_url, "access-log", "--since", "2019-13-01", code=2)
    # An instant with an offset is compared as the UTC instant it is.
    assert _entries(database_url, "--since", "2019-01-01T02:00:00+02:00", "--until", "2019-01-01T00:00:00Z") == []
