"""Citizens and their grants: registration, provider and residence, erasure of the identity, the
grants an assessor awards, reassesses, corrects and ends, and the nursing homes' klippekort."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import StringConstraints

from ledger.application.commands._base import (Amount, Command, Day, Fsiii, Identity, Minutes, Municipality, Provider,
                                               Residence, Section, ShortId)
from ledger.application.commands._spec import Result, Services, declare
from ledger.application.uow import UnitOfWork
from ledger.domain.base import Context
from ledger.domain.assessment import Assessment, amount, assessment_id
from ledger.domain.base import key_id
from ledger.domain.citizen import Citizen
from ledger.domain.errors import AlreadyExists, rule
from ledger.domain.klippekort import Klippekort, klippekort_id
from ledger.domain.municipalities import municipality_code


class RegisterCitizen(Command):
    citizen_id: UUID | None = None
    municipality: Municipality
    effective: Day
    residence: Residence
    provider: Provider = "municipal"
    identity: Identity | None = None


class ChooseProvider(Command):
    citizen_id: UUID
    effective: Day
    provider: Provider


class ChangeResidence(Command):
    citizen_id: UUID
    effective: Day
    residence: Residence


class EraseIdentity(Command):
    citizen_id: UUID


class AwardGrant(Command):
    citizen_id: UUID
    grant_id: ShortId | None = None
    fsiii: Fsiii
    section: Section
    amount: Amount
    valid_from: Day
    valid_to: Day | None = None


class ReassessGrant(Command):
    citizen_id: UUID
    grant_id: ShortId
    effective: Day
    amount: Amount


class CorrectGrant(Command):
    citizen_id: UUID
    grant_id: ShortId
    effective: Day
    amount: Amount
    corrects: Annotated[str, StringConstraints(min_length=1, max_length=80)]


class EndGrant(Command):
    citizen_id: UUID
    grant_id: ShortId
    last_day: Day


class GrantKlippekort(Command):
    citizen_id: UUID
    minutes_per_week: Minutes
    valid_from: Day
    valid_to: Day | None = None


class EndKlippekort(Command):
    citizen_id: UUID
    last_day: Day


def citizen(uow: UnitOfWork, citizen_id: UUID) -> Citizen:
    return uow.get(Citizen, citizen_id, "citizen")


def _amount(a: Amount) -> dict[str, int]:
    return amount(a.minutes_per_week, a.visits, a.period_days, a.minutes_per_visit)


@declare(RegisterCitizen, name="register_citizen", roles=["assessor"], creates=True, etag="citizen",
         location="/citizens/{citizen_id}",
         # The identity is obviously not a real person: never put a real-looking CPR number in an example.
         example={"municipality": 657, "effective": "2018-01-01", "residence": "own_home", "provider": "municipal",
                  "identity": {"cpr": "000000-0000", "name": "Test Borger"}})
def register(uow: UnitOfWork, cmd: RegisterCitizen, ctx: Context, svc: Services) -> Result:
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


@declare(ChooseProvider, name="choose_provider", roles=["assessor"], path=["citizen_id"], if_match="citizen",
         example={"effective": "2019-01-01", "provider": "private:Hjemmehjælp ApS"})
def choose_provider(uow: UnitOfWork, cmd: ChooseProvider, ctx: Context, svc: Services) -> Result:
    citizen(uow, cmd.citizen_id).choose_provider(ctx, cmd.effective, cmd.provider)
    return {"citizen_id": str(cmd.citizen_id)}


@declare(ChangeResidence, name="change_residence", roles=["assessor"], path=["citizen_id"], if_match="citizen",
         example={"effective": "2020-01-01", "residence": "nursing_home"})
def change_residence(uow: UnitOfWork, cmd: ChangeResidence, ctx: Context, svc: Services) -> Result:
    citizen(uow, cmd.citizen_id).change_residence(ctx, cmd.effective, cmd.residence)
    return {"citizen_id": str(cmd.citizen_id)}


@declare(EraseIdentity, name="erase_identity", roles=[], path=["citizen_id"], if_match="citizen", example={})
def erase(uow: UnitOfWork, cmd: EraseIdentity, ctx: Context, svc: Services) -> Result:
    person = citizen(uow, cmd.citizen_id)
    svc.identity.erase(str(cmd.citizen_id))
    person.mark_erased(ctx, ctx.timestamp().date())
    return {"citizen_id": str(cmd.citizen_id), "erased": True}


def _assessment(uow: UnitOfWork, citizen_id: UUID) -> Assessment:
    citizen(uow, citizen_id)
    return uow.get(Assessment, assessment_id(citizen_id), "assessment")


@declare(AwardGrant, name="award_grant", roles=["assessor"], creates=True, etag="assessment",
         location="/citizens/{citizen_id}",
         example={"citizen_id": "2554e582-e697-59f2-9cfd-e5850753d758", "grant_id": "g-clean", "fsiii": "H1.8", "section": "83",
                  "amount": {"minutes_per_week": 30}, "valid_from": "2018-01-01", "valid_to": None})
def award(uow: UnitOfWork, cmd: AwardGrant, ctx: Context, svc: Services) -> Result:
    a = _assessment(uow, cmd.citizen_id)
    grant_id = cmd.grant_id or f"g-{key_id('grant', ctx.command_id).hex[:12]}"
    a.award(ctx, grant_id, cmd.fsiii, cmd.section, _amount(cmd.amount), cmd.valid_from, cmd.valid_to)
    return {"citizen_id": str(cmd.citizen_id), "grant_id": grant_id}


@declare(ReassessGrant, name="reassess_grant", roles=["assessor"], path=["citizen_id", "grant_id"],
         if_match="assessment",
         example={"effective": "2019-01-01", "amount": {"visits": 1, "period_days": 14, "minutes_per_visit": 60}})
def reassess(uow: UnitOfWork, cmd: ReassessGrant, ctx: Context, svc: Services) -> Result:
    _assessment(uow, cmd.citizen_id).reassess(ctx, cmd.grant_id, cmd.effective, _amount(cmd.amount))
    return {"citizen_id": str(cmd.citizen_id), "grant_id": cmd.grant_id}


@declare(CorrectGrant, name="correct_grant", roles=["assessor"], path=["citizen_id", "grant_id"],
         if_match="assessment",
         example={"effective": "2018-06-01", "amount": {"minutes_per_week": 45},
                  "corrects": "3b47a4a2-58ae-5362-9c2e-fdd5de936f4d:2"})
def correct(uow: UnitOfWork, cmd: CorrectGrant, ctx: Context, svc: Services) -> Result:
    _assessment(uow, cmd.citizen_id).correct(ctx, cmd.grant_id, cmd.effective, _amount(cmd.amount), cmd.corrects)
    return {"citizen_id": str(cmd.citizen_id), "grant_id": cmd.grant_id}


@declare(EndGrant, name="end_grant", roles=["assessor"], path=["citizen_id", "grant_id"], if_match="assessment",
         example={"last_day": "2020-12-31"})
def end(uow: UnitOfWork, cmd: EndGrant, ctx: Context, svc: Services) -> Result:
    _assessment(uow, cmd.citizen_id).end(ctx, cmd.grant_id, cmd.last_day)
    return {"citizen_id": str(cmd.citizen_id), "grant_id": cmd.grant_id}


@declare(GrantKlippekort, name="grant_klippekort", roles=["assessor"], path=["citizen_id"], etag="klippekort",
         example={"minutes_per_week": 30, "valid_from": "2019-01-01", "valid_to": None})
def grant_klippekort(uow: UnitOfWork, cmd: GrantKlippekort, ctx: Context, svc: Services) -> Result:
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


@declare(EndKlippekort, name="end_klippekort", roles=["assessor"], path=["citizen_id"], if_match="klippekort",
         example={"last_day": "2020-12-31"})
def end_klippekort(uow: UnitOfWork, cmd: EndKlippekort, ctx: Context, svc: Services) -> Result:
    person = citizen(uow, cmd.citizen_id)
    card = uow.get(Klippekort, klippekort_id(person.id), "klippekort")
    card.end(ctx, cmd.last_day)
    return {"citizen_id": str(person.id), "klippekort_id": str(card.id)}
