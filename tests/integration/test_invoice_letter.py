"""The invoice letter (PDF) and its FI payment slip: the text a citizen reads holds the lines, the
total and a +71 code line whose check digit verifies; a payment quoting that id pays that invoice."""

from __future__ import annotations

import re

import pytest
from pypdf import PdfReader

from ledger.domain import fi_payment
from ledger.projections import billing_queries as bq
from ledger.web import letter
from ledger.web.fmt import kr
from tests.helpers import billing_factories as bf


def _text(pdf: bytes) -> str:
    import io

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.fixture
def history(database_url: str):
    ledger = bf.open_ledger(database_url)
    bf.herning(ledger)
    cid = bf.citizen(ledger, bf.HERNING)
    ledger.identity.put(cid, "0101401234", "Karen Æbelø Jensen")
    order = bf.order(ledger, cid, "window-cleaning", "2019-03-01", kind="recurring", every_weeks=2, minutes=30)
    bf.deliver(ledger, order, "2019-03-05", 30)
    bf.deliver(ledger, order, "2019-03-19", 45)
    bf.invoice_run(ledger, bf.HERNING, "2019-03")
    db = bf.caught_up(ledger)
    try:
        yield ledger, db, cid
    finally:
        ledger.close()


def test_the_letter_holds_lines_total_and_a_checked_slip(history, monkeypatch) -> None:
    ledger, db, cid = history
    monkeypatch.setenv(letter.CREDITORS_ENV, "657:81234567")
    (listed,) = bq.invoices(db, bf.HERNING)
    invoice = bq.invoice(db, bf.HERNING, listed["number"])
    assert invoice["payment_id"] == fi_payment.payment_id(invoice["number"])
    text = _text(letter.render(invoice, ledger.identity.get(cid), erased=False))
    assert "Herning Kommune" in text and "Karen Æbelø Jensen" in text
    assert f"Faktura {invoice['number']}" in text
    for line in invoice["lines"]:
        assert kr(line["gross"]) in text
    assert re.search(rf"I alt\s*{re.escape(kr(invoice['gross']))}", text)
    assert "moms" in text.lower()
    (code,) = re.findall(r"\+71< (\d{15}) \+(\d{8})<", text)
    assert fi_payment.is_valid(code[0]) and code[1] == "81234567"
    assert fi_payment.document_number(code[0]) == invoice["number"]


def test_an_erased_citizens_letter_names_nobody(history) -> None:
    ledger, db, cid = history
    invoice = bq.invoice(db, bf.HERNING, bq.invoices(db, bf.HERNING)[0]["number"])
    text = _text(letter.render(invoice, None, erased=True))
    assert "identitet er slettet" in text and "Karen" not in text
    assert re.search(r"\+71< \d{15} \+", text)


def test_a_payment_quoting_the_payment_id_pays_that_invoice(history) -> None:
    ledger, db, cid = history
    bf.invoice_run(ledger, bf.HERNING, "2019-04")  # nothing new in April: still one invoice
    order = bf.order(ledger, cid, "extra-cleaning", "2019-05-02", minutes=60)
    bf.deliver(ledger, order, "2019-05-02", 60)
    bf.invoice_run(ledger, bf.HERNING, "2019-05")
    db = bf.caught_up(ledger)
    first, second = bq.invoices(db, bf.HERNING)
    # Without a reference the oldest invoice would be paid first; the slip's id names the second.
    bf.pay(ledger, cid, second["gross"], "2019-06-05", reference=fi_payment.payment_id(second["number"]))
    db = bf.caught_up(ledger)
    assert bq.invoice(db, bf.HERNING, second["number"])["open_amount"] == 0
    assert bq.invoice(db, bf.HERNING, first["number"])["open_amount"] == first["gross"]
    state = bf.account_state(ledger, cid)  # the aggregate agrees with the projection
    assert state.owed[second["number"]] == 0 and state.owed[first["number"]] == first["gross"]


def test_a_debit_note_has_its_own_letter_and_slip_and_its_id_pays_it(database_url, monkeypatch) -> None:
    """A re-rating's debit note is owed on its own due date: its letter names it, the invoice it
    adjusts and its due date, and its slip carries its own +71 id, which a payment quotes."""
    from tests.helpers.costs import at_cost

    monkeypatch.setenv(letter.CREDITORS_ENV, "657:81234567")
    ledger = bf.open_ledger(database_url)
    try:
        cid, _ = bf.herning_january_invoiced(ledger)
        ledger.identity.put(cid, "0101401234", "Karen Æbelø Jensen")
        bf.run(ledger, "correct_price_version", {
            "municipality": bf.HERNING, "offer_id": "extra-cleaning", "effective": "2018-06-01",
            "vat_class": "exempt", "prices": bf.prices(36_400), "cost_basis": at_cost(bf.prices(36_400)),
            "reason": "wage basis"}, role="catalogue_manager")
        (made,) = bf.invoice_run(ledger, bf.HERNING, "2019-02")["debit_notes"]
        note = bq.debit_note(bf.caught_up(ledger), bf.HERNING, made["number"])
        assert note is not None and note["payment_id"] == fi_payment.payment_id(made["number"])
        text = _text(letter.render(note, ledger.identity.get(cid), erased=False))
        assert f"Debetnota {made['number']}" in text and note["invoice_number"] in text
        assert "Faktura " not in text  # not an invoice's letter
        (code,) = re.findall(r"\+71< (\d{15}) \+(\d{8})<", text)
        assert code == (note["payment_id"], "81234567") and fi_payment.document_number(code[0]) == made["number"]
        bf.pay(ledger, cid, note["gross"], "2019-03-20", reference=code[0])
        assert bq.debit_note(bf.caught_up(ledger), bf.HERNING, made["number"])["open_amount"] == 0
    finally:
        ledger.close()
