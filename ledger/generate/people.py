"""Generated people: fake names, CPR numbers that can never be real, and granted help shaped like
the national figures (domain.md §2: practical help only about 26 min/week, personal care only about
4 h/week, both about 6 h/week; two in three get under 2 h/week; 2 % get 20 h or more)."""

from __future__ import annotations

import math
import random
from typing import Any

FIRST = ("Anna", "Birthe", "Bent", "Carl", "Dorthe", "Erik", "Else", "Finn", "Grethe", "Hans", "Inge", "Jens",
         "Karen", "Kirsten", "Knud", "Lis", "Mogens", "Niels", "Ole", "Poul", "Ruth", "Svend", "Tove", "Ulla",
         "Vagn", "Aase", "Jytte", "Preben", "Gunnar", "Lone", "Henning", "Bodil", "Arne", "Edith", "Per", "Hanne")
LAST = ("Jensen", "Nielsen", "Hansen", "Pedersen", "Andersen", "Christensen", "Larsen", "Sørensen", "Rasmussen",
        "Jørgensen", "Petersen", "Madsen", "Kristensen", "Olsen", "Thomsen", "Poulsen", "Johansen", "Møller",
        "Mortensen", "Knudsen", "Jakobsen", "Frederiksen", "Lund", "Holm", "Schmidt", "Eriksen", "Kjær", "Bach")
PRIVATE_PROVIDERS = ("private:Hjemmeplejen Nord ApS", "private:Omsorg og Service A/S", "private:Plejehjælpen ApS",
                     "private:Rengøringshjælpen I/S")


def fake_name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)} (testperson)"


def fake_cpr(rng: random.Random) -> str:
    """Six digits and four that match the CPR shape but can never be a person: day 00, month 13–99."""
    return f"00{rng.randrange(13, 100):02d}{rng.randrange(100):02d}-{rng.randrange(10_000):04d}"


# -- grants -------------------------------------------------------------------------------------
# An amount is the command schema's Amount: minutes_per_week, or visits per period_days of
# minutes_per_visit each.

CLEANING_CADENCES = (  # (weight, amount): typically 1 hour every second week (~26 min/week)
    (55, {"visits": 1, "period_days": 14, "minutes_per_visit": 60}),
    (20, {"visits": 1, "period_days": 14, "minutes_per_visit": 45}),
    (15, {"visits": 1, "period_days": 21, "minutes_per_visit": 60}),
    (5, {"visits": 1, "period_days": 14, "minutes_per_visit": 30}),
    (5, {"visits": 1, "period_days": 7, "minutes_per_visit": 60}),
)
LAUNDRY = {"visits": 1, "period_days": 14, "minutes_per_visit": 30}
SHOPPING = {"visits": 1, "period_days": 7, "minutes_per_visit": 30}


def weekly(amount: dict[str, int]) -> int:
    """Weekly minutes, rounded as the domain rounds them (half up)."""
    if "minutes_per_week" in amount:
        return amount["minutes_per_week"]
    num = amount["visits"] * amount["minutes_per_visit"] * 7
    q, r = divmod(num, amount["period_days"])
    return q + (2 * r >= amount["period_days"])


def pick(rng: random.Random, weighted: tuple[tuple[int, Any], ...]) -> Any:
    total = sum(w for w, _ in weighted)
    x = rng.random() * total
    for w, v in weighted:
        x -= w
        if x < 0:
            return v
    return weighted[-1][1]


def care_minutes(rng: random.Random, median: float) -> int:
    """Personal care minutes per week: log-normal, to whole 5 minutes (heavy tail: a few get 20 h+)."""
    value = median * math.exp(rng.gauss(0, 0.85))
    return max(15, min(2_400, int(round(value / 5)) * 5))


def initial_grants(rng: random.Random, residence: str) -> list[dict[str, Any]]:
    """The grants a new recipient gets: list of {fsiii, section, amount, rehab_weeks?}."""
    grants: list[dict[str, Any]] = []
    if residence == "own_home":
        kind = pick(rng, ((62, "practical"), (16, "care"), (22, "both")))
    else:
        kind = pick(rng, ((70, "care"), (30, "both")))
    if kind in ("practical", "both"):
        cleaning = dict(pick(rng, CLEANING_CADENCES))
        grants.append({"fsiii": "H1.8", "section": "83", "amount": cleaning})
        if rng.random() < 0.1:
            grants.append({"fsiii": "H1.9", "section": "83", "amount": dict(LAUNDRY)})
        if rng.random() < 0.08:
            grants.append({"fsiii": "H1.7", "section": "83", "amount": dict(SHOPPING)})
    if kind in ("care", "both"):
        # Medians chosen so the means match the national figures (about 4 h/week for personal care
        # only, about 6 h/week for both); nursing-home residents get more.
        median = 150 if kind == "care" else 220
        if residence != "own_home":
            median = median * 7 // 5
        grants.append({"fsiii": "H1.1", "section": "83", "amount": {"minutes_per_week": care_minutes(rng, median)}})
    if residence == "own_home" and rng.random() < 0.05:
        # A short § 83 a rehabilitation course instead of (some) help: 8–13 weeks.
        grants.append({"fsiii": "H2.6", "section": "83a", "amount": {"minutes_per_week": 60},
                       "rehab_weeks": rng.randrange(8, 14)})
    if residence == "residential_care":
        grants.append({"fsiii": "H1.5", "section": "85", "amount": {"minutes_per_week": rng.randrange(2, 13) * 30}})
    return grants


def reassessed(rng: random.Random, fsiii: str, amount: dict[str, int], allow_cut: bool) -> dict[str, int] | None:
    """A plausible new amount for a re-assessment, or None when nothing would change."""
    if fsiii == "H1.8":
        options = [dict(a) for _, a in CLEANING_CADENCES if a != amount]
        if not allow_cut:
            options = [a for a in options if weekly(a) > weekly(amount)]
        return rng.choice(options) if options else None
    if "minutes_per_week" in amount:
        factor = rng.choice((0.8, 1.15, 1.25, 1.5)) if allow_cut else rng.choice((1.15, 1.25, 1.5))
        new = max(15, min(2_400, int(round(amount["minutes_per_week"] * factor / 5)) * 5))
        return None if new == amount["minutes_per_week"] else {"minutes_per_week": new}
    return None
