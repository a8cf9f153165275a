"""The trial scheme of a municipality: establish it, open and change its windows, change its rules."""

from __future__ import annotations

from pydantic import Field, StrictBool

from ledger.application.commands._base import Command, Day, Minutes, Municipality, Section, Text
from ledger.application.commands._spec import Result, Services, declare
from ledger.application.uow import UnitOfWork
from ledger.domain.base import Context
from ledger.domain.errors import AlreadyExists
from ledger.domain.municipalities import municipality_code
from ledger.domain.scheme import Scheme, scheme_id


class EstablishScheme(Command):
    municipality: Municipality
    name: Text
    window_start: Day
    window_end: Day
    sections: list[Section] = Field(min_length=1)
    minimum_minutes: Minutes
    increment_minutes: Minutes
    requires_municipal_provider: StrictBool = True


class OpenSchemeWindow(Command):
    municipality: Municipality
    window_start: Day
    window_end: Day


class ChangeSchemeWindow(Command):
    municipality: Municipality
    window_start: Day
    window_end: Day


class ChangeSchemeRules(Command):
    municipality: Municipality
    effective: Day
    sections: list[Section] = Field(min_length=1)
    minimum_minutes: Minutes
    increment_minutes: Minutes
    requires_municipal_provider: StrictBool = True


def _scheme(uow: UnitOfWork, municipality: object) -> Scheme:
    m = municipality_code(municipality)
    return uow.get(Scheme, scheme_id(m), f"trial scheme for municipality {m}")


@declare(EstablishScheme, name="establish_scheme", roles=["catalogue_manager"], creates=True, etag="scheme",
         location="/schemes/{municipality}/events",
         example={"municipality": 657, "name": "Herning tilkøb", "window_start": "2018-06-01",
                  "window_end": "2021-12-31", "sections": ["83"], "minimum_minutes": 30,
                  "increment_minutes": 30, "requires_municipal_provider": True})
def establish(uow: UnitOfWork, cmd: EstablishScheme, ctx: Context, svc: Services) -> Result:
    m = municipality_code(cmd.municipality)
    if uow.find(Scheme, scheme_id(m)) is not None:
        raise AlreadyExists(f"municipality {m} already has a trial scheme; open a new window or change its rules")
    s = uow.add(Scheme.establish(ctx, m, cmd.name, cmd.window_start, cmd.window_end, list(cmd.sections),
                                 cmd.minimum_minutes, cmd.increment_minutes, cmd.requires_municipal_provider))
    return {"scheme_id": str(s.id), "municipality": m}


@declare(OpenSchemeWindow, name="open_scheme_window", roles=["catalogue_manager"], path=["municipality"], if_match="scheme",
         example={"window_start": "2022-01-01", "window_end": "2022-12-31"})
def open_window(uow: UnitOfWork, cmd: OpenSchemeWindow, ctx: Context, svc: Services) -> Result:
    s = _scheme(uow, cmd.municipality)
    s.open_window(ctx, cmd.window_start, cmd.window_end)
    return {"scheme_id": str(s.id)}


@declare(ChangeSchemeWindow, name="change_scheme_window", roles=["catalogue_manager"], path=["municipality"], if_match="scheme",
         example={"window_start": "2018-06-01", "window_end": "2022-06-30"})
def change_window(uow: UnitOfWork, cmd: ChangeSchemeWindow, ctx: Context, svc: Services) -> Result:
    s = _scheme(uow, cmd.municipality)
    s.change_window_end(ctx, cmd.window_start, cmd.window_end)
    return {"scheme_id": str(s.id)}


@declare(ChangeSchemeRules, name="change_scheme_rules", roles=["catalogue_manager"], path=["municipality"], if_match="scheme",
         example={"effective": "2020-01-01", "sections": ["83", "85"], "minimum_minutes": 30,
                  "increment_minutes": 30, "requires_municipal_provider": True})
def change_rules(uow: UnitOfWork, cmd: ChangeSchemeRules, ctx: Context, svc: Services) -> Result:
    s = _scheme(uow, cmd.municipality)
    s.change_rules(ctx, cmd.effective, list(cmd.sections), cmd.minimum_minutes, cmd.increment_minutes,
                   cmd.requires_municipal_provider)
    return {"scheme_id": str(s.id)}
