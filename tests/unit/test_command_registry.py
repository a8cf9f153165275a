"""Every command is declared completely, and the tables that declare it today agree with each other.

The registry (ledger/application/registry.py) reads the seven tables into one spec per command; these
tests are what lets the tables be replaced by per-resource declarations without a behaviour change
(ADR 0010)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.routing import APIRoute

from ledger.api import commanding, tenancy
from ledger.api.bodies import EXAMPLES
from ledger.application.commands import COMMANDS, ROLE_COMMANDS, WithdrawDelivery
from ledger.application.handlers import HANDLERS
from ledger.application.ledger import READS_LOG
from ledger.application.registry import REGISTRY, SAMPLE_PATH, by_class

DOCS = Path(__file__).resolve().parents[2] / "docs" / "commands.md"
NAMES = sorted(COMMANDS)


def _routes() -> dict[str, list[APIRoute]]:
    """Command name -> the API routes whose dependency gives it."""
    from ledger.api.main import _routers

    found: dict[str, list[APIRoute]] = {}
    for route in (r for router in _routers() for r in router.routes if isinstance(r, APIRoute)):
        for dep in route.dependant.dependencies:
            name = getattr(dep.call, "__name__", "")
            if name.startswith("command_"):
                found.setdefault(name.removeprefix("command_"), []).append(route)
    return found


ROUTES = _routes()


def test_the_registry_has_every_command_and_nothing_else():
    assert sorted(REGISTRY) == NAMES == sorted(HANDLERS) == sorted(EXAMPLES)


@pytest.mark.parametrize("name", NAMES)
def test_every_command_has_a_handler_roles_and_an_example_that_validates(name):
    spec = REGISTRY[name]
    assert spec.handler is HANDLERS[name] and callable(spec.handler)
    assert "administrator" in spec.roles
    assert spec.body is None or spec.body.model_validate(spec.example)
    assert spec.schema.model_validate(spec.sample_payload())  # the example plus its path is a whole command


@pytest.mark.parametrize("name", NAMES)
def test_every_command_is_documented_in_the_commands_reference(name):
    assert f"`{name}`" in DOCS.read_text(encoding="utf-8")


def test_the_role_table_names_only_known_commands_and_only_the_administrator_may_erase():
    assert set().union(*ROLE_COMMANDS.values()) <= set(COMMANDS)
    assert REGISTRY["erase_identity"].roles == {"administrator"}
    assert all(len(spec.roles) >= 2 for spec in REGISTRY.values() if spec.name != "erase_identity")


def test_the_creates_and_reads_log_tables_name_known_commands():
    assert commanding.CREATES <= set(COMMANDS) and READS_LOG <= set(COMMANDS)


@pytest.mark.parametrize("name", NAMES)
def test_a_command_creates_a_record_exactly_when_it_has_a_location_and_no_if_match_target(name):
    spec = REGISTRY[name]
    assert (spec.location is not None) == spec.creates
    if spec.creates:
        assert spec.if_match is None


@pytest.mark.parametrize("name", NAMES)
def test_every_command_reports_its_record_unless_it_spans_many(name):
    spec = REGISTRY[name]
    spans_many = name in ("run_invoices", "issue_reminders")
    assert (spec.etag is None) == spans_many
    if spec.if_match is not None:
        assert spec.etag == spec.if_match  # the ETag answers what If-Match asked about
    if spec.reads_log:
        assert spec.if_match is None  # it runs alone and has no single version


def test_the_tenancy_table_of_created_records_agrees_with_the_creates_table():
    created = tenancy._CREATES
    assert set(created) <= commanding.CREATES
    kinds = {"citizen_id": "citizen", "order_id": "order", "delivery_id": "delivery"}
    assert {name: kinds[f] for name, f in created.items()} == {name: REGISTRY[name].etag for name in created}


@pytest.mark.parametrize("name", NAMES)
def test_every_command_has_one_route_whose_status_body_and_path_agree_with_its_declaration(name):
    spec = REGISTRY[name]
    assert len(ROUTES.get(name, [])) == 1, ROUTES.get(name)
    route = ROUTES[name][0]
    assert (route.status_code or 200) == (201 if spec.creates else 200)
    assert set(route.param_convertors) == set(spec.path_fields)
    bodies = [p.field_info.annotation for p in route.dependant.body_params]
    assert bodies == ([spec.body] if spec.body is not None else [])


def test_a_spec_names_the_same_targets_the_functions_compute():
    order = REGISTRY["change_order"]
    payload = order.sample_payload()
    assert str(order.if_match_target(payload)) == SAMPLE_PATH["order_id"]
    assert REGISTRY["place_order"].location == "/orders/{order_id}/events"
    assert REGISTRY["run_invoices"].location == "/billing/invoices?municipality={municipality}&month={month}"


@pytest.mark.parametrize("name", NAMES)
def test_every_command_names_the_record_that_decides_its_municipality(name):
    spec = REGISTRY[name]
    assert spec.owner in ("municipality", "citizen_id", "order_id", "delivery_id")
    assert spec.owner in spec.schema.model_fields and spec.owner in spec.sample_payload()
    if spec.owner != "municipality":  # a command that creates the record cannot be decided by it
        assert tenancy._CREATES.get(name) != spec.owner


def test_only_the_two_ways_of_withdrawing_a_delivery_still_share_a_class():
    shared = {cls: [s.name for s in specs] for cls, specs in by_class().items() if len(specs) > 1}
    assert shared == {WithdrawDelivery: ["cancel_delivery", "dispute_delivery"]}
