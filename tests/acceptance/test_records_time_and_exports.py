"""Acceptance probe: personal data and erasure, the two times (as of D, as known at K), the
exports programs read, and bad input at the edges, through the API and the CLI.

Citations: /work/shared/domain.md ("domain.md l.N"). The history is made by `Ledger.execute` with
recorded instants of its own (`tests.helpers.history.run`), so "as known at K" has a past to see.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

from ledger.web.session import COOKIE, cookie_value
from tests.helpers.api import api_client, auth, ok, token_of
from tests.helpers.cli import invoke
from tests.helpers.history import herning, open_ledger, run, stored_rows

CPR, NAME = "001399-0042", "Testa Fiktivsen"  # day 00, month 13: never a real person's number
BEFORE_END, AFTER_END = "2019-04-10T12:00:00Z", "2019-04-21T12:00:00Z"


@pytest.fixture
def history(database_url):
    """Herning; one citizen (with an identity) granted cleaning from 2018; two hours of extra
    cleaning in March 2019 (4th and 18th), invoiced on 1 April; on 20 April the grant is ended
    back-dated to 10 March (so the 18 March visit was not owed). -> (url, citizen id)"""
    ledger = open_ledger(database_url)
    try:
        herning(ledger)
        cid = run(ledger, "register_citizen", {"municipality": 657, "effective": "2018-01-01", "residence": "own_home",
                                               "identity": {"cpr": CPR, "name": NAME}}).result["citizen_id"]
        run(ledger, "award_grant", {"citizen_id": cid, "grant_id": "g", "fsiii": "H1.8", "section": "83",
                                    "amount": {"minutes_per_week": 60}, "valid_from": "2018-01-01"})
        o = run(ledger, "place_order", {"citizen_id": cid, "offer_id": "extra-cleaning", "kind": "recurring",
                                        "start": "2019-03-01", "every_weeks": 2, "minutes": 60},
                "2019-02-20T09:00:00Z").result["order_id"]
        for day in ("04", "18"):
            run(ledger, "record_delivery", {"order_id": o, "date": f"2019-03-{day}", "band": "weekday_day",
                                            "minutes": 60, "staff_id": "s-1"}, f"2019-03-{day}T15:00:00Z")
        run(ledger, "run_invoices", {"municipality": 657, "month": "2019-03", "run_date": "2019-04-01"},
            "2019-04-01T06:00:00Z")
        run(ledger, "end_grant", {"citizen_id": cid, "grant_id": "g", "last_day": "2019-03-10"},
            "2019-04-20T09:00:00Z")
    finally:
        ledger.close()
    return database_url, cid


# -- personal data (domain.md l.86-92) ------------------------------------------------------------

def test_events_carry_a_pseudonym_never_the_cpr_number_or_name(history):
    """domain.md l.88-89: 'Events are kept for good, so they must not carry CPR numbers or names:
    events carry a pseudonymous citizen id'."""
    url, _ = history
    ledger = open_ledger(url)
    try:
        blob = b"".join(row[4] for row in stored_rows(ledger))
    finally:
        ledger.close()
    for secret in (CPR, CPR.replace("-", ""), NAME):
        assert secret.encode() not in blob


@pytest.mark.parametrize("reason", ["Jens H. 010150-1234 was in hospital", "cpr 0101501234"])
def test_free_text_that_carries_a_cpr_number_is_refused_and_nothing_is_stored(history, reason):
    """domain.md l.88-89: events 'must not carry CPR numbers or names'. A dispute's reason is free
    text kept in the log for good, so a CPR number typed into it is refused (422 problem+json,
    nothing stored) rather than kept beyond the reach of erasure."""
    url, cid = history
    with api_client(url) as client:
        deliveries = ok(client.get("/billing/deliveries", headers=auth("clerk-657"), params={"citizen_id": cid}))
        delivery_id = deliveries["deliveries"][0]["delivery_id"]
        before = len(stored_rows_of(url))
        refused = client.post(f"/deliveries/{delivery_id}/dispute", headers=auth("clerk-657", "k-cpr"),
                              json={"effective": "2019-04-02", "reason": reason})
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "CPR" in refused.text and "010150" not in refused.text.replace(reason, "")
        assert len(stored_rows_of(url)) == before


def stored_rows_of(url: str) -> list[tuple]:
    ledger = open_ledger(url)
    try:
        return stored_rows(ledger)
    finally:
        ledger.close()


def test_erasure_destroys_the_identity_and_keeps_amounts_dates_and_codes(history):
    """domain.md l.89-91: identifying data 'can be erased (for example per-citizen keys that are
    destroyed: crypto-shredding) while amounts, dates and service codes stay intact'."""
    url, cid = history
    with api_client(url) as client:
        shown = ok(client.get(f"/citizens/{cid}", headers=auth("assessor-657")))
        assert json.dumps(shown).count(CPR) == 1
        before = ok(client.get("/billing/invoices/657-000001", headers=auth("clerk-657")))["invoice"]
        ok(client.delete(f"/citizens/{cid}/identity", headers=auth("admin")))
        assert CPR not in json.dumps(ok(client.get(f"/citizens/{cid}", headers=auth("assessor-657"))))
        after = ok(client.get("/billing/invoices/657-000001", headers=auth("clerk-657")))["invoice"]
        assert after == before
        assert [(x["service_date"], x["offer_id"], x["gross"]) for x in after["lines"]] == [
            ("2019-03-04", "extra-cleaning", 35_400), ("2019-03-18", "extra-cleaning", 35_400)]


def test_every_read_of_a_citizen_s_data_is_logged_who_when_what(history):
    """domain.md l.91-92: 'Reads of personal or financial data are logged (who, when, what).'"""
    url, cid = history
    with api_client(url) as client:
        ok(client.get(f"/citizens/{cid}", headers=auth("assessor-657")))
        ok(client.get("/billing/invoices/657-000001", headers=auth("clerk-657")))
        entries = ok(client.get("/audit/access-log", params={"citizen_id": cid}, headers=auth("auditor-657")))["entries"]
    seen = {(e["user_id"], e["what"]) for e in entries}
    assert {("assessor-657", "citizen+identity"), ("clerk-657", "billing:invoice")} <= seen, seen
    assert all(e["at"] for e in entries)


def test_generated_and_demo_identities_are_never_real_looking_cpr_numbers(tmp_path):
    """domain.md l.92: 'Never generate real-looking CPR numbers in test or demo data.' Every CPR
    the generator writes has a day or month no date has."""
    out = tmp_path / "small.jsonl"
    invoke("sqlite:///unused.db", "generate", "--factor", "0.005", "--out", str(out))
    cprs = [json.loads(line)["payload"]["identity"]["cpr"] for line in out.read_text().splitlines()
            if '"identity"' in line and '"cpr"' in line]
    assert cprs
    for cpr in cprs:
        day, month = int(cpr[:2]), int(cpr[2:4])
        assert day == 0 or day > 31 or month == 0 or month > 12, cpr


# -- the two times (domain.md l.80-82) -------------------------------------------------------------

def test_a_citizen_as_of_d_as_known_at_k_before_and_after_a_back_dated_grant_end(history):
    """domain.md l.80-82: 'what was true on date D (effective time, after later corrections) and
    what the records showed on date K (recorded time, as a report written then would have seen
    it)'. On D = 15 March the grant was in force as known on 10 April, and not as known now."""
    url, cid = history
    with api_client(url) as client:
        then = ok(client.get(f"/citizens/{cid}/as-of", params={"as_of": "2019-03-15", "known_at": BEFORE_END},
                             headers=auth("assessor-657")))
        now = ok(client.get(f"/citizens/{cid}/as-of", params={"as_of": "2019-03-15"}, headers=auth("assessor-657")))
    assert [g["grant_id"] for g in then["grants"]] == ["g"]
    assert now["grants"] == []


def test_the_evaluators_revenue_of_a_month_is_what_was_owed_as_known_at_k(history):
    """domain.md l.80-85 (evaluators: sales and prices for any D and K): March as known on 10 April
    owed two hours (708,00 kr.); as known after the back-dated grant end only the 4 March hour
    (354,00 kr.), the other counted apart as ineligible."""
    url, _ = history
    with api_client(url) as client:
        def march(known_at: str) -> dict:
            answer = ok(client.get("/timeline", params={"municipality": "657", "as_of": "2019-03-31",
                                                        "known_at": known_at}, headers=auth("evaluator-all")))
            return next(e for e in answer["municipalities"] if e["municipality"] == 657)["month"]

        then, now = march(BEFORE_END), march(AFTER_END)
    assert (then["revenue"]["gross"], then["ineligible_deliveries"]) == (70_800, 0)
    assert (now["revenue"]["gross"], now["ineligible_deliveries"], now["ineligible_amount"]["gross"]) == (
        35_400, 1, 35_400)


def test_the_back_dated_grant_end_reaches_the_money_as_a_credit_note(history):
    """domain.md l.79 with billing-conventions l.5-9: the next run credits the visit after the
    grant's end; reconcile then agrees (CLI exit 0) and names nothing left to bill."""
    url, _ = history
    ledger = open_ledger(url)
    try:
        april = run(ledger, "run_invoices", {"municipality": 657, "month": "2019-04", "run_date": "2019-05-01"},
                    "2019-05-01T06:00:00Z").result
    finally:
        ledger.close()
    assert [(n["number"], n["gross"]) for n in april["credit_notes"]] == [("657-K00001", 35_400)]
    invoke(url, "billing", "reconcile", "--municipality", "657")


# -- exports for R, Stata and pandas (domain.md l.78-85) -------------------------------------------

_STATA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")


def _check_tidy(path: Path) -> list[dict[str, str]]:
    """One table per file, a header of names R, Stata (32 characters, letters, digits, _) and
    pandas take as they are, no 'None'/'null'/'NaN' spelled into a cell."""
    with path.open(encoding="utf-8", newline="") as f:
        table = list(csv.DictReader(f))
    header = list(table[0]) if table else path.read_text(encoding="utf-8").splitlines()[0].split(",")
    assert all(_STATA_NAME.match(h) for h in header), (path.name, header)
    assert not any(v in ("None", "null", "NaN", "nan") for row in table for v in row.values()), path.name
    return table


def test_the_billing_export_is_one_tidy_table_whose_gross_column_sums_to_the_month(history, tmp_path):
    """domain.md l.79 ('exports to the finance system'): a row per invoice line in integer øre, so a
    column's sum is the month's total; the totals in a file apart."""
    url, _ = history
    out = tmp_path / "herning-2019-03.csv"
    invoke(url, "billing", "export", "--municipality", "657", "--month", "2019-03", "--out", str(out))
    lines = _check_tidy(out)
    (totals,) = _check_tidy(tmp_path / "herning-2019-03.totals.csv")
    gross = [c for c in lines[0] if c.startswith("gross")][0]
    assert sum(int(r[gross]) for r in lines) == 70_800 == int(totals[gross])


def test_the_evaluation_export_reads_in_pandas_with_integer_money_and_a_manifest(history, tmp_path):
    """domain.md l.80-85: evaluators' extracts: offered items, sales, prices, buyers, granted hours
    of buyers and non-buyers. Each CSV is tidy; pandas reads money as integers; the manifest names
    the log position and the projections' digests it was written from."""
    import pandas as pd

    url, _ = history
    invoke(url, "export", "evaluation", "--municipality", "all", "--out", str(tmp_path / "ev"))
    files = sorted((tmp_path / "ev").glob("*.csv"))
    assert {"offers.csv", "sales.csv", "buyers.csv", "granted_services.csv"} <= {f.name for f in files}
    for f in files:
        _check_tidy(f)
    offers = pd.read_csv(tmp_path / "ev" / "offers.csv")
    assert str(offers["price_weekday_day"].dtype).startswith("int")
    manifest = json.loads((tmp_path / "ev" / "manifest.json").read_text())
    assert "log_position" in json.dumps(manifest) and "digest" in json.dumps(manifest)


# -- bad input at the edges (rules of the house) -------------------------------------------------

def test_bad_input_is_a_4xx_problem_and_cli_exit_2_never_a_traceback(history):
    """A clerk's typo is refused saying why, and stores nothing: HTTP 4xx problem+json, CLI exit 2."""
    url, cid = history
    with api_client(url) as client:
        for body in ({"citizen_id": cid, "amount": 100.5, "date": "2019-05-01", "method": "bank_transfer"},
                     {"citizen_id": cid, "amount": 100, "date": "2019-02-30", "method": "bank_transfer"},
                     {"citizen_id": cid, "amount": 100, "date": "2019-05-01", "method": "bitcoin"}):
            r = client.post("/payments", json=body, headers=auth("clerk-657"))
            assert 400 <= r.status_code < 500 and r.headers["content-type"].startswith("application/problem+json"), \
                (body, r.status_code, r.text)
    invoke(url, "billing", "invoices", "--municipality", "657", "--month", "2019-13", code=2)
    invoke(url, "citizen", "as-of", cid, "--as-of", "2019-02-30", code=2)


def test_the_web_evaluation_page_says_its_money_column_is_owed_as_known_at_k(history):
    """domain.md l.80-82 and docs/timeline-and-audit.md: the timeline's month revenue is what is
    owed as known at K, in kroner; the page's column says so (it said only 'Revenue')."""
    url, _ = history
    with api_client(url) as client:
        client.cookies.set(COOKIE, cookie_value(token_of("admin")))
        for lang, label in (("en", "Owed for the month, as known at K (kr.)"),
                            ("da", "Skyldigt for måneden, som kendt pr. K (kr.)")):
            client.cookies.set("ledger_lang", lang)
            page = client.get("/web/evaluation", params={"municipality": "657", "as_of": "2019-03-31",
                                                         "known_at": "2019-04-10"})
            assert page.status_code == 200, page.text[:300]
            assert label in page.text, lang
            assert ">Revenue<" not in page.text and ">Omsætning<" not in page.text
