"""Every command is declared completely, once, and the API, the import and the CLI agree with the
declaration (ADR 0010, ADR 0019).

A command's spec (ledger/application/commands/<resource>.py, `declare(...)`) is the one place that
says what it is; these tests prove every spec is whole (a handler, roles, an example that
validates, documentation), that the one route of each command answers what the spec says, and
that the rules between a spec's fields hold (creates ⇔ Location ⇔ no If-Match target; the ETag
answers what If-Match asks; a command that reads the log has no single version)."""

from __future__ import annotations

import inspect
from pathlib import Path
from uuid import UUID

import pytest
from fastapi.routing import APIRoute

from ledger.application import commands as c
from ledger.application.commands import REGISTRY, by_name
from ledger.application.registry import SAMPLE_PATH, sample_command, sample_payload

DOCS = Path(__file__).resolve().parents[2] / "docs" / "commands.md"
NAMES = sorted(by_name())


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


def test_the_registry_is_keyed_by_class_and_the_names_are_derived_from_it():
    assert len(REGISTRY) == len(by_name()) == 33
    assert {spec.name: cls for cls, spec in REGISTRY.items()} == {name: spec.schema for name, spec in by_name().items()}
    assert all(spec.schema is cls for cls, spec in REGISTRY.items())


def test_no_two_commands_share_a_class():
    assert len({spec.schema for spec in REGISTRY.values()}) == len(REGISTRY)
    assert by_name()["cancel_delivery"].schema is c.CancelDelivery
    assert by_name()["dispute_delivery"].schema is c.DisputeDelivery


@pytest.mark.parametrize("name", NAMES)
def test_every_command_has_a_handler_roles_and_an_example_that_validates(name):
    spec = by_name()[name]
    assert callable(spec.handler)
    assert list(inspect.signature(spec.handler).parameters) == ["uow", "cmd", "ctx", "svc"]
    assert "administrator" in spec.roles and spec.roles <= set(c.ROLES)
    assert spec.body is None or spec.body.model_validate(spec.example)
    assert spec.body is not None or dict(spec.example) == {}
    assert isinstance(sample_command(spec), spec.schema)  # the example plus its path is a whole command


@pytest.mark.parametrize("name", NAMES)
def test_every_command_is_documented_in_the_commands_reference(name):
    assert f"`{name}`" in DOCS.read_text(encoding="utf-8")


def test_only_the_administrator_may_erase_and_every_other_command_has_a_second_role():
    assert by_name()["erase_identity"].roles == {"administrator"}
    assert all(len(spec.roles) >= 2 for spec in REGISTRY.values() if spec.name != "erase_identity")
    assert c.role_commands()["administrator"] == set(by_name())
    assert c.role_commands()["auditor"] == c.role_commands()["evaluator"] == frozenset()


@pytest.mark.parametrize("name", NAMES)
def test_a_command_creates_a_record_exactly_when_it_has_a_location_and_no_if_match_target(name):
    spec = by_name()[name]
    assert (spec.location is not None) == spec.creates
    if spec.creates:
        assert spec.if_match is None


@pytest.mark.parametrize("name", NAMES)
def test_every_command_reports_its_record_unless_it_spans_many(name):
    spec = by_name()[name]
    spans_many = name in ("run_invoices", "issue_reminders")
    assert (spec.etag is None) == spans_many
    if spec.if_match is not None:
        assert spec.etag == spec.if_match  # the ETag answers what If-Match asked about
    if spec.reads_log:
        assert spec.if_match is None  # it runs alone and has no single version


@pytest.mark.parametrize("name", NAMES)
def test_every_command_has_one_route_whose_status_body_and_path_agree_with_its_declaration(name):
    spec = by_name()[name]
    assert len(ROUTES.get(name, [])) == 1, ROUTES.get(name)
    route = ROUTES[name][0]
    assert (route.status_code or 200) == (201 if spec.creates else 200)
    assert set(route.param_convertors) == set(spec.path_fields)
    bodies = [p.field_info.annotation for p in route.dependant.dependencies[0].body_params]
    assert bodies == ([spec.body] if spec.body is not None else [])


def test_a_spec_names_the_records_its_command_reaches():
    change = by_name()["change_order"]
    assert str(change.if_match_target(sample_command(change))) == SAMPLE_PATH["order_id"]
    place = by_name()["place_order"]
    order_id = "11111111-2222-3333-4444-555555555555"
    assert place.etag_target(sample_command(place), {"order_id": order_id}) == UUID(order_id)
    assert place.location_of(sample_command(place), {"order_id": order_id}) == f"/orders/{order_id}/events"
    run = by_name()["run_invoices"]
    assert run.location_of(sample_command(run), {"municipality": 657, "month": "2019-03"}) == \
        "/billing/invoices?municipality=657&month=2019-03"


@pytest.mark.parametrize("name", NAMES)
def test_every_command_names_the_record_that_decides_its_municipality(name):
    spec = by_name()[name]
    assert spec.owner in ("municipality", "citizen_id", "order_id", "delivery_id")
    assert spec.owner in spec.schema.model_fields and sample_payload(spec)[spec.owner] is not None
    if spec.creates and spec.etag in ("citizen", "order", "delivery"):  # a new record cannot decide it
        assert spec.owner != f"{spec.etag}_id"


def test_the_import_loads_ahead_what_a_command_names():
    receive = by_name()["receive_payment"]
    from ledger.domain.account import account_id

    citizen = UUID(SAMPLE_PATH["citizen_id"])
    assert list(receive.touches(sample_command(receive))) == [citizen, account_id(citizen)]
    delivery = by_name()["record_delivery"]
    assert list(delivery.touches(sample_command(delivery))) == [UUID(SAMPLE_PATH["order_id"])]


def test_the_commands_reference_names_each_commands_roles_as_declared():
    rows = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        cells = [x.strip() for x in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[0].startswith("`") and cells[0].strip("`") in by_name():
            rows[cells[0].strip("`")] = set() if cells[1] == "—" else {r.strip() for r in cells[1].split(",")}
    assert {name: spec.roles - {"administrator"} for name, spec in by_name().items()} == rows
