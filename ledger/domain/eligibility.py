"""Who may buy an add-on on a date (domain.md §1): the one rule, with its refusals in order.

A citizen may buy on day D when D lies in one of the scheme's trial windows, the citizen holds a
grant in force on D under a section the scheme's rules on D cover, and, where those rules require
it, has the municipal provider on D.

The caller gathers the facts and the rule decides: placing an order, recording a delivery, the
invoice run's re-rating and the reconciliation ask it with the aggregates as they stand now
(application/commands/orders.py `eligibility`); the timeline asks it with the rows believed at K
(projections/timeline_queries.py), so an evaluator's revenue counts what is owed by the same rule.
The grants and the provider are asked for only when the checks before them passed, so the first
refusal is always the same whatever the caller's facts cost to read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

from ledger.domain.errors import rule
from ledger.domain.values import iso

# The refusals a delivery's date can meet, in order of precedence (besides "no-scheme": a
# municipality without a trial scheme sells nothing at all).
REFUSALS = ("outside-window", "no-active-grant", "provider-not-municipal")


def in_window(windows: Sequence[Sequence[str]], on: date) -> bool:
    """Whether `on` lies in one of the windows ([first day, last day], both inclusive)."""
    s = iso(on)
    return any(a <= s <= b for a, b in windows)


def may_buy(municipality: int, citizen_id: object, on: date, windows: Sequence[Sequence[str]],
            rules: Mapping[str, Any], grants_on: Callable[[], Sequence[Mapping[str, Any]]],
            provider_on: Callable[[], str | None]) -> Mapping[str, Any]:
    """The grant that makes the citizen eligible on `on` (the first covered one), or RuleViolated.

    `windows` are the scheme's trial windows, `rules` the scheme's rules in force on `on`
    (`sections`, `requires_municipal_provider`), `grants_on()` the citizen's grants in force on
    `on` (each with its `section`; grants of 0 minutes are not in force), `provider_on()` the
    provider the citizen has on `on`."""
    rule(in_window(windows, on), "outside-window",
         f"{on} is outside the trial windows of municipality {municipality}: "
         + ", ".join(f"{a}..{b}" for a, b in windows))
    covered = [g for g in grants_on() if g["section"] in rules["sections"]]
    rule(bool(covered), "no-active-grant",
         f"citizen {citizen_id} holds no active grant under § {', § '.join(rules['sections'])} on {on}; "
         "an add-on is sold only on top of a granted service")
    if rules["requires_municipal_provider"]:
        chosen = provider_on()
        rule(chosen == "municipal", "provider-not-municipal",
             f"the scheme of municipality {municipality} requires the municipal provider; on {on} the citizen has {chosen}")
    return covered[0]
