"""Acceptance, through the HTTP API on both backends: a payment the bank reverses after its money
was refunded as credit (docs/adr/0029, round 9). The reversal is recorded; what was paid out
becomes a claim on the citizen (657-B00001), listed, owed, reminded and paid like an invoice; each
payment says how much of it was refunded; and the invoice route, given another series' number,
names the route that serves it.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers.api import api_client, auth, build_world, ok

CLERK = auth("clerk-657")


@pytest.fixture
def client(database_url):
    with api_client(database_url) as c:
        yield c


def _get(client: Any, path: str, position: int, **params: Any) -> dict[str, Any]:
    return ok(client.get(path, headers=CLERK, params={"municipality": 657, "min_position": position, **params}))


def _run(client: Any, path: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
    return ok(client.post(path, headers=CLERK, json=body), status)


def test_a_payment_reversed_after_its_credit_was_refunded_leaves_a_claim_the_citizen_pays(client):
    c = build_world(client, citizens_per_municipality=1).citizens[657][0]
    paid = _run(client, "/payments", {"citizen_id": c, "amount": 50_000, "date": "2019-03-11",
                                      "method": "bank_transfer", "payment_id": "bank-1"})
    # Nothing is invoiced, so all of it is credit; 300,00 kr. of it is paid out.
    refunded = _run(client, "/payments/refunds", {"citizen_id": c, "amount": 30_000, "date": "2019-03-12",
                                                  "method": "nemkonto", "reason": "overpaid"})
    assert refunded["result"]["refund_number"] == "657-R00001"
    (payment,) = _get(client, "/billing/payments", refunded["position"], citizen_id=c)["payments"]
    # The payment's leftover fell by what was refunded of it: 500 − 0 allocated − 300 refunded.
    assert (payment["allocated"], payment["refunded"], payment["unallocated"]) == (0, 30_000, 20_000)

    # The bank reverses the payment: recorded, and the 300,00 kr. paid out is owed back.
    reversal = _run(client, f"/payments/{c}/{paid['result']['payment_id']}/reversal",
                    {"date": "2019-03-20", "reason": "the transfer bounced"}, 200)
    assert (reversal["result"]["claim_number"], reversal["result"]["claim_ore"]) == ("657-B00001", 30_000)
    at = reversal["position"]
    (claim,) = _get(client, "/billing/claims", at)["claims"]
    assert (claim["number"], claim["citizen_id"], claim["payment_id"], claim["refunds"]) == (
        "657-B00001", c, "bank-1", ["657-R00001"])
    assert (claim["issued_on"], claim["due_on"], claim["amount"], claim["open_amount"]) == (
        "2019-03-20", "2019-04-03", 30_000, 30_000)
    (balance,) = _get(client, "/billing/balances", at, citizen_id=c)["balances"]
    assert (balance["paid"], balance["refunded"], balance["credit"], balance["owed"], balance["balance"]) == (
        0, 30_000, 0, 30_000, 30_000)
    assert balance["balance"] == balance["invoiced"] + balance["fees"] - balance["credited"] - balance["paid"] \
        + balance["refunded"]
    (item,) = _get(client, "/billing/open-items", at, citizen_id=c)["open_items"]
    assert (item["number"], item["kind"], item["month"], item["open_amount"]) == ("657-B00001", "claim", None, 30_000)
    (payment,) = _get(client, "/billing/payments", at, citizen_id=c)["payments"]
    assert (payment["reversed"], payment["refunded"], payment["unallocated"]) == (True, 0, 0)
    ageing = _get(client, "/billing/ageing", at, as_of="2019-04-10")["ageing"]
    assert [(a["citizen_id"], a["days_1_30"]) for a in ageing] == [(c, 30_000)]

    # Reversing it again is refused and stores nothing: no second claim number is taken.
    problem = client.post(f"/payments/{c}/bank-1/reversal", headers=CLERK, json={"date": "2019-03-21", "reason": "x"})
    assert problem.status_code == 422 and problem.json()["rule"] == "already-reversed"
    assert [x["number"] for x in _get(client, "/billing/claims", at)["claims"]] == ["657-B00001"]

    # Overdue: the reminder run reminds it as it does an invoice, with its fee.
    reminded = _run(client, "/billing/reminders", {"municipality": 657, "date": "2019-04-10"}, 200)
    (reminder,) = _get(client, "/billing/reminders", reminded["position"], citizen_id=c)["reminders"]
    assert (reminder["invoice_number"], reminder["sequence"]) == ("657-B00001", 1)
    (claim,) = _get(client, "/billing/claims", reminded["position"])["claims"]
    assert (claim["fees"], claim["reminder_count"], claim["open_amount"]) == (
        reminder["fee"], 1, 30_000 + reminder["fee"])

    # A later payment settles it through the normal allocation.
    settled = _run(client, "/payments", {"citizen_id": c, "amount": 30_000 + reminder["fee"], "date": "2019-04-12",
                                         "method": "bank_transfer", "reference": "657-B00001"})
    at = settled["position"]
    assert _get(client, "/billing/open-items", at, citizen_id=c)["open_items"] == []
    (claim,) = _get(client, "/billing/claims", at)["claims"]
    assert claim["open_amount"] == 0
    (balance,) = _get(client, "/billing/balances", at, citizen_id=c)["balances"]
    assert (balance["balance"], balance["credit"]) == (0, 0)


@pytest.mark.parametrize(("number", "names"), [
    ("657-D00001", "GET /billing/debit-notes/657-D00001.pdf"),
    ("657-K00001", "GET /billing/credit-notes?municipality=657"),
    ("657-R00001", "GET /billing/refunds?municipality=657"),
    ("657-B00001", "GET /billing/claims?municipality=657"),
])
def test_the_invoice_route_given_another_series_number_is_a_404_naming_its_route(client, number, names):
    r = client.get(f"/billing/invoices/{number}", headers=CLERK)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert names in r.json()["detail"] and "not an invoice" in r.json()["detail"]
    # An invoice number that is not there is still "no invoice".
    r = client.get("/billing/invoices/657-000099", headers=CLERK)
    assert r.status_code == 404 and "has no invoice 657-000099" in r.json()["detail"]
