"""The API shows an invoice run's published digest: in the run's answer and in the series' events."""

from __future__ import annotations

from tests.helpers.api import api_client, auth, build_world, ok


def test_the_run_answer_and_the_run_event_carry_the_published_digest(database_url):
    with api_client(database_url) as client:
        world = build_world(client, citizens_per_municipality=1)
        ok(client.post("/deliveries", headers=auth("staff-657"), json={
            "order_id": world.orders[657][0], "date": "2019-03-04", "band": "weekday_day", "minutes": 60,
            "staff_id": "s-1"}))
        answer = ok(client.post("/billing/runs", headers=auth("clerk-657"),
                                json={"municipality": 657, "month": "2019-03", "run_date": "2019-04-01"}))
        result = answer["result"]
        read = result["published"]["read"]
        assert read["to"] == result["chain_head"]["position"] and len(read["digest"]) == 64
        billing = result["published"]["billing"]
        assert billing["position"] == read["to"]
        assert len(billing["digests"]["billing_invoices"]) == 64 and result["invoices"]
        events = ok(client.get("/billing/series/657/events", headers=auth("clerk-657")))
        runs = [e for e in events["events"] if e["event"] == "InvoiceRunCompleted"]
        assert runs and runs[-1]["read"] == read, runs[-1]
