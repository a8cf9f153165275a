"""The reference rate's dates (conventions l.29: 'the central bank's reference rate (set on 1 January
and 1 July)'; renteloven § 5 stk. 2): a rate holds from one of those days, and a stretch of days
across 1 July is charged at each half-year's rate."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from ledger.domain.base import Context
from ledger.domain.errors import RuleViolated
from ledger.domain.interest import MARGIN_BP, ReferenceRates

CTX = Context("clerk", "billing_clerk", "cmd-1", datetime(2019, 8, 1, 9, tzinfo=timezone.utc))


def _rates(*entries: tuple[str, int]) -> ReferenceRates:
    rates = ReferenceRates.open(CTX, 657, date(2019, 1, 1))
    for effective, bp in entries:
        rates.set_rate(CTX, date.fromisoformat(effective), bp)
    return rates


@pytest.mark.parametrize("effective", ["2019-03-17", "2019-01-02", "2019-06-30", "2019-12-01"])
def test_a_reference_rate_from_another_day_than_1_january_or_1_july_is_refused(effective):
    rates = _rates(("2019-01-01", 5))
    before = list(rates.rates)
    with pytest.raises(RuleViolated) as refused:
        rates.set_rate(CTX, date.fromisoformat(effective), 10)
    assert refused.value.rule == "reference-rate-date" and effective in refused.value.message
    assert rates.rates == before


def test_days_across_1_july_are_charged_at_each_half_year_s_rate():
    rates = _rates(("2019-01-01", 5), ("2019-07-01", 35))
    periods = rates.periods(date(2019, 6, 20), date(2019, 7, 10))
    assert [(a, b, bp) for a, b, bp, _ref in periods] == [
        ("2019-06-20", "2019-06-30", 5 + MARGIN_BP), ("2019-07-01", "2019-07-10", 35 + MARGIN_BP)]
    assert periods[0][3] != periods[1][3]  # each names the rate fact it used
