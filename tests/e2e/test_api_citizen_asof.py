"""`GET /citizens/{id}/as-of?date=D&known_at=K` through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.helpers.api import api_client, auth, build_world, ok


def test_the_as_of_read_answers_for_d_and_k_and_refuses_bad_input(database_url):
    with api_client(database_url) as client:
        before = datetime.now(timezone.utc) - timedelta(seconds=1)
        world = build_world(client, citizens_per_municipality=1)
        citizen = world.citizens[657][0]
        now = ok(client.get(f"/citizens/{citizen}/as-of", params={"date": "2019-06-30"}, headers=auth("assessor-657")))
        assert now["citizen_id"] == citizen and now["municipality"] == 657
        assert now["grants"] and now["provider"] == "municipal"
        assert {"orders", "deliveries", "balance", "invoices"} <= set(now)
        # As the records showed before anything was recorded: the citizen is not known yet.
        r = client.get(f"/citizens/{citizen}/as-of", params={"date": "2019-06-30", "known_at": before.isoformat()},
                       headers=auth("assessor-657"))
        assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
        # Effective before the grants start: none in force.
        early = ok(client.get(f"/citizens/{citizen}/as-of", params={"date": "2000-01-01"}, headers=auth("admin")))
        assert early["grants"] == [] and early["orders"] == []
        assert client.get(f"/citizens/{citizen}/as-of", params={"date": "2019-13-01"},
                          headers=auth("admin")).status_code == 422
        assert client.get(f"/citizens/{citizen}/as-of", params={"date": "2019-06-30"},
                          headers=auth("assessor-580")).status_code in (403, 404)
