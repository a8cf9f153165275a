"""`GET /citizens/{id}/as-of?as_of=D&known_at=K` (`date=D`, its earlier name) through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.helpers.api import api_client, auth, build_world, ok


def test_the_as_of_read_answers_for_d_and_k_and_refuses_bad_input(database_url):
    with api_client(database_url) as client:
        before = datetime.now(timezone.utc) - timedelta(seconds=1)
        world = build_world(client, citizens_per_municipality=1)
        citizen = world.citizens[657][0]
        now = ok(client.get(f"/citizens/{citizen}/as-of", params={"as_of": "2019-06-30"}, headers=auth("assessor-657")))
        assert now["citizen_id"] == citizen and now["municipality"] == 657
        assert now["grants"] and now["provider"] == "municipal"
        assert {"orders", "deliveries", "balance", "invoices"} <= set(now)
        # As the records showed before anything was recorded: the citizen is not known yet.
        r = client.get(f"/citizens/{citizen}/as-of", params={"as_of": "2019-06-30", "known_at": before.isoformat()},
                       headers=auth("assessor-657"))
        assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
        # Effective before the grants start: none in force.
        early = ok(client.get(f"/citizens/{citizen}/as-of", params={"as_of": "2000-01-01"}, headers=auth("admin")))
        assert early["grants"] == [] and early["orders"] == []
        assert client.get(f"/citizens/{citizen}/as-of", params={"as_of": "2019-13-01"},
                          headers=auth("admin")).status_code == 422
        assert client.get(f"/citizens/{citizen}/as-of", params={"as_of": "2019-06-30"},
                          headers=auth("assessor-580")).status_code in (403, 404)


def test_the_as_of_read_still_takes_date_its_earlier_name(database_url):
    """`as_of` names D as on every other read; `date` answers the same, and the two disagreeing or
    neither given is a 422 problem, not a guess."""
    with api_client(database_url) as client:
        citizen = build_world(client, citizens_per_municipality=1).citizens[657][0]
        url, who = f"/citizens/{citizen}/as-of", auth("assessor-657")
        by_name = ok(client.get(url, params={"as_of": "2019-06-30"}, headers=who))
        by_alias = ok(client.get(url, params={"date": "2019-06-30"}, headers=who))
        both = ok(client.get(url, params={"as_of": "2019-06-30", "date": "2019-06-30"}, headers=who))
        for answer in (by_alias, both):
            assert {k: v for k, v in answer.items() if k != "log_position"} == \
                {k: v for k, v in by_name.items() if k != "log_position"}
        for params in ({"as_of": "2019-06-30", "date": "2019-07-01"}, {}):
            r = client.get(url, params=params, headers=who)
            assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), r.text
            assert "as_of" in r.text
