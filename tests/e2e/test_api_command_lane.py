"""The command lane (ledger/api/lane.py) is only a shorter way to the route's answers: a command
sent through it gets the same status, headers and body as through FastAPI's route (a server
without writer threads, LEDGER_API_MAX_BATCH=1, has no lane), and what the route would refuse it
leaves to the route."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from ledger.api.lane import CommandLane
from ledger.api.main import _routers
from tests.helpers.api import api_client, auth, build_world


def delivery(order: str, day: str) -> dict[str, Any]:
    band = "weekend" if date.fromisoformat(day).weekday() >= 5 else "weekday_day"
    return {"order_id": order, "date": day, "band": band, "minutes": 60, "staff_id": "s-1"}


def shape(r: Any, day: str) -> tuple[Any, ...]:
    """What a caller sees of an answer, less what differs between two commands (ids, positions,
    the day they are about and the keys made from it)."""
    body = r.json()
    kept = {k: v.replace(day, "DAY") if isinstance(v, str) else v for k, v in body.items()
            if k not in ("command_id", "position", "versions", "result", "request_id")}
    headers = {k: v for k, v in r.headers.items() if k not in ("x-request-id", "location", "content-length", "date")}
    return r.status_code, headers, sorted(body), kept, sorted(body.get("result") or {}), "location" in r.headers


def answers(client: Any, order: str, citizen: str, day: str) -> list[Any]:
    return [
        client.post("/deliveries", headers=auth("staff-657", f"d-{day}"), json=delivery(order, day)),
        client.post("/deliveries", headers=auth("staff-657", f"d-{day}"), json=delivery(order, day)),  # a replay
        client.post("/orders", headers=auth("assessor-657", f"o-{day}"), json={
            "citizen_id": citizen, "offer_id": "clean", "kind": "one_off", "start": day, "minutes": 60}),
        client.post("/deliveries", headers=auth("staff-657"), json=delivery(order, "2031-01-01")),  # in the future
        client.post("/deliveries", headers=auth("staff-657", f"d-{day}"), json=delivery(order, "2019-03-05")),  # key reused
        client.post("/deliveries", headers=auth("assessor-657"), json=delivery(order, day)),  # a role without it
        client.post("/deliveries", headers=auth("staff-580"), json=delivery(order, "2019-03-06")),  # another municipality
        client.post("/deliveries", headers=auth("staff-657"), json={**delivery(order, day), "minutes": "60"}),
    ]


def test_a_command_gets_the_same_answer_through_the_lane_as_through_the_route(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with api_client(url, follow=False, max_batch=1) as route:
        world = build_world(route, 1)
        order, citizen = world.orders[657][0], world.citizens[657][0]
        by_route = answers(route, order, citizen, "2019-03-04")
    taken: list[bool] = []
    answer = CommandLane.answer

    async def counted(self: CommandLane, *args: Any) -> bool:
        taken.append(await answer(self, *args))
        return taken[-1]

    monkeypatch.setattr(CommandLane, "answer", counted)
    with api_client(url, follow=False) as lane:
        # The first command naming a record goes to the route, which reads the record's municipality.
        lane.post("/deliveries", headers=auth("staff-657"), json=delivery(order, "2019-03-07"))
        lane.post("/orders", headers=auth("assessor-657"), json={
            "citizen_id": citizen, "offer_id": "clean", "kind": "one_off", "start": "2019-03-08", "minutes": 60})
        assert taken == [False, False]
        by_lane = answers(lane, order, citizen, "2019-03-11")
    # What the route refuses (the domain's refusals aside) it refuses itself, in its order.
    assert taken[2:] == [True, True, True, True, True, False, False, False]
    assert [r.status_code for r in by_lane] == [201, 201, 201, 422, 422, 403, 403, 422]
    assert [shape(r, "2019-03-11") for r in by_lane] == [shape(r, "2019-03-04") for r in by_route]
    assert by_lane[1].headers["idempotent-replayed"] == "true" and by_lane[1].json() == by_lane[0].json()
    assert by_lane[0].headers["etag"] == f'"{by_lane[0].json()["versions"][by_lane[0].json()["result"]["delivery_id"]]}"'


@pytest.mark.parametrize("path", ["/orders", "/deliveries", "/payments", "/citizens", "/grants"])
def test_the_command_routes_without_path_parameters_are_in_the_lane(tmp_path, path):
    with api_client(f"sqlite:///{tmp_path / 'ledger.db'}", follow=False) as client:
        assert path in CommandLane(client.app, _routers()).routes
