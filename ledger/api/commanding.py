"""How an HTTP request becomes one command of the application, and its outcome a response.

The route hands over the parsed body and the path values; this module adds what HTTP carries
beside the body: the caller (role and municipality checks), the `Idempotency-Key` (the command id,
namespaced by user so two users can never collide) and `If-Match` (the expected version). Then it
makes the one application call, `Ledger.execute`, and shapes the response: 201/200, `ETag` of the
primary record, `Location` where there is one, and the same body again on an idempotent retry.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import Depends, Header, Request
from pydantic import BaseModel
from starlette.responses import Response

from ledger.api.deps import Caller, CallerDep, ServicesDep, in_municipality, refuse
from ledger.api.problems import ApiProblem
from ledger.api.screening import screen
from ledger.api.services import Services
from ledger.api.tenancy import code_of, primary_after, primary_before
from ledger.domain.base import Context

_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")  # visible ASCII: what every HTTP stack carries unchanged
_IF_MATCH = re.compile(r'^(?:W/)?"?(\d{1,12})"?$')

# Commands that create a record answer 201 Created; the others 200.
CREATES = frozenset({"establish_scheme", "register_citizen", "award_grant", "add_item", "add_package", "place_order",
                     "record_delivery", "record_missed_visit", "receive_payment", "run_invoices"})


def location(command_type: str, payload: dict[str, Any], result: dict[str, Any]) -> str | None:
    r = result
    match command_type:
        case "establish_scheme":
            return f"/schemes/{r['municipality']}/events"
        case "register_citizen" | "award_grant":
            return f"/citizens/{r['citizen_id']}"
        case "add_item" | "add_package":
            return f"/catalogue/{payload['municipality']}/events"
        case "place_order":
            return f"/orders/{r['order_id']}/events"
        case "record_delivery" | "record_missed_visit":
            return f"/deliveries/{r['delivery_id']}/events"
        case "receive_payment":
            return f"/citizens/{r['citizen_id']}/account/events"
        case "run_invoices":
            return f"/billing/invoices?municipality={r['municipality']}&month={r['month']}"
    return None


def versions_of(ledger: Any, command_id: str, position: int | None, max_pages: int = 8) -> dict[str, int]:
    """The versions a command left its records at, read back from its own events (for a replay:
    the command record keeps the result and position, not the versions). Its events sit at or
    just below its position (writers are serialised; a group commit may put other commands of the
    same transaction after them), so the scan skips to them and stops at the first event after."""
    if not position:
        return {}
    versions: dict[str, int] = {}
    stop, page = position, 64
    for _ in range(max_pages):
        if stop <= 0:
            break
        start = max(1, stop - page + 1)
        rows = ledger.recorder.select_notifications(start, page, stop=stop, inclusive_of_start=True)
        for n in reversed(rows):
            if orjson.loads(n.state).get("command_id") != command_id:
                if versions:
                    return versions
                continue
            key = str(n.originator_id)
            versions[key] = max(versions.get(key, 0), n.originator_version)
        stop = start - 1
    return versions


def respond(command_type: str, payload: dict[str, Any], outcome: Any, versions: dict[str, int]) -> Response:
    """201/200 with the outcome; ETag of the primary record, Location where there is one, and a
    replay marked as such (its body is the first response's)."""
    headers = {}
    primary = primary_after(command_type, payload, outcome.result)
    if primary is not None and str(primary) in versions:
        headers["ETag"] = f'"{versions[str(primary)]}"'
    where = location(command_type, payload, outcome.result)
    if where:
        headers["Location"] = where
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    body = {"command_id": outcome.command_id, "position": outcome.position, "result": outcome.result,
            "versions": versions}
    return Response(orjson.dumps(body), status_code=201 if command_type in CREATES else 200,
                    media_type="application/json", headers=headers)


class Runner:
    """One command, ready to run once the route has parsed the body."""

    def __init__(self, svc: Services, who: Caller, command_type: str, command_id: str, if_match: str | None) -> None:
        self.svc, self.who, self.command_type, self.command_id, self.if_match = svc, who, command_type, command_id, if_match

    def __call__(self, body: BaseModel | None = None, **path: Any) -> Response:
        svc = self.svc
        payload = self._payload(body, path)
        municipality = svc.records.municipality_of(self.command_type, payload)
        in_municipality(svc, self.who, municipality, "command", payload.get("citizen_id"))
        context = Context(self.who.user, self.who.role, self.command_id)
        outcome = svc.writer.execute(self.command_type, payload, context, self._expected(payload))
        versions = outcome.versions
        if outcome.replayed and not versions:
            versions = versions_of(svc.ledger, outcome.command_id, outcome.position)
        return respond(self.command_type, payload, outcome, versions)

    @staticmethod
    def _payload(body: BaseModel | None, path: dict[str, Any]) -> dict[str, Any]:
        """The command's payload: the body's fields and the path's, in one spelling (so that a retry
        spelling the municipality 657, "657" or "Herning" is the same command)."""
        if body is not None:
            screen(body)
        payload = {**(body.model_dump(mode="json") if body is not None else {}),
                   **{k: str(v) if isinstance(v, UUID) else v for k, v in path.items()}}
        if "municipality" in payload:
            payload["municipality"] = code_of(payload["municipality"])
        return payload

    def _expected(self, payload: dict[str, Any]) -> dict[UUID, int] | None:
        if self.if_match is None:
            return None
        target = primary_before(self.command_type, payload)
        if target is None:
            raise ApiProblem("precondition-not-applicable",
                             f"{self.command_type} creates a record or spans many; it has no single version "
                             "for If-Match to compare")
        if self.if_match.strip() == "*":
            return None
        m = _IF_MATCH.match(self.if_match.strip())
        assert m is not None  # checked when the header was read
        return {target: int(m.group(1))}


def command(command_type: str) -> Callable[..., Runner]:
    """The dependency of a command route: refuses roles without the command (403) and malformed
    headers (400) before the body is looked at, and returns the Runner."""

    def dependency(
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
    ) -> Runner:
        if not who.principal.may_command(command_type):
            raise refuse(svc, who, f"the role {who.role} may not give the command {command_type}", "command",
                         record=False)
        if idempotency_key is not None and not _KEY.match(idempotency_key):
            raise ApiProblem("bad-request", "Idempotency-Key must be 1-200 visible ASCII characters")
        if if_match is not None and if_match.strip() != "*" and not _IF_MATCH.match(if_match.strip()):
            raise ApiProblem("bad-request", f'If-Match must be one version in quotes, e.g. "3"; got {if_match!r}')
        refusal = getattr(request.state, "body_refusal", None)  # noted by the Gate (ledger.api.middleware)
        if refusal is not None:
            raise ApiProblem(*refusal)
        key = idempotency_key or str(uuid.uuid4())
        return Runner(svc, who, command_type, f"{who.user}:{key}", if_match)

    dependency.__name__ = f"command_{command_type}"
    return dependency


def Command(command_type: str) -> Any:  # noqa: N802 - reads as a declaration in route signatures
    """`run: Runner = Command("place_order")` in a route signature (a default, so it type-checks)."""
    return Depends(command(command_type))
