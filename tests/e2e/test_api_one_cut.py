"""One consistent cut: billing, timeline and audit answers asked at one `at_position` P agree with
the answers of a store rebuilt from only the events up to P (on SQLite and PostgreSQL).

The store is written in two phases with nobody reading in between (no follower), so the
projections still stand before P when the cut is asked for. The rebuilt store holds a copy of the
log up to P, positions and all, and its projections are built from zero: what it answers is by
construction what the log up to P says.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson

from tests.helpers.api import api_client, auth, build_world, ok
from tests.helpers.cli import invoke

from ledger.db import Database
from ledger.projections.reader import head_position

CLERK, EVALUATOR, AUDITOR = auth("clerk-657"), auth("evaluator-all"), auth("auditor-657")
# (path, headers, params): the reads of one report, from the three projections.
READS: list[tuple[str, dict[str, str], dict[str, Any]]] = [
    ("/billing/invoices", CLERK, {}),
    ("/billing/balances", CLERK, {}),
    ("/billing/deliveries", CLERK, {}),
    ("/billing/revenue", CLERK, {}),
    ("/billing/open-items", CLERK, {}),
    ("/billing/ageing", CLERK, {"as_of": "2019-06-30"}),
    ("/timeline", EVALUATOR, {"municipality": 657, "as_of": "2019-04-15"}),
    ("/timeline/series", EVALUATOR, {"municipality": 657, "first": "2019-01-01", "last": "2019-06-30"}),
    ("/audit", AUDITOR, {"to": "2019-06-30"}),
]


def _deliver(client: Any, order_id: str, day: str) -> None:
    ok(client.post("/deliveries", headers=auth("staff-657"), json={
        "order_id": order_id, "date": day, "band": "weekday_day", "minutes": 60, "staff_id": "staff-1"}))


def _copy_log(source: str, target: str, upto: int) -> None:
    """Copy the stored events up to position `upto` (positions kept) from one store to another."""
    src, dst = Database(source), Database(target)
    try:
        table, pos = src.events_table, src.position_column
        columns = ["originator_id", "originator_version", "topic", "state"]
        rows = src.query(f"SELECT {pos}, {', '.join(columns)} FROM {table} WHERE {pos} <= ? ORDER BY {pos}", (upto,))
        marks = ", ".join("?" for _ in range(len(columns) + 1))
        with dst.transaction() as cur:
            for row in rows:
                cur.execute(dst.sql(f"INSERT INTO {table} ({pos}, {', '.join(columns)}) VALUES ({marks})"), row)
    finally:
        src.close()
        dst.close()


@contextmanager
def _another_store(database_url: str, tmp_path: Any) -> Iterator[str]:
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'cut.db'}"
        return
    from conftest import drop_pg_schema, fresh_pg_url

    url = fresh_pg_url()
    try:
        yield url
    finally:
        drop_pg_schema(url)




def _answers(client: Any, at_position: int | None = None, records: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The report's reads, then each record's (`/citizens/...`: exact at any position up to the head)."""
    extra = {} if at_position is None else {"at_position": at_position}
    reads = READS + [(path, AUDITOR, {}) for path in records]
    return [ok(client.get(path, headers=headers, params={**params, **extra})) for path, headers, params in reads]


def test_billing_timeline_and_audit_at_one_position_agree_with_a_rebuild_cut_there(database_url, tmp_path):
    with api_client(database_url, follow=False) as client:
        world = build_world(client, citizens_per_municipality=2)
        herning = world.orders[657]
        for day in ("2019-03-05", "2019-03-19"):
            _deliver(client, herning[0], day)
        _deliver(client, herning[1], "2019-03-12")
        ok(client.post("/billing/runs", headers=CLERK, json={"municipality": 657, "month": "2019-03",
                                                             "run_date": "2019-04-01"}))
        db = Database(database_url)
        try:
            cut_at = head_position(db)
        finally:
            db.close()
        # After P: April is delivered and paid for in part.
        _deliver(client, herning[0], "2019-04-02")
        ok(client.post("/payments", headers=CLERK, json={
            "citizen_id": world.citizens[657][0], "amount": 10_000, "date": "2019-04-10",
            "method": "bank_transfer", "reference": "FIK-1"}))

        citizen = world.citizens[657][0]
        records = (f"/citizens/{citizen}", f"/citizens/{citizen}/account/events")
        at_p = _answers(client, cut_at, records)
        # Then April is invoiced. A run catches the billing projection up to its own chain head to
        # publish its digest (ADR 0021), so it comes after the reads at P.
        ok(client.post("/billing/runs", headers=CLERK, json={"municipality": 657, "month": "2019-04",
                                                             "run_date": "2019-05-01"}))
        assert {a["log_position"] for a in at_p} == {cut_at}  # every answer of the report is of P
        now = _answers(client)
        head = now[0]["log_position"]
        assert head > cut_at and {a["log_position"] for a in now} == {head}
        assert len(now[0]["invoices"]) > len(at_p[0]["invoices"])  # the cut is not the head
        account_now = ok(client.get(records[1], headers=AUDITOR))
        # The live tables have passed P now: P cannot be read live again.
        r = client.get("/billing/invoices", headers=CLERK, params={"at_position": cut_at})
        assert r.status_code == 409 and r.json()["code"] == "position-passed", r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        r = client.get("/audit", headers=AUDITOR, params={"at_position": head + 1})
        assert r.status_code == 422 and r.json()["code"] == "position-ahead-of-log", r.text

    # The CLI's JSON is of the same cut, and refuses a position it cannot read with exit 2.
    invoices = orjson.loads(invoke(database_url, "billing", "invoices", "-m", "657", "-f", "json",
                                 "--at-position", str(head)))
    assert invoices == now[0]
    timeline = orjson.loads(invoke(database_url, "timeline", "-m", "657", "--as-of", "2019-04-15", "--no-series",
                                 "--no-history", "-f", "json", "--at-position", str(head)))
    assert {"log_position": timeline["log_position"], **timeline["timeline"]} == now[6]
    audit = orjson.loads(invoke(database_url, "audit", "-m", "657", "--to", "2019-06-30", "-f", "json"))
    assert audit["log_position"] == head and audit["substitution"] == now[8]["substitution"]
    assert "position-passed" in invoke(database_url, "billing", "balances", "-m", "657", "--at-position",
                                     str(cut_at), code=2)
    assert "position-ahead-of-log" in invoke(database_url, "timeline", "-m", "657", "--as-of", "2019-04-15",
                                           "--at-position", str(head + 1), code=2)

    with _another_store(database_url, tmp_path) as rebuilt:
        with api_client(rebuilt, follow=False) as client:  # the app lays out the empty store
            _copy_log(database_url, rebuilt, cut_at)
            again = _answers(client, None, records)
    assert [a["log_position"] for a in again] == [cut_at] * len(at_p)
    for path, live, cut in zip([r[0] for r in READS] + list(records), at_p, again, strict=True):
        assert live == cut, path
    # The account at P ends with the March invoice: the April payment and invoice came later.
    assert at_p[-1]["events"][-1]["event"] == "InvoiceIssued"
    assert at_p[-1]["version"] < account_now["version"] and at_p[-1]["ref"] == f"{account_now['aggregate_id']}:" \
        f"{at_p[-1]['version']}"
