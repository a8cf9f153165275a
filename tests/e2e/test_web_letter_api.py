"""GET /billing/invoices/{number}.pdf through the API with a bearer token: who may fetch the letter,
that it is access-logged as a billing and an identity read, and an erased citizen's letter."""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader

from tests.helpers.api import api_client, auth
from ledger.domain import fi_payment
from tests.helpers import billing_factories as bf


@pytest.fixture
def store(database_url: str) -> dict:
    ledger = bf.open_ledger(database_url)
    try:
        bf.herning(ledger)
        keep, erase = bf.citizen(ledger, bf.HERNING), bf.citizen(ledger, bf.HERNING)
        ledger.identity.put(keep, "0101401234", "Inger Østergaard")
        ledger.identity.put(erase, "0101401235", "Erik Sletmig")
        for cid in (keep, erase):
            order = bf.order(ledger, cid, "extra-cleaning", "2019-03-04", minutes=60)
            bf.deliver(ledger, order, "2019-03-04", 60)
        bf.invoice_run(ledger, bf.HERNING, "2019-03")
        bf.run(ledger, "erase_identity", {"citizen_id": erase})
    finally:
        ledger.close()
    return {"url": database_url, "keep": keep, "erase": erase}


def _text(pdf: bytes) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)


def test_the_letter_route_checks_role_and_municipality_and_logs(store, monkeypatch) -> None:
    monkeypatch.setenv("LEDGER_FI_CREDITORS", "657:81234567")
    with api_client(store["url"]) as client:
        invoices = client.get("/billing/invoices?municipality=657&min_position=1", headers=auth("clerk-657")).json()
        by_citizen = {i["citizen_id"]: i["number"] for i in invoices["invoices"]}
        number = by_citizen[store["keep"]]
        r = client.get(f"/billing/invoices/{number}.pdf", headers=auth("clerk-657"))
        assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
        text = _text(r.content)
        assert "Inger Østergaard" in text and "Herning Kommune" in text
        (pid,) = re.findall(r"\+71< (\d{15}) \+81234567<", text)
        assert fi_payment.is_valid(pid) and pid == fi_payment.payment_id(number)
        # The JSON answer carries the same id.
        assert client.get(f"/billing/invoices/{number}", headers=auth("clerk-657")).json()["invoice"]["payment_id"] == pid
        # An auditor reads billing data but may not address the citizen; another municipality's clerk is refused.
        assert client.get(f"/billing/invoices/{number}.pdf", headers=auth("auditor-657")).status_code == 403
        assert client.get(f"/billing/invoices/{number}.pdf", headers=auth("clerk-580")).status_code == 403
        assert client.get(f"/billing/invoices/{number}.pdf").status_code == 401
        assert client.get("/billing/invoices/657-999999.pdf", headers=auth("clerk-657")).status_code == 404
        log = client.get("/audit/access-log?limit=1000", headers=auth("auditor-all")).json()["entries"]
        mine = [(e["what"], e["outcome"]) for e in log if e["path"] == f"/billing/invoices/{number}.pdf"]
        assert ("billing:letter", "read") in mine and ("identity", "read") in mine
        assert any(e["user_id"] == "clerk-580" and e["outcome"] == "refused" for e in log)
        # The erased citizen's letter names nobody and says why.
        erased = _text(client.get(f"/billing/invoices/{by_citizen[store['erase']]}.pdf",
                                  headers=auth("clerk-657")).content)
        assert "identitet er slettet" in erased and "Erik" not in erased


def test_the_debit_note_letter_route_answers_only_for_debit_notes(store) -> None:
    with api_client(store["url"]) as client:
        clerk = auth("clerk-657")
        assert client.get("/billing/debit-notes/657-D00001.pdf", headers=clerk).status_code == 404  # none issued
        assert client.get("/billing/debit-notes/657-000001.pdf", headers=clerk).status_code == 404  # an invoice's
        assert client.get("/billing/debit-notes/657-D00001.pdf", headers=auth("auditor-657")).status_code == 403
        assert client.get("/billing/debit-notes/657-D00001.pdf").status_code == 401
