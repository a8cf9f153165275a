"""Evaluation answers state the log position they reflect; `at_position` answers only at that cut."""

from __future__ import annotations

from tests.helpers.api import api_client, auth, build_world, ok


def test_answers_carry_their_position_and_at_position_is_exact(database_url):
    with api_client(database_url) as client:
        build_world(client, citizens_per_municipality=1)
        head = client.get("/ready").json()["head"]
        first = ok(client.get("/evaluation/sales", params={"municipality": 657, "min_position": head},
                              headers=auth("evaluator-all")))
        assert first["log_position"] == head
        again = ok(client.get("/evaluation/buyers", params={"municipality": 657, "at_position": head},
                              headers=auth("evaluator-all")))
        assert again["log_position"] == head  # two answers of one report, provably of one cut
        r = client.get("/evaluation/offers", params={"municipality": 657, "at_position": head + 10_000},
                       headers=auth("evaluator-all"))
        assert r.status_code == 422 and r.json()["type"].endswith("position-ahead-of-log")
        # Something new is recorded and applied: the old cut cannot be read live any more.
        ok(client.post("/billing/runs", headers=auth("clerk-657"), json={"municipality": 657, "month": "2019-04", "run_date": "2019-05-01"}))
        new_head = client.get("/ready").json()["head"]
        assert new_head > head
        ok(client.get("/evaluation/sales", params={"municipality": 657, "min_position": new_head},
                      headers=auth("evaluator-all")))
        r = client.get("/evaluation/sales", params={"municipality": 657, "at_position": head},
                       headers=auth("evaluator-all"))
        assert r.status_code == 409 and r.json()["type"].endswith("position-passed"), r.text
        assert r.json()["reached"] >= new_head
