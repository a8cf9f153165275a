"""Who may buy on a date: the one rule (ledger/domain/eligibility.py), its refusals in order."""

from __future__ import annotations

from datetime import date

import pytest

from ledger.domain.eligibility import may_buy
from ledger.domain.errors import RuleViolated

WINDOWS = [("2018-06-01", "2021-12-31")]
RULES = {"sections": ["83"], "requires_municipal_provider": True}
GRANT = {"section": "83", "grant_id": "g1"}


def _refusal(on: date, grants: list, provider: str | None, windows=WINDOWS, rules=RULES) -> str | None:
    try:
        may_buy(657, "c1", on, windows, rules, lambda: grants, lambda: provider)
    except RuleViolated as refused:
        return refused.rule
    return None


def test_a_citizen_with_a_covered_grant_and_the_municipal_provider_in_a_window_may_buy():
    assert may_buy(657, "c1", date(2019, 1, 7), WINDOWS, RULES, lambda: [{"section": "107"}, GRANT],
                   lambda: "municipal") == GRANT


def test_each_missing_condition_is_refused_naming_its_rule():
    assert _refusal(date(2022, 1, 1), [GRANT], "municipal") == "outside-window"
    assert _refusal(date(2019, 1, 7), [{"section": "107"}], "municipal") == "no-active-grant"
    assert _refusal(date(2019, 1, 7), [GRANT], "private:Hjem ApS") == "provider-not-municipal"
    assert _refusal(date(2019, 1, 7), [GRANT], "private:Hjem ApS",
                    rules={**RULES, "requires_municipal_provider": False}) is None


def test_the_facts_behind_a_later_check_are_not_asked_for_when_an_earlier_one_refuses():
    def never() -> list:
        raise AssertionError("asked for the grants of a date outside the windows")

    with pytest.raises(RuleViolated) as refused:
        may_buy(657, "c1", date(2017, 1, 1), WINDOWS, RULES, never, never)
    assert refused.value.rule == "outside-window"
