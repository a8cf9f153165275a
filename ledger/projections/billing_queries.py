"""What the billing department asks, answered from the billing projection's tables only.

Plain functions over a `Database`; each returns JSON-ready dicts (money in integer øre, dates as
ISO text). They read what the projection has applied so far: catch it up first where freshness
matters (the CLI does). Municipality is the official code (an int).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import orjson

from ledger.db import Database
from ledger.domain.allocation import allocate
from ledger.domain.fi_payment import payment_id
from ledger.projections.billing import money_events

AGEING_BUCKETS = ("not_due", "days_1_30", "days_31_60", "days_61_90", "days_over_90")


def rows(db: Database, sql: str, params: tuple | list = ()) -> list[dict[str, Any]]:
    """Run a query (with `?` placeholders) and return its rows as dicts."""
    return list(iter_rows(db, sql, params))


def iter_rows(db: Database, sql: str, params: tuple | list = (), *, stream: bool = False) -> Iterator[dict[str, Any]]:
    """Rows as dicts; with stream=True the rows are fetched in chunks (constant memory)."""
    with db.connection() as conn:
        if db.is_postgres and stream:
            with conn.transaction(), conn.cursor(name="billing_stream") as cur:
                cur.itersize = 2_000
                cur.execute(db.sql(sql), params)
                names = [c.name for c in cur.description]
                for row in cur:
                    yield dict(zip(names, row))
            return
        cur = conn.cursor()
        try:
            cur.execute(db.sql(sql), params)
            names = [c[0] for c in cur.description]
            while True:
                chunk = cur.fetchmany(2_000)
                if not chunk:
                    break
                for row in chunk:
                    yield dict(zip(names, row))
        finally:
            cur.close()


def _where(municipality: int, **filters: Any) -> tuple[str, list[Any]]:
    clauses, params = ["municipality = ?"], [municipality]
    for column, value in filters.items():
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    return " AND ".join(clauses), params


# -- invoices -----------------------------------------------------------------------------------

INVOICE_COLUMNS = ("number, municipality, citizen_id, month, issued_on, due_on, line_count, net, vat, gross, fees, "
                   "credited, charged, open_amount, reminder_count, last_reminder_on, chain_position, chain_hash, "
                   "event_ref")
LINE_COLUMNS = ("line_no, kind, billing_key, delivery_id, order_id, offer_id, offer_name, service_date, band, unit, "
                "minutes, billed_minutes, quantity, unit_price, vat_class, net, vat, gross, prov_order, prov_delivery, "
                "prov_price, prov_grant, prov_cancellation, prov_other, credit_note")
PROVENANCE = ("order", "delivery", "price", "grant", "cancellation")


def invoices(db: Database, municipality: int, month: str | None = None,
             citizen_id: str | None = None) -> list[dict[str, Any]]:
    """Invoices (without lines) in number order, optionally for one month and/or citizen."""
    where, params = _where(municipality, month=month, citizen_id=citizen_id)
    return rows(db, f"SELECT {INVOICE_COLUMNS} FROM billing_invoices WHERE {where} ORDER BY number", params)


def _lines(db: Database, number: str) -> list[dict[str, Any]]:
    found = rows(db, f"SELECT {LINE_COLUMNS} FROM billing_invoice_lines WHERE number = ? ORDER BY line_no", (number,))
    for line in found:
        # The refs (event ids, '<aggregate id>:<version>') the line was computed from.
        provenance = {key: ref for key in PROVENANCE if (ref := line.pop(f"prov_{key}")) is not None}
        other = line.pop("prov_other")
        line["provenance"] = {**provenance, **orjson.loads(other)} if other else provenance
    return found


def invoice(db: Database, municipality: int, number: str) -> dict[str, Any] | None:
    """One invoice with its lines (each with its provenance), credit and debit notes, reminders and
    the payments allocated to it; None when the municipality has no such invoice."""
    found = rows(db, f"SELECT {INVOICE_COLUMNS} FROM billing_invoices WHERE municipality = ? AND number = ?",
                 (municipality, number))
    if not found:
        return None
    inv = found[0]
    inv["payment_id"] = payment_id(number)  # FI +71 id, derived from the number (ledger.domain.fi_payment)
    inv["lines"] = _lines(db, number)
    inv["credit_notes"] = [
        {**cn, "lines": _credit_lines(db, cn["number"])}
        for cn in rows(db, "SELECT number, issued_on, net, vat, gross, reason, event_ref FROM billing_credit_notes "
                           "WHERE invoice_number = ? ORDER BY number", (number,))]
    # A re-rating's supplementary charges for this invoice's lines (docs/adr/0011).
    inv["debit_notes"] = [
        {**dn, "payment_id": payment_id(dn["number"]), "lines": _debit_lines(db, dn["number"])}
        for dn in rows(db, "SELECT number, issued_on, due_on, net, vat, gross, open_amount, reason, event_ref "
                           "FROM billing_debit_notes WHERE invoice_number = ? ORDER BY number", (number,))]
    inv["reminders"] = rows(db, "SELECT sequence, issued_on, fee, event_ref FROM billing_reminders "
                                "WHERE invoice_number = ? ORDER BY sequence", (number,))
    inv["allocations"] = rows(db, "SELECT payment_id, amount FROM billing_allocations WHERE invoice_number = ? "
                                  "ORDER BY citizen_id, seq", (number,))
    return inv


def invoice_totals(db: Database, municipality: int, month: str) -> dict[str, int]:
    """Count and net/VAT/gross sums of a month's invoices (what the export must add up to)."""
    found = rows(db, "SELECT COUNT(*) AS invoices, COALESCE(SUM(line_count), 0) AS lines, "
                     "COALESCE(SUM(net), 0) AS net, COALESCE(SUM(vat), 0) AS vat, COALESCE(SUM(gross), 0) AS gross "
                     "FROM billing_invoices WHERE municipality = ? AND month = ?", (municipality, month))
    return {k: int(v) for k, v in found[0].items()}


# -- credit notes -------------------------------------------------------------------------------

def _credit_lines(db: Database, number: str) -> list[dict[str, Any]]:
    found = rows(db, "SELECT line_no, invoice_line_no, billing_key, offer_id, vat_class, net, vat, gross, caused_by, why "
                     "FROM billing_credit_note_lines WHERE number = ? ORDER BY line_no", (number,))
    for line in found:  # a re-rating credit names what caused it (docs/adr/0011); a withdrawal does not
        causes, why = line.pop("caused_by"), line.pop("why")
        if causes is not None:
            line["caused_by"], line["why"] = causes.split(), why
    return found


def credit_notes(db: Database, municipality: int, citizen_id: str | None = None,
                 invoice_number: str | None = None) -> list[dict[str, Any]]:
    """Credit notes with their lines, each naming the invoice line it credits."""
    where, params = _where(municipality, citizen_id=citizen_id, invoice_number=invoice_number)
    notes = rows(db, "SELECT number, municipality, citizen_id, invoice_number, issued_on, line_count, net, vat, gross, "
                     f"reason, event_ref FROM billing_credit_notes WHERE {where} ORDER BY number", params)
    for note in notes:
        note["lines"] = _credit_lines(db, note["number"])
    return notes


def debit_notes(db: Database, municipality: int, citizen_id: str | None = None) -> list[dict[str, Any]]:
    """Debit notes (a re-rating's supplementary charges) with their lines; each line names the
    invoice line it adjusts and the events that caused the difference (docs/adr/0011)."""
    where, params = _where(municipality, citizen_id=citizen_id)
    notes = rows(db, "SELECT number, municipality, citizen_id, invoice_number, issued_on, due_on, line_count, net, vat, "
                     f"gross, open_amount, reason, event_ref FROM billing_debit_notes WHERE {where} ORDER BY number",
                 params)
    for note in notes:
        note["payment_id"] = payment_id(note["number"])  # its own FI +71 id: it is owed on its own due date
        note["lines"] = _debit_lines(db, note["number"])
    return notes


def debit_note(db: Database, municipality: int, number: str) -> dict[str, Any] | None:
    """One debit note as its letter reads it (ledger/web/letter.py): its lines, what is still open,
    its own FI payment id, and the month of the invoice it adjusts; None when there is none."""
    found = rows(db, "SELECT d.number, d.municipality, d.citizen_id, d.invoice_number, i.month, d.issued_on, d.due_on, "
                     "d.line_count, d.net, d.vat, d.gross, d.fees, d.charged, d.open_amount, d.reminder_count, d.reason, "
                     "d.event_ref FROM billing_debit_notes d LEFT JOIN billing_invoices i ON i.number = d.invoice_number "
                     "WHERE d.municipality = ? AND d.number = ?", (municipality, number))
    if not found:
        return None
    note = found[0]
    note["payment_id"] = payment_id(number)
    note["lines"] = _debit_lines(db, number)
    return note


def _debit_lines(db: Database, number: str) -> list[dict[str, Any]]:
    found = rows(db, "SELECT line_no, invoice_number, invoice_line_no, billing_key, service_date, offer_id, vat_class, "
                     "net, vat, gross, caused_by, why, prov_price FROM billing_debit_note_lines WHERE number = ? "
                     "ORDER BY line_no", (number,))
    for line in found:
        line["caused_by"] = (line["caused_by"] or "").split()
    return found


# -- payments, balances, open items -------------------------------------------------------------

def payments(db: Database, municipality: int, citizen_id: str | None = None) -> list[dict[str, Any]]:
    """Payments in date order, each with the invoices it was allocated to, how much of what it left
    over as credit was refunded (refunds pay out the oldest credit first, docs/adr/0029), and what
    is unallocated: amount − allocated − refunded, never negative (0 once reversed)."""
    where, params = _where(municipality, citizen_id=citizen_id)
    found = rows(db, "SELECT citizen_id, payment_id, amount, paid_on, method, reference, reversed, reversed_on, "
                     f"reversal_reason, allocated, refunded, event_ref FROM billing_payments WHERE {where} "
                     "ORDER BY paid_on, citizen_id, payment_id", params)
    allocations: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for a in rows(db, f"SELECT citizen_id, payment_id, invoice_number, amount FROM billing_allocations WHERE {where} "
                      "ORDER BY citizen_id, seq", params):
        allocations.setdefault((a["citizen_id"], a["payment_id"]), []).append(
            {"invoice_number": a["invoice_number"], "amount": a["amount"]})
    for p in found:
        p["reversed"] = bool(p["reversed"])
        p["unallocated"] = 0 if p["reversed"] else p["amount"] - p["allocated"] - p["refunded"]
        p["allocations"] = allocations.get((p["citizen_id"], p["payment_id"]), [])
    return found


def refunds(db: Database, municipality: int, citizen_id: str | None = None) -> list[dict[str, Any]]:
    """Credit paid out to citizens (refund_credit), in number order (the gapless refund series)."""
    where, params = _where(municipality, citizen_id=citizen_id)
    return rows(db, "SELECT number, citizen_id, amount, refunded_on, method, reference, reason, event_ref "
                    f"FROM billing_refunds WHERE {where} ORDER BY number", params)


def claims(db: Database, municipality: int, citizen_id: str | None = None) -> list[dict[str, Any]]:
    """Claims on citizens (a payment reversed after its money was refunded as credit), in number
    order (the gapless claim series): the reversed payment, the refunds that paid its money out,
    the amount, reminder fees, what is still open."""
    where, params = _where(municipality, citizen_id=citizen_id)
    found = rows(db, "SELECT number, citizen_id, payment_id, refunds, issued_on, due_on, amount, fees, charged, "
                     "open_amount, reminder_count, last_reminder_on, reason, event_ref "
                     f"FROM billing_claims WHERE {where} ORDER BY number", params)
    for c in found:
        c["refunds"] = c["refunds"].split() if c["refunds"] else []
    return found


def balances(db: Database, municipality: int, citizen_id: str | None = None) -> list[dict[str, Any]]:
    """Per citizen: invoiced, fees, credited, paid, refunded, still owed, credit, and the balance
    (positive: the citizen owes; negative: credit on the account): invoiced + fees − credited −
    paid + refunded. A claim adds no term: it is refunded money (already in `refunded`) that a
    reversed payment left uncovered, owed as a document (in `owed`; `claims()` lists them)."""
    where, params = _where(municipality, citizen_id=citizen_id)
    return rows(db, "SELECT citizen_id, invoiced, fees, credited, paid, refunded, owed, credit, balance, "
                    f"open_invoices FROM billing_accounts WHERE {where} ORDER BY citizen_id", params)


def open_items(db: Database, municipality: int, citizen_id: str | None = None) -> list[dict[str, Any]]:
    """Invoices, debit notes and claims with something still owed (after any credit on the
    account), oldest due first. A debit note is owed like an invoice (docs/adr/0011); its month is
    the month of the invoice it adjusts, and credit notes credit invoices, so its `credited` is 0.
    A claim (docs/adr/0029) bills no month: its month is None, its gross the amount claimed."""
    where, params = _where(municipality, citizen_id=citizen_id)
    return rows(db, "SELECT number, 'invoice' AS kind, citizen_id, month, issued_on, due_on, gross, fees, credited, "
                    f"charged, open_amount, reminder_count FROM billing_invoices WHERE {where} AND open_amount > 0 "
                    "UNION ALL SELECT number, 'debit_note' AS kind, citizen_id, "
                    "(SELECT i.month FROM billing_invoices i WHERE i.number = d.invoice_number) AS month, issued_on, "
                    "due_on, gross, fees, 0 AS credited, charged, open_amount, reminder_count "
                    f"FROM billing_debit_notes d WHERE {where} AND open_amount > 0 "
                    "UNION ALL SELECT number, 'claim' AS kind, citizen_id, NULL AS month, issued_on, due_on, "
                    "amount AS gross, fees, 0 AS credited, charged, open_amount, reminder_count "
                    f"FROM billing_claims WHERE {where} AND open_amount > 0 "
                    "ORDER BY due_on, number", params + params + params)


def _bucket(days_past_due: int) -> str:
    """The ageing bucket of a document `days_past_due` days after its due date. On its due date
    it is not yet overdue (0 days: "not_due"); it is overdue from the day after, as reminders
    (Account.remind) and default interest read it: 1–30, 31–60, 61–90, over 90 days."""
    if days_past_due <= 0:
        return "not_due"
    if days_past_due <= 30:
        return "days_1_30"
    if days_past_due <= 60:
        return "days_31_60"
    if days_past_due <= 90:
        return "days_61_90"
    return "days_over_90"


def ageing(db: Database, municipality: int, as_of: date | str) -> list[dict[str, Any]]:
    """Per citizen with anything open on `as_of`: the open amounts by days past due (not yet due
    or due that day, 1–30, 31–60, 61–90, over 90), in øre, plus any credit on the account.

    Exact for a past date too: each account's money events dated up to `as_of` are allocated
    again with the domain's `allocate()`, so a payment made after `as_of` does not count.
    """
    day = as_of if isinstance(as_of, str) else as_of.isoformat()
    when = date.fromisoformat(day)
    # Debit notes and claims are owed like invoices (their own due dates), so they age too.
    due = {r["number"]: r["due_on"] for table in ("billing_invoices", "billing_debit_notes", "billing_claims") for r in rows(
        db, f"SELECT number, due_on FROM {table} WHERE municipality = ? AND issued_on <= ?", (municipality, day))}
    out = []
    for acct in rows(db, "SELECT citizen_id, money FROM billing_account_state WHERE municipality = ? "
                         "ORDER BY citizen_id", (municipality,)):
        state = allocate(money_events(orjson.loads(acct["money"])), as_of=day)
        buckets = dict.fromkeys(AGEING_BUCKETS, 0)
        for number, owed in state.owed.items():
            if owed > 0:
                buckets[_bucket((when - date.fromisoformat(due[number])).days)] += owed
        total = sum(buckets.values())
        if total or state.credit:
            out.append({"citizen_id": acct["citizen_id"], **buckets, "open": total, "credit": state.credit,
                        "balance": total - state.credit})
    return out


# -- reminders, revenue, deliveries -------------------------------------------------------------

def reminders(db: Database, municipality: int, citizen_id: str | None = None,
              invoice_number: str | None = None, issued_on: str | None = None) -> list[dict[str, Any]]:
    where, params = _where(municipality, citizen_id=citizen_id, invoice_number=invoice_number, issued_on=issued_on)
    return rows(db, "SELECT invoice_number, sequence, citizen_id, issued_on, fee, event_ref FROM billing_reminders "
                    f"WHERE {where} ORDER BY issued_on, invoice_number, sequence", params)


def revenue(db: Database, municipality: int, month: str | None = None) -> list[dict[str, Any]]:
    """Revenue per month billed, item and VAT class: invoiced, credited, and the net of the two."""
    where, params = _where(municipality, month=month)
    return rows(db, "SELECT month, offer_id, vat_class, lines, invoiced_net, invoiced_vat, invoiced_gross, "
                    f"credited_net, credited_vat, credited_gross, net, vat, gross FROM billing_revenue WHERE {where} "
                    "ORDER BY month, offer_id, vat_class", params)


def unbilled_deliveries(db: Database, municipality: int, month: str | None = None,
                        through: str | None = None) -> list[dict[str, Any]]:
    """Billable deliveries (delivered, not klippekort, not withdrawn) on no invoice yet; `month`
    keeps one month, `through` those dated on or before a date (e.g. the last closed month's end)."""
    where, params = _where(municipality)
    if month is not None:
        where += " AND service_date >= ? AND service_date <= ?"
        params += [f"{month}-01", f"{month}-31"]
    if through is not None:
        where += " AND service_date <= ?"
        params.append(through)
    return rows(db, "SELECT delivery_id, citizen_id, order_id, offer_id, service_date, band, minutes, units, event_ref "
                    f"FROM billing_deliveries WHERE {where} AND billable = 1 AND invoice_number IS NULL "
                    "ORDER BY service_date, delivery_id", params)


def deliveries(db: Database, municipality: int, citizen_id: str | None = None) -> list[dict[str, Any]]:
    """Every delivery and missed visit with its status and the invoice line that billed it, if any."""
    where, params = _where(municipality, citizen_id=citizen_id)
    return rows(db, "SELECT delivery_id, citizen_id, order_id, offer_id, service_date, band, minutes, units, "
                    "klippekort, status, withdrawn_on, billable, invoice_number, line_no, credit_note, event_ref "
                    f"FROM billing_deliveries WHERE {where} ORDER BY service_date, delivery_id", params)


def runs(db: Database, municipality: int) -> list[dict[str, Any]]:
    """The invoice runs that changed anything, in order, with the chain head each was made at."""
    return rows(db, "SELECT seq, month, run_date, invoice_count, first_number, last_number, chain_position, "
                    "chain_hash, scanned_to, carried FROM billing_runs WHERE municipality = ? ORDER BY seq",
                (municipality,))
