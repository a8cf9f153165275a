"""A citizen's granted services ("visiterede ydelser") and every re-assessment of them.

One Assessment per citizen (id from the citizen id) holds all their grants, so the rule "an order
needs an active grant under a covered section" reads one aggregate. Each grant has an id, an FSIII
code, a legal section and an amount that changes from dates. A back-dated correction is a new
event whose effective date lies in the past; nothing is ever edited.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.domain.base import Context, LedgerAggregate, key_id
from ledger.domain.errors import InvalidInput, NotFound, rule
from ledger.domain.values import SECTIONS, fsiii_code, iso, one_of, round_half_up_div, whole


def assessment_id(citizen_id: UUID | str) -> UUID:
    return key_id("assessment", citizen_id)


def amount(minutes_per_week: int | None = None, visits: int | None = None, period_days: int | None = None,
           minutes_per_visit: int | None = None) -> dict[str, int]:
    """Minutes per week, or visits per period with minutes per visit; normalised to weekly minutes."""
    if minutes_per_week is not None:
        if visits is not None or minutes_per_visit is not None:
            raise InvalidInput("give either minutes_per_week or visits with minutes_per_visit, not both", field="amount")
        whole(minutes_per_week, "minutes_per_week", low=0, high=7 * 24 * 60)
        return {"minutes_per_week": minutes_per_week, "weekly_minutes": minutes_per_week}
    if visits is None or minutes_per_visit is None:
        raise InvalidInput("an amount needs minutes_per_week, or visits, period_days and minutes_per_visit", field="amount")
    whole(visits, "visits", low=0, high=200)
    period = 7 if period_days is None else whole(period_days, "period_days", low=1, high=366)
    whole(minutes_per_visit, "minutes_per_visit", low=1, high=16 * 60)
    weekly = round_half_up_div(visits * minutes_per_visit * 7, period)
    return {"visits": visits, "period_days": period, "minutes_per_visit": minutes_per_visit, "weekly_minutes": weekly}


def _refs(g: dict[str, Any]) -> list[str]:
    """Every event of a grant, as refs. (A grant from a snapshot taken before round 9 has no list:
    it is made from what the grant kept, its award, its changes and its end.)"""
    if "refs" not in g:
        g["refs"] = list(dict.fromkeys([g["awarded_ref"], *(c[2] for c in g["changes"]),
                                        *([g["ended_ref"]] if g.get("ended_ref") else [])]))
    refs: list[str] = g["refs"]
    return refs


class Assessment(LedgerAggregate):
    if TYPE_CHECKING:  # state the events' apply() methods assign (declared for the type checker only)
        citizen_id: str
        grants: dict[str, dict[str, Any]]

    class AssessmentOpened(LedgerAggregate.Created):
        citizen_id: str

        def apply(self, a: Assessment) -> None:
            a.municipality = self.municipality
            a.citizen_id = self.citizen_id
            a.grants = {}

    class GrantAwarded(LedgerAggregate.Event):
        grant_id: str
        fsiii: str
        section: str
        amount: dict[str, Any]
        valid_from: str
        valid_to: str | None

        def apply(self, a: Assessment) -> None:
            a.grants[self.grant_id] = {
                "fsiii": self.fsiii, "section": self.section, "valid_from": self.valid_from,
                "valid_to": self.valid_to, "awarded_ref": f"{self.originator_id}:{self.originator_version}",
                # (effective, weekly amount or None when ended, event ref), in effective order
                "changes": [(self.valid_from, self.amount, f"{self.originator_id}:{self.originator_version}")],
                "refs": [f"{self.originator_id}:{self.originator_version}"],  # every event of the grant
            }

    class GrantReassessed(LedgerAggregate.Event):
        """The amount changes from `effective` (a re-assessment, "revisitation")."""

        grant_id: str
        amount: dict[str, Any]

        def apply(self, a: Assessment) -> None:
            a._change(self.grant_id, self.effective, self.amount, f"{self.originator_id}:{self.originator_version}")

    class GrantCorrected(LedgerAggregate.Event):
        """A back-dated correction of the amount from `effective`; it names the event it corrects."""

        grant_id: str
        amount: dict[str, Any]
        corrects: str

        def apply(self, a: Assessment) -> None:
            a._change(self.grant_id, self.effective, self.amount, f"{self.originator_id}:{self.originator_version}")

    class GrantEnded(LedgerAggregate.Event):
        """The grant ends after `effective` (the last day it holds)."""

        grant_id: str

        def apply(self, a: Assessment) -> None:
            a.grants[self.grant_id]["valid_to"] = self.effective
            a.grants[self.grant_id]["ended_ref"] = f"{self.originator_id}:{self.originator_version}"
            _refs(a.grants[self.grant_id]).append(a.grants[self.grant_id]["ended_ref"])

    def _change(self, grant_id: str, effective: str, amt: dict[str, Any], ref: str) -> None:
        g = self.grants[grant_id]
        _refs(g).append(ref)
        changes = [c for c in g["changes"] if c[0] != effective]
        g["changes"] = sorted([*changes, (effective, amt, ref)], key=lambda c: c[0])

    # -- commands --------------------------------------------------------------------------
    @classmethod
    def open(cls, ctx: Context, citizen_id: UUID, municipality: int, effective: date) -> Assessment:
        return cls._start(cls.AssessmentOpened, assessment_id(citizen_id), ctx, iso(effective), municipality,
                          citizen_id=str(citizen_id))

    def award(self, ctx: Context, grant_id: str, fsiii: str, section: str, amt: dict[str, Any],
              valid_from: date, valid_to: date | None) -> None:
        fsiii_code(fsiii)
        one_of(section, SECTIONS, "section")
        if grant_id in self.grants:
            raise InvalidInput(f"grant {grant_id} already exists for this citizen", field="grant_id")
        rule(valid_to is None or valid_from <= valid_to, "grant-period",
             f"grant valid from {valid_from} after it ends {valid_to}")
        self._record(self.GrantAwarded, ctx, iso(valid_from), grant_id=grant_id, fsiii=fsiii, section=section,
                     amount=amt, valid_from=iso(valid_from), valid_to=iso(valid_to))

    def _grant(self, grant_id: str) -> dict[str, Any]:
        if grant_id not in self.grants:
            raise NotFound(f"the citizen has no grant {grant_id}")
        return self.grants[grant_id]

    def reassess(self, ctx: Context, grant_id: str, effective: date, amt: dict[str, Any]) -> None:
        g = self._grant(grant_id)
        rule(iso(effective) >= g["valid_from"], "reassessment-before-grant",
             f"re-assessment from {effective} is before the grant starts ({g['valid_from']})")
        rule(g["valid_to"] is None or iso(effective) <= g["valid_to"], "grant-ended",
             f"grant {grant_id} ended {g['valid_to']}")
        self._record(self.GrantReassessed, ctx, iso(effective), grant_id=grant_id, amount=amt)

    def correct(self, ctx: Context, grant_id: str, effective: date, amt: dict[str, Any], corrects: str) -> None:
        g = self._grant(grant_id)
        rule(iso(effective) >= g["valid_from"], "reassessment-before-grant",
             f"correction from {effective} is before the grant starts ({g['valid_from']})")
        if not isinstance(corrects, str) or not corrects:
            raise InvalidInput("a correction must name the event it corrects", field="corrects")
        if corrects not in _refs(g):
            raise InvalidInput(f"corrects must name an event of grant {grant_id} (<assessment id>:<version>: "
                               f"{', '.join(_refs(g))}), not {corrects!r}", field="corrects")
        self._record(self.GrantCorrected, ctx, iso(effective), grant_id=grant_id, amount=amt, corrects=corrects)

    def end(self, ctx: Context, grant_id: str, last_day: date) -> None:
        g = self._grant(grant_id)
        rule(iso(last_day) >= g["valid_from"], "grant-period", f"grant cannot end {last_day}, before it starts")
        self._record(self.GrantEnded, ctx, iso(last_day), grant_id=grant_id)

    # -- queries ---------------------------------------------------------------------------
    def lost_on(self, d: date, sections: list[str]) -> list[str]:
        """The events that took away a covered grant held before d (its end, or a cut to zero)."""
        s, refs = iso(d), []
        for _gid, g in sorted(self.grants.items()):
            if g["section"] not in sections or g["valid_from"] > s:
                continue
            if g["valid_to"] is not None and s > g["valid_to"]:
                refs.append(g.get("ended_ref") or g["awarded_ref"])
                continue
            current = None
            for eff, amt, ref in g["changes"]:
                if eff <= s:
                    current = (amt, ref)
            if current and current[0]["weekly_minutes"] == 0:
                refs.append(current[1])
        return refs

    def active_on(self, d: date) -> list[dict[str, Any]]:
        """Grants in force on d, each with its weekly minutes then and the event that set them."""
        s, out = iso(d), []
        for gid, g in sorted(self.grants.items()):
            if g["valid_from"] > s or (g["valid_to"] is not None and s > g["valid_to"]):
                continue
            current = None
            for eff, amt, ref in g["changes"]:
                if eff <= s:
                    current = (amt, ref)
            if current and current[0]["weekly_minutes"] > 0:
                out.append({"grant_id": gid, "fsiii": g["fsiii"], "section": g["section"],
                            "weekly_minutes": current[0]["weekly_minutes"], "ref": current[1]})
        return out


def grant_ref(assessment: Assessment, eligibility: str, on: str, sections: Sequence[str]) -> str:
    """The grant that makes a delivery on `on` eligible (an invoice line's provenance): the first
    grant active that day under one of the scheme's sections; the order's own `eligibility` (the
    grant it was placed under) if none is active now."""
    for g in assessment.active_on(date.fromisoformat(on)):
        if g["section"] in sections:
            ref: str = g["ref"]
            return ref
    return eligibility
