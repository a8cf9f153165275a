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
