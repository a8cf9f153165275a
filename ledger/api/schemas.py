"""Response schemas of the API (request bodies are the command schemas, see bodies.py).

Kept apart from the domain: these say what goes over the wire, nothing more.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

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


# -- every read: the log position it reflects (docs/adr/0020-read-shapes-and-one-cut.md) ------
# Two shapes, and every read answer is one of them:
#   a listing  {municipality, log_position, <what it holds>: [row, ...]} (or one object, for one
#              invoice; a report holds several named sections), read from the projections;
#   a document {..., version?, log_position}: one record from the store, or one report whose
#              fields are its own (the timeline). Event references are whole: "<aggregate id>:<version>".

POSITION = ("the log position this answer reflects: exactly the log up to here, no more and no less; "
            "pass it as `at_position` to another read to have both answers of the same cut")


class Read(BaseModel):
    """What every read answer carries."""

    log_position: int = Field(description=POSITION)


class Listing(Read):
    """A projection read for one municipality; the list (or object) is named after what it holds."""

    municipality: int


class StoredEvent(BaseModel):
    """One stored event as recorded: the common facts, then the event's own fields (those of its
    command, docs/commands.md; they differ by event, so they are not listed here)."""

    model_config = ConfigDict(extra="allow")

    ref: str = Field(description="the event's reference, '<aggregate id>:<version>', as provenance names it")
    version: int
    event: str = Field(description="the event's name, a fact in the past tense, e.g. OrderPlaced")
    timestamp: str = Field(description="when it was recorded (UTC)")
    effective: str = Field(description="when it holds in the world (ISO date)")
    municipality: int
    actor: str
    role: str
    command_id: str


class History(Read):
    aggregate_id: str
    kind: str
    version: int = Field(description="the record's version at `log_position` (also the ETag)")
    ref: str | None = Field(description="the last event's reference '<aggregate id>:<version>' (null: none)")
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


class CitizenView(Read):
    citizen_id: str
    municipality: int
    registered_on: str
    version: int
    ref: str = Field(description="the citizen record's last event, '<citizen id>:<version>'")
    erased: bool
    providers: list[DatedValue]
    residences: list[DatedValue]
    grants: list[Grant]
    identity: Identity | None = Field(None, description="CPR number and name; only for roles that must address "
                                                         "the citizen, and absent once erased. Every read is logged.")


class AsOfGrant(BaseModel):
    grant_id: str
    fsiii: str
    section: str
    weekly_minutes: int | None
    ref: str


class Quote(BaseModel):
    price_ore: int
    vat_class: str
    unit: str
    price_ref: str


class AsOfOrder(BaseModel):
    order_id: str
    offer_id: str
    kind: str
    start: str
    end: str | None
    every_weeks: int | None
    minutes: int | None
    band: str | None
    cancelled_from: str | None
    status: str
    quoted: Quote | None


class AsOfDelivery(BaseModel):
    delivery_id: str
    order_id: str
    date: str
    delivered: bool
    minutes: int | None
    band: str | None
    klippekort: bool | None
    after_granted_visit: bool
    withdrawn: str | None


class CitizenAsOf(Read):
    citizen_id: str
    municipality: int
    as_of: str
    known_at: str | None
    provider: str | None
    residence: str | None
    grants: list[AsOfGrant]
    orders: list[AsOfOrder]
    deliveries: list[AsOfDelivery]
    invoices: list[str]
    balance: int = Field(description="øre; positive: the citizen owes")
    versions: dict[str, int] = Field(description="the citizen's and the assessment's versions as known at K")


class Health(BaseModel):
    status: str


class ProjectionStatus(BaseModel):
    name: str
    position: int
    head: int
    lag: int
    version: int | None
    code_version: int
    needs_rebuild: bool


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
    """The access log is not the event log: its pages carry no log position."""

    entries: list[AccessEntry]
    next_after_id: int | None = Field(description="pass as after_id for the next page; null at the end")


# -- billing ------------------------------------------------------------------------------------

class InvoiceRow(BaseModel):
    number: str
    municipality: int
    citizen_id: str
    month: str
    issued_on: str
    due_on: str
    line_count: int
    net: int
    vat: int
    gross: int
    fees: int
    credited: int
    charged: int
    open_amount: int
    reminder_count: int
    last_reminder_on: str | None
    chain_position: int
    chain_hash: str
    event_ref: str


class InvoiceLine(BaseModel):
    line_no: int
    kind: str
    billing_key: str
    delivery_id: str | None
    order_id: str | None
    offer_id: str | None
    offer_name: str | None
    service_date: str | None
    band: str | None
    unit: str | None
    minutes: int | None
    billed_minutes: int | None
    quantity: int | None
    unit_price: int | None
    vat_class: str
    net: int
    vat: int
    gross: int
    credit_note: str | None
    provenance: dict[str, Any] = Field(description="the events the line was computed from: order, delivery, "
                                                   "price, grant, cancellation -> '<aggregate id>:<version>'")


class CreditNoteLine(BaseModel):
    line_no: int
    invoice_line_no: int
    billing_key: str
    offer_id: str | None
    vat_class: str
    net: int
    vat: int
    gross: int
    caused_by: list[str] | None = Field(None, description="a re-rating's causes (event refs); absent for a withdrawal")
    why: str | None = None


class CreditNoteRef(BaseModel):
    number: str
    issued_on: str
    net: int
    vat: int
    gross: int
    reason: str | None
    event_ref: str
    lines: list[CreditNoteLine]


class CreditNote(CreditNoteRef):
    municipality: int
    citizen_id: str
    invoice_number: str
    line_count: int


class DebitNoteLine(BaseModel):
    line_no: int
    invoice_number: str
    invoice_line_no: int
    billing_key: str
    service_date: str | None
    offer_id: str | None
    vat_class: str
    net: int
    vat: int
    gross: int
    caused_by: list[str]
    why: str | None
    prov_price: str | None


class DebitNoteRef(BaseModel):
    number: str
    payment_id: str = Field(description="the debit note's own FI +71 payment id, derived from its number")
    issued_on: str
    due_on: str
    net: int
    vat: int
    gross: int
    open_amount: int
    reason: str | None
    event_ref: str
    lines: list[DebitNoteLine]


class DebitNote(DebitNoteRef):
    municipality: int
    citizen_id: str
    invoice_number: str
    line_count: int


class ReminderRef(BaseModel):
    sequence: int
    issued_on: str
    fee: int
    event_ref: str


class Reminder(ReminderRef):
    invoice_number: str
    citizen_id: str


class AllocationRef(BaseModel):
    payment_id: str
    amount: int


class Invoice(InvoiceRow):
    payment_id: str = Field(description="the FI +71 payment id, derived from the number")
    lines: list[InvoiceLine]
    credit_notes: list[CreditNoteRef]
    debit_notes: list[DebitNoteRef]
    reminders: list[ReminderRef]
    allocations: list[AllocationRef]


class Allocation(BaseModel):
    invoice_number: str
    amount: int


class Payment(BaseModel):
    citizen_id: str
    payment_id: str
    amount: int
    paid_on: str
    method: str | None
    reference: str | None
    reversed: bool
    reversed_on: str | None
    reversal_reason: str | None
    allocated: int
    refunded: int = Field(description="of what it left over as credit, how much was refunded (refunds pay out the "
                                      "oldest credit first)")
    unallocated: int = Field(description="amount − allocated − refunded, never negative; 0 once reversed")
    event_ref: str
    allocations: list[Allocation]


class Balance(BaseModel):
    citizen_id: str
    invoiced: int
    fees: int
    credited: int
    paid: int
    refunded: int = Field(description="credit paid out to the citizen (refund_credit)")
    owed: int = Field(description="what is open of invoices, debit notes and claims on the citizen")
    credit: int
    balance: int
    open_invoices: int


class Refund(BaseModel):
    number: str = Field(description="of the municipality's gapless refund series, 657-R00001")
    citizen_id: str
    amount: int
    refunded_on: str
    method: str
    reference: str | None
    reason: str
    event_ref: str


class Claim(BaseModel):
    number: str = Field(description="of the municipality's gapless claim series, 657-B00001")
    citizen_id: str
    payment_id: str = Field(description="the reversed payment")
    refunds: list[str] = Field(description="the refunds that had paid out its money")
    issued_on: str
    due_on: str
    amount: int
    fees: int
    charged: int
    open_amount: int
    reminder_count: int
    last_reminder_on: str | None
    reason: str
    event_ref: str


class OpenItem(BaseModel):
    number: str
    kind: Literal["invoice", "debit_note", "claim"]
    citizen_id: str
    month: str | None = Field(description="the month billed (a debit note: its invoice's); None for a claim")
    issued_on: str
    due_on: str
    gross: int
    fees: int
    credited: int
    charged: int
    open_amount: int
    reminder_count: int


class AgeingRow(BaseModel):
    citizen_id: str
    not_due: int
    days_1_30: int
    days_31_60: int
    days_61_90: int
    days_over_90: int
    open: int
    credit: int
    balance: int


class RevenueRow(BaseModel):
    month: str
    offer_id: str
    vat_class: str
    lines: int
    invoiced_net: int
    invoiced_vat: int
    invoiced_gross: int
    credited_net: int
    credited_vat: int
    credited_gross: int
    net: int
    vat: int
    gross: int


class UnbilledDelivery(BaseModel):
    delivery_id: str
    citizen_id: str
    order_id: str
    offer_id: str
    service_date: str
    band: str | None
    minutes: int | None
    units: int | None
    event_ref: str


class BillingDelivery(UnbilledDelivery):
    klippekort: bool
    status: str
    withdrawn_on: str | None
    billable: bool
    invoice_number: str | None
    line_no: int | None
    credit_note: str | None


class InvoiceRun(BaseModel):
    seq: int
    month: str
    run_date: str
    invoice_count: int
    first_number: str | None
    last_number: str | None
    chain_position: int
    chain_hash: str
    scanned_to: int | None
    carried: int | None


class Difference(BaseModel):
    billing_key: str
    citizen_id: str
    date: str
    invoice_number: str | None
    invoice_line_no: int | None
    charged: int
    owed: int
    difference: int
    why: str
    caused_by: list[str]


class ReconciledMonth(BaseModel):
    month: str
    invoiced: int
    owed: int
    difference: int
    differences: list[Difference]
    barred: bool


class InvoiceList(Listing):
    invoices: list[InvoiceRow]


class InvoiceDocument(Listing):
    invoice: Invoice


class BalanceList(Listing):
    balances: list[Balance]


class OpenItemList(Listing):
    open_items: list[OpenItem]


class AgeingList(Listing):
    as_of: str
    ageing: list[AgeingRow]


class PaymentList(Listing):
    payments: list[Payment]


class RefundList(Listing):
    refunds: list[Refund]


class ClaimList(Listing):
    claims: list[Claim]


class CreditNoteList(Listing):
    credit_notes: list[CreditNote]


class DebitNoteList(Listing):
    debit_notes: list[DebitNote]


class ReminderList(Listing):
    reminders: list[Reminder]


class RevenueList(Listing):
    revenue: list[RevenueRow]


class BillingDeliveryList(Listing):
    deliveries: list[BillingDelivery]


class UnbilledList(Listing):
    unbilled: list[UnbilledDelivery]


class RunList(Listing):
    runs: list[InvoiceRun]


class Reconciliation(Listing):
    through: str | None = Field(description="the last month invoiced (later months are not compared)")
    agree: bool
    months: list[ReconciledMonth]
    barred_before: str | None


# -- timeline -----------------------------------------------------------------------------------

class Prices(BaseModel):
    weekday_day: int | None
    evening: int | None
    weekend: int | None


class Revenue(BaseModel):
    net: int
    vat: int
    gross: int


# A month's money as MonthFlows and SeriesMonth both state it (one description for both).
OwedRevenue = Annotated[Revenue, Field(description="what is owed for the month's deliveries as known at K (øre): "
                                                   "the billable ones the citizen was eligible for on their date, "
                                                   "at the price then")]
IneligibleDeliveries = Annotated[int, Field(description="billable deliveries the citizen was not eligible for on "
                                                        "their date as known at K (after a grant's end, say): not owed")]
IneligibleAmount = Annotated[Revenue, Field(description="what those would bill were they owed (øre); revenue + "
                                                        "ineligible_amount is every billable delivery at its price")]


class SchemeRules(BaseModel):
    sections: list[str]
    minimum_minutes: int
    increment_minutes: int
    requires_municipal_provider: bool


class SchemeOnDate(BaseModel):
    name: str | None
    windows: list[list[str]]
    window: list[str] | None
    rules: SchemeRules | None


class OfferVersion(BaseModel):
    offer_id: str
    kind: str
    name: str
    unit: str | None
    fsiii: str | None
    vat_class: str
    prices: Prices
    costs: Prices = Field(description="each band's full cost in øre per unit (the basis its price was set from); "
                                      "null where the version does not state it")
    valid_from: str
    valid_to: str | None
    retired_from: str | None
    price_ref: str
    recorded: str | None = Field(description="when this version was recorded")


class GroupMinutes(BaseModel):
    citizens: int
    weekly_minutes: int


class GrantedMinutes(BaseModel):
    fsiii: str
    buyers: GroupMinutes
    non_buyers: GroupMinutes


class MonthFlows(BaseModel):
    orders_placed: int
    deliveries: int
    missed_visits: int
    withdrawn: int
    minutes_delivered: int
    klippekort_minutes: int
    unpriced_deliveries: int
    revenue: OwedRevenue
    ineligible_deliveries: IneligibleDeliveries
    ineligible_amount: IneligibleAmount


class SurveyGroup(BaseModel):
    """One group's answers to one measure of one survey round (scores 1-5; the mean to one decimal)."""

    responses: int
    answered: int
    scores: list[int] = Field(description="how many answered 1, 2, 3, 4 and 5")
    mean_score: str | None = Field(description="the mean score to one decimal, exactly (None: no answers)")


class SurveyMeasure(BaseModel):
    round_id: str
    measure: str
    buyers: SurveyGroup
    non_buyers: SurveyGroup


class TimelineEntry(BaseModel):
    municipality: int
    name: str
    scheme: SchemeOnDate
    catalogue: list[OfferVersion]
    citizens_with_active_grants: int
    citizens_with_covered_grants: int
    buyers: int
    month: MonthFlows
    granted_minutes: list[GrantedMinutes]
    surveys: list[SurveyMeasure] = Field(description="survey answers on D as known at K, buyers vs non-buyers")


class TimelineTotals(BaseModel):
    municipalities: int
    in_window: int
    citizens_with_active_grants: int
    citizens_with_covered_grants: int
    buyers: int
    month: MonthFlows
    granted_minutes: list[GrantedMinutes]


class Timeline(Read):
    """The trial on D as known at K: one municipality, or the network (every one with a scheme)."""

    as_of: str
    known_at: str | None
    month: str
    municipalities: list[TimelineEntry]
    totals: TimelineTotals


class SeriesMonth(BaseModel):
    month: str
    on: str = Field(description="the day the month's stock figures are read on")
    buyers: int
    citizens_with_active_grants: int
    citizens_with_covered_grants: int
    granted_minutes: list[GrantedMinutes]
    orders_placed: int
    deliveries: int
    missed_visits: int
    withdrawn: int
    minutes_delivered: int
    klippekort_minutes: int
    unpriced_deliveries: int
    revenue: OwedRevenue
    ineligible_deliveries: IneligibleDeliveries
    ineligible_amount: IneligibleAmount


class Series(Listing):
    known_at: str | None
    windows: list[list[str]]
    months: list[SeriesMonth]


class CatalogueHistory(Listing):
    offers: list[OfferVersion]


# -- audit --------------------------------------------------------------------------------------

class SignalOrder(BaseModel):
    order_id: str
    offer_id: str
    start: str
    days_after_cut: int


class Substitution(BaseModel):
    citizen_id: str
    fsiii: str
    cut_on: str
    minutes_before: int | None
    minutes_after: int | None
    grant_refs: list[str]
    orders: list[SignalOrder]
    order_refs: list[str]


class Overlap(BaseModel):
    finding: str
    order_id: str
    citizen_id: str
    offer_id: str
    fsiii: str | None
    vat_class: str
    start: str
    order_ref: str
    grant_refs: list[str]


class Sold(BaseModel):
    lines: int
    net: int
    vat: int
    gross: int
    credited_lines: int
    credited_net: int
    credited_gross: int
    net_after_credits: int
    gross_after_credits: int


class FullCost(BaseModel):
    price_ref: str
    offer_id: str
    name: str | None
    fsiii: str | None
    vat_class: str | None
    status: str
    effective: str
    in_force_from: str | None
    in_force_to: str | None
    open_ended: bool
    days_in_force: int | None
    prices: Prices
    costs: Prices = Field(description="each band's full cost in øre per unit; null where the version does not "
                                      "state it (recorded before costs were kept per band)")
    cost_basis: dict[str, dict[str, int] | None]
    direction: str = Field(description="below, above or cost not stated")
    bands_below_cost: list[str]
    bands_above_cost: list[str]
    bands_cost_not_stated: list[str]
    excess_per_unit: int
    shortfall_per_unit: int
    retired_from: str | None
    replaced_by: str | None
    sold: Sold


class Ineligible(BaseModel):
    delivery_id: str
    citizen_id: str
    service_date: str | None
    offer_id: str | None
    invoice_number: str
    invoice_line_no: int
    credit_note: str
    credited_on: str
    credited_gross: int
    why: str
    caused_by: list[str]


class UninvoicedDelivery(BaseModel):
    delivery_id: str
    citizen_id: str
    order_id: str
    offer_id: str
    date: str
    minutes: int | None
    delivery_ref: str
    missed_by_run_for: str | None


class LineWithoutDelivery(BaseModel):
    invoice_number: str
    line_no: int
    citizen_id: str
    delivery_id: str | None
    order_id: str | None
    service_date: str | None
    net: int
    gross: int
    invoice_ref: str | None
    problem: str


class OrderNeverDelivered(BaseModel):
    order_id: str
    citizen_id: str
    offer_id: str
    kind: str
    start: str
    end: str | None
    cancelled_from: str | None
    missed_visits: int
    order_ref: str


class SameDayDelivery(BaseModel):
    delivery_id: str
    minutes: int
    klippekort: bool
    invoice_number: str | None = Field(description="the invoice that billed it, if any")
    delivery_ref: str


class SameDayDeliveries(BaseModel):
    """Two or more deliveries of one order on one date: billed (a citizen may get two visits), listed
    for a clerk to check they are not one visit recorded twice."""

    order_id: str
    date: str
    citizen_id: str
    offer_id: str
    deliveries: list[SameDayDelivery]


class Completeness(BaseModel):
    uninvoiced_deliveries: list[UninvoicedDelivery]
    lines_without_delivery: list[LineWithoutDelivery]
    orders_never_delivered: list[OrderNeverDelivered]
    same_day_deliveries: list[SameDayDeliveries]


class GroupMean(GroupMinutes):
    mean_weekly_minutes: float | None


class EvaluationCell(BaseModel):
    month: str
    on: str
    start_band: str
    buyers: GroupMean
    non_buyers: GroupMean


class Audit(Listing):
    """The sections asked for (all by default); a section not asked for is absent."""

    model_config = ConfigDict(populate_by_name=True)

    date_from: str | None = Field(alias="from")
    date_to: str | None = Field(alias="to")
    substitution_window_days: int
    substitution: list[Substitution] | None = None
    overlap: list[Overlap] | None = None
    full_cost: list[FullCost] | None = None
    ineligible: list[Ineligible] | None = None
    completeness: Completeness | None = None
    evaluation: list[EvaluationCell] | None = None


# -- evaluation ---------------------------------------------------------------------------------

class EvaluationOffer(BaseModel):
    municipality: int
    offer_id: str
    name: str | None
    kind: str
    unit: str | None
    fsiii: str | None
    vat_class: str | None
    valid_from: str
    valid_to: str | None
    days_in_force: int | None
    price_weekday_day: int | None
    price_evening: int | None
    price_weekend: int | None
    cost_weekday_day: int | None = Field(description="the band's full cost per unit; null: not stated")
    cost_evening: int | None
    cost_weekend: int | None
    below_cost: int = Field(description="1 when a band's price of the version was below that band's full cost, else 0")
    retired_from: str | None


class EvaluationSales(BaseModel):
    municipality: int
    month: str
    offer_id: str
    orders_started: int
    buyers: int
    deliveries: int
    delivered_minutes: int
    invoiced_lines: int
    invoiced_net: int
    invoiced_vat: int
    invoiced_gross: int
    credited_gross: int


class EvaluationBuyer(BaseModel):
    municipality: int
    buyer_no: int
    start_band: str | None
    start_weekly_minutes: int | None
    first_grant_on: str | None
    first_order_on: str
    orders: int
    offers: str = Field(description="the offers bought, ';'-separated")
    fsiii_codes: str
    deliveries: int
    delivered_minutes: int
    invoiced_gross: int


class EvaluationGranted(BaseModel):
    municipality: int
    month: str
    on: str
    fsiii: str
    start_band: str
    group: str
    citizens: int
    weekly_minutes: int
    mean_weekly_minutes: str | None = Field(description="one decimal, as text (as in the export's CSV)")


class EvaluationOffers(Listing):
    offers: list[EvaluationOffer]


class EvaluationSalesList(Listing):
    sales: list[EvaluationSales]


class EvaluationBuyers(Listing):
    buyers: list[EvaluationBuyer]


class EvaluationGrantedList(Listing):
    granted_services: list[EvaluationGranted]


# -- the OpenAPI document states what validation enforces ------------------------------------
# Checks made past pydantic's own (ledger.api.screening, the municipality lookup, the header
# parsers in ledger.api.commanding) are written into the served document here, in one place, so a
# request the document calls valid is never refused as malformed (the schemathesis run checks it).

_DATE_PREFIX = "^(19|20|21)[0-9]{2}-"  # dates and instants lie in 1900-2199 (ledger.api.screening)
_IDEMPOTENCY_KEY = "^[!-~]{1,200}$"  # visible ASCII (ledger.api.commanding.IDEMPOTENCY_KEY)
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
