"""Retries always get the first answer (issue 13): 16 clients send each Idempotency-Key with the same
body at the same moment. One request executes; every other one gets the same answer back, marked as
a replay, never a 409 or a 422 caused by the first one's own effects; nothing is stored twice. A
different body under a used key is still refused with 422.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.helpers.api import api_client, auth, build_world

CLIENTS = 16


def stored(client: Any) -> int:
    db = client.app.state.services.ledger.db
    return db.query(f"SELECT count(*) FROM {db.events_table}")[0][0]


def assert_stored_once(client: Any, answers: dict[str, list[Any]]) -> None:
    """Each key's command is recorded once, and its events exist once (one per record it touched)."""
    ledger = client.app.state.services.ledger
    for key, responses in answers.items():
        command_id = responses[0].json()["command_id"]
        assert len(ledger.prior_commands([command_id])) == 1
        topics = [n.topic for n in ledger.recorder.select_notifications(1, 100_000)
                  if f'"command_id":"{command_id}"' in n.state.decode()]
        assert topics and len(topics) == len(set(topics)), (key, topics)


def requests_for(world: Any) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(user, key, path, body): payments (which refuse a payment id twice) and deliveries, each on
    records of its own (two different commands racing for one record may rightly get a 409)."""
    out = []
    for n in range(3):
        citizen, order = world.citizens[657][n], world.orders[657][n]
        out.append(("clerk-657", f"pay-{n}", "/payments", {
            "payment_id": f"p-{n}", "citizen_id": citizen, "amount": 10_000 + n, "date": "2019-03-10",
            "method": "direct_debit"}))
        out.append(("staff-657", f"visit-{n}", "/deliveries", {
            "order_id": order, "date": "2019-03-04", "band": "weekday_day", "minutes": 60,
            "staff_id": "s-1"}))
    return out


def send_all_at_once(clients: list[Any], requests: list[tuple[str, str, str, dict[str, Any]]]) -> dict[str, list[Any]]:
    """Every request CLIENTS times, spread over the given clients (apps), released together."""
    jobs = [(clients[i % len(clients)], r) for r in requests for i in range(CLIENTS)]
    start = threading.Barrier(len(jobs))

    def send(job: Any) -> tuple[str, Any]:
        client, (user, key, path, body) = job
        start.wait()
        return key, client.post(path, headers=auth(user, key), json=body)

    answers: dict[str, list[Any]] = {}
    with ThreadPoolExecutor(len(jobs)) as pool:
        for key, response in pool.map(send, jobs):
            answers.setdefault(key, []).append(response)
    return answers


def assert_first_answers(answers: dict[str, list[Any]]) -> None:
    for key, responses in answers.items():
        assert [r.status_code for r in responses] == [201] * CLIENTS, (key, [r.text for r in responses if r.status_code != 201])
        bodies = {r.text for r in responses}
        assert len(bodies) == 1, (key, bodies)  # every one is the first answer, byte for byte
        executed = [r for r in responses if r.headers.get("idempotent-replayed") != "true"]
        assert len(executed) == 1, key  # one executed; the others are marked as replays


def test_sixteen_clients_retrying_each_key_at_once_all_get_the_first_answer(database_url: str) -> None:
    with api_client(database_url) as client:
        world = build_world(client, 3)
        requests = requests_for(world)
        answers = send_all_at_once([client], requests)
        assert_first_answers(answers)
        assert_stored_once(client, answers)
        after = stored(client)
        user, key, path, body = requests[0]
        other = client.post(path, headers=auth(user, key), json={**body, "amount": 1})
        assert other.status_code == 422
        assert other.json()["code"] == "idempotency-mismatch"
        assert stored(client) == after


@pytest.mark.parametrize("max_batch", [1, 64])
def test_retries_spread_over_two_servers_on_one_store_all_get_the_first_answer(database_url: str,
                                                                               max_batch: int) -> None:
    """Two apps share the store but not their in-process waiting: the store's command records
    answer the loser of each race (a refusal is checked again before it is given)."""
    with api_client(database_url, max_batch=max_batch) as first, api_client(database_url, max_batch=max_batch) as second:
        world = build_world(first, 3)
        answers = send_all_at_once([first, second], requests_for(world))
        assert_first_answers(answers)
        assert_stored_once(first, answers)
