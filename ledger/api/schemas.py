"""Response schemas of the API (request bodies are the command schemas, see bodies.py).

Kept apart from the domain: these say what goes over the wire, nothing more.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class CommandResponse(BaseModel):
    """What a command did. A retry with the same Idempotency-Key returns exactly this again."""

    command_id: str = Field(description="the idempotency key, namespaced by the calling user")
    position: int | None = Field(description="the log position the command wrote up to; pass it as "
                                             "`min_position` to a query to read your own write "
                                             "(null when the command changed nothing)")
    result: dict[str, Any] = Field(description="the command's own result (ids, numbers, amounts)")
    versions: dict[str, int] = Field(description="aggregate id -> version after the command")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "command_id": "assessor-1:7f9c2c6e-order-2019-03",
        "position": 7,
        "result": {"order_id": "eaf05690-abee-5b4c-b8b9-cd1ca082d42f",
                   "quoted": {"price_ore": 35400, "vat_class": "exempt", "unit": "hour",
                              "price_ref": "91b251e9-864f-5831-be94-c8e34bcb6828:2"}},
        "versions": {"eaf05690-abee-5b4c-b8b9-cd1ca082d42f": 1},
    }]})


class Problem(BaseModel):
    """RFC 9457 problem details; `type` is stable per error (see docs/api-errors.md)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "type": "https://addon-ledger.dk/problems/rule-violated", "title": "Business rule violated",
        "status": 422, "detail": "citizen … holds no active grant under § 83 on 2019-03-01; an add-on is sold "
                                 "only on top of a granted service",
        "instance": "/orders", "code": "rule-violated", "rule": "no-active-grant", "request_id": "5b0c…"}]})

    type: str
    title: str
    status: int
    detail: str
    instance: str
    code: str
    request_id: str | None = None


class StoredEvent(BaseModel):
    """One stored event as recorded: the common facts plus the event's own fields."""

    model_config = ConfigDict(extra="allow")

    version: int
    event: str = Field(description="the event's name, a fact in the past tense, e.g. OrderPlaced")
    timestamp: str = Field(description="when it was recorded (UTC)")
    effective: str = Field(description="when it holds in the world (ISO date)")
    municipality: int
    actor: str
    role: str
    command_id: str


class History(BaseModel):
    aggregate_id: str
    kind: str
    version: int
    events: list[StoredEvent]


class DatedValue(BaseModel):
    effective: str
    value: str


class GrantChange(BaseModel):
    effective: str
    amount: dict[str, Any] | None
    ref: str


class Grant(BaseModel):
    grant_id: str
    fsiii: str
    section: str
    valid_from: str
    valid_to: str | None
    awarded_ref: str
    changes: list[GrantChange]


class Identity(BaseModel):
    cpr: str
    name: str


class CitizenView(BaseModel):
    citizen_id: str
    municipality: int
    registered_on: str
    version: int
    erased: bool
    providers: list[DatedValue]
    residences: list[DatedValue]
    grants: list[Grant]
    identity: Identity | None = Field(None, description="CPR number and name; only for roles that must address "
                                                         "the citizen, and absent once erased. Every read is logged.")


class Health(BaseModel):
    status: str


class ProjectionStatus(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    position: int
    lag: int


class Ready(BaseModel):
    status: str
    head: int
    reached: int
    projections: list[ProjectionStatus]


class AccessEntry(BaseModel):
    id: int
    at: str
    request_id: str
    user_id: str
    role: str
    method: str
    route: str
    path: str
    what: str
    citizen_id: str | None
    municipality: int | None
    outcome: str


class AccessLogPage(BaseModel):
    entries: list[AccessEntry]
    next_after_id: int | None = Field(description="pass as after_id for the next page; null at the end")


class Rows(BaseModel):
    """A query's answer for one municipality; the list is named after what it holds."""

    model_config = ConfigDict(extra="allow")

    municipality: int


# -- the OpenAPI document states what validation enforces ------------------------------------
# Checks made past pydantic's own (ledger.api.screening, the municipality lookup, the header
# parsers in ledger.api.commanding) are written into the served document here, in one place, so a
# request the document calls valid is never refused as malformed (the schemathesis run checks it).

_DATE_PREFIX = "^(19|20|21)[0-9]{2}-"  # dates and instants lie in 1900-2199 (ledger.api.screening)
_IDEMPOTENCY_KEY = "^[!-~]{1,200}$"  # visible ASCII (ledger.api.commanding._KEY)
_IF_MATCH = '^(\\*|(W/)?"?[0-9]{1,12}"?)$'  # ledger.api.commanding._IF_MATCH, or *


def _municipality_values() -> tuple[list[int], list[str]]:
    from ledger.domain.municipalities import MUNICIPALITIES

    codes = sorted(MUNICIPALITIES)
    return codes, [str(c) for c in codes] + [MUNICIPALITIES[c][0] for c in codes]


def _tighten(node: Any, name: str | None = None) -> None:
    if isinstance(node, list):
        for item in node:
            _tighten(item, name)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind == "string" and node.get("format") in ("date", "date-time") and "pattern" not in node:
        node["pattern"] = _DATE_PREFIX
    # Integers beyond +/-2^53 are refused too, but bounds are not written here: with them, JSON
    # Schema's "integer" admits 54.0, which generators then send and the ledger refuses (amounts are
    # integers, never floats), so the document would promise what the API rightly refuses.
    if name == "municipality" and kind in ("integer", "string") and "enum" not in node:
        codes, spellings = _municipality_values()
        node["enum"] = codes if kind == "integer" else spellings
        for bound in ("minimum", "maximum", "minLength", "maxLength", "pattern"):
            node.pop(bound, None)
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            for prop, sub in value.items():
                _tighten(sub, prop)
        elif key in ("anyOf", "oneOf", "allOf", "items"):
            _tighten(value, name)
        elif key in ("schema", "additionalProperties") and isinstance(value, dict):
            _tighten(value, name)


def _takes_if_match(command_type: str | None) -> bool:
    from ledger.application.commands import by_name

    if command_type is None:
        return True
    return by_name()[command_type].if_match is not None


def tighten_openapi(doc: dict[str, Any]) -> dict[str, Any]:
    """Add to the generated document the constraints validation enforces beyond the models."""
    for schema in doc.get("components", {}).get("schemas", {}).values():
        _tighten(schema)
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            if not _takes_if_match(operation.get("x-command")):
                # A command that creates a record or spans many has no version to match (400).
                operation["parameters"] = [p for p in operation.get("parameters", []) if p.get("name") != "If-Match"]
            for parameter in operation.get("parameters", []):
                name = parameter.get("name")
                _tighten(parameter.get("schema"), name)
                schema = parameter.get("schema") or {}
                if parameter.get("in") in ("query", "path"):  # a NUL byte in the URL is refused first of all
                    for branch in schema.get("anyOf", [schema]):
                        if branch.get("type") == "string" and not {"pattern", "enum", "format"} & set(branch):
                            branch["pattern"] = "^[^\\x00]*$"
                header = {"Idempotency-Key": _IDEMPOTENCY_KEY, "If-Match": _IF_MATCH}.get(name or "")
                if header and parameter.get("in") == "header":
                    # A header is text or absent: the "null" branch would be sent as the text "null".
                    described = {k: v for k, v in parameter["schema"].items() if k in ("title", "description")}
                    parameter["schema"] = {"type": "string", "pattern": header, **described}
            body = operation.get("requestBody", {}).get("content", {})
            for media in body.values():
                _tighten(media.get("schema"))
    return doc
