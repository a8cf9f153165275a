"""The web pages' query parameters are bounded as the API's are (tests/e2e/test_api_query_bounds.py):
a date or month outside 1900-2199 is refused, and so is an access-log range that ends before it
starts; a near value is answered."""

from __future__ import annotations

import pytest

from ledger.web.session import COOKIE, cookie_value
from tests.helpers.api import api_client, token_of


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    with api_client(f"sqlite:///{tmp_path_factory.mktemp('web-bounds') / 'ledger.db'}") as client:
        client.cookies.set(COOKIE, cookie_value(token_of("admin")))
        yield client


@pytest.mark.parametrize("path, name, near, far", [
    ("/web/billing?municipality=657", "month", "2019-06", "0000-01"),
    ("/web/billing?municipality=657", "month", "2019-06", "2200-01"),
    ("/web/billing/accounts?municipality=657", "as_of", "2019-06-30", "0001-01-01"),
    ("/web/billing/runs/invoices/confirm?municipality=657&month=2019-06", "on", "2019-07-01", "9999-12-31"),
    ("/web/evaluation?municipality=657", "as_of", "2019-06-30", "2200-01-01"),
    ("/web/audit/access-log?", "since", "2019-06-30", "1899-12-31"),
    ("/web/audit/access-log?", "after_id", "0", str(2**53)),
])
def test_a_far_value_in_a_web_query_is_refused_and_a_near_one_answered(web, path, name, near, far):
    assert web.get(f"{path}&{name}={near}").status_code == 200
    r = web.get(f"{path}&{name}={far}")
    assert r.status_code in (400, 422), (r.status_code, r.text[:300])


def test_an_access_log_range_that_ends_before_it_starts_is_refused_on_the_web_page(web):
    r = web.get("/web/audit/access-log?since=2019-12-01&until=2019-01-01")
    assert r.status_code == 400 and "is after until" in r.text
    assert web.get("/web/audit/access-log?since=2019-01-01&until=2019-01-01").status_code == 200
