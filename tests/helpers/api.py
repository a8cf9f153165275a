"""Helpers for tests of the HTTP API: a token per role and municipality, a client that runs the
app's lifespan, and a small Herning (657) + Aabenraa (580) world built through HTTP.

The tokens here are public knowledge, which is why they live beside the tests and are not shipped
in the package (`ledger serve --dev-token` makes a random token of its own for a trial run).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ledger.api.auth import TokenRegistry, entry, token_sha256
from ledger.api.config import ApiConfig
from tests.helpers.costs import at_cost

# user -> (role, municipalities)
USERS: dict[str, tuple[str, Any]] = {
    "admin": ("administrator", "*"),
    "assessor-657": ("assessor", [657]),
    "assessor-580": ("assessor", [580]),
    "catalogue-657": ("catalogue_manager", [657]),
    "catalogue-580": ("catalogue_manager", [580]),
    "staff-657": ("provider_staff", [657]),
    "staff-580": ("provider_staff", [580]),
    "clerk-657": ("billing_clerk", [657]),
    "clerk-580": ("billing_clerk", [580]),
    "auditor-657": ("auditor", [657]),
    "auditor-all": ("auditor", "*"),
    "evaluator-all": ("evaluator", "*"),
}


def token_of(user: str) -> str:
    return f"test-token-{user}"


def test_tokens() -> TokenRegistry:
    return TokenRegistry(entry({"user": u, "role": r, "municipalities": m, "token_sha256": token_sha256(token_of(u))},
                               u) for u, (r, m) in USERS.items())


test_tokens.__test__ = False  # type: ignore[attr-defined]  # a helper: pytest must not collect it where imported


def auth(user: str, key: str | None = None, **headers: str) -> dict[str, str]:
    """Headers for a request as `user` (with an Idempotency-Key when given); If_Match= becomes If-Match."""
    h = {"Authorization": f"Bearer {token_of(user)}", **{k.replace("_", "-"): v for k, v in headers.items()}}
    if key is not None:
        h["Idempotency-Key"] = key
    return h


@contextmanager
def api_client(database_url: str, *, follow: bool = True, **config: Any) -> Iterator[Any]:
    """A TestClient over a fresh app on `database_url`, with the test tokens; lifespan runs."""
    from fastapi.testclient import TestClient

    from ledger.api.main import create_app
    from ledger.settings import Settings

    app = create_app(Settings(database_url=database_url), tokens=test_tokens(),
                     config=ApiConfig(follow=follow, catch_up_seconds=config.pop("catch_up_seconds", 0.1), **config))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


PRICES = {"weekday_day": 35400, "evening": 66500, "weekend": 49600}


@dataclass
class World:
    """Ids of what `build_world` recorded, per municipality."""

    citizens: dict[int, list[str]] = field(default_factory=dict)
    orders: dict[int, list[str]] = field(default_factory=dict)


def ok(response: Any, *statuses: int) -> dict[str, Any]:
    assert response.status_code in (statuses or (200, 201)), (response.status_code, response.text)
    return response.json()


def build_world(client: Any, citizens_per_municipality: int = 2) -> World:
    """Schemes, a cleaning item, citizens with a § 83 grant and one order each, in 657 and 580."""
    world = World()
    for m, minimum in ((657, 30), (580, 60)):
        cat = f"catalogue-{m}"
        ok(client.post("/schemes", headers=auth(cat), json={
            "municipality": m, "name": f"Trial {m}", "window_start": "2018-06-01", "window_end": "2021-12-31",
            "sections": ["83"], "minimum_minutes": minimum, "increment_minutes": 30}))
        ok(client.post("/catalogue/items", headers=auth(cat), json={
            "municipality": m, "item_id": "clean", "name": "Extra cleaning", "unit": "hour", "fsiii": "H1.8",
            "vat_class": "exempt", "prices": PRICES, "cost_basis": at_cost(PRICES), "effective": "2018-06-01",
            "cancellation": {"notice_hours": 24, "fee_ore": 10000}}))
        world.citizens[m], world.orders[m] = [], []
        for i in range(citizens_per_municipality):
            assessor = f"assessor-{m}"
            c = ok(client.post("/citizens", headers=auth(assessor), json={
                "municipality": m, "effective": "2018-01-01", "residence": "own_home",
                "identity": {"cpr": f"000000-{i:04d}", "name": f"Test Borger {m}-{i}"}}))["result"]["citizen_id"]
            ok(client.post("/grants", headers=auth(assessor), json={
                "citizen_id": c, "fsiii": "H1.8", "section": "83", "amount": {"minutes_per_week": 30},
                "valid_from": "2018-01-01"}))
            o = ok(client.post("/orders", headers=auth(assessor), json={
                "citizen_id": c, "offer_id": "clean", "kind": "recurring", "start": "2019-03-01",
                "every_weeks": 2, "minutes": 60}))["result"]["order_id"]
            world.citizens[m].append(c)
            world.orders[m].append(o)
    return world


def new_key() -> str:
    return str(uuid.uuid4())
