"""The commands the ledger accepts, each declared once, as a slice, in the module of its resource.

A command is a request in the imperative (`place_order`); the events it causes are facts in the
past tense (`OrderPlaced`). Each module here holds its resource's commands: the schema class (shape
and types only; the rules live in the domain and the handlers), its handler, and one `declare(...)`
that registers its `CommandSpec` in the registry keyed by the class (ADR 0010, ADR 0019):

    schemes.py  citizens.py (with grants and klippekort)  catalogue.py  orders.py  deliveries.py
    payments.py  billing.py (invoice runs, reminders, reference rates)  surveys.py

The shared value types live in `_base.py`, the spec and `declare` in `_spec.py`; both are
re-exported here, so `from ledger.application import commands as c; c.PlaceOrder` reads as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledger.application.commands._base import (Amount, CancellationTerms, Command, CostBasis, Day, Identity, Instant,
                                               Minutes, Municipality, Note, Ore, Prices, ShortId, Text)
from ledger.application.commands._spec import (REGISTRY, ROLES, CommandSpec, Handler, Result, Services, by_name,
                                               declare, spec_of)
from ledger.application.commands.billing import IssueReminders, RunInvoices, SetReferenceRate
from ledger.application.commands.catalogue import AddItem, AddPackage, ChangePrice, CorrectPriceVersion, RetireOffer
from ledger.application.commands.citizens import (AwardGrant, ChangeResidence, ChooseProvider, CorrectGrant, EndGrant,
                                                  EndKlippekort, EraseIdentity, GrantKlippekort, ReassessGrant,
                                                  RegisterCitizen)
from ledger.application.commands.deliveries import (CancelDelivery, DisputeDelivery, RecordDelivery, RecordMissedVisit,
                                                    WithdrawDelivery)
from ledger.application.commands.orders import CancelOrder, ChangeOrder, PlaceOrder
from ledger.application.commands.payments import ReceivePayment, RefundCredit, ReversePayment
from ledger.application.commands.schemes import ChangeSchemeRules, ChangeSchemeWindow, EstablishScheme, OpenSchemeWindow
from ledger.application.commands.surveys import RecordSurveyResponse

__all__ = [
    "REGISTRY", "ROLES", "AddItem", "AddPackage", "Amount", "AwardGrant", "CancelDelivery", "CancelOrder",
    "CancellationTerms", "ChangeOrder", "ChangePrice", "ChangeResidence", "ChangeSchemeRules", "ChangeSchemeWindow",
    "ChooseProvider", "Command", "CommandSpec", "CorrectGrant", "CorrectPriceVersion", "CostBasis", "Day",
    "DisputeDelivery", "EndGrant", "EndKlippekort", "EraseIdentity", "EstablishScheme", "GrantKlippekort", "Handler",
    "Identity", "Instant", "IssueReminders", "Minutes", "Municipality", "Note", "OpenSchemeWindow", "Ore",
    "PlaceOrder", "Prices", "ReassessGrant", "ReceivePayment", "RecordDelivery", "RecordMissedVisit",
    "RecordSurveyResponse", "RefundCredit", "RegisterCitizen", "Result", "RetireOffer", "ReversePayment", "RunInvoices", "Services",
    "SetReferenceRate", "ShortId", "Text", "WithdrawDelivery", "by_name", "declare", "lookup", "parse", "role_commands",
    "spec_of",
]


def lookup(command_type: str) -> CommandSpec[Any]:
    """The spec of a command named in a payload's `type` (InvalidInput for a name nobody declared)."""
    from ledger.domain.errors import InvalidInput

    spec = by_name().get(command_type)
    if spec is None:
        raise InvalidInput(f"unknown command type {command_type!r}; known: {', '.join(sorted(by_name()))}",
                           field="type")
    return spec


def parse(command_type: str, payload: Mapping[str, Any]) -> Command:
    """Validate a payload against its command's schema (raises pydantic.ValidationError)."""
    command: Command = lookup(command_type).parse(payload)
    return command


def role_commands() -> dict[str, frozenset[str]]:
    """role → the names of the commands it may give, derived from the specs (every role listed)."""
    return {role: frozenset(name for name, spec in by_name().items() if role in spec.roles) for role in ROLES}
