"""The billing read model: invoices, credit notes, payments and their allocation, balances,
reminders, revenue and the deliveries behind them, as the billing department reads them.

Everything here is derived from the account, delivery and invoice-series events; nothing is
decided here. Allocation of payments is the domain's pure `allocate()` over each account's money
events, which are kept (as JSON) in `billing_account_state` and re-allocated whenever they change
(once per account per batch), so the projection, a rebuild and the Account aggregate's own
`state()` give the same answer.

Every handler reads and writes rows by primary key only (the engine's contract); the account
state row also remembers the last allocation it wrote, so a money event rewrites only the invoice,
payment and allocation rows whose figures changed.
"""

from __future__ import annotations

from typing import Any

import orjson

from ledger.domain.allocation import MoneyEvent, allocate
from ledger.domain.document_numbers import series_of
from ledger.projections.engine import Projection, RawEvent, Table, View

INVOICES = Table(
    "billing_invoices",
    {"number": "TEXT", "municipality": "INTEGER", "citizen_id": "TEXT", "account_id": "TEXT", "month": "TEXT",
     "issued_on": "TEXT", "due_on": "TEXT", "line_count": "INTEGER", "net": "BIGINT", "vat": "BIGINT",
     "gross": "BIGINT", "fees": "BIGINT", "credited": "BIGINT", "charged": "BIGINT", "open_amount": "BIGINT",
     "reminder_count": "INTEGER", "last_reminder_on": "TEXT", "chain_position": "BIGINT", "chain_hash": "TEXT",
     "event_ref": "TEXT", "recorded_at": "TEXT", "log_position": "BIGINT"},
    ("number",),
    indexes=(("municipality", "month"), ("municipality", "citizen_id")),
    # log_position is the event's notification id: a killed PostgreSQL transaction skips ids, so
    # the digest compares it by rank (tests/e2e/test_fault_injection.py).
    ordinal=("log_position",),
)
LINES = Table(
    "billing_invoice_lines",
    {"number": "TEXT", "line_no": "INTEGER", "municipality": "INTEGER", "citizen_id": "TEXT", "month": "TEXT",
     "kind": "TEXT", "billing_key": "TEXT", "delivery_id": "TEXT", "order_id": "TEXT", "offer_id": "TEXT",
     "offer_name": "TEXT", "service_date": "TEXT", "band": "TEXT", "unit": "TEXT", "minutes": "INTEGER",
     "billed_minutes": "INTEGER", "quantity": "INTEGER", "unit_price": "BIGINT", "vat_class": "TEXT",
     "net": "BIGINT", "vat": "BIGINT", "gross": "BIGINT", "prov_order": "TEXT", "prov_delivery": "TEXT",
     "prov_price": "TEXT", "prov_grant": "TEXT", "prov_cancellation": "TEXT", "prov_other": "TEXT",
     "credit_note": "TEXT"},
    ("number", "line_no"),
)
CREDIT_NOTES = Table(
    "billing_credit_notes",
    {"number": "TEXT", "municipality": "INTEGER", "citizen_id": "TEXT", "invoice_number": "TEXT",
     "issued_on": "TEXT", "line_count": "INTEGER", "net": "BIGINT", "vat": "BIGINT", "gross": "BIGINT",
     "reason": "TEXT", "event_ref": "TEXT", "recorded_at": "TEXT"},
    ("number",),
    indexes=(("municipality", "issued_on"), ("invoice_number",)),
)
CREDIT_LINES = Table(
    "billing_credit_note_lines",
    {"number": "TEXT", "line_no": "INTEGER", "invoice_number": "TEXT", "invoice_line_no": "INTEGER",
     "billing_key": "TEXT", "offer_id": "TEXT", "vat_class": "TEXT", "net": "BIGINT", "vat": "BIGINT",
     "gross": "BIGINT", "caused_by": "TEXT", "why": "TEXT"},
    ("number", "line_no"),
    indexes=(("invoice_number", "invoice_line_no"),),
)
DEBIT_NOTES = Table(
    "billing_debit_notes",
    # A re-rating's supplementary charge for lines of an issued invoice (docs/adr/0011), owed and
    # reminded like an invoice: fees are its reminders' fees, charged is gross + fees.
    {"number": "TEXT", "municipality": "INTEGER", "citizen_id": "TEXT", "invoice_number": "TEXT",
     "issued_on": "TEXT", "due_on": "TEXT", "line_count": "INTEGER", "net": "BIGINT", "vat": "BIGINT",
     "gross": "BIGINT", "fees": "BIGINT", "charged": "BIGINT", "open_amount": "BIGINT", "reminder_count": "INTEGER",
     "last_reminder_on": "TEXT", "reason": "TEXT", "event_ref": "TEXT", "recorded_at": "TEXT"},
    ("number",),
    indexes=(("municipality", "issued_on"), ("invoice_number",)),
)
DEBIT_LINES = Table(
    "billing_debit_note_lines",
    {"number": "TEXT", "line_no": "INTEGER", "invoice_number": "TEXT", "invoice_line_no": "INTEGER",
     "billing_key": "TEXT", "service_date": "TEXT", "offer_id": "TEXT", "vat_class": "TEXT", "net": "BIGINT",
     "vat": "BIGINT", "gross": "BIGINT", "caused_by": "TEXT", "prov_price": "TEXT", "why": "TEXT"},
    ("number", "line_no"),
    indexes=(("invoice_number", "invoice_line_no"),),
)
PAYMENTS = Table(
    "billing_payments",
    {"citizen_id": "TEXT", "payment_id": "TEXT", "municipality": "INTEGER", "amount": "BIGINT", "paid_on": "TEXT",
     "method": "TEXT", "reference": "TEXT", "reversed": "INTEGER", "reversed_on": "TEXT",
     "reversal_reason": "TEXT", "allocated": "BIGINT", "refunded": "BIGINT", "event_ref": "TEXT",
     "recorded_at": "TEXT"},
    # Payment ids are unique per account, not across citizens (a bank reference may repeat).
    ("citizen_id", "payment_id"),
    indexes=(("municipality", "paid_on"),),
)
ALLOCATIONS = Table(
    "billing_allocations",
    # seq is the allocation's place in allocate()'s answer for the account; payment_id "credit"
    # means credit already on the account (from an over-payment or a credit note) was consumed.
    {"citizen_id": "TEXT", "seq": "INTEGER", "municipality": "INTEGER", "payment_id": "TEXT",
     "invoice_number": "TEXT", "amount": "BIGINT"},
    ("citizen_id", "seq"),
    indexes=(("municipality",), ("invoice_number",)),
)
REFUNDS = Table(
    "billing_refunds",
    # Credit on an account paid out to the citizen (Account.CreditRefunded), numbered 657-R00001.
    {"number": "TEXT", "municipality": "INTEGER", "citizen_id": "TEXT", "amount": "BIGINT", "refunded_on": "TEXT",
     "method": "TEXT", "reference": "TEXT", "reason": "TEXT", "event_ref": "TEXT", "recorded_at": "TEXT"},
    ("number",),
    indexes=(("municipality", "citizen_id"),),
)
CLAIMS = Table(
    "billing_claims",
    # A claim on the citizen (Account.ClaimRaised, 657-B00001): refunded money a reversed payment
    # left uncovered, owed and reminded like an invoice: fees its reminders', charged amount + fees.
    {"number": "TEXT", "municipality": "INTEGER", "citizen_id": "TEXT", "payment_id": "TEXT", "refunds": "TEXT",
     "issued_on": "TEXT", "due_on": "TEXT", "amount": "BIGINT", "fees": "BIGINT", "charged": "BIGINT",
     "open_amount": "BIGINT", "reminder_count": "INTEGER", "last_reminder_on": "TEXT", "reason": "TEXT",
     "event_ref": "TEXT", "recorded_at": "TEXT"},
    ("number",),
    indexes=(("municipality", "citizen_id"),),
)
ACCOUNTS = Table(
    "billing_accounts",
    # balance = invoiced + fees − credited − paid + refunded (= owed − credit). A claim adds no
    # term: it is refunded money already counted in `refunded`, now owed as a document (in `owed`,
    # and in open_invoices, which counts every open document).
    {"citizen_id": "TEXT", "account_id": "TEXT", "municipality": "INTEGER", "opened_on": "TEXT",
     "invoiced": "BIGINT", "fees": "BIGINT", "credited": "BIGINT", "paid": "BIGINT", "refunded": "BIGINT",
     "owed": "BIGINT", "credit": "BIGINT", "balance": "BIGINT", "open_invoices": "INTEGER"},
    ("citizen_id",),
    indexes=(("municipality",),),
)
ACCOUNT_STATE = Table(
    "billing_account_state",
    # money: the account's money events in log order, compactly (see money_events());
    # written: the per-invoice figures and the allocations last written to the rows.
    {"account_id": "TEXT", "citizen_id": "TEXT", "municipality": "INTEGER", "money": "TEXT", "written": "TEXT"},
    ("account_id",),
    indexes=(("municipality",),),
)
REMINDERS = Table(
    "billing_reminders",
    {"invoice_number": "TEXT", "sequence": "INTEGER", "municipality": "INTEGER", "citizen_id": "TEXT",
     "issued_on": "TEXT", "fee": "BIGINT", "event_ref": "TEXT"},
    ("invoice_number", "sequence"),
    indexes=(("municipality", "issued_on"),),
)
REVENUE = Table(
    "billing_revenue",
    # month is the month billed (the invoice's month); credit notes reduce the month they credit.
    {"municipality": "INTEGER", "month": "TEXT", "offer_id": "TEXT", "vat_class": "TEXT", "lines": "INTEGER",
     "invoiced_net": "BIGINT", "invoiced_vat": "BIGINT", "invoiced_gross": "BIGINT", "credited_net": "BIGINT",
     "credited_vat": "BIGINT", "credited_gross": "BIGINT", "net": "BIGINT", "vat": "BIGINT", "gross": "BIGINT"},
    ("municipality", "month", "offer_id", "vat_class"),
)
DELIVERIES = Table(
    "billing_deliveries",
    # status: recorded | missed | cancelled | disputed. billable: recorded and not klippekort.
    {"delivery_id": "TEXT", "municipality": "INTEGER", "citizen_id": "TEXT", "order_id": "TEXT",
     "offer_id": "TEXT", "service_date": "TEXT", "band": "TEXT", "minutes": "INTEGER", "units": "INTEGER",
     "klippekort": "INTEGER", "status": "TEXT", "withdrawn_on": "TEXT", "billable": "INTEGER",
     "invoice_number": "TEXT", "line_no": "INTEGER", "credit_note": "TEXT", "event_ref": "TEXT"},
    ("delivery_id",),
    indexes=(("municipality", "service_date"),),
)
RUNS = Table(
    "billing_runs",
    {"municipality": "INTEGER", "seq": "INTEGER", "month": "TEXT", "run_date": "TEXT", "invoice_count": "INTEGER",
     "first_number": "TEXT", "last_number": "TEXT", "chain_position": "BIGINT", "chain_hash": "TEXT",
     "scanned_to": "BIGINT", "carried": "INTEGER", "event_ref": "TEXT"},
    ("municipality", "seq"),
)

TABLES = (INVOICES, LINES, CREDIT_NOTES, CREDIT_LINES, DEBIT_NOTES, DEBIT_LINES, PAYMENTS, ALLOCATIONS, REFUNDS, CLAIMS,
          ACCOUNTS, ACCOUNT_STATE, REMINDERS, REVENUE, DELIVERIES, RUNS)
# The table of each series of documents a citizen owes (an allocation's or a reminder's number).
OWED = {"invoice": INVOICES, "debit_note": DEBIT_NOTES, "claim": CLAIMS}

# The provenance refs an invoice line carries (domain/pricing.py), each in its own column; any
# other ref a future line may carry is kept, as JSON, in prov_other.
PROVENANCE_KEYS = frozenset({"order", "delivery", "price", "grant", "cancellation"})

_dumps = orjson.dumps
_loads = orjson.loads
# What an account's rows showed after its last settlement: [[invoice, open, charged]...], allocations,
# and {payment id: refunded from it}.
_NO_WRITES = "[[],[],{}]"


def _ref(event: RawEvent) -> str:
    return f"{event.originator_id}:{event.originator_version}"


class BillingProjection(Projection):
    name = "billing"
    # 2: debit notes, and the causes of re-rating credit lines; 3: credit on the account pays open
    # documents at once (open_amount, credit and allocations changed meaning), debit notes are
    # reminded (their fees, charged, reminder_count, last_reminder_on); 4: refunds of credit
    # (billing_refunds, billing_accounts.refunded); 5: claims on the citizen (billing_claims,
    # a reversal after a refund), and how much of each payment was
    # refunded (billing_payments.refunded: refunds take the oldest leftover credit first)
    version = 5
    tables = TABLES

    def __init__(self) -> None:
        self._touched: dict[str, _Account] = {}  # accounts with new money events in this batch

    # -- deliveries ---------------------------------------------------------------------------
    def on_DeliveryRecorded(self, event: RawEvent, view: View) -> None:
        s = event.state
        klippekort = 1 if s["klippekort"] else 0
        view.put(DELIVERIES, {
            "delivery_id": event.originator_id, "municipality": s["municipality"], "citizen_id": s["citizen_id"],
            "order_id": s["order_id"], "offer_id": s["offer_id"], "service_date": s["effective"], "band": s["band"],
            "minutes": s["minutes"], "units": s["units"], "klippekort": klippekort, "status": "recorded",
            "withdrawn_on": None, "billable": 1 - klippekort, "invoice_number": None, "line_no": None,
            "credit_note": None, "event_ref": _ref(event)})

    def on_VisitMissed(self, event: RawEvent, view: View) -> None:
        s = event.state
        view.put(DELIVERIES, {
            "delivery_id": event.originator_id, "municipality": s["municipality"], "citizen_id": s["citizen_id"],
            "order_id": s["order_id"], "offer_id": s["offer_id"], "service_date": s["effective"], "band": None,
            "minutes": 0, "units": 0, "klippekort": 0, "status": "missed", "withdrawn_on": None, "billable": 0,
            "invoice_number": None, "line_no": None, "credit_note": None, "event_ref": _ref(event)})

    def _withdraw(self, event: RawEvent, view: View, status: str) -> None:
        row = view.get(DELIVERIES, event.originator_id)
        if row is not None:
            row["status"] = status
            row["withdrawn_on"] = event.state["effective"]
            row["billable"] = 0
            view.put(DELIVERIES, row)

    def on_DeliveryCancelled(self, event: RawEvent, view: View) -> None:
        self._withdraw(event, view, "cancelled")

    def on_DeliveryDisputed(self, event: RawEvent, view: View) -> None:
        self._withdraw(event, view, "disputed")

    # -- the invoice series -------------------------------------------------------------------
    def on_InvoiceRunCompleted(self, event: RawEvent, view: View) -> None:
        s = event.state
        head = s["chain_head"]
        view.put(RUNS, {
            "municipality": s["municipality"], "seq": event.originator_version, "month": s["month"],
            "run_date": s["effective"], "invoice_count": s["count"], "first_number": s["first_number"],
            "last_number": s["last_number"], "chain_position": head["position"], "chain_hash": head["hash"],
            "scanned_to": s["scanned_to"], "carried": len(s["carried"]), "event_ref": _ref(event)})

    # -- the account ----------------------------------------------------------------------------
    # Money events are appended to the account's list as they come; the re-allocation runs once
    # per touched account at the end of the batch, before any row is written. allocate() is a pure
    # function of the whole list, so the tables are the same as if it ran after every event,
    # wherever batches start and end (nothing outside the batch ever sees the in-between state).

    def start_batch(self, view: View) -> None:
        self._touched = {}

    def end_batch(self, view: View) -> None:
        for account in self._touched.values():
            account.settle(view)
        self._touched = {}

    def _account(self, event: RawEvent, view: View) -> _Account:
        account = self._touched.get(event.originator_id)
        if account is None:
            row = view.get(ACCOUNT_STATE, event.originator_id)
            assert row is not None, f"{event.name} at {event.position} before its AccountOpened"
            account = self._touched[event.originator_id] = _Account(row)
        return account

    def on_AccountOpened(self, event: RawEvent, view: View) -> None:
        s = event.state
        citizen_id, m = s["citizen_id"], s["municipality"]
        view.put(ACCOUNT_STATE, {"account_id": event.originator_id, "citizen_id": citizen_id, "municipality": m,
                                 "money": "[]", "written": _NO_WRITES})
        view.put(ACCOUNTS, {"citizen_id": citizen_id, "account_id": event.originator_id, "municipality": m,
                            "opened_on": s["effective"], "invoiced": 0, "fees": 0, "credited": 0, "paid": 0, "refunded": 0,
                            "owed": 0, "credit": 0, "balance": 0, "open_invoices": 0})

    def on_InvoiceIssued(self, event: RawEvent, view: View) -> None:
        s = event.state
        account = self._account(event, view)
        citizen_id, m, month, number = account.citizen_id, s["municipality"], s["month"], s["number"]
        head = s["chain_head"]
        lines = s["lines"]
        view.put(INVOICES, {
            "number": number, "municipality": m, "citizen_id": citizen_id, "account_id": event.originator_id,
            "month": month, "issued_on": s["effective"], "due_on": s["due_on"], "line_count": len(lines),
            "net": s["net"], "vat": s["vat"], "gross": s["gross"], "fees": 0, "credited": 0, "charged": s["gross"],
            "open_amount": s["gross"], "reminder_count": 0, "last_reminder_on": None,
            "chain_position": head["position"], "chain_hash": head["hash"], "event_ref": _ref(event),
            "recorded_at": s["timestamp"], "log_position": event.position})
        revenue: dict[tuple[str, str], list[int]] = {}
        for line in lines:
            prov = line["provenance"]
            delivery_id = line["delivery_id"]
            line_no, offer_id, vat_class, net, vat, gross = (line["line_no"], line["offer_id"], line["vat_class"],
                                                             line["net"], line["vat"], line["gross"])
            view.put(LINES, {
                "number": number, "line_no": line_no, "municipality": m, "citizen_id": citizen_id,
                "month": month, "kind": line["kind"], "billing_key": line["billing_key"], "delivery_id": delivery_id,
                "order_id": line["order_id"], "offer_id": offer_id, "offer_name": line["offer_name"],
                "service_date": line["date"], "band": line["band"], "unit": line["unit"], "minutes": line["minutes"],
                "billed_minutes": line["billed_minutes"], "quantity": line["quantity"],
                "unit_price": line["unit_price"], "vat_class": vat_class, "net": net, "vat": vat, "gross": gross,
                "prov_order": prov.get("order"), "prov_delivery": prov.get("delivery"), "prov_price": prov.get("price"),
                "prov_grant": prov.get("grant"), "prov_cancellation": prov.get("cancellation"),
                "prov_other": None if prov.keys() <= PROVENANCE_KEYS else _dumps(
                    {k: v for k, v in prov.items() if k not in PROVENANCE_KEYS}, option=orjson.OPT_SORT_KEYS).decode(),
                "credit_note": None})
            if delivery_id is not None:
                delivery = view.get(DELIVERIES, delivery_id)
                if delivery is not None:
                    delivery["invoice_number"] = number
                    delivery["line_no"] = line_no
                    view.put(DELIVERIES, delivery)
            sums = revenue.get((offer_id, vat_class))
            if sums is None:
                revenue[(offer_id, vat_class)] = [1, net, vat, gross]
            else:
                sums[0] += 1
                sums[1] += net
                sums[2] += vat
                sums[3] += gross
        for (offer_id, vat_class), (count, net, vat, gross) in revenue.items():
            _revenue(view, m, month, offer_id, vat_class, count, net, vat, gross, 0, 0, 0)
        account.money.append(MoneyEvent.invoice(number, s["gross"], s["effective"]).to_row())

    def on_CreditNoteIssued(self, event: RawEvent, view: View) -> None:
        s = event.state
        account = self._account(event, view)
        number, invoice_number, m = s["number"], s["invoice_number"], s["municipality"]
        view.put(CREDIT_NOTES, {
            "number": number, "municipality": m, "citizen_id": account.citizen_id, "invoice_number": invoice_number,
            "issued_on": s["effective"], "line_count": len(s["lines"]), "net": s["net"], "vat": s["vat"],
            "gross": s["gross"], "reason": s["reason"], "event_ref": _ref(event), "recorded_at": s["timestamp"]})
        for i, credit in enumerate(s["lines"], start=1):
            line = view.get(LINES, invoice_number, credit["invoice_line_no"])
            offer_id = vat_class = None
            if line is not None:
                offer_id, vat_class = line["offer_id"], line["vat_class"]
                line["credit_note"] = number
                view.put(LINES, line)
                _revenue(view, m, line["month"], offer_id, vat_class, 0, 0, 0, 0,
                         credit["net"], credit["vat"], credit["gross"])
                if line["delivery_id"] is not None:
                    delivery = view.get(DELIVERIES, line["delivery_id"])
                    if delivery is not None:
                        delivery["credit_note"] = number
                        view.put(DELIVERIES, delivery)
            view.put(CREDIT_LINES, {
                "number": number, "line_no": i, "invoice_number": invoice_number,
                "invoice_line_no": credit["invoice_line_no"], "billing_key": credit["billing_key"],
                "offer_id": offer_id, "vat_class": vat_class, "net": credit["net"], "vat": credit["vat"],
                "gross": credit["gross"], "caused_by": _causes(credit), "why": credit.get("why")})
        invoice = view.get(INVOICES, invoice_number)
        if invoice is not None:
            invoice["credited"] += s["gross"]
            view.put(INVOICES, invoice)
        account.money.append(MoneyEvent.credit_note(invoice_number, s["gross"], s["effective"]).to_row())

    def on_DebitNoteIssued(self, event: RawEvent, view: View) -> None:
        s = event.state
        account = self._account(event, view)
        number, invoice_number, m = s["number"], s["invoice_number"], s["municipality"]
        view.put(DEBIT_NOTES, {
            "number": number, "municipality": m, "citizen_id": account.citizen_id, "invoice_number": invoice_number,
            "issued_on": s["effective"], "due_on": s["due_on"], "line_count": len(s["lines"]), "net": s["net"],
            "vat": s["vat"], "gross": s["gross"], "fees": 0, "charged": s["gross"], "open_amount": s["gross"],
            "reminder_count": 0, "last_reminder_on": None, "reason": s["reason"],
            "event_ref": _ref(event), "recorded_at": s["timestamp"]})
        for debit in s["lines"]:
            line = view.get(LINES, invoice_number, debit["invoice_line_no"])
            month = line["month"] if line is not None else debit["month"]
            # Revenue: the debit adds to the month the original invoice billed.
            _revenue(view, m, month, debit["offer_id"], debit["vat_class"], 0, debit["net"], debit["vat"],
                     debit["gross"], 0, 0, 0)
            view.put(DEBIT_LINES, {
                "number": number, "line_no": debit["line_no"], "invoice_number": invoice_number,
                "invoice_line_no": debit["invoice_line_no"], "billing_key": debit["billing_key"],
                "service_date": debit["date"], "offer_id": debit["offer_id"], "vat_class": debit["vat_class"],
                "net": debit["net"], "vat": debit["vat"], "gross": debit["gross"], "caused_by": _causes(debit),
                "prov_price": debit.get("price"), "why": debit.get("why")})
        account.money.append(MoneyEvent.debit_note(number, s["gross"], s["effective"]).to_row())

    def on_ReminderIssued(self, event: RawEvent, view: View) -> None:
        s = event.state
        account = self._account(event, view)
        invoice_number = s["invoice_number"]  # the document reminded of: an invoice or a debit note
        view.put(REMINDERS, {
            "invoice_number": invoice_number, "sequence": s["sequence"], "municipality": s["municipality"],
            "citizen_id": account.citizen_id, "issued_on": s["effective"], "fee": s["fee_ore"],
            "event_ref": _ref(event)})
        table = OWED.get(series_of(invoice_number), INVOICES)
        doc = view.get(table, invoice_number)
        if doc is not None:
            doc["fees"] += s["fee_ore"]
            doc["reminder_count"] += 1
            doc["last_reminder_on"] = s["effective"]
            view.put(table, doc)
        account.money.append(MoneyEvent.reminder(invoice_number, s["fee_ore"], s["effective"]).to_row())

    def on_PaymentReceived(self, event: RawEvent, view: View) -> None:
        s = event.state
        account = self._account(event, view)
        view.put(PAYMENTS, {
            "citizen_id": account.citizen_id, "payment_id": s["payment_id"], "municipality": s["municipality"],
            "amount": s["amount"], "paid_on": s["effective"], "method": s["method"], "reference": s["reference"],
            "reversed": 0, "reversed_on": None, "reversal_reason": None, "allocated": 0, "refunded": 0,
            "event_ref": _ref(event),
            "recorded_at": s["timestamp"]})
        account.money.append(MoneyEvent.payment(s["payment_id"], s["amount"], s["effective"], s["reference"]).to_row())

    def on_PaymentReversed(self, event: RawEvent, view: View) -> None:
        s = event.state
        account = self._account(event, view)
        payment_id = s["payment_id"]
        payment = view.get(PAYMENTS, account.citizen_id, payment_id)
        if payment is not None:
            payment["reversed"] = 1
            payment["reversed_on"] = s["effective"]
            payment["reversal_reason"] = s["reason"]
            view.put(PAYMENTS, payment)
        money = account.money
        for i, entry in enumerate(money):  # as Account.PaymentReversed.apply does (allocation.reverse_payment)
            m = MoneyEvent.from_row(entry)
            if m.is_payment(payment_id):
                money[i] = m.reversed(s["effective"]).to_row()


    def on_CreditRefunded(self, event: RawEvent, view: View) -> None:
        s = event.state
        account = self._account(event, view)
        view.put(REFUNDS, {
            "number": s["number"], "municipality": s["municipality"], "citizen_id": account.citizen_id,
            "amount": s["amount"], "refunded_on": s["effective"], "method": s["method"], "reference": s["reference"],
            "reason": s["reason"], "event_ref": _ref(event), "recorded_at": s["timestamp"]})
        account.money.append(MoneyEvent.refund(s["number"], s["amount"], s["effective"]).to_row())

    def on_ClaimRaised(self, event: RawEvent, view: View) -> None:
        s = event.state
        account = self._account(event, view)
        view.put(CLAIMS, {
            "number": s["number"], "municipality": s["municipality"], "citizen_id": account.citizen_id,
            "payment_id": s["payment_id"], "refunds": " ".join(s["refunds"]), "issued_on": s["effective"],
            "due_on": s["due_on"], "amount": s["amount"], "fees": 0, "charged": s["amount"],
            "open_amount": s["amount"], "reminder_count": 0, "last_reminder_on": None, "reason": s["reason"],
            "event_ref": _ref(event), "recorded_at": s["timestamp"]})
        account.money.append(MoneyEvent.claim(s["number"], s["amount"], s["effective"]).to_row())


# The money list is stored compactly, one short list per event in log order, in the domain's one
# encoding of money events (allocation.MoneyEvent.to_row); the stored JSON is escaped on every
# write, so its size matters.
def money_events(money: list[list[Any]]) -> list[MoneyEvent]:
    """The stored money list as allocation.allocate() reads it."""
    return [MoneyEvent.from_row(entry) for entry in money]


class _Account:
    """One account's state row and money events while a batch is applied (see end_batch)."""

    __slots__ = ("row", "citizen_id", "money")

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.citizen_id = row["citizen_id"]
        self.money: list[list[Any]] = _loads(row["money"])

    def settle(self, view: View) -> None:
        """Re-allocate the account and write the rows whose figures changed."""
        row, money, citizen_id = self.row, self.money, self.citizen_id
        m = row["municipality"]
        events = money_events(money)
        state = allocate(events)
        old_invoices, old, old_refunded = _loads(row["written"])
        # Invoices: what is still open, and what was charged (gross + fees − credit notes).
        owed, charged = state.owed, state.charged
        invoices = [[number, amount, charged[number]] for number, amount in owed.items()]
        if invoices != old_invoices:
            written = {number: (amount, total) for number, amount, total in old_invoices}
            for number, amount in owed.items():
                total = charged[number]
                if written.get(number) != (amount, total):
                    table = OWED.get(series_of(number), INVOICES)  # an invoice, a debit note or a claim
                    doc = view.get(table, number)
                    if doc is not None:
                        doc["open_amount"] = amount
                        doc["charged"] = total
                        view.put(table, doc)
        # Allocations, by their place in allocate()'s answer (usually only new ones at the end).
        new = [list(a) for a in state.allocations]
        if new != old:
            keep = len(old) if new[:len(old)] == old else 0
            for seq in range(keep, len(new)):
                allocation = new[seq]
                if seq >= len(old) or old[seq] != allocation:
                    view.put(ALLOCATIONS, {"citizen_id": citizen_id, "seq": seq, "municipality": m,
                                           "payment_id": allocation[0], "invoice_number": allocation[1],
                                           "amount": allocation[2]})
            for seq in range(len(new), len(old)):
                view.delete(ALLOCATIONS, citizen_id, seq)
            # Payments: how much of each went to invoices (the rest is credit, or was reversed).
            _put_per_payment(view, citizen_id, "allocated", _per_payment(new), _per_payment(old))
        # Payments: how much of each one's leftover credit was refunded (oldest credit first).
        if state.refunded != old_refunded:
            _put_per_payment(view, citizen_id, "refunded", state.refunded, old_refunded)
        # The account's totals.
        invoiced = fees = credited = paid = refunded = 0
        for e in events:
            kind = e.kind
            if kind == "invoice" or kind == "debit_note":
                invoiced += e.amount
            elif kind == "payment":
                if e.reversed_on is None:
                    paid += e.amount
            elif kind == "reminder":
                fees += e.amount
            elif kind == "refund":
                refunded += e.amount
            elif kind == "claim":
                pass  # refunded money now owed as a document: in `owed`, no term of the balance
            else:
                credited += e.amount
        account = view.get(ACCOUNTS, citizen_id)
        assert account is not None
        account.update(invoiced=invoiced, fees=fees, credited=credited, paid=paid, refunded=refunded,
                       owed=sum(owed.values()),
                       credit=state.credit, balance=state.balance, open_invoices=sum(1 for v in owed.values() if v > 0))
        view.put(ACCOUNTS, account)
        row["money"] = _dumps(money).decode()
        row["written"] = _dumps([invoices, new, state.refunded]).decode()
        view.put(ACCOUNT_STATE, row)


def _causes(line: dict[str, Any]) -> str | None:
    """The events a re-rating line names as the cause of its difference, space-separated."""
    causes = line.get("caused_by")
    return " ".join(causes) if causes else None


def _put_per_payment(view: View, citizen_id: str, column: str, now: dict[str, int], before: dict[str, int]) -> None:
    """Set `column` of each of the citizen's payment rows whose amount in it changed."""
    for payment_id in now.keys() | before.keys():
        amount = now.get(payment_id, 0)
        if before.get(payment_id, 0) != amount:
            payment = view.get(PAYMENTS, citizen_id, payment_id)
            if payment is not None:
                payment[column] = amount
                view.put(PAYMENTS, payment)


def _per_payment(allocations: list[list[Any]]) -> dict[str, int]:
    """Amount allocated per real payment ("credit" is money already on the account)."""
    out: dict[str, int] = {}
    for payment_id, _number, amount in allocations:
        if payment_id != "credit":
            out[payment_id] = out.get(payment_id, 0) + amount
    return out


def _revenue(view: View, m: int, month: str, offer_id: str, vat_class: str, lines: int, net: int, vat: int,
             gross: int, credited_net: int, credited_vat: int, credited_gross: int) -> None:
    row = view.get(REVENUE, m, month, offer_id, vat_class)
    if row is None:
        row = {"municipality": m, "month": month, "offer_id": offer_id, "vat_class": vat_class, "lines": 0,
               "invoiced_net": 0, "invoiced_vat": 0, "invoiced_gross": 0, "credited_net": 0, "credited_vat": 0,
               "credited_gross": 0, "net": 0, "vat": 0, "gross": 0}
    row["lines"] += lines
    row["invoiced_net"] += net
    row["invoiced_vat"] += vat
    row["invoiced_gross"] += gross
    row["credited_net"] += credited_net
    row["credited_vat"] += credited_vat
    row["credited_gross"] += credited_gross
    row["net"] = row["invoiced_net"] - row["credited_net"]
    row["vat"] = row["invoiced_vat"] - row["credited_vat"]
    row["gross"] = row["invoiced_gross"] - row["credited_gross"]
    view.put(REVENUE, row)
