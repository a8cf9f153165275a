"""The web session cookie, its CSRF token, the redirect after sign-in and the Danish formats."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from tests.helpers.api import test_tokens, token_of
from ledger.web import fmt
from ledger.web.app import safe_next
from ledger.web.session import cookie_value, csrf_token, session_of


def test_a_cookie_stands_for_its_token_until_it_expires(monkeypatch) -> None:
    tokens = test_tokens()
    now = int(time.time())
    s = session_of(cookie_value(token_of("clerk-657"), now), tokens, now + 60)
    assert s is not None and s.principal.user == "clerk-657" and s.principal.municipalities == {657}
    monkeypatch.setenv("LEDGER_WEB_SESSION_HOURS", "1")
    assert session_of(cookie_value(token_of("clerk-657"), now), tokens, now + 3601) is None
    assert session_of(cookie_value("not-a-token", now), tokens, now) is None
    assert session_of(cookie_value(token_of("clerk-657"), now + 3600), tokens, now) is None  # from the future
    for junk in ("", "x", "eyJ0IjoxfQ", "%%%", "a" * 5000):
        assert session_of(junk, tokens, now) is None


def test_csrf_tokens_differ_per_session_and_per_user() -> None:
    a, b = csrf_token(token_of("clerk-657"), 1), csrf_token(token_of("clerk-657"), 2)
    c = csrf_token(token_of("clerk-580"), 1)
    assert len({a, b, c}) == 3 and a == csrf_token(token_of("clerk-657"), 1)


def test_the_redirect_after_sign_in_stays_on_the_workplace() -> None:
    assert safe_next("/web/billing?month=2019-03") == "/web/billing?month=2019-03"
    for bad in (None, "", "https://evil.example/", "//evil.example/web/", "/web//evil.example", "/docs",
                "/web/\\evil", "web/billing"):
        assert safe_next(bad) == "/web/"


def test_danish_formats() -> None:
    assert fmt.kr(133_600) == "1.336,00 kr." and fmt.kr(-5) == "-0,05 kr." and fmt.kr(0) == "0,00 kr."
    assert fmt.day("2019-06-30") == "30-06-2019" and fmt.month("2019-06") == "06-2019"
    assert fmt.number(1234567) == "1.234.567" and fmt.number(1234.5, 2) == "1.234,50"
    assert fmt.quantity({"unit": "hour", "quantity": 90}) == "1,50 t"


@given(st.integers(min_value=-10**12, max_value=10**12))
def test_kroner_text_is_exact(ore: int) -> None:
    text = fmt.kr(ore, unit=False)
    back = int(text.replace(".", "").replace(",", "").replace("-", ""))
    assert (-back if text.startswith("-") else back) == ore


@given(st.integers(min_value=0, max_value=10**12))
def test_typed_kroner_read_back_to_the_ore_they_show(ore: int) -> None:
    assert fmt.parse_kr(fmt.kr(ore)) == fmt.parse_kr(fmt.kr(ore, unit=False)) == ore
    assert fmt.parse_kr(fmt.kr(ore, unit=False).replace(".", "")) == ore  # without thousands dots


def test_typed_kroner_are_read_only_in_the_danish_spelling() -> None:
    assert fmt.parse_kr("150") == 15_000 and fmt.parse_kr("150,5") == 15_050 and fmt.parse_kr(" 1.234,50 kr.") == 123_450
    for text in ("1,234", "1.23", "12.34,00", "-5", "1,5,0", "", "kr.", "١٢٣", "1e3", "150.00"):
        try:
            fmt.parse_kr(text)
        except ValueError as e:
            assert "1.234,50" in str(e)
        else:
            raise AssertionError(f"{text!r} was read as kroner")


def test_a_domain_messages_amounts_read_in_kroner() -> None:
    assert fmt.ore_as_kr("a refund of 15001 øre exceeds the credit (15000 øre); 657-000001 is open") == (
        "a refund of 150,01 kr. exceeds the credit (150,00 kr.); 657-000001 is open")
