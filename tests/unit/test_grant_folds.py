"""The grant folds' per-citizen computations against their plain definitions (round 7).

`timeline.share_steps` sweeps the days once (and takes a shortcut for one grant) and
`audit.cuts` carries each grant's amount from the listed day before; both must give what the
definitions give: every piece looked at on every listed day, the day before parsed as a date.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.projections import audit, timeline

DAYS = st.dates(min_value=date(2024, 1, 1), max_value=date(2024, 3, 31)).map(date.isoformat)


@st.composite
def grants(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    out = {}
    for i in range(draw(st.integers(0, 4))):
        start = draw(DAYS)
        changes = {start: [start, draw(st.sampled_from([0, 30, 60, 60, 90])), f"a{i}:1"]}
        for v, eff in enumerate(draw(st.lists(DAYS, max_size=3)), start=2):
            changes[eff] = [eff, draw(st.sampled_from([0, 30, 60, 90])), f"a{i}:{v}"]
        end = draw(st.one_of(st.none(), DAYS, st.just("9999-12-30")))
        out[f"g{i}"] = {"fsiii": draw(st.sampled_from(["1.1", "1.2"])), "section": draw(st.sampled_from(["83", "83a"])),
                        "from": start, "to": end, "changes": sorted(changes.values()),
                        "award_ref": f"a{i}:1", "end_ref": None if end is None else f"a{i}:9"}
    return out


def plain_share_steps(grants: dict[str, dict[str, Any]]) -> dict[tuple[int, str], tuple[int, int]]:
    """The definition: on each day a piece starts or ends, every piece looked at."""
    pieces = [(a, b, g["fsiii"], g["section"], weekly)
              for g in grants.values() for a, b, weekly, _ref in timeline.grant_pieces(g)]
    out: dict[tuple[int, str], tuple[int, int]] = {}
    before: dict[str, tuple[int, int]] = {}
    for day in sorted({p[0] for p in pieces} | {p[1] for p in pieces}):
        if day >= timeline.OPEN_DATE:
            break
        now: dict[str, tuple[int, int]] = {}
        sections = set()
        for a, b, code, section, weekly in pieces:
            if a <= day < b:
                had = now.get("c:" + code)
                now["c:" + code] = (1, weekly + had[1] if had else weekly)
                sections.add(section)
        if sections:
            now["s:" + ",".join(sorted(sections))] = (1, 0)
        for key in now.keys() | before.keys():
            c, w = now.get(key, (0, 0))
            bc, bw = before.get(key, (0, 0))
            if c != bc or w != bw:
                out[(date.fromisoformat(day).toordinal(), key)] = (c - bc, w - bw)
        before = now
    return out


def plain_cuts(grants: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The definition: each listed day against the calendar day before it."""
    by_code: dict[str, list[dict[str, Any]]] = {}
    for _gid, g in sorted(grants.items()):
        by_code.setdefault(g["fsiii"], []).append(g)
    found = []
    for code, members in sorted(by_code.items()):
        days = {g["from"] for g in members} | {c[0] for g in members for c in g["changes"]}
        days |= {audit._next_day(g["to"]) for g in members if g["to"] is not None}
        for day in sorted(d for d in days if d < audit.OPEN_DATE):
            prev = (date.fromisoformat(day) - timedelta(days=1)).isoformat()
            before = sum(audit.grant_value(g, prev)[0] for g in members)
            after = sum(audit.grant_value(g, day)[0] for g in members)
            refs = {audit._cause(g, day) for g in members if audit.grant_value(g, prev)[0] != audit.grant_value(g, day)[0]}
            if after < before:
                found.append({"fsiii": code, "cut_on": day, "minutes_before": before, "minutes_after": after,
                              "grant_refs": sorted(refs)})
    return found


@given(grants())
def test_share_steps_is_its_definition(gs: dict[str, dict[str, Any]]) -> None:
    assert timeline.share_steps(gs) == plain_share_steps(gs)


@given(grants())
def test_cuts_are_their_definition(gs: dict[str, dict[str, Any]]) -> None:
    assert audit.cuts(gs) == plain_cuts(gs)


def test_a_grant_in_visits_per_period_is_weekly_minutes_rounded_half_up():
    """domain.md l.19-20: a grant names 'how much (minutes per week or visits per period)'."""
    from ledger.domain.assessment import amount
    from ledger.domain.errors import InvalidInput

    assert amount(visits=2, period_days=14, minutes_per_visit=45)["weekly_minutes"] == 45
    assert amount(visits=1, period_days=14, minutes_per_visit=45)["weekly_minutes"] == 23  # 22.5 rounds up
    assert amount(visits=3, minutes_per_visit=30) == {"visits": 3, "period_days": 7, "minutes_per_visit": 30,
                                                       "weekly_minutes": 90}  # a week unless said
    for bad in ({"visits": 2}, {"minutes_per_week": 60, "visits": 1, "minutes_per_visit": 30},
                {"visits": 2, "period_days": 0, "minutes_per_visit": 30}):
        with pytest.raises(InvalidInput):
            amount(**bad)
