"""The workplace's refund form and the letter routes' refusals, through HTTP with a session cookie
(the browser half is in test_web_workplace.py): a refund within the credit is numbered and listed,
a second submit of the same form replays it, a refusal (more than the credit, a bad amount, no CSRF
token, a role without the command, another municipality's citizen) stores nothing; and the invoice
letter routes, given a debit-note, credit-note or refund number, answer 404 naming the right route.
A payment reversed after its credit was refunded shows its claim on the payments and accounts pages."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ledger.web.fmt import kr
from ledger.web.session import COOKIE, cookie_value
from tests.helpers import billing_factories as bf
from tests.helpers.api import api_client, auth, token_of

CREDIT = 15_000  # øre the citizen holds as credit after over-paying


@pytest.fixture
def store(database_url: str) -> dict[str, Any]:
    """One Herning citizen invoiced for March and over-paid by 150,00 kr.; one without credit."""
    ledger = bf.open_ledger(database_url)
    try:
        bf.herning(ledger)
        rich, poor = bf.citizen(ledger, bf.HERNING), bf.citizen(ledger, bf.HERNING)
        for cid in (rich, poor):
            bf.deliver(ledger, bf.order(ledger, cid, "extra-cleaning", "2019-03-04", minutes=60), "2019-03-04", 60)
        invoices = {i["citizen_id"]: i for i in bf.invoice_run(ledger, bf.HERNING, "2019-03")["invoices"]}
        payment = bf.pay(ledger, rich, invoices[rich]["gross"] + CREDIT, "2019-04-10")
        head = ledger.head_position()
    finally:
        ledger.close()
    return {"url": database_url, "rich": rich, "poor": poor, "invoice": invoices[rich]["number"], "head": head,
            "payment": payment}


def _signed_in(client: Any, user: str) -> Any:
    client.cookies.set(COOKIE, cookie_value(token_of(user)))
    return client


def _form(html: str) -> dict[str, str]:
    """The hidden fields of the refund form (CSRF token, command id, municipality)."""
    form = html[html.index('id="refund-form"'):]
    return dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', form[:form.index("</form>")]))


def _refund(client: Any, hidden: dict[str, str], **fields: str) -> Any:
    data = {**hidden, "on": "2019-05-01", "method": "nemkonto", "reason": "overpaid", **fields}
    return client.post("/web/billing/refunds", data=data)


def _numbers(client: Any) -> list[str]:
    got = client.get("/billing/refunds?municipality=657&min_position=1", headers=auth("clerk-657")).json()
    return [r["number"] for r in got["refunds"]]


def _events(url: str) -> int:
    ledger = bf.open_ledger(url)
    try:
        return ledger.head_position()
    finally:
        ledger.close()


def test_a_clerk_refunds_credit_from_the_payments_page_and_sees_its_number(store) -> None:
    with api_client(store["url"]) as client:
        page = _signed_in(client, "clerk-657").get(f"/web/billing/payments?municipality=657&citizen_id={store['rich']}")
        assert page.status_code == 200 and 'id="refund-form"' in page.text
        hidden = _form(page.text)
        done = _refund(client, hidden, citizen_id=store["rich"], amount="100,50")
        assert done.status_code == 200, done.text
        assert re.search(r'id="refund-number">657-R00001<', done.text)
        assert kr(10_050) in done.text
        # The list on the same answer already shows it (the page waited for its own write).
        row = done.text[done.text.index('data-number="657-R00001"'):]
        assert kr(10_050) in row[:row.index("</tr>")] and "01-05-2019" in row[:row.index("</tr>")]
        # The same form sent again is the same command: its first answer, no second refund.
        again = _refund(client, hidden, citizen_id=store["rich"], amount="100,50")
        assert again.status_code == 200 and 'id="replayed"' in again.text and "657-R00001" in again.text
        assert _numbers(client) == ["657-R00001"]
        balance = client.get(f"/billing/balances?municipality=657&citizen_id={store['rich']}",
                             headers=auth("clerk-657")).json()["balances"][0]
        assert (balance["refunded"], balance["credit"]) == (10_050, CREDIT - 10_050)
        # The accounts page shows the refunded column as the API has it.
        accounts = client.get(f"/web/billing/accounts?municipality=657&citizen_id={store['rich']}").text
        assert f'<td class="n refunded">{kr(10_050)}</td>' in accounts


@pytest.mark.parametrize("fields, status, code", [
    ({"amount": "150,01"}, 422, "refund-exceeds-credit"),  # one øre more than the credit
    ({"amount": "1,234"}, 400, "invalid-request"),  # three decimals: not Danish kroner
    ({"amount": "0"}, 422, "invalid-input"),  # the domain refuses an amount of nothing
    ({"amount": "10", "on": "2999-01-01"}, 400, "invalid-request"),  # beyond the dates the API takes
    ({"amount": "10", "method": "giro"}, 400, "invalid-request"),
    ({"amount": "10", "reason": ""}, 400, "invalid-request"),
    ({"amount": "10", "citizen_id": "nobody"}, 400, "invalid-request"),
    ({"amount": "10", "citizen_id": "8d5b4c8e-0000-4000-8000-000000000000"}, 404, "not-found"),
])
def test_a_refused_refund_shows_why_and_stores_nothing(store, fields, status, code) -> None:
    with api_client(store["url"]) as client:
        hidden = _form(_signed_in(client, "clerk-657").get("/web/billing/payments?municipality=657").text)
        r = _refund(client, hidden, **{"citizen_id": store["rich"], **fields})
        assert r.status_code == status, r.text[:500]
        problem = re.search(r'id="refund-problem" data-code="([^"]+)">([^<]+)', r.text)
        assert problem is not None and problem.group(1) == code, r.text[:800]
        if code == "refund-exceeds-credit":
            # The domain's message, its amounts in Danish kroner for the clerk.
            assert "a refund of 150,01 kr. on 2019-05-01 exceeds the credit on the account (150,00 kr.)" in problem.group(2)
        # The form keeps what was typed, with a fresh command id (nothing was stored under the old one).
        assert f'value="{fields["amount"]}"' in r.text and _form(r.text)["command_id"] != hidden["command_id"]
        assert _numbers(client) == []
    assert _events(store["url"]) == store["head"]  # no event, no number taken


def test_a_citizen_without_credit_is_refused(store) -> None:
    with api_client(store["url"]) as client:
        hidden = _form(_signed_in(client, "clerk-657").get("/web/billing/payments?municipality=657").text)
        r = _refund(client, hidden, citizen_id=store["poor"], amount="1,00")
        assert r.status_code == 422 and 'data-code="refund-exceeds-credit"' in r.text
    assert _events(store["url"]) == store["head"]


def test_the_refund_form_needs_its_csrf_token_the_role_and_the_municipality(store) -> None:
    with api_client(store["url"]) as client:
        hidden = _form(_signed_in(client, "clerk-657").get("/web/billing/payments?municipality=657").text)
        r = _refund(client, {**hidden, "csrf": "forged"}, citizen_id=store["rich"], amount="10")
        assert r.status_code == 403 and "CSRF" in r.text
        # A form claiming a page of another municipality is refused before the command runs.
        r = _refund(client, {**hidden, "municipality": "580"}, citizen_id=store["rich"], amount="10")
        assert r.status_code == 403 and "may not act in municipality 580" in r.text
        # An auditor reads the refunds but has no form, and a forged post of it is refused.
        auditor = _signed_in(client, "auditor-657").get("/web/billing/payments?municipality=657")
        assert auditor.status_code == 200 and 'id="refunds"' in auditor.text and 'id="refund-form"' not in auditor.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', auditor.text).group(1)
        r = _refund(client, {**hidden, "csrf": csrf}, citizen_id=store["rich"], amount="10")
        assert r.status_code == 403 and "may not give the command refund_credit" in r.text
        # Aabenraa's clerk may refund, but not a Herning citizen's credit.
        page = _signed_in(client, "clerk-580").get("/web/billing/payments?municipality=580")
        r = _refund(client, _form(page.text), citizen_id=store["rich"], amount="10")
        assert r.status_code == 403 and "may not act in municipality 657" in r.text
    assert _events(store["url"]) == store["head"]


@pytest.mark.parametrize("number, where", [
    ("657-D00001", "GET /billing/debit-notes/657-D00001.pdf"),
    ("657-R00001", "GET /billing/refunds?municipality=657"),
    ("657-K00001", "the invoice it credits lists it"),
    ("657-B00001", "GET /billing/claims?municipality=657"),
])
def test_the_invoice_letter_route_refuses_other_series_naming_where_they_are(store, number, where) -> None:
    with api_client(store["url"]) as client:
        r = client.get(f"/billing/invoices/{number}.pdf", headers=auth("clerk-657"))
        assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
        assert where in r.json()["detail"] and r.json()["code"] == "not-found"
        web = _signed_in(client, "clerk-657").get(f"/web/billing/invoices/{number}.pdf")
        assert web.status_code == 404 and web.headers["content-type"].startswith("text/html")
        assert where.replace("GET /billing/refunds", "/web/billing/payments").replace(
            "GET /billing/claims", "/web/billing/payments").replace("GET /billing/", "/web/billing/") in web.text
    # The reverse, as before: the debit-note route names the invoice's letter.
    with api_client(store["url"]) as client:
        r = client.get(f"/billing/debit-notes/{store['invoice']}.pdf", headers=auth("clerk-657"))
        assert r.status_code == 404 and f"GET /billing/invoices/{store['invoice']}.pdf" in r.json()["detail"]


def test_the_refunds_address_sends_a_browser_to_the_payments_page(store) -> None:
    with api_client(store["url"]) as client:
        r = _signed_in(client, "clerk-657").get("/web/billing/refunds?municipality=657", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/web/billing/payments?municipality=657"


def test_a_claim_after_a_reversed_refunded_payment_shows_on_the_payments_and_accounts_pages(store) -> None:
    ledger = bf.open_ledger(store["url"])
    try:
        bf.refund(ledger, store["rich"], CREDIT, "2019-04-20")
        (payment,) = [p for p in bf.q_payments(ledger) if p["payment_id"] == store["payment"]]
        # Before the bounce: what was refunded of the payment is no longer unallocated.
        assert (payment["refunded"], payment["unallocated"]) == (CREDIT, 0)
        answer = bf.reverse(ledger, store["rich"], store["payment"], "2019-04-25")
    finally:
        ledger.close()
    assert (answer["claim_number"], answer["claim_ore"]) == ("657-B00001", CREDIT)
    with api_client(store["url"]) as client:
        page = _signed_in(client, "clerk-657").get(
            f"/web/billing/payments?municipality=657&citizen_id={store['rich']}&min_position=1")
        assert page.status_code == 200
        claims = page.text[page.text.index('id="claims"'):]
        row = claims[claims.index('data-number="657-B00001"'):]
        row = row[:row.index("</tr>")]
        assert store["payment"] in row and "657-R00001" in row and f'<td class="n open">{kr(CREDIT)}</td>' in row
        paid = page.text[page.text.index(f'data-payment="{store["payment"]}"'):]
        assert f'<td class="n unallocated">{kr(0)}</td>' in paid[:paid.index("</tr>")]
        accounts = client.get(f"/web/billing/accounts?municipality=657&citizen_id={store['rich']}").text
        assert f'<td class="n refunded">{kr(CREDIT)}</td>' in accounts
        assert f'href="/web/billing/payments?municipality=657&citizen_id={store["rich"]}#claims">657-B00001</a>' \
            in accounts
        # The invoice page given the claim's number names where claims are listed.
        r = client.get("/web/billing/invoices/657-B00001")
        assert r.status_code == 404 and "/web/billing/payments?municipality=657 lists it" in r.text
