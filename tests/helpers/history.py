"""Plain factory functions that build small histories through the application's front door."""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timezone
from typing import Any

from ledger.application import Ledger, Outcome
from ledger.domain.base import Context
from ledger.settings import Settings
from tests.helpers.costs import at_cost

_ids = itertools.count(1)

HERNING_CLEANING = {
    "municipality": 657, "item_id": "extra-cleaning", "name": "Ekstra rengøring", "unit": "hour", "fsiii": "H1.8",
    "vat_class": "exempt", "prices": {"weekday_day": 35400, "evening": 66500, "weekend": 49600},
    "cost_basis": at_cost({"weekday_day": 35400, "evening": 66500, "weekend": 49600}), "effective": "2018-06-01",
}
HERNING_WINDOWS = {
    "municipality": 657, "item_id": "window-cleaning", "name": "Vinduespudsning", "unit": "visit", "fsiii": "H1.8",
    "vat_class": "standard", "prices": {"weekday_day": 45000, "evening": 45000, "weekend": 45000},
    "cost_basis": at_cost({"weekday_day": 45000, "evening": 45000, "weekend": 45000}), "effective": "2018-06-01",
}


def open_ledger(url: str) -> Ledger:
    return Ledger(Settings(database_url=url))


def at(instant: str) -> datetime:
    return datetime.fromisoformat(instant).astimezone(timezone.utc)


def run(app: Ledger, command_type: str, payload: dict[str, Any], recorded: str = "2018-06-01T09:00:00+00:00",
        command_id: str | None = None, role: str = "administrator") -> Outcome:
    cid = command_id or f"cmd-{next(_ids)}-{uuid.uuid4().hex[:8]}"
    return app.execute(command_type, payload, Context("tester", role, cid, at(recorded)))


def herning(app: Ledger) -> None:
    run(app, "establish_scheme", {"municipality": 657, "name": "Tilkøb Herning", "window_start": "2018-06-01",
                                  "window_end": "2021-12-31", "sections": ["83", "85"], "minimum_minutes": 30,
                                  "increment_minutes": 30, "requires_municipal_provider": True})
    run(app, "add_item", HERNING_CLEANING)
    run(app, "add_item", HERNING_WINDOWS)


def citizen_with_grant(app: Ledger, minutes_per_week: int = 30, provider: str = "municipal") -> str:
    cid = str(uuid.uuid4())
    run(app, "register_citizen", {"citizen_id": cid, "municipality": 657, "effective": "2018-01-01",
                                  "residence": "own_home", "provider": provider})
    run(app, "award_grant", {"citizen_id": cid, "grant_id": "cleaning", "fsiii": "H1.8", "section": "83",
                             "amount": {"minutes_per_week": minutes_per_week}, "valid_from": "2018-01-01"})
    return cid


def stored_rows(app: Ledger) -> list[tuple]:
    """Every stored event row, as stored, in log order (what 'nothing changed' is checked against)."""
    return [(n.id, str(n.originator_id), n.originator_version, n.topic, n.state)
            for n in app.recorder.select_notifications(1, 100_000)]
