"""The web workplace in a real headless Chromium (Debian's package, driven by Playwright; never a
downloaded browser): sign in as each role, open each page, compare the figures shown with the
API's JSON answers, a clerk of another municipality is refused and logged, an invoice run with and
without its CSRF token, the letter PDF, offline /docs and /redoc, and a screenshot of each page.

One server (uvicorn in a thread) over one demo-like store and one browser per module. Set
LEDGER_WEB_SCREENSHOTS=docs/screenshots to refresh the committed screenshots.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers.api import auth, token_of
from ledger.domain import fi_payment
from ledger.web.fmt import day, kr, number
from tests.helpers import billing_factories as bf
from tests.helpers.costs import at_cost

CHROMIUM = os.environ.get("LEDGER_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
SHOTS = os.environ.get("LEDGER_WEB_SCREENSHOTS")

pytestmark = pytest.mark.timeout(300)


def _need_browser() -> None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("playwright is not installed; CI must run the browser tests")
        pytest.skip("playwright is not installed")
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing; CI must install chromium (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _store(url: str) -> dict[str, Any]:
    """billing_history (two municipalities, every kind of billing fact) plus names in the identity
    store and May deliveries not yet invoiced (for the invoice run form)."""
    ledger = bf.open_ledger(url)
    try:
        ids = bf.billing_history(ledger)
        for i, cid in enumerate(ids["citizens"]):
            ledger.identity.put(cid, f"01014{i}1234", f"Borger Nummer {i + 1}")
        h1 = ids["citizens"][0]
        may = bf.order(ledger, h1, "extra-cleaning", "2019-05-06", minutes=60)
        bf.deliver(ledger, may, "2019-05-06", 60)
        ids["may_delivery"] = may
        # Aabenraa: a price correction re-rates March, billed as debit note 580-D00001 on 580-000001
        # (its own payment id and letter); then the citizen over-pays, leaving credit to refund.
        a1 = ids["citizens"][2]
        bf.run(ledger, "correct_price_version", {
            "municipality": bf.AABENRAA, "offer_id": "extra-cleaning", "effective": "2018-06-01", "vat_class": "exempt",
            "prices": bf.prices(30_000), "cost_basis": at_cost(bf.prices(30_000)), "reason": "the wage basis was last year's"},
            role="catalogue_manager")
        (debit,) = bf.invoice_run(ledger, bf.AABENRAA, "2019-05", run_date="2019-06-01")["debit_notes"]
        ids["debit_note"], ids["debited_invoice"] = debit["number"], debit["invoice_number"]
        bf.pay(ledger, a1, 60_000, "2019-06-05")
        ids["head"] = ledger.head_position()
        return ids
    finally:
        ledger.close()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    _need_browser()
    import uvicorn

    from ledger.api.config import ApiConfig
    from ledger.api.main import create_app
    from tests.helpers.api import test_tokens
    from ledger.settings import Settings
    from tests.conftest import drop_pg_schema, fresh_pg_url, pg_ok

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'ledger.db'}"
    else:
        if not pg_ok():
            if os.environ.get("CI"):
                pytest.fail("PostgreSQL is not reachable; CI must test against it")
            pytest.skip("PostgreSQL is not reachable")
        url = fresh_pg_url()
    ids = _store(url)
    creditors = os.environ.get("LEDGER_FI_CREDITORS")
    os.environ["LEDGER_FI_CREDITORS"] = "*:81234567"  # read at each letter; restored below
    app = create_app(Settings(database_url=url), tokens=test_tokens(),
                     config=ApiConfig(follow=True, catch_up_seconds=0.1))
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    api = httpx.Client(base_url=base, timeout=30)
    deadline = time.time() + 30
    while time.time() < deadline:  # up, and the read models have the whole log
        try:
            if api.get("/billing/runs?municipality=657", headers=auth("clerk-657")).json().get("runs"):
                break
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.2)
    try:
        yield {"base": base, "api": api, "ids": ids, "url": url, "backend": request.param}
    finally:
        api.close()
        srv.should_exit = True
        thread.join(10)
        if creditors is None:
            os.environ.pop("LEDGER_FI_CREDITORS", None)
        else:
            os.environ["LEDGER_FI_CREDITORS"] = creditors
        if request.param == "postgres":
            drop_pg_schema(url)


@pytest.fixture(scope="module")
def browser(server: dict[str, Any]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class Session:
    def __init__(self, browser: Any, server: dict[str, Any], user: str) -> None:
        self.base, self.server, self.user = server["base"], server, user
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="da-DK")
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.page.goto(f"{self.base}/web/")
        assert "/web/sign-in" in self.page.url  # no session: sent to sign in
        self.page.fill("#token", token_of(user))
        self.page.click("#sign-in")
        self.page.wait_for_selector("#who")

    def go(self, path: str) -> Any:
        response = self.page.goto(self.base + path)
        return response

    def shot(self, name: str) -> None:
        if self.server["backend"] != "sqlite" or not SHOTS:
            return
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=False)

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def clerk(browser: Any, server: dict[str, Any]) -> Iterator[Session]:
    s = Session(browser, server, "clerk-657")
    yield s
    s.close()


def api(server: dict[str, Any], user: str, path: str) -> Any:
    r = server["api"].get(path, headers=auth(user))
    assert r.status_code == 200, (path, r.status_code, r.text)
    return r.json()


def _cells(page: Any, selector: str) -> list[str]:
    return [t.strip() for t in page.locator(selector).all_inner_texts()]


# -- sign-in ---------------------------------------------------------------------------------------

def test_sign_in_sets_an_httponly_samesite_cookie_and_a_wrong_token_is_refused(browser, server, clerk) -> None:
    (cookie,) = [c for c in clerk.context.cookies() if c["name"] == "ledger_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert clerk.page.evaluate("document.cookie").find("ledger_session") == -1  # scripts cannot read it
    ctx = browser.new_context()
    page = ctx.new_page()
    page.goto(server["base"] + "/web/sign-in")
    page.fill("#token", "not-a-token")
    page.click("#sign-in")
    assert page.locator("[role=alert]").is_visible()
    assert not [c for c in ctx.cookies() if c["name"] == "ledger_session"]
    ctx.close()


# -- billing ---------------------------------------------------------------------------------------

def test_invoices_page_shows_the_apis_invoices_and_totals(clerk, server) -> None:
    clerk.go("/web/billing?municipality=657")
    answer = api(server, "clerk-657", "/billing/invoices?municipality=657")["invoices"]
    numbers = _cells(clerk.page, "#invoice-table tbody tr td:first-child")
    assert numbers == [i["number"] for i in answer]
    assert _cells(clerk.page, "#invoice-table tbody td.gross") == [kr(i["gross"]) for i in answer]
    assert clerk.page.inner_text("#total-gross") == kr(sum(i["gross"] for i in answer))
    assert clerk.page.inner_text("#total-open") == kr(sum(i["open_amount"] for i in answer))
    assert re.search(r"\d{2}-\d{2}-\d{4}", clerk.page.inner_text("#invoice-table tbody"))  # Danish dates
    clerk.shot("billing-invoices")
    # The month filter swaps the table in place (htmx) and matches the API's month answer.
    clerk.page.select_option("select[name=month]", "2019-03")
    clerk.page.wait_for_url(re.compile(r"month=2019-03"))
    march = api(server, "clerk-657", "/billing/invoices?municipality=657&month=2019-03")["invoices"]
    clerk.page.wait_for_function(f"document.querySelectorAll('#invoice-table tbody tr').length === {len(march)}")
    assert clerk.page.inner_text("#total-gross") == kr(sum(i["gross"] for i in march))


def test_invoice_page_lines_payment_id_provenance_and_letter(clerk, server) -> None:
    answer = api(server, "clerk-657", "/billing/invoices/657-000001")["invoice"]
    clerk.go("/web/billing/invoices/657-000001")
    assert clerk.page.inner_text("#gross") == kr(answer["gross"])
    assert clerk.page.inner_text("#vat") == kr(answer["vat"])
    assert clerk.page.inner_text("#payment-id") == answer["payment_id"] == fi_payment.payment_id("657-000001")
    assert _cells(clerk.page, "#lines tbody td.gross") == [kr(line["gross"]) for line in answer["lines"]]
    assert clerk.page.locator("#credit-notes tbody tr").count() == max(1, len(answer["credit_notes"]))
    clerk.shot("billing-invoice")
    # The letter button answers a PDF whose slip line names this invoice's payment id.
    pdf = clerk.page.request.get(clerk.base + clerk.page.get_attribute("#pdf", "href"))
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    import io

    from pypdf import PdfReader

    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.body())).pages)
    name = f"Borger Nummer {server['ids']['citizens'].index(answer['citizen_id']) + 1}"
    assert f"+71< {answer['payment_id']} +81234567<" in text and name in text
    # A provenance link opens the event it names.
    link = clerk.page.locator("#lines a.ref").first
    ref = link.get_attribute("href")
    link.click()
    clerk.page.wait_for_selector("#events")
    version = ref.rsplit("#v", 1)[1]
    assert clerk.page.locator(f"#events tr#v{version}").count() == 1
    clerk.shot("billing-event")


def test_accounts_and_payments_pages_match_the_api(clerk, server) -> None:
    clerk.go("/web/billing/accounts?municipality=657&as_of=2019-06-30")
    balances = api(server, "clerk-657", "/billing/balances?municipality=657")["balances"]
    assert _cells(clerk.page, "#balances td.balance") == [kr(b["balance"]) for b in balances]
    opens = api(server, "clerk-657", "/billing/open-items?municipality=657")["open_items"]
    assert clerk.page.locator("#open-items tbody tr").count() == max(1, len(opens))
    ageing = api(server, "clerk-657", "/billing/ageing?municipality=657&as_of=2019-06-30")["ageing"]
    assert clerk.page.inner_text("#ageing tfoot th:last-child") == kr(sum(a["balance"] for a in ageing))
    clerk.shot("billing-accounts")
    clerk.go("/web/billing/payments?municipality=657")
    payments = api(server, "clerk-657", "/billing/payments?municipality=657")["payments"]
    assert clerk.page.inner_text("#payments-total") == kr(sum(p["amount"] for p in payments if not p["reversed"]))
    clerk.shot("billing-payments")


def test_a_clerk_of_another_municipality_is_refused_and_logged(browser, server) -> None:
    other = Session(browser, server, "clerk-580")
    try:
        response = other.go("/web/billing?municipality=657")
        assert response.status == 403
        assert "may not act in municipality 657" in other.page.inner_text("#problem")
        response = other.go("/web/billing/invoices/657-000001")
        assert response.status == 403
        other.shot("refused")
    finally:
        other.close()
    entries = api(server, "auditor-all", "/audit/access-log?user=clerk-580&limit=1000")["entries"]
    refused = [e for e in entries if e["outcome"] == "refused" and e["municipality"] == 657]
    assert {e["path"] for e in refused} >= {"/web/billing", "/web/billing/invoices/657-000001"}


def test_invoice_run_needs_the_csrf_token_and_is_idempotent(clerk, server) -> None:
    before = api(server, "clerk-657", "/billing/invoices?municipality=657&month=2019-05")["invoices"]
    assert before == []
    clerk.go("/web/billing/runs?municipality=657")
    clerk.shot("billing-runs")
    clerk.page.fill("#run-month", "2019-05")
    clerk.page.fill("#run-date", "2019-06-01")
    clerk.page.click("#invoice-run-form button")
    clerk.page.wait_for_selector("#confirm")
    assert "1" in clerk.page.inner_text("#preview-count")  # the one May delivery
    clerk.shot("billing-run-confirm")
    confirm_url = clerk.page.url
    # Without the CSRF token: refused, nothing recorded.
    clerk.page.evaluate("document.querySelector('#confirm-form input[name=csrf]').remove()")
    with clerk.page.expect_navigation():
        clerk.page.click("#confirm")
    assert "CSRF" in clerk.page.inner_text("#problem")
    assert api(server, "clerk-657", "/billing/invoices?municipality=657&month=2019-05")["invoices"] == []
    # With it: the run issues the invoice; sending the same form again replays the first answer.
    clerk.go(confirm_url.replace(clerk.base, ""))
    command_id = clerk.page.get_attribute("input[name=command_id]", "value")
    with clerk.page.expect_navigation():
        clerk.page.click("#confirm")
    assert clerk.page.inner_text("#issued-count") == "1"
    clerk.shot("billing-run-done")
    clerk.go(confirm_url.replace(clerk.base, ""))
    clerk.page.evaluate(f"document.querySelector('input[name=command_id]').value = '{command_id}'")
    with clerk.page.expect_navigation():
        clerk.page.click("#confirm")
    assert clerk.page.locator("#replayed").is_visible()
    deadline = time.time() + 10
    while time.time() < deadline:
        may = api(server, "clerk-657", "/billing/invoices?municipality=657&month=2019-05")["invoices"]
        if may:
            break
        time.sleep(0.2)
    assert len(may) == 1


def test_the_finance_export_downloads(clerk, server) -> None:
    r = clerk.page.request.get(clerk.base + "/billing/export.csv?municipality=657&month=2019-03")
    assert r.status == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.text() == server["api"].get("/billing/export.csv?municipality=657&month=2019-03",
                                         headers=auth("clerk-657")).text


# -- debit notes, refunds (Aabenraa: a re-rated March and a citizen with credit) -----------------------

@pytest.fixture(scope="module")
def clerk580(browser: Any, server: dict[str, Any]) -> Iterator[Session]:
    s = Session(browser, server, "clerk-580")
    yield s
    s.close()


def _pdf_text(body: bytes) -> str:
    import io

    from pypdf import PdfReader

    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(body)).pages)


def test_invoice_page_lists_its_debit_notes_with_their_own_payment_id_and_letter(clerk580, server) -> None:
    ids = server["ids"]
    answer = api(server, "clerk-580", f"/billing/invoices/{ids['debited_invoice']}?min_position={ids['head']}")["invoice"]
    (note,) = answer["debit_notes"]
    assert note["number"] == ids["debit_note"]
    clerk580.go(f"/web/billing/invoices/{ids['debited_invoice']}")
    row = clerk580.page.locator(f"#debit-notes tr[data-number='{note['number']}']")
    cells = [t.strip() for t in row.locator("td").all_inner_texts()]
    assert cells[:4] == [note["number"], note["payment_id"], day(note["issued_on"]), day(note["due_on"])]
    assert row.locator("td.gross").inner_text() == kr(note["gross"]) and kr(note["gross"]).endswith(" kr.")
    assert note["payment_id"] == fi_payment.payment_id(note["number"]) != answer["payment_id"]  # its own +71 id
    # Its credit notes are listed too, as the API has them.
    assert _cells(clerk580.page, "#credit-notes tbody tr td:first-child") == [
        c["number"] for c in answer["credit_notes"]] != []
    clerk580.shot("billing-invoice-debit-notes")
    # The row's letter link opens the debit note's own letter with its own slip.
    href = row.locator("a.letter").get_attribute("href")
    assert href == f"/web/billing/debit-notes/{note['number']}.pdf"
    pdf = clerk580.page.request.get(clerk580.base + href)
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    text = _pdf_text(pdf.body())
    assert f"Debetnota {note['number']}" in text and f"+71< {note['payment_id']} +81234567<" in text


def test_the_invoice_letter_given_a_debit_note_number_is_a_404_naming_the_debit_note_route(clerk580, server) -> None:
    number = server["ids"]["debit_note"]
    response = clerk580.go(f"/web/billing/invoices/{number}.pdf")
    assert response.status == 404 and response.headers["content-type"].startswith("text/html")
    assert f"/web/billing/debit-notes/{number}.pdf" in clerk580.page.inner_text("#problem")
    assert clerk580.page.get_attribute("#problem", "data-code") == "not-found"
    r = server["api"].get(f"/billing/invoices/{number}.pdf", headers=auth("clerk-580"))
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert f"GET /billing/debit-notes/{number}.pdf" in r.json()["detail"]
    r = server["api"].get("/billing/invoices/580-R00001.pdf", headers=auth("clerk-580"))
    assert r.status_code == 404 and "GET /billing/refunds?municipality=580" in r.json()["detail"]


def test_a_clerk_refunds_credit_in_the_browser_and_a_refusal_stores_nothing(clerk580, server) -> None:
    ids = server["ids"]
    a1 = ids["citizens"][2]
    (before,) = api(server, "clerk-580", f"/billing/balances?municipality=580&min_position={ids['head']}")["balances"]
    credit = before["credit"]
    assert credit > 0 and before["refunded"] == 0
    page = clerk580.page
    clerk580.go(f"/web/billing/payments?municipality=580&citizen_id={a1}")
    assert page.locator("#refunds tbody tr td[colspan]").count() == 1  # none yet
    # The over-payment paid the debit note too: that allocation links to the debit note's letter.
    assert page.locator(f"#payments a[href='/web/billing/debit-notes/{ids['debit_note']}.pdf']").count() == 1
    # More than the credit: refused with the rule's message, nothing recorded.
    page.fill("#refund-amount", kr(credit + 1, unit=False))
    page.fill("#refund-reason", "overpaid 580-000001")
    with page.expect_navigation():
        page.click("#refund")
    assert page.get_attribute("#refund-problem", "data-code") == "refund-exceeds-credit"
    assert f"exceeds the credit on the account ({kr(credit)})" in page.inner_text("#refund-problem")
    assert api(server, "clerk-580", "/billing/refunds?municipality=580")["refunds"] == []
    clerk580.shot("billing-refund-refused")
    # Within the credit: numbered, shown, listed; the form kept the citizen and the reason.
    amount = credit - 2_550
    page.fill("#refund-amount", kr(amount, unit=False))
    page.fill("#refund-reference", "bank-580-1")
    with page.expect_navigation():
        page.click("#refund")
    assert page.inner_text("#refund-number") == "580-R00001"
    row = page.locator("#refunds tr[data-number='580-R00001']")
    assert [t.strip() for t in row.locator("td").all_inner_texts()] == [
        "580-R00001", day(date.today()), a1[:8], "NemKonto", "bank-580-1",
        "overpaid 580-000001", kr(amount)]
    clerk580.shot("billing-refunds")
    (refund,) = api(server, "clerk-580", "/billing/refunds?municipality=580")["refunds"]
    assert (refund["number"], refund["citizen_id"], refund["amount"]) == ("580-R00001", a1, amount)
    (after,) = api(server, "clerk-580", "/billing/balances?municipality=580")["balances"]
    assert (after["refunded"], after["credit"]) == (amount, credit - amount)


def test_the_accounts_page_shows_the_refunded_column_as_the_apis_balances(clerk580, server) -> None:
    clerk580.go("/web/billing/accounts?municipality=580")
    balances = api(server, "clerk-580", f"/billing/balances?municipality=580&min_position={server['ids']['head']}")[
        "balances"]
    headers = _cells(clerk580.page, "#balances thead th")
    column = headers.index("Tilbagebetalt") + 1  # Danish by default, like the other columns
    assert headers[column - 2:column + 1] == ["Betalt", "Tilbagebetalt", "Skyldig"]
    assert _cells(clerk580.page, f"#balances tbody td:nth-child({column})") == [kr(b["refunded"]) for b in balances]
    assert any(b["refunded"] for b in balances)  # the refund above
    assert _cells(clerk580.page, "#balances td.balance") == [kr(b["balance"]) for b in balances]
    clerk580.shot("billing-accounts-refunded")


def test_an_auditor_sees_the_refunds_but_no_refund_form(browser, server) -> None:
    s = Session(browser, server, "auditor-all")
    try:
        assert s.go("/web/billing/payments?municipality=580").status == 200
        assert s.page.locator("#refunds").count() == 1 and s.page.locator("#refund-form").count() == 0
    finally:
        s.close()


# -- auditor ---------------------------------------------------------------------------------------

def test_auditor_pages(browser, server) -> None:
    from replay.store import Store

    from ledger.db import Database

    s = Session(browser, server, "auditor-all")
    try:
        s.go("/web/audit?municipality=657")
        db = Database(server["url"])
        try:
            top, _ = Store(db).bounds()
            head = Store(db).chain_hashes([top])[top].hex()
        finally:
            db.close()
        assert int(s.page.inner_text("#chain-length")) >= 1
        length = int(s.page.inner_text("#chain-length"))
        assert length <= top and len(s.page.inner_text("#chain-head")) == 64
        if length == top:
            assert s.page.inner_text("#chain-head") == head
        runs = api(server, "auditor-all", "/billing/runs?municipality=657")["runs"]
        assert s.page.locator("#run-heads tbody tr").count() == len(runs)
        assert "✗" not in s.page.inner_text("#run-heads")
        with s.page.expect_navigation():
            s.page.click("#run-verify")
        assert s.page.inner_text("#verify-result").startswith("OK")
        s.shot("audit-chain")
        s.go("/web/audit/invoices/657-000001")
        assert s.page.inner_text("#reproduction") == "OK"
        s.shot("audit-reproduction")
        citizen = server["ids"]["citizens"][0]
        s.go(f"/web/billing?municipality=657&citizen_id={citizen}")  # a read of this citizen's billing data
        s.go(f"/web/audit/access-log?citizen_id={citizen}")
        shown = s.page.locator("#access-log tbody tr:not(:has(td[colspan]))").count()
        entries = api(server, "auditor-all", f"/audit/access-log?citizen_id={citizen}&limit=1000")["entries"]
        # The API's answer also holds the page's own read, logged after the page's query.
        assert entries[-1]["path"] == "/web/audit/access-log" and shown == len(entries) - 1 > 0
        s.page.fill("input[name=user]", "clerk-580")
        s.page.fill("input[name=citizen_id]", "")
        s.page.click("#search")
        s.page.wait_for_url(re.compile(r"user=clerk-580"))
        s.page.wait_for_function("[...document.querySelectorAll('#access-log tbody tr td:nth-child(3)')]"
                                 ".every(td => td.innerText === 'clerk-580')")
        s.shot("audit-access-log")
    finally:
        s.close()


# -- evaluator ---------------------------------------------------------------------------------------

def test_evaluator_timeline_and_charts(browser, server) -> None:
    s = Session(browser, server, "evaluator-all")
    try:
        s.go("/web/evaluation?municipality=657&as_of=2019-04-15")
        answer = api(server, "evaluator-all", "/timeline?municipality=657&as_of=2019-04-15")
        assert s.page.inner_text("#total-buyers") == number(answer["totals"]["buyers"])
        s.page.wait_for_selector("#charts[data-ready='1']", timeout=20_000)
        for chart in ("buyers", "flows", "revenue", "granted", "prices"):
            assert s.page.get_attribute(f"#chart-{chart}", "data-drawn") == "1"
        s.shot("evaluation")
        s.go("/web/evaluation?municipality=network&as_of=2019-04-15&known_at=2019-01-01")
        network = api(server, "evaluator-all", "/timeline?as_of=2019-04-15&known_at=2019-01-01")
        assert s.page.inner_text("#total-buyers") == number(network["totals"]["buyers"])
        zipped = s.page.request.get(s.base + "/web/evaluation/export.zip?municipality=657")
        assert zipped.status == 200 and zipped.body()[:2] == b"PK"
        # An evaluator reads no billing data.
        assert s.go("/web/billing?municipality=657").status == 403
    finally:
        s.close()


# -- offline API docs --------------------------------------------------------------------------------

def test_docs_and_redoc_render_offline(browser, server) -> None:
    ctx = browser.new_context()
    outside: list[str] = []

    def only_local(route: Any) -> None:
        if route.request.url.startswith(server["base"]):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    ctx.route("**/*", only_local)
    page = ctx.new_page()
    page.goto(server["base"] + "/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
    assert "add-on ledger" in page.inner_text(".swagger-ui .info .title")
    page.goto(server["base"] + "/redoc")
    page.wait_for_selector("h1", timeout=20_000)
    assert "add-on ledger" in page.inner_text("h1")
    assert outside == []
    ctx.close()


def test_language_setting_audit_signals_and_sign_out(browser, server) -> None:
    s = Session(browser, server, "auditor-657")
    try:
        s.go("/web/audit")
        assert s.page.inner_text("h1") == "Kædens tilstand"  # Danish by default
        with s.page.expect_navigation():
            s.page.click("text=English")
        assert s.page.inner_text("h1") == "Chain state" and "/web/audit" in s.page.url
        assert s.go("/web/audit?municipality=580").status == 403  # not this auditor's municipality
        s.go("/web/evaluation?municipality=657&as_of=2019-04-15")
        assert s.page.locator("#audit-signals tbody tr").count() >= 3  # auditors also see the audit's signals
        s.go("/web/audit")
        with s.page.expect_navigation():
            s.page.click("header form button")
        assert "/web/sign-in" in s.page.url
        s.go("/web/audit")
        assert "/web/sign-in" in s.page.url  # the session is gone
    finally:
        s.close()
