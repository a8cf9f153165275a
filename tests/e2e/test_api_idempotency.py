"""Idempotent retries, If-Match, lost races and read-your-writes through HTTP, on SQLite and
PostgreSQL. Nothing is recorded twice, nothing is lost, and a stale change is refused whole."""

from __future__ import annotations

import threading
from datetime import date
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers.api import api_client, auth, build_world, ok


@pytest.fixture
def client(database_url):
    with api_client(database_url) as c:
        yield c


def head(client) -> int:
    return client.get("/ready").json()["head"]


def stored(client) -> int:
    """How many events the store holds (positions may have gaps where a transaction rolled back)."""
    db = client.app.state.services.ledger.db
    return db.query(f"SELECT count(*) FROM {db.events_table}")[0][0]


def delivery(order: str, day: str = "2019-03-04", minutes: int = 60) -> dict:
    band = "weekend" if date.fromisoformat(day).weekday() >= 5 else "weekday_day"  # the band fits the date
    return {"order_id": order, "date": day, "band": band, "minutes": minutes, "staff_id": "s-1"}


def test_a_retry_with_the_same_key_and_body_returns_the_first_response_and_records_nothing(client):
    order = build_world(client, 1).orders[657][0]
    first = client.post("/deliveries", headers=auth("staff-657", "visit-1"), json=delivery(order))
    assert first.status_code == 201 and "idempotent-replayed" not in first.headers
    before = head(client)
    again = client.post("/deliveries", headers=auth("staff-657", "visit-1"), json=delivery(order))
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["etag"] == first.headers["etag"] == '"1"'
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert head(client) == before
    events = ok(client.get(first.headers["location"], headers=auth("staff-657")))["events"]
    assert [e["event"] for e in events] == ["DeliveryRecorded"]


def test_the_same_key_with_a_different_body_is_refused_and_records_nothing(client):
    order = build_world(client, 1).orders[657][0]
    ok(client.post("/deliveries", headers=auth("staff-657", "visit-1"), json=delivery(order)))
    before = head(client)
    r = client.post("/deliveries", headers=auth("staff-657", "visit-1"), json=delivery(order, minutes=90))
    assert r.status_code == 422
    assert r.json()["type"] == "https://addon-ledger.dk/problems/idempotency-mismatch"
    assert "visit-1" in r.json()["detail"]
    assert head(client) == before


def test_two_users_may_use_the_same_key_without_colliding(client):
    world = build_world(client, 1)
    a = ok(client.post("/deliveries", headers=auth("staff-657", "same"), json=delivery(world.orders[657][0])))
    b = ok(client.post("/deliveries", headers=auth("staff-580", "same"), json=delivery(world.orders[580][0])))
    assert a["command_id"] == "staff-657:same" and b["command_id"] == "staff-580:same"
    assert a["result"]["delivery_id"] != b["result"]["delivery_id"]


def test_keys_survive_a_restart(database_url):
    with api_client(database_url) as client:
        order = build_world(client, 1).orders[657][0]
        first = ok(client.post("/deliveries", headers=auth("staff-657", "before-restart"), json=delivery(order)))
    with api_client(database_url) as client:
        again = client.post("/deliveries", headers=auth("staff-657", "before-restart"), json=delivery(order))
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
        assert again.json() == first
        other = client.post("/deliveries", headers=auth("staff-657", "before-restart"), json=delivery(order, "2019-03-05"))
        assert other.status_code == 422


def test_a_stale_if_match_is_refused_with_412_and_nothing_is_stored(client):
    order = build_world(client, 1).orders[657][0]
    seen = client.get(f"/orders/{order}/events", headers=auth("assessor-657"))
    assert seen.headers["etag"] == '"1"'
    changed = client.post(f"/orders/{order}/changes", headers=auth("assessor-657", If_Match='"1"'),
                          json={"effective": "2019-06-01", "every_weeks": 1})
    assert changed.status_code == 200 and changed.headers["etag"] == '"2"'
    before = head(client)
    stale = client.post(f"/orders/{order}/cancel", headers=auth("assessor-657", If_Match='"1"'),
                        json={"effective": "2019-07-01", "notified_at": "2019-06-01T08:00:00Z"})
    assert stale.status_code == 412
    body = stale.json()
    assert body["type"].endswith("/stale-version") and body["current_version"] == 2
    assert head(client) == before
    current = client.post(f"/orders/{order}/cancel", headers=auth("assessor-657", If_Match='W/"2"'),
                          json={"effective": "2019-07-01", "notified_at": "2019-06-01T08:00:00Z"})
    assert current.status_code == 200 and current.headers["etag"] == '"3"'


def test_if_match_is_refused_where_there_is_no_single_version_and_when_malformed(client):
    world = build_world(client, 1)
    creating = client.post("/deliveries", headers=auth("staff-657", If_Match='"1"'), json=delivery(world.orders[657][0]))
    assert creating.status_code == 400 and creating.json()["code"] == "precondition-not-applicable"
    malformed = client.post(f"/orders/{world.orders[657][0]}/changes", headers=auth("assessor-657", If_Match="one"),
                            json={"effective": "2019-06-01", "every_weeks": 1})
    assert malformed.status_code == 400 and "If-Match" in malformed.json()["detail"]
    bad_key = client.post("/deliveries", headers=auth("staff-657", "two words"), json=delivery(world.orders[657][0]))
    assert bad_key.status_code == 400 and "Idempotency-Key" in bad_key.json()["detail"]


def test_concurrent_orders_on_one_citizen_are_all_kept(client):
    citizen = build_world(client, 1).citizens[657][0]
    before = stored(client)

    def place(i: int):
        day = date(2019, 4, i + 1)  # a one-off order's band fits its date (weekends: the weekend band)
        return client.post("/orders", headers=auth("assessor-657", f"order-{i}"), json={
            "citizen_id": citizen, "offer_id": "clean", "kind": "one_off", "start": day.isoformat(),
            "minutes": 60, "band": "weekend" if day.weekday() >= 5 else "weekday_day"})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(place, range(16)))
    assert [r.status_code for r in answers] == [201] * 16, [r.text for r in answers if r.status_code != 201]
    orders = {r.json()["result"]["order_id"] for r in answers}
    assert len(orders) == 16
    assert stored(client) == before + 16


def test_concurrent_changes_to_one_order_let_exactly_one_win(client):
    order = build_world(client, 1).orders[657][0]
    start = threading.Barrier(6)

    def change(i: int):
        start.wait()
        return client.post(f"/orders/{order}/changes", headers=auth("assessor-657", f"change-{i}", If_Match='"1"'),
                           json={"effective": "2019-06-01", "every_weeks": i + 1})

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(change, range(6)))
    codes = sorted(r.status_code for r in answers)
    assert codes.count(200) == 1, [r.text for r in answers]
    assert set(codes) <= {200, 409, 412}
    for r in answers:
        if r.status_code == 409:
            assert r.json()["code"] == "concurrency-conflict" and "current_versions" in r.json()
    events = ok(client.get(f"/orders/{order}/events", headers=auth("assessor-657")))["events"]
    assert [e["event"] for e in events] == ["OrderPlaced", "OrderChanged"]


def test_concurrent_retries_of_one_command_record_it_once(client):
    citizen = build_world(client, 1).citizens[657][0]
    before = stored(client)
    body = {"citizen_id": citizen, "offer_id": "clean", "kind": "one_off", "start": "2019-05-06", "minutes": 60}
    start = threading.Barrier(6)

    def place(_: int):
        start.wait()
        return client.post("/orders", headers=auth("assessor-657", "the-same-order"), json=body)

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(place, range(6)))
    assert {r.status_code for r in answers} == {201}
    assert len({r.json()["result"]["order_id"] for r in answers}) == 1
    assert sum(1 for r in answers if "idempotent-replayed" not in r.headers) >= 1
    assert stored(client) == before + 1


def test_a_query_with_min_position_reads_the_write_it_follows(database_url):
    # The background catch-up sleeps for a minute: only the query's own wait can bring the read model up.
    with api_client(database_url, catch_up_seconds=60) as client:
        order = build_world(client, 1).orders[657][0]
        ok(client.post("/deliveries", headers=auth("staff-657"), json=delivery(order)))
        run = ok(client.post("/billing/runs", headers=auth("clerk-657"), json={"municipality": 657, "month": "2019-03", "run_date": "2019-04-01"}))
        started = time.monotonic()
        seen = ok(client.get("/billing/invoices", headers=auth("clerk-657"), params={"min_position": run["position"]}))
        assert time.monotonic() - started < 5
        assert [i["number"] for i in seen["invoices"]] == ["657-000001"]


def test_a_position_beyond_the_log_or_not_reached_in_time_is_a_clear_refusal(database_url):
    with api_client(database_url, catch_up_seconds=60, read_wait_seconds=0.0) as client:
        order = build_world(client, 1).orders[657][0]
        beyond = client.get("/billing/invoices", headers=auth("clerk-657"), params={"min_position": 10**9})
        assert beyond.status_code == 422 and beyond.json()["code"] == "position-ahead-of-log"
        written = ok(client.post("/deliveries", headers=auth("staff-657"), json=delivery(order)))
        late = client.get("/billing/invoices", headers=auth("clerk-657"), params={"min_position": written["position"]})
        assert late.status_code == 503 and late.json()["code"] == "not-caught-up"
        assert late.headers["retry-after"] == "1"


def test_commands_written_together_each_get_their_own_answer(client):
    # Many concurrent commands share transactions (the group-commit writer); a refused one must
    # refuse only its own request, a retry must get its original's answer, and nothing is lost.
    world = build_world(client, 2)
    orders = world.orders[657]
    before = stored(client)
    plan = []
    for i in range(12):
        plan.append(("ok", f"good-{i}", delivery(orders[i % 2], f"2019-04-{i + 1:02d}")))
        plan.append(("ok", f"good-{i}", delivery(orders[i % 2], f"2019-04-{i + 1:02d}")))  # a retry
        plan.append(("refused", f"bad-{i}", delivery(orders[i % 2], "2017-01-02")))  # before the order
    start = threading.Barrier(len(plan))

    def send(step):
        start.wait()
        return client.post("/deliveries", headers=auth("staff-657", step[1]), json=step[2])

    with ThreadPoolExecutor(len(plan)) as pool:
        answers = list(pool.map(send, plan))
    for (expect, key, _), r in zip(plan, answers):
        if expect == "ok":
            assert r.status_code == 201, (key, r.text)
            assert r.json()["command_id"] == f"staff-657:{key}"
            assert r.json()["versions"] == {r.json()["result"]["delivery_id"]: 1}
            assert r.headers["etag"] == '"1"'
        else:
            assert r.status_code == 422 and r.json()["rule"] == "outside-order", (key, r.text)
            assert "index" not in r.json()
    by_key = {}
    for (expect, key, _), r in zip(plan, answers):
        if expect == "ok":
            by_key.setdefault(key, set()).add(r.json()["result"]["delivery_id"])
    assert all(len(ids) == 1 for ids in by_key.values())
    assert stored(client) == before + 12


def test_one_group_commit_stores_the_good_commands_and_refuses_only_the_bad(client):
    from ledger.api.writer import Writer
    from ledger.application.group_commit import _Item
    from ledger.application.ledger import Submission
    from ledger.domain.base import Context
    from ledger.domain.errors import RuleViolated

    order = build_world(client, 1).orders[657][0]
    svc = client.app.state.services
    writer = Writer(svc.ledger, max_batch=16, threads=1)  # not started: the group is run here, in one go
    items = [_Item(Submission("record_delivery", delivery(order, f"2019-05-{i + 1:02d}"),
                              Context("t", "administrator", f"g-{i}")), None) for i in range(4)]
    items.insert(2, _Item(Submission("record_delivery", delivery(order, "2016-01-01"),
                                     Context("t", "administrator", "bad")), None))
    items.append(_Item(Submission("record_delivery", delivery(order, "2019-05-01"),
                                  Context("t", "administrator", "g-0")), None))
    before = stored(client)
    writer._run(items)
    assert writer.batches == 1 and writer.commands == 5 and writer.singles == 0
    with pytest.raises(RuleViolated):
        items[2].future.result()
    good = [items[i].future.result() for i in (0, 1, 3, 4)]
    assert len({o.position for o in good}) == 1  # one transaction
    assert [o.versions for o in good] == [{o.result["delivery_id"]: 1} for o in good]
    retry = items[5].future.result()
    assert retry.replayed and retry.result == good[0].result and retry.versions == good[0].versions
    assert stored(client) == before + 4
