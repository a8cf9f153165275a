"""Every read route declares its response model; every read of the event log states its log
position and takes `at_position`; no answer is an untyped bag of fields (docs/adr/0020)."""

from __future__ import annotations

from typing import Any, get_args

from fastapi.routing import APIRoute
from pydantic import BaseModel

from ledger.api.main import _routers
from ledger.api.schemas import Listing, Read, StoredEvent

# Not reads of the event log: liveness, readiness, the access log; the CSV export states its position
# in a header (X-Log-Position) and the as-of read is bounded by a recorded instant, not a position.
NOT_OF_THE_LOG = {"/health", "/ready", "/audit/access-log"}
NO_AT_POSITION = NOT_OF_THE_LOG | {"/citizens/{citizen_id}/as-of"}


def _reads() -> list[APIRoute]:
    return [r for router in _routers() for r in router.routes if isinstance(r, APIRoute) and "GET" in r.methods]


def _models(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[type[BaseModel]]:
    seen = set() if seen is None else seen
    if model in seen:
        return seen
    seen.add(model)
    for field in model.model_fields.values():
        stack: list[Any] = [field.annotation]
        while stack:
            kind = stack.pop()
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                _models(kind, seen)
            stack.extend(get_args(kind))
    return seen


def test_every_read_route_declares_a_response_model():
    for route in _reads():
        if route.path == "/billing/export.csv":
            assert "text/csv" in route.responses[200]["content"]
            continue
        model = route.response_model
        assert isinstance(model, type) and issubclass(model, BaseModel), (route.path, model)


def test_every_read_of_the_log_states_its_position_and_takes_at_position():
    for route in _reads():
        if route.path in NOT_OF_THE_LOG or route.path == "/billing/export.csv":
            continue
        assert issubclass(route.response_model, Read), route.path
        if route.path not in NO_AT_POSITION:
            assert "at_position" in {p.name for p in route.dependant.query_params}, route.path


def test_lists_are_one_shape_and_no_answer_is_an_untyped_bag():
    for route in _reads():
        model = route.response_model
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            continue
        for part in _models(model):
            # The stored event's own fields differ by event (docs/commands.md): the one open model.
            assert part is StoredEvent or part.model_config.get("extra") != "allow", (route.path, part.__name__)
        if issubclass(model, Listing):
            assert {"municipality", "log_position"} <= set(model.model_fields), route.path
