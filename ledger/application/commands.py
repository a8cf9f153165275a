"""The commands the ledger accepts: one schema each, shared by the API, the import file and the CLI.

A command is a request in the imperative (`place_order`); the events it causes are facts in the
past tense (`OrderPlaced`). These schemas check shape and types only (an integer of øre, an ISO
date, no unknown fields); the business rules live in the domain and the handlers.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StringConstraints

# No NUL characters: PostgreSQL cannot store them in text, and they mean nothing in a ledger.
_CLEAN = r"^[^\x00]*$"
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_CLEAN)]
ShortId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=_CLEAN)]
Note = Annotated[str, StringConstraints(max_length=2000, pattern=_CLEAN)]


def _plausible_day(d: date) -> date:
    # Far dates are typos, and they overflow date arithmetic (a year 9999 order runs off the calendar).
    if not date(1900, 1, 1) <= d <= date(2199, 12, 31):
        raise ValueError("date must lie between 1900-01-01 and 2199-12-31")
    return d


def _plausible_instant(t: datetime) -> datetime:
    _plausible_day(t.date())
    return t


Day = Annotated[date, AfterValidator(_plausible_day)]
Instant = Annotated[datetime, AfterValidator(_plausible_instant)]
Municipality = StrictInt | Annotated[str, StringConstraints(min_length=1, max_length=40)]
Ore = StrictInt
Minutes = StrictInt


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Prices(Command):
    weekday_day: Ore
    evening: Ore
    weekend: Ore


class CostBasis(Command):
    wage: Ore
    overhead: Ore
    transport: Ore
    capital: Ore


class CancellationTerms(Command):
    notice_hours: StrictInt = 24
    fee_ore: Ore = 0


class Amount(Command):
    """Minutes per week, or visits per period (days) with minutes per visit."""

    minutes_per_week: Minutes | None = None
    visits: StrictInt | None = None
    period_days: StrictInt | None = None
    minutes_per_visit: Minutes | None = None


class Identity(Command):
    """Personal data: goes to the erasable identity store, never into an event."""

    cpr: Annotated[str, StringConstraints(pattern=r"^\d{6}-?\d{4}$")]
    name: Text


# -- schemes -----------------------------------------------------------------------------------
class EstablishScheme(Command):
    municipality: Municipality
    name: Text
    window_start: Day
    window_end: Day
    sections: list[Literal["83", "83a", "85", "107", "108"]] = Field(min_length=1)
    minimum_minutes: Minutes
    increment_minutes: Minutes
    requires_municipal_provider: StrictBool = True


class OpenSchemeWindow(Command):
    municipality: Municipality
    window_start: Day
    window_end: Day


class ChangeSchemeWindow(Command):
    municipality: Municipality
    window_start: Day
    window_end: Day


class ChangeSchemeRules(Command):
    municipality: Municipality
    effective: Day
    sections: list[Literal["83", "83a", "85", "107", "108"]] = Field(min_length=1)
    minimum_minutes: Minutes
    increment_minutes: Minutes
    requires_municipal_provider: StrictBool = True


# -- citizens and grants -----------------------------------------------------------------------
class RegisterCitizen(Command):
    citizen_id: UUID | None = None
    municipality: Municipality
    effective: Day
    residence: Literal["own_home", "nursing_home", "residential_care"]
    provider: Annotated[str, StringConstraints(max_length=90)] = "municipal"
    identity: Identity | None = None


class ChooseProvider(Command):
    citizen_id: UUID
    effective: Day
    provider: Annotated[str, StringConstraints(max_length=90)]


class ChangeResidence(Command):
    citizen_id: UUID
    effective: Day
    residence: Literal["own_home", "nursing_home", "residential_care"]


class EraseIdentity(Command):
    citizen_id: UUID


class AwardGrant(Command):
    citizen_id: UUID
    grant_id: ShortId | None = None
    fsiii: Annotated[str, StringConstraints(max_length=20)]
    section: Literal["83", "83a", "85", "107", "108"]
    amount: Amount
    valid_from: Day
    valid_to: Day | None = None


class ReassessGrant(Command):
    citizen_id: UUID
    grant_id: ShortId
    effective: Day
    amount: Amount


class CorrectGrant(Command):
    citizen_id: UUID
    grant_id: ShortId
    effective: Day
    amount: Amount
    corrects: Annotated[str, StringConstraints(min_length=1, max_length=80)]


class EndGrant(Command):
    citizen_id: UUID
    grant_id: ShortId
    last_day: Day


class GrantKlippekort(Command):
    citizen_id: UUID
    minutes_per_week: Minutes
    valid_from: Day
    valid_to: Day | None = None


class EndKlippekort(Command):
    citizen_id: UUID
    last_day: Day


# -- catalogue ---------------------------------------------------------------------------------
class AddItem(Command):
    municipality: Municipality
    item_id: ShortId
    name: Text
    unit: Literal["hour", "visit", "day"]
    fsiii: Annotated[str, StringConstraints(max_length=20)]
    vat_class: Literal["exempt", "standard"]
    prices: Prices
    cost_basis: CostBasis
    effective: Day
    cancellation: CancellationTerms | None = None


class AddPackage(Command):
    municipality: Municipality
    package_id: ShortId
    name: Text
    items: list[ShortId] = Field(min_length=1, max_length=50)
    fsiii: Annotated[str, StringConstraints(max_length=20)]
    vat_class: Literal["exempt", "standard"]
    prices: Prices
    cost_basis: CostBasis
    effective: Day
    cancellation: CancellationTerms | None = None


class ChangePrice(Command):
    municipality: Municipality
    offer_id: ShortId
    effective: Day
    vat_class: Literal["exempt", "standard"]
    prices: Prices
    cost_basis: CostBasis


class CorrectPriceVersion(Command):
    """Replace the price version in force from `effective` (its own date) with these figures."""

    municipality: Municipality
    offer_id: ShortId
    effective: Day
    vat_class: Literal["exempt", "standard"]
    prices: Prices
    cost_basis: CostBasis
    reason: Text


class RetireOffer(Command):
    municipality: Municipality
    offer_id: ShortId
    effective: Day


# -- orders and deliveries ---------------------------------------------------------------------
class PlaceOrder(Command):
    order_id: UUID | None = None
    citizen_id: UUID
    offer_id: ShortId
    kind: Literal["one_off", "recurring"]
    start: Day
    end: Day | None = None
    every_weeks: StrictInt | None = None
    minutes: Minutes | None = None
    band: Literal["weekday_day", "evening", "weekend"] = "weekday_day"
    start_time: Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] | None = None


class ChangeOrder(Command):
    order_id: UUID
    effective: Day
    every_weeks: StrictInt | None = None
    end: Day | None = None
    minutes: Minutes | None = None
    start_time: Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] | None = None


class CancelOrder(Command):
    order_id: UUID
    effective: Day
    notified_at: Instant | None = None
    reason: Text = "citizen_request"


class RecordDelivery(Command):
    delivery_id: UUID | None = None
    order_id: UUID
    date: Day
    band: Literal["weekday_day", "evening", "weekend"]
    minutes: Minutes
    units: StrictInt = 1
    staff_id: ShortId
    after_granted_visit: StrictBool = False
    klippekort: StrictBool = False
    note: Note | None = None


class RecordMissedVisit(Command):
    delivery_id: UUID | None = None
    order_id: UUID
    date: Day
    reason: Literal["citizen_absent", "citizen_cancelled", "staff_unavailable", "hospitalised", "other"]
    note: Note | None = None


class WithdrawDelivery(Command):
    delivery_id: UUID
    effective: Day
    reason: Text


# -- money -------------------------------------------------------------------------------------
class ReceivePayment(Command):
    payment_id: ShortId | None = None
    citizen_id: UUID
    amount: Ore
    date: Day
    method: Literal["digital_post", "direct_debit", "bank_transfer", "card", "cash"]
    reference: ShortId | None = None


class ReversePayment(Command):
    citizen_id: UUID
    payment_id: ShortId
    date: Day
    reason: Text


# -- surveys (ledger/domain/survey.py) ------------------------------------------------------------
class RecordSurveyResponse(Command):
    citizen_id: UUID
    round_id: ShortId
    answered_on: Day
    answers: dict[str, StrictInt | None]


class RunInvoices(Command):
    municipality: Municipality
    month: Annotated[str, StringConstraints(pattern=r"^(19|20|21)\d{2}-(0[1-9]|1[0-2])$")]  # 1900-2199, as dates
    run_date: Day | None = None


class SetReferenceRate(Command):
    """The central bank's reference rate from `effective` (1 January, 1 July), in basis points."""

    municipality: Municipality
    effective: Day
    rate_bp: StrictInt


class IssueReminders(Command):
    municipality: Municipality
    date: Day


COMMANDS: dict[str, type[Command]] = {
    "establish_scheme": EstablishScheme,
    "open_scheme_window": OpenSchemeWindow,
    "change_scheme_window": ChangeSchemeWindow,
    "change_scheme_rules": ChangeSchemeRules,
    "register_citizen": RegisterCitizen,
    "choose_provider": ChooseProvider,
    "change_residence": ChangeResidence,
    "erase_identity": EraseIdentity,
    "award_grant": AwardGrant,
    "reassess_grant": ReassessGrant,
    "correct_grant": CorrectGrant,
    "end_grant": EndGrant,
    "grant_klippekort": GrantKlippekort,
    "end_klippekort": EndKlippekort,
    "add_item": AddItem,
    "add_package": AddPackage,
    "change_price": ChangePrice,
    "correct_price_version": CorrectPriceVersion,
    "retire_offer": RetireOffer,
    "place_order": PlaceOrder,
    "change_order": ChangeOrder,
    "cancel_order": CancelOrder,
    "record_delivery": RecordDelivery,
    "record_missed_visit": RecordMissedVisit,
    "cancel_delivery": WithdrawDelivery,
    "dispute_delivery": WithdrawDelivery,
    "receive_payment": ReceivePayment,
    "reverse_payment": ReversePayment,
    "run_invoices": RunInvoices,
    "issue_reminders": IssueReminders,
    "set_reference_rate": SetReferenceRate,
    "record_survey_response": RecordSurveyResponse,
}

# Which roles may give which commands (the API enforces it; the import runs as administrator).
ROLE_COMMANDS: dict[str, frozenset[str]] = {
    "assessor": frozenset({"register_citizen", "choose_provider", "change_residence", "award_grant", "reassess_grant",
                           "correct_grant", "end_grant", "grant_klippekort", "end_klippekort", "place_order",
                           "change_order", "cancel_order", "record_survey_response"}),
    "catalogue_manager": frozenset({"establish_scheme", "open_scheme_window", "change_scheme_window",
                                    "change_scheme_rules", "add_item", "add_package", "change_price", "correct_price_version",
                                    "retire_offer"}),
    "provider_staff": frozenset({"record_delivery", "record_missed_visit", "place_order", "change_order",
                                 "cancel_order"}),
    "billing_clerk": frozenset({"receive_payment", "reverse_payment", "run_invoices", "issue_reminders",
                                "set_reference_rate",
                                "cancel_delivery", "dispute_delivery"}),
    "auditor": frozenset(),
    "evaluator": frozenset(),
    "administrator": frozenset(COMMANDS) | {"erase_identity"},
}


def parse(command_type: str, payload: Any) -> Command:
    """Validate a payload against its command's schema (raises pydantic.ValidationError)."""
    from ledger.domain.errors import InvalidInput

    model = COMMANDS.get(command_type)
    if model is None:
        raise InvalidInput(f"unknown command type {command_type!r}; known: {', '.join(sorted(COMMANDS))}",
                           field="type")
    return model.model_validate(payload)
