from __future__ import annotations

from typing import Any
from uuid import UUID

from ledger.application import commands as c
from ledger.application.handlers import handles
from ledger.domain.assessment import Assessment, amount, assessment_id
from ledger.domain.base import key_id
from ledger.domain.citizen import Citizen
from ledger.domain.errors import AlreadyExists, rule
from ledger.domain.klippekort import Klippekort, klippekort_id
from ledger.domain.municipalities import municipality_code


def citizen(uow: Any, citizen_id: UUID) -> Citizen:
    return uow.get(Citizen, citizen_id, "citizen")


def _amount(a: c.Amount) -> dict[str, int]:
    return amount(a.minutes_per_week, a.visits, a.period_days, a.minutes_per_visit)


@handles("register_citizen")
def register(uow: Any, cmd: c.RegisterCitizen, ctx: Any, svc: Any) -> dict[str, Any]:
    m = municipality_code(cmd.municipality)
    cid = cmd.citizen_id or key_id("citizen", ctx.command_id)
    if uow.find(Citizen, cid) is not None:
        raise AlreadyExists(f"citizen {cid} is already registered")
    person = uow.add(Citizen.register(ctx, cid, m, cmd.effective, cmd.residence, cmd.provider))
    uow.add(Assessment.open(ctx, cid, m, cmd.effective))
    if cmd.identity is not None:
        # Personal data goes to the erasable store, never into an event (see ADR 0004).
        svc.identity.put(str(cid), cmd.identity.cpr, cmd.identity.name)
    return {"citizen_id": str(person.id)}


@handles("choose_provider")
def choose_provider(uow: Any, cmd: c.ChooseProvider, ctx: Any, svc: Any) -> dict[str, Any]:
    citizen(uow, cmd.citizen_id).choose_provider(ctx, cmd.effective, cmd.provider)
    return {"citizen_id": str(cmd.citizen_id)}


@handles("change_residence")
def change_residence(uow: Any, cmd: c.ChangeResidence, ctx: Any, svc: Any) -> dict[str, Any]:
    citizen(uow, cmd.citizen_id).change_residence(ctx, cmd.effective, cmd.residence)
    return {"citizen_id": str(cmd.citizen_id)}


@handles("erase_identity")
def erase(uow: Any, cmd: c.EraseIdentity, ctx: Any, svc: Any) -> dict[str, Any]:
    person = citizen(uow, cmd.citizen_id)
    svc.identity.erase(str(cmd.citizen_id))
    person.mark_erased(ctx, ctx.timestamp().date())
    return {"citizen_id": str(cmd.citizen_id), "erased": True}


def _assessment(uow: Any, citizen_id: UUID) -> Assessment:
    citizen(uow, citizen_id)
    return uow.get(Assessment, assessment_id(citizen_id), "assessment")


@handles("award_grant")
def award(uow: Any, cmd: c.AwardGrant, ctx: Any, svc: Any) -> dict[str, Any]:
    a = _assessment(uow, cmd.citizen_id)
    grant_id = cmd.grant_id or f"g-{key_id('grant', ctx.command_id).hex[:12]}"
    a.award(ctx, grant_id, cmd.fsiii, cmd.section, _amount(cmd.amount), cmd.valid_from, cmd.valid_to)
    return {"citizen_id": str(cmd.citizen_id), "grant_id": grant_id}


@handles("reassess_grant")
def reassess(uow: Any, cmd: c.ReassessGrant, ctx: Any, svc: Any) -> dict[str, Any]:
    _assessment(uow, cmd.citizen_id).reassess(ctx, cmd.grant_id, cmd.effective, _amount(cmd.amount))
    return {"citizen_id": str(cmd.citizen_id), "grant_id": cmd.grant_id}


@handles("correct_grant")
def correct(uow: Any, cmd: c.CorrectGrant, ctx: Any, svc: Any) -> dict[str, Any]:
    _assessment(uow, cmd.citizen_id).correct(ctx, cmd.grant_id, cmd.effective, _amount(cmd.amount), cmd.corrects)
    return {"citizen_id": str(cmd.citizen_id), "grant_id": cmd.grant_id}


@handles("end_grant")
def end(uow: Any, cmd: c.EndGrant, ctx: Any, svc: Any) -> dict[str, Any]:
    _assessment(uow, cmd.citizen_id).end(ctx, cmd.grant_id, cmd.last_day)
    return {"citizen_id": str(cmd.citizen_id), "grant_id": cmd.grant_id}


@handles("grant_klippekort")
def grant_klippekort(uow: Any, cmd: c.GrantKlippekort, ctx: Any, svc: Any) -> dict[str, Any]:
    person = citizen(uow, cmd.citizen_id)
    # The klippekort is the nursing homes' free half hour a week (domain.md §2), not a home-help right.
    rule(person.residence_on(cmd.valid_from) == "nursing_home", "klippekort-not-nursing-home",
         f"a klippekort is for nursing-home residents; on {cmd.valid_from} the citizen lives in "
         f"{person.residence_on(cmd.valid_from) or 'no registered residence'}")
    card = uow.find(Klippekort, klippekort_id(person.id))
    if card is None:
        card = uow.add(Klippekort.open(ctx, person.id, person.municipality, cmd.valid_from))
    card.grant(ctx, cmd.minutes_per_week, cmd.valid_from, cmd.valid_to)
    return {"citizen_id": str(person.id), "klippekort_id": str(card.id)}


@handles("end_klippekort")
def end_klippekort(uow: Any, cmd: c.EndKlippekort, ctx: Any, svc: Any) -> dict[str, Any]:
    person = citizen(uow, cmd.citizen_id)
    card = uow.get(Klippekort, klippekort_id(person.id), "klippekort")
    card.end(ctx, cmd.last_day)
    return {"citizen_id": str(person.id), "klippekort_id": str(card.id)}
