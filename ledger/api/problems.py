"""Every error the API answers with, in one table, as RFC 9457 problem details.

The table is in order of precedence: when a request is wrong in several ways, the answer is the
first that applies (docs/api-errors.md is generated from the same order and checked by a test).
Domain errors carry their own `code` and `status` (ledger.domain.errors); the API adds only the
refusals that belong to HTTP itself (authentication, size, headers, waiting). Business code never
raises an HTTP exception: it raises a domain error and this table turns it into a response.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from starlette.responses import Response

from ledger.domain import errors as domain

PROBLEM_BASE = "https://addon-ledger.dk/problems/"
MEDIA_TYPE = "application/problem+json"


@dataclass(frozen=True)
class ProblemType:
    code: str
    status: int
    title: str
    when: str  # what the caller did, for docs/api-errors.md

    @property
    def uri(self) -> str:
        return PROBLEM_BASE + self.code


PROBLEMS: tuple[ProblemType, ...] = (
    ProblemType("payload-too-large", 413, "Request body too large",
                "The body is larger than the limit (1 MiB by default), checked before anything else reads it."),
    ProblemType("unauthorized", 401, "Authentication required",
                "No `Authorization: Bearer <token>` header, or a token that is not configured."),
    ProblemType("route-not-found", 404, "No such route",
                "The path names no resource of this API."),
    ProblemType("method-not-allowed", 405, "Method not allowed",
                "The resource exists but not with this HTTP method."),
    ProblemType("bad-request", 400, "Malformed request",
                "The body is not valid JSON; a header (`Idempotency-Key`, `If-Match`) is malformed (checked "
                "after the role); the URL holds a NUL byte (checked first of all); a query needs a "
                "municipality the caller did not name."),
    ProblemType("forbidden", 403, "Forbidden",
                "The role may not give this command or read this kind of data (checked before the body), or "
                "the record belongs to a municipality the caller may not act in (checked once the record is "
                "known). Every refusal is logged; refused reads of citizen or billing data are also recorded "
                "in the access log."),
    ProblemType("unsupported-media-type", 415, "Unsupported media type",
                "A command body was sent with a content type other than `application/json` (or `+json`), "
                "a charset other than UTF-8, or bytes that are not UTF-8 (checked after the role)."),
    ProblemType("invalid-request", 422, "Request does not match the schema",
                "A field, path segment or query parameter is missing, has the wrong type or an unknown name, "
                "or breaks a schema constraint (among them: a date, month or instant outside 1900-2199, in a body "
                "or in any query, e.g. `query.known_at`); or one object of the body repeats a key. `errors` lists "
                "each problem with its location."),
    ProblemType(domain.InvalidInput.code, domain.InvalidInput.status, "Invalid input",
                "A value is well-typed but not acceptable: a date outside 1900-2199 that no schema field checks, "
                "a query range whose start lies after its end (`from` after `to`, `first` after `last`; `field` "
                "names the start), an integer beyond +/-2^53, "
                "text with a NUL character, an unknown municipality or FSIII code, a malformed amount, a grant "
                "id used twice."),
    ProblemType(domain.NotFound.code, domain.NotFound.status, "Not found",
                "The command or query names a citizen, order, delivery, grant, offer, invoice or scheme that "
                "does not exist."),
    ProblemType("precondition-not-applicable", 400, "If-Match not applicable",
                "`If-Match` was sent with a command that creates a record or spans many records, which "
                "have no single version to compare."),
    ProblemType(domain.IdempotencyMismatch.code, domain.IdempotencyMismatch.status, "Idempotency key reused",
                "The `Idempotency-Key` was used before by the same user with a different body. "
                "(The same key with the same body returns the first response and records nothing.)"),
    ProblemType(domain.StaleVersion.code, domain.StaleVersion.status, "Stale version",
                "`If-Match` named a version that is no longer current; `current_version` says which is."),
    ProblemType(domain.AlreadyExists.code, domain.AlreadyExists.status, "Already exists",
                "The command would create a record whose id is taken (for example a scheme for a municipality "
                "that has one)."),
    ProblemType(domain.RuleViolated.code, domain.RuleViolated.status, "Business rule violated",
                "The request was well-formed but a rule of the trial refuses it; `rule` names the rule "
                "(e.g. `no-active-grant`, `outside-window`)."),
    ProblemType(domain.ConcurrencyConflict.code, domain.ConcurrencyConflict.status, "Concurrent change",
                "Another request changed the same records first; nothing of this one was stored. "
                "`current_versions` says where they are now: reload and retry."),
    ProblemType("position-ahead-of-log", 422, "Position not in the log",
                "`min_position` or `at_position` is beyond the last position the log holds, so no wait "
                "could reach it. `head` says where the log ends."),
    ProblemType("not-caught-up", 503, "Projections not caught up",
                "A query with `min_position` waited the bound (5 s by default) and the read models had not "
                "reached that position yet, or a read kept racing the read models' catch-up (or, for a read "
                "of the records, new events). Retry after `Retry-After` seconds."),
    ProblemType("store-unavailable", 503, "Store unavailable",
                "The database did not answer (down, or locked for longer than its timeout). Nothing was "
                "stored; retry."),
    ProblemType("identity-unavailable", 503, "Identity store unavailable",
                "A CPR number or name was to be read or written, but the master key that wraps the citizens' "
                "keys is not configured or is not the one they were wrapped by (ADR 0015). Nothing was stored."),
    ProblemType("not-ready", 503, "Not ready",
                "`/ready` only: the store is unreachable or the projections lag beyond the bound."),
    ProblemType("ledger-error", 400, "Refused",
                "A refusal of the ledger without a more specific type (should not occur; report it)."),
    ProblemType("internal-error", 500, "Internal error",
                "A fault of the service itself. The `request_id` identifies it in the logs. Should never "
                "occur; the schemathesis run in the test suite checks that it does not."),
    ProblemType("position-passed", 409, "Position already passed",
                "`at_position` is behind where the read models a billing, timeline, audit or evaluation read "
                "depends on stand (or, for the reconciliation, behind the head): live tables cannot go back to "
                "an older position (read the report again at a new position, or reconstruct the old cut with "
                "`ledger-replay rebuild`). `reached` says where they are."),
)
BY_CODE: dict[str, ProblemType] = {p.code: p for p in PROBLEMS}


class ApiProblem(Exception):
    """A refusal that belongs to HTTP (auth, size, headers, waiting), not to the domain."""

    def __init__(self, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        assert code in BY_CODE, code
        self.code = code
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


def _json_safe(value: Any) -> Any:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json_safe(v) for v in value]
    return str(value)


def problem(code: str, detail: str, *, instance: str, request_id: str | None = None, status: int | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> Response:
    kind = BY_CODE.get(code) or BY_CODE["ledger-error"]
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": kind.title if kind.code == code else code.replace("-", " ").capitalize(),
        "status": status or kind.status,
        "detail": detail,
        "instance": instance,
        "code": code,
    }
    if request_id:
        body["request_id"] = request_id
    for key, value in extra.items():
        if key not in body and value is not None:
            body[key] = _json_safe(value)
    return Response(orjson.dumps(body), status_code=body["status"], media_type=MEDIA_TYPE, headers=headers)


def from_ledger_error(e: domain.LedgerError) -> tuple[str, int, dict[str, Any]]:
    """(code, status, extension members) of a domain refusal."""
    extra: dict[str, Any] = dict(e.details)
    # The position inside an application batch means nothing to an HTTP caller (one command each).
    extra.pop("index", None)
    rule = getattr(e, "rule", None)
    if rule:
        extra["rule"] = rule
    return e.code, e.status, extra
