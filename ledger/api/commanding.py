"""How an HTTP request becomes one typed command of the application, and its outcome a response.

`Command(PlaceOrder)` in a route signature is the whole declaration of a command route: from the
command's spec (ledger.application.commands) it takes the body model (the schema minus the path's
fields), the path parameters, the roles, and it adds what HTTP carries beside the body: the caller
(role and municipality checks), the `Idempotency-Key` (the command id, namespaced by user so two
users can never collide) and `If-Match` (the expected version). The route gets a `Run` holding the
typed command; calling it makes the one application call and shapes the response from the spec:
201/200, `ETag` of the spec's record, `Location` where there is one, and the same body again on an
idempotent retry.
"""

from __future__ import annotations

import inspect
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any, Generic, TypeVar
from uuid import UUID

import orjson
from fastapi import Body, Depends, Header, Path, Request
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from ledger.api.deps import Caller, CallerDep, ServicesDep, in_municipality, refuse
from ledger.api.problems import ApiProblem
from ledger.api.screening import screen
from ledger.api.services import Services
from ledger.api.tenancy import code_of
from ledger.application.commands import Command as CommandModel
from ledger.application.commands import CommandSpec, lookup, spec_of
from ledger.application.ledger import Outcome, validation_message
from ledger.domain.base import Context
from ledger.domain.errors import InvalidInput

C = TypeVar("C", bound=CommandModel)

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")  # visible ASCII: what every HTTP stack carries unchanged
_IF_MATCH = re.compile(r'^(?:W/)?"?(\d{1,12})"?$')

# The path parameters command routes take, by the command field they fill.
PATH_PARAMETERS: Mapping[str, Any] = {
    "municipality": Annotated[str, Path(description="official code (657) or name (Herning)", max_length=40)],
    "citizen_id": Annotated[UUID, Path(description="the citizen's pseudonym")],
    "order_id": Annotated[UUID, Path(description="the order's id")],
    "delivery_id": Annotated[UUID, Path(description="the delivery's id")],
    "grant_id": Annotated[str, Path(min_length=1, max_length=64)],
    "offer_id": Annotated[str, Path(min_length=1, max_length=64)],
    "payment_id": Annotated[str, Path(min_length=1, max_length=64)],
}


def respond(spec: CommandSpec[C], command: C, outcome: Outcome, versions: dict[str, int]) -> Response:
    """201/200 with the outcome; ETag of the spec's record, Location where there is one, and a
    replay marked as such (its body is the first response's)."""
    headers = {}
    primary = spec.etag_target(command, outcome.result)
    if primary is not None and str(primary) in versions:
        headers["ETag"] = f'"{versions[str(primary)]}"'
    where = spec.location_of(command, outcome.result)
    if where:
        headers["Location"] = where
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    body = {"command_id": outcome.command_id, "position": outcome.position, "result": outcome.result,
            "versions": versions}
    return Response(orjson.dumps(body), status_code=201 if spec.creates else 200,
                    media_type="application/json", headers=headers)


class Run(Generic[C]):
    """One typed command, checked and ready to run: `run()` in the route gives the response."""

    def __init__(self, svc: Services, who: Caller, spec: CommandSpec[C], command: C, payload: dict[str, Any],
                 command_id: str, if_match: str | None) -> None:
        self.svc, self.who, self.spec, self.command = svc, who, spec, command
        self.payload, self.command_id, self.if_match = payload, command_id, if_match

    def __call__(self) -> Response:
        svc, command = self.svc, self.command
        municipality = svc.records.municipality_of(self.spec, command)
        citizen = getattr(command, "citizen_id", None)
        in_municipality(svc, self.who, municipality, "command", None if citizen is None else str(citizen))
        outcome = svc.writer.execute(command, self.context(), self._expected(), payload=self.payload)
        return self.respond(outcome)

    def context(self) -> Context:
        return Context(self.who.user, self.who.role, self.command_id)

    def respond(self, outcome: Outcome) -> Response:
        return respond(self.spec, self.command, outcome, outcome.versions)

    def _expected(self) -> dict[UUID, int] | None:
        if self.if_match is None:
            return None
        target = self.spec.if_match_target(self.command)
        if target is None:
            raise ApiProblem("precondition-not-applicable",
                             f"{self.spec.name} creates a record or spans many; it has no single version "
                             "for If-Match to compare")
        if self.if_match.strip() == "*":
            return None
        m = _IF_MATCH.match(self.if_match.strip())
        assert m is not None  # checked when the header was read
        return {target: int(m.group(1))}


def prepared(svc: Services, who: Caller, spec: CommandSpec[C], body: BaseModel | None, path: Mapping[str, Any],
             command_id: str, if_match: str | None) -> Run[C]:
    """The Run of a checked request: its payload, and from it the typed command."""
    payload = payload_of(body, path)
    return Run(svc, who, spec, typed(spec, payload), payload, command_id, if_match)


def payload_of(body: BaseModel | None, path: Mapping[str, Any]) -> dict[str, Any]:
    """The command's payload: the body's fields and the path's, in one spelling (so that a retry
    spelling the municipality 657, "657" or "Herning" is the same command). Its hash is what makes
    a retry the same command (the command records store it), so its spelling never changes."""
    if body is not None:
        screen(body)
    payload = {**(body.model_dump(mode="json") if body is not None else {}),
               **{k: str(v) if isinstance(v, UUID) else v for k, v in path.items()}}
    if "municipality" in payload:
        payload["municipality"] = code_of(payload["municipality"])
    return payload


def typed(spec: CommandSpec[C], payload: Mapping[str, Any]) -> C:
    """The body and the path, once, as the typed command (InvalidInput, as the application words
    it, for a path value the schema refuses: the body was checked already)."""
    try:
        return spec.parse(payload)
    except ValidationError as e:
        raise InvalidInput(f"{spec.name}: {validation_message(e)}") from None


class Runner:
    """A command given by name (the web workplace's forms): made typed from the body and the path,
    then run like a route's."""

    def __init__(self, svc: Services, who: Caller, command_type: str, command_id: str, if_match: str | None) -> None:
        self.svc, self.who, self.spec = svc, who, lookup(command_type)
        self.command_id, self.if_match = command_id, if_match

    def __call__(self, body: BaseModel | None = None, **path: Any) -> Response:
        return prepared(self.svc, self.who, self.spec, body, path, self.command_id, self.if_match)()


def command_id(who: Caller, idempotency_key: str | None) -> str:
    """The command id of a request: its Idempotency-Key (or a fresh one), namespaced by user."""
    return f"{who.user}:{idempotency_key or uuid.uuid4()}"


def _gate(spec: CommandSpec[Any]) -> Callable[..., Awaitable[tuple[Services, Caller, str, str | None]]]:
    """Refuses roles without the command (403) and malformed headers (400) before the body is
    looked at (FastAPI solves this sub-dependency before the body)."""

    async def gate(  # async: no thread hop (it logs a refusal but records none)
        request: Request,
        svc: ServicesDep,
        who: CallerDep,
        idempotency_key: Annotated[str | None, Header(
            alias="Idempotency-Key",
            description="any visible-ASCII string up to 200 characters; a retry with the same key and body "
                        "returns the first response and records nothing; the same key with another body is "
                        "refused (422). Keys are per user and kept for good.")] = None,
        if_match: Annotated[str | None, Header(
            alias="If-Match", description='the version you last saw in an ETag, e.g. "3"; a stale one gives 412')] = None,
    ) -> tuple[Services, Caller, str, str | None]:
        if who.role not in spec.roles:
            raise refuse(svc, who, f"the role {who.role} may not give the command {spec.name}", "command",
                         record=False)
        if idempotency_key is not None and not IDEMPOTENCY_KEY.match(idempotency_key):
            raise ApiProblem("bad-request", "Idempotency-Key must be 1-200 visible ASCII characters")
        if if_match is not None and if_match.strip() != "*" and not _IF_MATCH.match(if_match.strip()):
            raise ApiProblem("bad-request", f'If-Match must be one version in quotes, e.g. "3"; got {if_match!r}')
        refusal = getattr(request.state, "body_refusal", None)  # noted by the Gate (ledger.api.middleware)
        if refusal is not None:
            raise ApiProblem(*refusal)
        return svc, who, command_id(who, idempotency_key), if_match

    gate.__name__ = f"gate_{spec.name}"
    return gate


# Each command route's dependency -> its command's spec (the command lane finds the routes by it).
DEPENDENCIES: dict[Callable[..., Any], CommandSpec[Any]] = {}


def command(schema: type[C]) -> Callable[..., Awaitable[Run[C]]]:
    """The dependency of a command route, built from the command's spec: its signature is the gate
    (roles, headers), the body model and the path parameters; it returns the typed command's Run."""
    spec: CommandSpec[C] = spec_of(schema)
    gated = Annotated[tuple[Services, Caller, str, str | None], Depends(_gate(spec))]

    async def dependency(gate: Any, body: BaseModel | None = None, **path: Any) -> Run[C]:
        # async: parsing and checking the body is CPU only, so it runs in the event loop rather
        # than hopping to the thread pool; the route (which stores the command) is the one hop.
        svc, who, command_id, if_match = gate
        return prepared(svc, who, spec, body, path, command_id, if_match)

    parameters = [inspect.Parameter("gate", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gated)]
    if spec.body is not None:
        parameters.append(inspect.Parameter("body", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                            annotation=Annotated[spec.body, Body()]))
    parameters += [inspect.Parameter(f, inspect.Parameter.KEYWORD_ONLY, annotation=PATH_PARAMETERS[f])
                   for f in spec.path_fields]
    dependency.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    dependency.__name__ = f"command_{spec.name}"
    DEPENDENCIES[dependency] = spec
    return dependency


def Command(schema: type[C]) -> Any:  # noqa: N802 - reads as a declaration in route signatures
    """`run: Run[PlaceOrder] = Command(PlaceOrder)` in a route signature (a default, so it type-checks)."""
    return Depends(command(schema))


def declared(schema: type[CommandModel]) -> dict[str, Any]:
    """The route decorator's arguments a command's spec decides: `@router.post("", **declared(PlaceOrder))`."""
    from ledger.api.schemas import CommandResponse

    return {"status_code": 201 if spec_of(schema).creates else 200, "response_model": CommandResponse}
