"""An access log an auditor can query (issue 13): every read that shows a citizen's data or money
records the citizen ids it showed, and the log itself answers 403 outside the caller's
municipalities like every other route."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers.api import api_client, auth, build_world, ok


@pytest.fixture
def invoiced(database_url: str) -> Any:
    with api_client(database_url) as client:
        world = build_world(client, 2)
        for order in world.orders[657]:
            ok(client.post("/deliveries", headers=auth("staff-657"), json={
                "order_id": order, "date": "2019-03-04", "band": "weekday_day", "minutes": 60, "staff_id": "s-1"}))
        run = ok(client.post("/billing/runs", headers=auth("clerk-657"), json={"municipality": 657, "month": "2019-03", "run_date": "2019-04-01"}))
        yield client, world, run["position"]


def seen_by(client: Any, citizen_id: str, user: str) -> list[dict[str, Any]]:
    return ok(client.get("/audit/access-log", headers=auth("auditor-657"),
                         params={"citizen_id": citizen_id, "user": user}))["entries"]


def test_reading_one_invoice_records_the_citizen_it_shows(invoiced: Any) -> None:
    client, world, position = invoiced
    listing = ok(client.get("/billing/invoices", headers=auth("clerk-657"), params={"min_position": position}))
    invoice = listing["invoices"][0]
    before = seen_by(client, invoice["citizen_id"], "clerk-657")
    ok(client.get(f"/billing/invoices/{invoice['number']}", headers=auth("clerk-657")))
    after = seen_by(client, invoice["citizen_id"], "clerk-657")
    assert [e["what"] for e in after[len(before):]] == ["billing:invoice"]
    assert after[-1]["route"] == "/billing/invoices/{number}" and after[-1]["municipality"] == 657


def test_a_list_records_every_citizen_it_shows(invoiced: Any) -> None:
    client, world, position = invoiced
    listing = ok(client.get("/billing/invoices", headers=auth("clerk-657"), params={"min_position": position}))
    shown = {i["citizen_id"] for i in listing["invoices"]}
    assert shown == set(world.citizens[657])
    for citizen_id in shown:
        assert "billing:invoices" in [e["what"] for e in seen_by(client, citizen_id, "clerk-657")]


def test_the_access_log_of_another_municipality_is_refused_with_403(invoiced: Any) -> None:
    client, _, _ = invoiced
    refused = client.get("/audit/access-log", headers=auth("auditor-657"), params={"municipality": "580"})
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"
    assert client.get("/audit/access-log", headers=auth("auditor-657"), params={"municipality": "657"}).status_code == 200
    assert client.get("/audit/access-log", headers=auth("auditor-all"), params={"municipality": "580"}).status_code == 200
