"""Which municipality a command or a read concerns, and which aggregate its version refers to.

A record's municipality never changes after its first event, so it is read once from that event
(one indexed row) and cached for the life of the process. Every command and every read is checked
against the caller's municipalities before the application sees it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from ledger.domain.account import account_id
from ledger.domain.assessment import assessment_id
from ledger.domain.catalogue import catalogue_id
from ledger.domain.errors import InvalidInput, NotFound
from ledger.domain.klippekort import klippekort_id
from ledger.domain.municipalities import municipality_code
from ledger.domain.scheme import scheme_id
from ledger.store.decoding import aggregate_name, decode


@dataclass(frozen=True)
class Record:
    """What the first event of an aggregate says about it."""

    id: UUID
    kind: str  # the aggregate class: Citizen, Order, Delivery, Account, ...
    municipality: int
    citizen_id: str | None  # the citizen a record belongs to, if any


# The field of a command whose record decides the municipality, in order of preference (a new
# order names its citizen; a new delivery names its order).
_OWNER_FIELDS = (("citizen_id", "Citizen", "citizen"), ("order_id", "Order", "order"),
                 ("delivery_id", "Delivery", "delivery"))
# Commands that create the record named by one of those fields (so that field cannot decide).
_CREATES = {"register_citizen": "citizen_id", "place_order": "order_id", "record_delivery": "delivery_id",
            "record_missed_visit": "delivery_id"}


class Records:
    def __init__(self, ledger: Any, max_cached: int = 200_000) -> None:
        self.ledger = ledger
        self.max_cached = max_cached
        self._cache: dict[UUID, Record] = {}
        self._lock = threading.Lock()

    def find(self, aggregate_id: UUID) -> Record | None:
        found = self._cache.get(aggregate_id)
        if found is not None:
            return found
        events = self.ledger.recorder.select_events(aggregate_id, limit=1)
        if not events:
            return None
        first = events[0]
        event = decode(first)  # the typed first event, upcast like every reader's
        kind = aggregate_name(first.topic)
        citizen = str(aggregate_id) if kind == "Citizen" else getattr(event, "citizen_id", None)
        record = Record(aggregate_id, kind, int(event.municipality), citizen)  # type: ignore[attr-defined]
        with self._lock:
            if len(self._cache) >= self.max_cached:
                self._cache.clear()  # crude but bounded; refilling costs one row per record
            self._cache[aggregate_id] = record
        return record

    def get(self, aggregate_id: UUID, kind: str, what: str) -> Record:
        """The record, which must be of this kind (an order id never opens a citizen's account)."""
        record = self.find(aggregate_id)
        if record is None or record.kind != kind:
            raise NotFound(f"no {what} {aggregate_id}", field=f"{what}_id")
        return record

    def municipality_of(self, command_type: str, payload: dict[str, Any]) -> int:
        """The municipality a command acts in (raises NotFound/InvalidInput for unknown ids/codes)."""
        if "municipality" in payload:
            return municipality_code(payload["municipality"])
        skip = _CREATES.get(command_type)
        for field, kind, what in _OWNER_FIELDS:
            value = payload.get(field)
            if value is not None and field != skip:
                return self.get(UUID(str(value)), kind, what).municipality
        raise AssertionError(f"{command_type} names no municipality, citizen, order or delivery")


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def primary_before(command_type: str, payload: dict[str, Any]) -> UUID | None:
    """The existing aggregate a command changes, for `If-Match`; None for commands that create a
    record or span many (they have no single version to compare)."""
    p = payload
    if command_type in ("open_scheme_window", "change_scheme_window", "change_scheme_rules"):
        return scheme_id(municipality_code(p["municipality"]))
    if command_type in ("change_price", "correct_price_version", "retire_offer"):
        return catalogue_id(municipality_code(p["municipality"]))
    if command_type in ("choose_provider", "change_residence", "erase_identity"):
        return _uuid(p["citizen_id"])
    if command_type in ("reassess_grant", "correct_grant", "end_grant"):
        return assessment_id(_uuid(p["citizen_id"]))
    if command_type == "end_klippekort":
        return klippekort_id(_uuid(p["citizen_id"]))
    if command_type in ("change_order", "cancel_order"):
        return _uuid(p["order_id"])
    if command_type in ("cancel_delivery", "dispute_delivery"):
        return _uuid(p["delivery_id"])
    if command_type == "reverse_payment":
        return account_id(_uuid(p["citizen_id"]))
    return None


def primary_after(command_type: str, payload: dict[str, Any], result: dict[str, Any]) -> UUID | None:
    """The aggregate whose version a command's response reports as its ETag."""
    before = primary_before(command_type, payload)
    if before is not None:
        return before
    if command_type == "establish_scheme":
        return scheme_id(municipality_code(payload["municipality"]))
    if command_type in ("add_item", "add_package"):
        return catalogue_id(municipality_code(payload["municipality"]))
    if command_type == "register_citizen":
        return _uuid(result["citizen_id"])
    if command_type == "award_grant":
        return assessment_id(_uuid(payload["citizen_id"]))
    if command_type == "grant_klippekort":
        return klippekort_id(_uuid(payload["citizen_id"]))
    if command_type == "place_order":
        return _uuid(result["order_id"])
    if command_type in ("record_delivery", "record_missed_visit"):
        return _uuid(result["delivery_id"])
    if command_type == "receive_payment":
        return account_id(_uuid(payload["citizen_id"]))
    if command_type == "record_survey_response":
        from ledger.domain.survey import survey_response_id

        return survey_response_id(payload["round_id"], _uuid(payload["citizen_id"]))
    if command_type == "set_reference_rate":
        from ledger.domain.interest import rates_id

        return rates_id(municipality_code(payload["municipality"]))
    return None  # run_invoices, issue_reminders: many records


def code_of(value: object) -> int:
    """`municipality_code` for caller-given values: text of digits that are not ASCII digits ("³", "٣")
    is refused here, because the domain's lookup would take it for a number and fail."""
    if isinstance(value, str) and value.strip().isdigit() and not value.strip().isascii():
        raise InvalidInput(f"unknown municipality {value!r}: give the three-digit code (e.g. 657) or the name",
                           field="municipality")
    return municipality_code(value)
