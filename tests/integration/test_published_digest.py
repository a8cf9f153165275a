"""An invoice run publishes the digest of what it read, and `ledger-replay verify-runs` checks it
against a replay (ADR 0021): a changed log slice or a tampered billing projection is caught."""

from __future__ import annotations

from typing import Any

import orjson
from typer.testing import CliRunner

from ledger.application import Ledger
from ledger.application.published import slice_digest
from ledger.domain.invoice_series import series_id
from replay.cli import app
from tests.helpers.billing_factories import HERNING, citizen, deliver, herning, invoice_run, open_ledger, order

runner = CliRunner()


def _history(ledger: Ledger) -> list[dict[str, Any]]:
    herning(ledger)
    a = citizen(ledger, HERNING)
    o = order(ledger, a, "extra-cleaning", "2019-03-04", kind="recurring", every_weeks=1)
    deliver(ledger, o, "2019-03-04", 60)
    first = invoice_run(ledger, HERNING, "2019-03")
    deliver(ledger, o, "2019-04-01", 90)
    second = invoice_run(ledger, HERNING, "2019-04")
    return [first, second]


def verify_runs(url: str) -> Any:
    result = runner.invoke(app, ["verify-runs", "--db", url], env={"LEDGER_DATABASE_URL": ""})
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def _run_events(ledger: Ledger) -> list[Any]:
    return [e for e in ledger.repository.event_store.get(series_id(HERNING))
            if type(e).__name__ == "InvoiceRunCompleted"]


def test_an_invoice_run_records_the_log_slice_it_read_and_the_billing_digest_at_its_head(database_url):
    ledger = open_ledger(database_url)
    try:
        first, second = _history(ledger)
        runs = _run_events(ledger)
        assert [r.read["to"] for r in runs] == [first["chain_head"]["position"], second["chain_head"]["position"]]
        read = runs[1].read
        assert read["from"] == runs[0].read["to"] and read["hash"] == second["chain_head"]["hash"]
        assert "DeliveryRecorded" in read["names"] and read["events"] >= 1
        again = [(n, o, v, s) for _p, n, o, v, s in ledger.scan_chain(read["names"], read["from"], read["to"], HERNING)]
        assert slice_digest(again) == (read["events"], read["digest"])
        # The answer names the same read and the billing projection's digests at that head.
        assert second["published"]["read"] == read
        billing = second["published"]["billing"]
        assert billing["position"] == read["to"] and set(billing["digests"]) >= {"billing_invoices",
                                                                                   "billing_invoice_lines"}
        # A run with nothing to do stores no event; its command record still names what it read.
        idle = invoice_run(ledger, HERNING, "2019-05")
        assert not idle["invoices"] and idle["published"]["read"]["from"] == read["to"]
        assert len(_run_events(ledger)) == 2
    finally:
        ledger.close()
    result = verify_runs(database_url)
    assert result.exit_code == 0, result.output
    assert result.output.count("log slice equal, billing projection equal") == 3
    assert result.output.count("(no run event: from its command record)") == 1
    assert "every published digest is what the replay gives" in result.output


def test_a_billing_projection_tampered_before_a_run_is_caught_by_the_replay(database_url):
    ledger = open_ledger(database_url)
    try:
        herning(ledger)
        a = citizen(ledger, HERNING)
        o = order(ledger, a, "extra-cleaning", "2019-03-04", kind="recurring", every_weeks=1)
        deliver(ledger, o, "2019-03-04", 60)
        invoice_run(ledger, HERNING, "2019-03")
        deliver(ledger, o, "2019-04-01", 90)
        # An intruder lowers an invoice in the read model the billing department publishes from;
        # the next run records the digest of the tampered tables.
        from ledger.projections.billing import BillingProjection
        from ledger.projections.engine import Engine

        Engine(ledger.db, [BillingProjection()]).catch_up(["billing"])
        with ledger.db.transaction() as cur:
            cur.execute("UPDATE billing_invoices SET gross = gross - 100")
        invoice_run(ledger, HERNING, "2019-04")
    finally:
        ledger.close()
    result = verify_runs(database_url)
    assert result.exit_code == 1, result.output
    assert "billing projection differs" in result.output and "billing_invoices" in result.output
    assert "DIGESTS DIFFER" in result.output


def test_a_billable_event_changed_after_the_run_is_caught_in_the_log_slice(database_url):
    ledger = open_ledger(database_url)
    try:
        _history(ledger)
        read = _run_events(ledger)[1].read
        db = ledger.db
        nid = ledger.notification_id_at(read["to"])
        rows = db.query(f"SELECT {db.position_column}, topic, state FROM {db.events_table} WHERE "
                        f"{db.position_column} <= ? ORDER BY {db.position_column} DESC", [nid])
        target, state = next((n, bytes(s)) for n, t, s in rows if t.endswith("DeliveryRecorded"))
        changed = orjson.loads(state) | {"minutes": 900}
        value: Any = orjson.dumps(changed)
        with db.transaction() as cur:
            cur.execute(db.sql(f"UPDATE {db.events_table} SET state = ? WHERE {db.position_column} = ?"),
                        [value, target])
    finally:
        ledger.close()
    result = verify_runs(database_url)
    assert result.exit_code == 1, result.output
    assert "log slice differs" in result.output


def test_a_run_stored_before_the_digest_existed_is_read_with_read_none():
    from eventsourcing.utils import get_topic

    from ledger.domain.invoice_series import InvoiceSeries
    from ledger.store.decoding import decode_state

    old = orjson.dumps({"effective": "2019-04-01", "municipality": 657, "actor": "old", "role": "billing_clerk",
                        "command_id": "c", "timestamp": "2019-04-01T12:00:00+00:00", "month": "2019-03",
                        "first_number": None, "last_number": None, "count": 0,
                        "chain_head": {"position": 3, "hash": "0" * 64}, "scanned_to": 3, "carried": [],
                        "citizens": []})
    state = decode_state(get_topic(InvoiceSeries.InvoiceRunCompleted), old)
    assert state["read"] is None and state["count"] == 0


def test_the_exports_manifest_digests_are_the_ones_ledger_replay_verify_computes(database_url, tmp_path):
    from ledger.db import Database
    from ledger.projections.audit import AuditProjection
    from ledger.projections.evaluation_export import export
    from replay.projections import compare_projections

    ledger = open_ledger(database_url)
    try:
        _history(ledger)
    finally:
        ledger.close()
    db = Database(database_url)
    try:
        manifest = export(db, [HERNING], tmp_path / "ev")
        (result,) = compare_projections(db, [AuditProjection()]).results
    finally:
        db.close()
    assert result.status == "equal"
    assert manifest["projection_digests"] == {t.table: t.live_digest for t in result.tables}
    assert manifest["projection_digests"] == {t.table: t.rebuilt_digest for t in result.tables}


def test_a_run_goes_on_without_the_billing_digest_when_the_projection_needs_a_rebuild(database_url):
    ledger = open_ledger(database_url)
    try:
        herning(ledger)
        a = citizen(ledger, HERNING)
        deliver(ledger, order(ledger, a, "extra-cleaning", "2019-03-04"), "2019-03-04", 60)
        from ledger.projections.billing import BillingProjection
        from ledger.projections.engine import Engine

        Engine(ledger.db, [BillingProjection()]).catch_up(["billing"])
        with ledger.db.transaction() as cur:  # as if built by an older version of the code
            cur.execute("UPDATE projection_tracking SET version = version + 100 WHERE name = 'billing'")
        answer = invoice_run(ledger, HERNING, "2019-03")
        assert answer["invoices"] and answer["published"]["billing"]["digests"] is None
        assert answer["published"]["billing"]["why"] == "needs-rebuild" and answer["published"]["read"]["events"]
    finally:
        ledger.close()
