"""The web's invoice run answer shows what the run did besides invoices: the debit and credit notes of
its re-rating, and what it did not bill because it is past the limitation period (conventions
l.11-13: 'report what falls outside it instead of billing it'). Through HTTP with a session cookie."""

from __future__ import annotations

import re
from typing import Any

from ledger.web.session import COOKIE, cookie_value
from tests.helpers import billing_factories as bf
from tests.helpers.api import api_client, token_of
from tests.helpers.costs import at_cost


def _hidden(html: str) -> dict[str, str]:
    form = html[html.index('id="confirm-form"'):]
    return dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', form[:form.index("</form>")]))


def _run(client: Any, month: str, on: str) -> str:
    page = client.get("/web/billing/runs/invoices/confirm", params={"municipality": 657, "month": month, "on": on})
    assert page.status_code == 200, page.text
    done = client.post("/web/billing/runs/invoices", data=_hidden(page.text))
    assert done.status_code == 200, done.text
    return done.text


def test_the_run_answer_lists_its_notes_and_what_the_limitation_period_kept_out(database_url):
    ledger = bf.open_ledger(database_url)
    try:
        bf.herning(ledger)
        cid = bf.citizen(ledger, bf.HERNING)
        o = bf.order(ledger, cid, "extra-cleaning", "2018-07-02", kind="recurring", every_weeks=1, minutes=60)
        bf.deliver(ledger, o, "2019-01-07", 60)
        bf.invoice_run(ledger, bf.HERNING, "2019-01")
        prices = {"weekday_day": 36_400, "evening": 66_500, "weekend": 49_600}
        bf.run(ledger, "correct_price_version", {
            "municipality": bf.HERNING, "offer_id": "extra-cleaning", "effective": "2018-06-01",
            "vat_class": "exempt", "prices": prices, "cost_basis": at_cost(prices), "reason": "wage basis"},
            role="catalogue_manager")
        bf.deliver(ledger, o, "2018-07-02", 60)  # recorded years late
    finally:
        ledger.close()
    with api_client(database_url) as client:
        client.cookies.set(COOKIE, cookie_value(token_of("clerk-657")))
        html = _run(client, "2021-12", "2022-01-03")
    assert re.search(r'id="debit-notes-count">1<', html)  # the January 2019 visit re-rated: +10,00 kr.
    assert "657-D00001" in html and "10,00 kr." in html
    barred = html[html.index('id="barred"'):]
    assert re.search(r'id="barred-count">1<', html)
    assert "2018-07" in barred and "aldrig faktureret" in barred and "364,00 kr." in barred
