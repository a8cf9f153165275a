"""One declaration per command (ADR 0010, 0019): `declare()` builds its `CommandSpec` and puts it in
the one registry, keyed by the command's class.

A spec says everything the API, the import and `ledger command` need to know about a command: its
name, schema, handler, roles, whether it creates a record (201 and `Location`), whether it reads the
log to decide (a group commit is cut before it), the fields its route takes from the path, its
example body, the record `If-Match` compares and the `ETag` reports, and the field whose record
decides the municipality it acts in. Nothing else declares a command.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast
from uuid import UUID

from pydantic import ConfigDict, create_model

from ledger.application.commands._base import Command
from ledger.domain.account import account_id
from ledger.domain.assessment import assessment_id
from ledger.domain.base import Context
from ledger.domain.catalogue import catalogue_id
from ledger.domain.interest import rates_id
from ledger.domain.klippekort import klippekort_id
from ledger.domain.municipalities import municipality_code
from ledger.domain.scheme import scheme_id
from ledger.domain.survey import survey_response_id

if TYPE_CHECKING:
    from ledger.application.uow import UnitOfWork
    from ledger.identity.store import IdentityStore
    from ledger.settings import Settings

C = TypeVar("C", bound=Command)
C_contra = TypeVar("C_contra", bound=Command, contravariant=True)

# What a handler answers: the JSON stored in the command record and returned to the caller.
Result = dict[str, Any]

# Every role, in the order the API documents them; the administrator may give every command.
ROLES: tuple[str, ...] = ("assessor", "catalogue_manager", "provider_staff", "billing_clerk", "auditor", "evaluator",
                          "administrator")


class Services(Protocol):
    """What a handler may use of the application besides the unit of work (the Ledger gives it)."""

    @property
    def identity(self) -> IdentityStore: ...

    @property
    def settings(self) -> Settings: ...

    def chain_head(self) -> dict[str, Any]: ...

    def scan_chain(self, names: Sequence[str], after: int, until: int,
                   municipality: int | None = None) -> Iterator[tuple[int, str, str, int, dict[str, Any]]]: ...


class Handler(Protocol[C_contra]):
    def __call__(self, uow: UnitOfWork, cmd: C_contra, ctx: Context, svc: Services, /) -> Result: ...


def _field(cmd: Command, result: Mapping[str, Any], name: str) -> Any:
    """A created record's id comes from the result (the handler makes it); otherwise the command's."""
    value = result.get(name)
    return value if value is not None else getattr(cmd, name)


def _attr(cmd: Command, name: str) -> Any:
    return getattr(cmd, name)


def _uuid(value: object) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


# A citizen's assessment and account ids are name-based (uuid5: a SHA-1 each); citizens recur (the import).
_assessment_id = lru_cache(maxsize=200_000)(assessment_id)
_account_id = lru_cache(maxsize=50_000)(account_id)

# The kinds of record a command can name for If-Match and ETag, and how its id is found.
RECORDS: Mapping[str, Callable[[Command, Mapping[str, Any]], UUID]] = MappingProxyType({
    "scheme": lambda cmd, r: scheme_id(municipality_code(_attr(cmd, "municipality"))),
    "catalogue": lambda cmd, r: catalogue_id(municipality_code(_attr(cmd, "municipality"))),
    "reference_rates": lambda cmd, r: rates_id(municipality_code(_attr(cmd, "municipality"))),
    "citizen": lambda cmd, r: _uuid(_field(cmd, r, "citizen_id")),
    "assessment": lambda cmd, r: assessment_id(_uuid(_attr(cmd, "citizen_id"))),
    "klippekort": lambda cmd, r: klippekort_id(_uuid(_attr(cmd, "citizen_id"))),
    "account": lambda cmd, r: account_id(_uuid(_attr(cmd, "citizen_id"))),
    "survey_response": lambda cmd, r: survey_response_id(_attr(cmd, "round_id"), _uuid(_attr(cmd, "citizen_id"))),
    "order": lambda cmd, r: _uuid(_field(cmd, r, "order_id")),
    "delivery": lambda cmd, r: _uuid(_field(cmd, r, "delivery_id")),
})
# The fields whose record can decide a command's municipality, in order of preference, with the
# aggregate class and the word for it (a new order names its citizen; a new delivery its order).
OWNERS: tuple[tuple[str, str, str], ...] = (("citizen_id", "Citizen", "citizen"), ("order_id", "Order", "order"),
                                            ("delivery_id", "Delivery", "delivery"))


@dataclass(frozen=True)
class CommandSpec(Generic[C]):
    """One command: everything the API, the import and `ledger command` need to know about it."""

    name: str  # "place_order": the command's name in the API, the import file and the CLI
    schema: type[C]  # the payload's shape (checks types only; rules live in the domain)
    handler: Handler[C] = field(repr=False)  # handler(uow, command, context, services) -> result
    roles: frozenset[str]  # the roles that may give it
    creates: bool  # answers 201 Created (and has a Location)
    reads_log: bool  # decides by reading the log: a group commit is cut before it
    path_fields: tuple[str, ...]  # fields the route takes from its path, in schema order
    example: Mapping[str, Any]  # a body that validates (what /openapi.json shows)
    if_match: str | None  # the kind of record If-Match compares (None: creates or spans many)
    etag: str | None  # the kind of record the response's ETag reports (None: spans many)
    location: str | None  # the Location template, e.g. "/orders/{order_id}/events"
    owner: str  # the field whose record decides the municipality the command acts in (tenancy)
    body: type[Command] | None = field(repr=False)  # the API's request body (None: all in the path)

    def parse(self, payload: Mapping[str, Any]) -> C:
        """The payload checked against the schema (pydantic.ValidationError when it does not fit)."""
        return self.schema.model_validate(payload)

    def if_match_target(self, cmd: C) -> UUID | None:
        """The existing record whose version `If-Match` compares."""
        return None if self.if_match is None else RECORDS[self.if_match](cmd, {})

    def etag_target(self, cmd: C, result: Mapping[str, Any]) -> UUID | None:
        """The record whose version the response reports as its ETag."""
        return None if self.etag is None else RECORDS[self.etag](cmd, result)

    def location_of(self, cmd: C, result: Mapping[str, Any]) -> str | None:
        """Where the created record is read (the result's values win over the command's)."""
        if self.location is None:
            return None
        try:  # the result names the created record (the common case): no dump of the whole command
            return self.location.format(**result)
        except KeyError:
            return self.location.format(**{**cmd.model_dump(mode="json"), **result})

    def owner_record(self) -> tuple[str, str] | None:
        """(aggregate class, word) of the record the owner field names; None for a municipality."""
        return next(((kind, what) for f, kind, what in OWNERS if f == self.owner), None)

    def touches(self, cmd: C) -> Iterator[UUID]:
        """The records the command will read, as far as its fields tell (only ever used to load them
        ahead, all at once: a wrong guess costs a load, never a wrong result)."""
        # Only the fields the schema has (asking a pydantic model for one it lacks costs a raised
        # AttributeError each: the import asks ~57k times).
        fields = _touch_fields(self.schema)
        if "citizen_id" in fields:
            citizen = getattr(cmd, "citizen_id", None)
            if isinstance(citizen, UUID):
                yield citizen
                if "account" in (self.if_match, self.etag):
                    yield _account_id(citizen)
                elif self.owner == "citizen_id":
                    yield _assessment_id(citizen)
        for key in fields:
            if key != "citizen_id":
                found = getattr(cmd, key, None)
                if isinstance(found, UUID):
                    yield found


@cache
def _touch_fields(schema: type[Command]) -> tuple[str, ...]:
    """Which of citizen_id, order_id and delivery_id the schema has, in that order."""
    return tuple(f for f in ("citizen_id", "order_id", "delivery_id") if f in schema.model_fields)


# The one registry: the command's class → its spec. Names are derived from it (`by_name`).
REGISTRY: dict[type[Command], CommandSpec[Any]] = {}
_NAMES: dict[str, CommandSpec[Any]] = {}


def _owner(name: str, schema: type[Command], creates: bool, etag: str | None) -> str:
    if "municipality" in schema.model_fields:
        return "municipality"
    created = f"{etag}_id" if creates else None
    found = next((f for f, _kind, _what in OWNERS if f in schema.model_fields and f != created), None)
    assert found is not None, f"{name} names no municipality, citizen, order or delivery"
    return found


def _body(schema: type[Command], path: tuple[str, ...], example: Mapping[str, Any]) -> type[Command] | None:
    """The schema without the path's fields, named `<Command>Body`, with its example."""
    fields: dict[str, Any] = {n: (f.annotation, f) for n, f in schema.model_fields.items() if n not in path}
    if not fields:
        return None
    base = type(f"_{schema.__name__}Base", (Command,), {"model_config": ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"examples": [dict(example)]})})
    return cast("type[Command]", create_model(f"{schema.__name__}Body", __base__=base, __doc__=schema.__doc__,
                                               **fields))


def declare(schema: type[C], *, name: str, roles: Sequence[str], example: Mapping[str, Any],
            path: Sequence[str] = (), creates: bool = False, reads_log: bool = False, if_match: str | None = None,
            etag: str | None = None, location: str | None = None) -> Callable[[Handler[C]], Handler[C]]:
    """Declare `schema`'s command, handled by the decorated function. `roles` besides the
    administrator (who may give every command); `path`: the fields its route takes from the path;
    `etag` defaults to `if_match` (the ETag answers what If-Match asks about)."""
    assert schema not in REGISTRY and name not in _NAMES, f"{name} is declared twice"
    assert set(roles) <= set(ROLES), roles
    assert all(f in schema.model_fields for f in path), (name, path)
    assert if_match is None or if_match in RECORDS, if_match
    assert not (creates and if_match), f"{name} creates a record: there is no version for If-Match to compare"
    reported = etag if etag is not None else if_match
    assert reported is None or reported in RECORDS, reported
    assert (location is not None) == creates, f"{name}: a command has a Location exactly when it creates"
    path_fields = tuple(f for f in schema.model_fields if f in path)

    def register(handler: Handler[C]) -> Handler[C]:
        spec = CommandSpec(
            name=name, schema=schema, handler=handler, roles=frozenset((*roles, "administrator")), creates=creates,
            reads_log=reads_log, path_fields=path_fields, example=MappingProxyType(dict(example)),
            if_match=if_match, etag=reported, location=location, owner=_owner(name, schema, creates, reported),
            body=_body(schema, path_fields, example))
        REGISTRY[schema] = spec
        _NAMES[name] = spec
        return handler

    return register


def by_name() -> Mapping[str, CommandSpec[Any]]:
    """name → spec, derived from the registry (for API paths, the import file and `ledger command`)."""
    return MappingProxyType(_NAMES)


def spec_of(command: Command | type[Command]) -> CommandSpec[Any]:
    """The spec of a command (or of its class)."""
    return REGISTRY[command if isinstance(command, type) else type(command)]
