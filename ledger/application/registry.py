"""Every command's declaration in one record, gathered from the tables that declare it today.

A command is still declared in seven places (ADR 0010): its schema (`commands.COMMANDS`), its roles
(`commands.ROLE_COMMANDS`), its handler (`handlers.HANDLERS`), whether a batch is cut before it
(`ledger.READS_LOG`), whether it creates a record and where that record is (`api.commanding.CREATES`,
`location()`), which record `If-Match` and the `ETag` refer to (`api.tenancy.primary_before/after`),
and its API body and example (`api.bodies`). This module is the bridge to one declaration per
command: it reads those tables into one `CommandSpec` per command, keyed by name and by class, and
`tests/unit/test_command_registry.py` proves that the tables agree. After the merge the tables can
be replaced by the specs one resource at a time (ADR 0010, "Migration"); until then nothing reads
the registry at run time, so it cannot change behaviour.

The If-Match target, the ETag record and the location are functions of the payload (and result) in
today's code; the spec also names them as data (`if_match="order"`, `location="/orders/{order_id}/events"`),
worked out by evaluating those functions on the command's example. That is what the typed slices
will declare literally.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from uuid import UUID

from ledger.application.commands import COMMANDS, ROLE_COMMANDS, Command

Handler = Callable[..., dict[str, Any]]

# Values for the fields a route takes from its path, and for the ids a result names, so that an
# example body becomes a whole command and its targets can be recognised. The ids are the examples'.
SAMPLE_CITIZEN = "2554e582-e697-59f2-9cfd-e5850753d758"
SAMPLE_ORDER = "eaf05690-abee-5b4c-b8b9-cd1ca082d42f"
SAMPLE_DELIVERY = "7d1f0c7e-2f0a-5d7e-9a51-0c6f3f4b2a11"
SAMPLE_PATH: Mapping[str, Any] = MappingProxyType({
    "municipality": 657, "citizen_id": SAMPLE_CITIZEN, "order_id": SAMPLE_ORDER, "delivery_id": SAMPLE_DELIVERY,
    "grant_id": "g-clean", "offer_id": "clean", "payment_id": "p-1"})
SAMPLE_RESULT: Mapping[str, Any] = MappingProxyType({
    "municipality": 657, "month": "2019-03", "citizen_id": SAMPLE_CITIZEN, "order_id": SAMPLE_ORDER,
    "delivery_id": SAMPLE_DELIVERY})


@dataclass(frozen=True)
class CommandSpec:
    """One command: everything the API, the import and `ledger command` need to know about it."""

    name: str  # "place_order": the command's name in the API, the import file and the CLI
    schema: type[Command]  # the payload's shape (checks types only; rules live in the domain)
    handler: Handler  # handler(uow, command, context, services) -> result
    roles: frozenset[str]  # the roles that may give it
    creates: bool  # answers 201 Created (and has a Location)
    reads_log: bool  # decides by reading the log: a group commit is cut before it
    body: type[Command] | None  # the API's request body: the schema minus the path fields (None: no body)
    path_fields: tuple[str, ...]  # fields the route takes from its path, in schema order
    example: Mapping[str, Any]  # a body that validates (what /openapi.json shows)
    if_match: str | None  # the kind of record If-Match compares (None: creates or spans many)
    etag: str | None  # the kind of record the response's ETag reports
    location: str | None  # the Location template, e.g. "/orders/{order_id}/events"
    owner: str  # the field whose record decides the municipality the command acts in (tenancy)
    if_match_target: Callable[[dict[str, Any]], UUID | None] = field(repr=False, compare=False)
    etag_target: Callable[[dict[str, Any], dict[str, Any]], UUID | None] = field(repr=False, compare=False)
    location_of: Callable[[dict[str, Any], dict[str, Any]], str | None] = field(repr=False, compare=False)

    def parse(self, payload: Mapping[str, Any]) -> Command:
        """The payload checked against the schema (pydantic.ValidationError when it does not fit)."""
        return self.schema.model_validate(payload)

    def sample_payload(self) -> dict[str, Any]:
        """The example body plus sample path values: a whole, valid command (as JSON values)."""
        whole = {**self.example, **{f: SAMPLE_PATH[f] for f in self.path_fields}}
        return self.parse(whole).model_dump(mode="json")


def _kinds() -> dict[UUID, str]:
    """The aggregate ids the samples name, by kind (to recognise what a target function returns)."""
    from ledger.domain.account import account_id
    from ledger.domain.assessment import assessment_id
    from ledger.domain.catalogue import catalogue_id
    from ledger.domain.interest import rates_id
    from ledger.domain.klippekort import klippekort_id
    from ledger.domain.scheme import scheme_id
    from ledger.domain.survey import survey_response_id

    citizen = UUID(SAMPLE_CITIZEN)
    return {scheme_id(657): "scheme", catalogue_id(657): "catalogue", citizen: "citizen",
            assessment_id(citizen): "assessment", UUID(SAMPLE_ORDER): "order", UUID(SAMPLE_DELIVERY): "delivery",
            account_id(citizen): "account", klippekort_id(citizen): "klippekort",
            rates_id(657): "reference_rates",
            survey_response_id("tilfredshed-657-2019", citizen): "survey_response"}


def _template(url: str | None) -> str | None:
    if url is None:
        return None
    for key in ("citizen_id", "order_id", "delivery_id"):
        url = url.replace(str(SAMPLE_RESULT[key]), "{" + key + "}")
    return url.replace("=2019-03", "={month}").replace("/657/", "/{municipality}/").replace("=657", "={municipality}")


def _owner(name: str, schema: type[Command]) -> str:
    """The field `Records.municipality_of` decides the municipality by, for this command."""
    from ledger.api import tenancy

    if "municipality" in schema.model_fields:
        return "municipality"
    skip = tenancy._CREATES.get(name)
    return next(f for f, _kind, _what in tenancy._OWNER_FIELDS if f in schema.model_fields and f != skip)


def _body_of(name: str) -> type[Command] | None:
    from ledger.api import bodies

    schema = COMMANDS[name]
    title = {"cancel_delivery": "CancelDelivery", "dispute_delivery": "DisputeDelivery"}.get(name, schema.__name__)
    model: type[Command] | None = getattr(bodies, f"{title}Body", None)  # erase_identity: all in the path
    return model


def build() -> dict[str, CommandSpec]:
    """The registry, read from today's tables (see the module docstring)."""
    from ledger.api import bodies, commanding, tenancy
    from ledger.application.handlers import HANDLERS, load_all
    from ledger.application.ledger import READS_LOG

    load_all()
    kinds = _kinds()
    specs: dict[str, CommandSpec] = {}
    for name, schema in COMMANDS.items():
        body = _body_of(name)
        path_fields = tuple(f for f in schema.model_fields if body is None or f not in body.model_fields)

        def before(payload: dict[str, Any], name: str = name) -> UUID | None:
            return tenancy.primary_before(name, payload)

        def after(payload: dict[str, Any], result: dict[str, Any], name: str = name) -> UUID | None:
            return tenancy.primary_after(name, payload, result)

        def where(payload: dict[str, Any], result: dict[str, Any], name: str = name) -> str | None:
            return commanding.location(name, payload, result)

        spec = CommandSpec(
            name=name, schema=schema, handler=HANDLERS[name],
            roles=frozenset(role for role, allowed in ROLE_COMMANDS.items() if name in allowed),
            creates=name in commanding.CREATES, reads_log=name in READS_LOG, body=body, path_fields=path_fields,
            example=MappingProxyType(dict(bodies.EXAMPLES[name])), if_match=None, etag=None, location=None,
            owner=_owner(name, schema),
            if_match_target=before, etag_target=after, location_of=where)
        payload, result = spec.sample_payload(), dict(SAMPLE_RESULT)
        target, reported = before(payload), after(payload, result)
        specs[name] = CommandSpec(**{
            **{f: getattr(spec, f) for f in spec.__dataclass_fields__},
            "if_match": None if target is None else kinds[target],
            "etag": None if reported is None else kinds[reported],
            "location": _template(where(payload, result))})
    return specs


REGISTRY: dict[str, CommandSpec] = build()


def by_class() -> dict[type[Command], tuple[CommandSpec, ...]]:
    """Specs keyed by the command's class. Two names still share one class (`WithdrawDelivery`:
    cancel_delivery and dispute_delivery); the migration splits it (ADR 0010)."""
    found: dict[type[Command], list[CommandSpec]] = {}
    for spec in REGISTRY.values():
        found.setdefault(spec.schema, []).append(spec)
    return {cls: tuple(specs) for cls, specs in found.items()}
