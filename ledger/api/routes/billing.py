"""Billing: the invoice and reminder runs (commands) and what the billing department reads, from
the billing projection (ledger.projections.billing_queries). Every read is in the access log."""

from __future__ import annotations

import io
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from ledger.application import commands as c
from ledger.api.commanding import Command, Run, declared
from ledger.api.deps import Caller, CallerDep, ServicesDep, caught_up, reader, AtPosition
from ledger.api.documents import served
from ledger.api.problems import ApiProblem
from ledger.api.reads import history, logged_read, etag, store_position
from ledger.api.routes import COMMAND_ERRORS, Day, Month, MonthQuery, MunicipalityPath, MunicipalityQuery, ShortIdPath
from ledger.api.schemas import (History, AgeingList, BalanceList, BillingDeliveryList, ClaimList, CreditNoteList, DebitNoteList, InvoiceDocument, InvoiceList, OpenItemList, PaymentList, Reconciliation, RefundList, ReminderList, RevenueList, RunList, UnbilledList)
from ledger.domain.errors import NotFound
from ledger.domain.document_numbers import municipality_of
from ledger.domain.invoice_series import series_id
from ledger.api.tenancy import code_of
from ledger.projections import billing_queries as bq

router = APIRouter(prefix="/billing", tags=["billing"], responses=COMMAND_ERRORS)
BillingReader = Annotated[Caller, Depends(reader("billing"))]
CitizenQuery = Annotated[UUID | None, Query(description="only this citizen")]
# Queries wait for `min_position` (read-your-writes) after the caller has been checked.
FRESH = [Depends(caught_up)]


@router.post("/runs", **declared(c.RunInvoices))
def run_invoices(run: Run[c.RunInvoices] = Command(c.RunInvoices)) -> Response:
    """Invoice a closed month in arrears: every billable delivery and late-cancellation fee not yet billed."""
    return run()


@router.post("/reminders", **declared(c.IssueReminders))
def issue_reminders(run: Run[c.IssueReminders] = Command(c.IssueReminders)) -> Response:
    """Remind every overdue invoice and debit note that may be reminded on the date (at most 3, 10 days apart)."""
    return run()


@router.post("/reference-rates", **declared(c.SetReferenceRate))
def set_reference_rate(run: Run[c.SetReferenceRate] = Command(c.SetReferenceRate)) -> Response:
    """The central bank's reference rate from a date; default interest is that + 8 % a year (renteloven § 5)."""
    return run()


@router.get("/series/{municipality}/events", response_model=History, dependencies=[Depends(reader("billing"))])
def series_events(municipality: MunicipalityPath, svc: ServicesDep, who: CallerDep, response: Response,
                  at_position: AtPosition = None) -> dict[str, Any]:
    """The municipality's invoice and credit-note numbering and its runs, as recorded."""
    return etag(response, history(svc, who, series_id(code_of(municipality)), "InvoiceSeries", "invoice series",
                                  "billing-runs", at_position))


@router.get("/invoices", response_model=InvoiceList, dependencies=FRESH)
def invoices(svc: ServicesDep, who: BillingReader, municipality: MunicipalityQuery = None, month: MonthQuery = None,
             citizen_id: CitizenQuery = None, at_position: AtPosition = None) -> dict[str, Any]:
    """Invoices (totals, no lines) in number order."""
    return logged_read(svc, who, "billing:invoices", municipality, citizen_id, lambda m: {
        "municipality": m, "invoices": bq.invoices(svc.ledger.db, m, month, _s(citizen_id))}, at_position=at_position)


@router.get("/invoices/{number}", response_model=InvoiceDocument, dependencies=FRESH)
def invoice(number: ShortIdPath, svc: ServicesDep, who: BillingReader, municipality: MunicipalityQuery = None,
            at_position: AtPosition = None) -> dict[str, Any]:
    """One invoice with its lines and their provenance, credit notes, reminders and payments. A number of
    another series (a debit note, credit note, refund or claim) is a 404 naming the route that serves it."""
    served(number, "invoice", letter=False, web=False)
    if municipality is None and municipality_of(number) is not None:
        municipality = str(municipality_of(number))  # invoice numbers start with the municipality code

    def one(m: int) -> dict[str, Any]:
        found = bq.invoice(svc.ledger.db, m, number)
        if found is None:
            raise NotFound(f"municipality {m} has no invoice {number}", field="number")
        return {"municipality": m, "invoice": found}

    return logged_read(svc, who, "billing:invoice", municipality, None, one, at_position=at_position)


@router.get("/balances", response_model=BalanceList, dependencies=FRESH)
def balances(svc: ServicesDep, who: BillingReader, municipality: MunicipalityQuery = None,
             citizen_id: CitizenQuery = None, at_position: AtPosition = None) -> dict[str, Any]:
    """Per citizen: invoiced, fees, credited, paid, owed, credit and balance (øre)."""
    return logged_read(svc, who, "billing:balances", municipality, citizen_id, lambda m: {
        "municipality": m, "balances": bq.balances(svc.ledger.db, m, _s(citizen_id))}, at_position=at_position)


@router.get("/open-items", response_model=OpenItemList, dependencies=FRESH)
def open_items(svc: ServicesDep, who: BillingReader, municipality: MunicipalityQuery = None,
               citizen_id: CitizenQuery = None, at_position: AtPosition = None) -> dict[str, Any]:
    """Invoices with something still owed, oldest due first."""
    return logged_read(svc, who, "billing:open-items", municipality, citizen_id, lambda m: {
        "municipality": m, "open_items": bq.open_items(svc.ledger.db, m, _s(citizen_id))}, at_position=at_position)


@router.get("/ageing", response_model=AgeingList, dependencies=FRESH)
def ageing(svc: ServicesDep, who: BillingReader, as_of: Annotated[Day, Query(description="ISO date")],
           municipality: MunicipalityQuery = None, at_position: AtPosition = None) -> dict[str, Any]:
    """Open amounts per citizen by days past due on `as_of` (not due, 1-30, 31-60, 61-90, over 90)."""
    return logged_read(svc, who, "billing:ageing", municipality, None, lambda m: {
        "municipality": m, "as_of": as_of.isoformat(), "ageing": bq.ageing(svc.ledger.db, m, as_of)},
        at_position=at_position)


@router.get("/payments", response_model=PaymentList, dependencies=FRESH)
def payments(svc: ServicesDep, who: BillingReader, municipality: MunicipalityQuery = None,
             citizen_id: CitizenQuery = None, at_position: AtPosition = None) -> dict[str, Any]:
    """Payments in date order, each with the invoices it was allocated to."""
    return logged_read(svc, who, "billing:payments", municipality, citizen_id, lambda m: {
        "municipality": m, "payments": bq.payments(svc.ledger.db, m, _s(citizen_id))}, at_position=at_position)


@router.get("/refunds", response_model=RefundList, dependencies=FRESH)
def refunds(svc: ServicesDep, who: BillingReader, municipality: MunicipalityQuery = None,
            citizen_id: CitizenQuery = None, at_position: AtPosition = None) -> dict[str, Any]:
    """Credit paid out to citizens (refund_credit), in the order of the gapless refund series."""
    return logged_read(svc, who, "billing:refunds", municipality, citizen_id, lambda m: {
        "municipality": m, "refunds": bq.refunds(svc.ledger.db, m, _s(citizen_id))}, at_position=at_position)


@router.get("/claims", response_model=ClaimList, dependencies=FRESH)
def claims(svc: ServicesDep, who: BillingReader, municipality: MunicipalityQuery = None,
           citizen_id: CitizenQuery = None, at_position: AtPosition = None) -> dict[str, Any]:
    """Claims on citizens: refunded money a reversed payment left uncovered, owed like an invoice, in the
    order of the gapless claim series."""
    return logged_read(svc, who, "billing:claims", municipality, citizen_id, lambda m: {
        "municipality": m, "claims": bq.claims(svc.ledger.db, m, _s(citizen_id))}, at_position=at_position)


@router.get("/credit-notes", response_model=CreditNoteList, dependencies=FRESH)
def credit_notes(svc: ServicesDep, who: BillingReader, municipality: MunicipalityQuery = None,
                 citizen_id: CitizenQuery = None,
                 invoice_number: Annotated[str | None, Query(max_length=64)] = None,
                 at_position: AtPosition = None) -> dict[str, Any]:
    """Credit notes with their lines, each naming the invoice line it credits."""
    return logged_read(svc, who, "billing:credit-notes", municipality, citizen_id, lambda m: {
        "municipality": m, "credit_notes": bq.credit_notes(svc.ledger.db, m, _s(citizen_id), invoice_number)},
        at_position=at_position)


@router.get("/reminders", response_model=ReminderList, dependencies=FRESH)
def reminders(svc: ServicesDep, who: BillingReader, municipality: MunicipalityQuery = None,
              citizen_id: CitizenQuery = None, at_position: AtPosition = None) -> dict[str, Any]:
    """Reminders issued, in date order."""
    return logged_read(svc, who, "billing:reminders", municipality, citizen_id, lambda m: {
        "municipality": m, "reminders": bq.reminders(svc.ledger.db, m, _s(citizen_id))}, at_position=at_position)


@router.get("/revenue", response_model=RevenueList, dependencies=FRESH)
def revenue(svc: ServicesDep, who: BillingReader, municipality: MunicipalityQuery = None,
            month: MonthQuery = None, at_position: AtPosition = None) -> dict[str, Any]:
    """Revenue per month, item and VAT class: invoiced, credited and net."""
    return logged_read(svc, who, "billing:revenue", municipality, None, lambda m: {
        "municipality": m, "revenue": bq.revenue(svc.ledger.db, m, month)}, at_position=at_position)


@router.get("/deliveries", response_model=BillingDeliveryList, dependencies=FRESH)
def deliveries(svc: ServicesDep, who: BillingReader, municipality: MunicipalityQuery = None,
               citizen_id: CitizenQuery = None, at_position: AtPosition = None) -> dict[str, Any]:
    """Every delivery and missed visit with its status and the invoice line that billed it."""
    return logged_read(svc, who, "billing:deliveries", municipality, citizen_id, lambda m: {
        "municipality": m, "deliveries": bq.deliveries(svc.ledger.db, m, _s(citizen_id))}, at_position=at_position)


@router.get("/unbilled", response_model=UnbilledList, dependencies=FRESH)
def unbilled(svc: ServicesDep, who: BillingReader, municipality: MunicipalityQuery = None,
             month: MonthQuery = None, at_position: AtPosition = None) -> dict[str, Any]:
    """Billable deliveries on no invoice yet."""
    return logged_read(svc, who, "billing:unbilled", municipality, None, lambda m: {
        "municipality": m, "unbilled": bq.unbilled_deliveries(svc.ledger.db, m, month)}, at_position=at_position)


@router.get("/debit-notes", response_model=DebitNoteList, dependencies=FRESH)
def debit_notes(svc: ServicesDep, who: BillingReader, municipality: MunicipalityQuery = None,
                citizen_id: CitizenQuery = None, at_position: AtPosition = None) -> dict[str, Any]:
    """Debit notes (a re-rating's supplementary charges), each line naming the invoice line and the cause."""
    return logged_read(svc, who, "billing:debit-notes", municipality, citizen_id, lambda m: {
        "municipality": m, "debit_notes": bq.debit_notes(svc.ledger.db, m, _s(citizen_id))}, at_position=at_position)


@router.get("/reconciliation", response_model=Reconciliation)
def reconciliation(svc: ServicesDep, who: BillingReader, municipality: MunicipalityQuery = None,
                   month: MonthQuery = None, at_position: AtPosition = None) -> dict[str, Any]:
    """Per month of service: invoiced (invoices − credit notes + debit notes) against what is owed as
    the facts are known now, the differences and the events behind them; `agree` is the verdict.
    Read from the log and the records themselves, not from a projection: always at the head, so
    `at_position` is answered only while it is the head."""
    from ledger.application.reconciliation import reconcile

    def current(m: int) -> dict[str, Any]:
        for _ in range(3):
            head = store_position(svc, None)
            if at_position is not None and store_position(svc, at_position) < head:  # beyond the head: 422
                raise ApiProblem("position-passed", f"the reconciliation reads the records as they are now, at "
                                 f"position {head}, past {at_position}", reached=head)
            report = reconcile(svc.ledger, m, month)
            if store_position(svc, None) == head:  # nothing was recorded meanwhile: the answer is of `head`
                return {**report, "log_position": head}
        raise ApiProblem("not-caught-up", "the log kept moving during the reconciliation; retry",
                         headers={"Retry-After": "1"})

    return logged_read(svc, who, "billing:reconciliation", municipality, None, current, reads=None)


@router.get("/runs", response_model=RunList, dependencies=FRESH)
def runs(svc: ServicesDep, who: BillingReader, municipality: MunicipalityQuery = None,
         at_position: AtPosition = None) -> dict[str, Any]:
    """The invoice runs that changed anything, with the chain head each was made at."""
    return logged_read(svc, who, "billing:runs", municipality, None, lambda m: {
        "municipality": m, "runs": bq.runs(svc.ledger.db, m)}, at_position=at_position)


@router.get("/export.csv", response_class=Response, dependencies=FRESH,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                             "description": "one row per invoice line (docs/billing-export.md); the totals in the "
                                            "X-Export-Lines/-Net-Ore/-Vat-Ore/-Gross-Ore headers, the log position "
                                            "it reflects in X-Log-Position"}})
def export_csv(svc: ServicesDep, who: BillingReader,
               month: Annotated[Month, Query(description="YYYY-MM (1900-2199)")],
               municipality: MunicipalityQuery = None, at_position: AtPosition = None) -> Response:
    """A month's invoices for the finance system, checked to add up to the øre before it is sent."""
    from ledger.projections.billing_export import ExportMismatch, write_export

    def export(m: int) -> dict[str, Any]:
        out = io.StringIO()
        try:
            totals = write_export(svc.ledger.db, m, month, out)
        except ExportMismatch as e:  # the projection moved between the lines and the totals: ask again
            raise ApiProblem("not-caught-up", str(e), headers={"Retry-After": "1"}) from None
        return {"m": m, "csv": out.getvalue(), "totals": totals}

    got = logged_read(svc, who, "billing:export", municipality, None, export, at_position=at_position)
    return Response(got["csv"], media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="billing-{got["m"]}-{month}.csv"',
        "X-Log-Position": str(got["log_position"]),
        **{f"X-Export-{k.title()}" + ("" if k == "lines" else "-Ore"): str(got["totals"][k])
           for k in ("lines", "net", "vat", "gross")}})


def _s(value: UUID | None) -> str | None:
    return None if value is None else str(value)
