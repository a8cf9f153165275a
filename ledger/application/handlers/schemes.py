from __future__ import annotations

from typing import Any

from ledger.application import commands as c
from ledger.application.handlers import handles
from ledger.domain.errors import AlreadyExists
from ledger.domain.municipalities import municipality_code
from ledger.domain.scheme import Scheme, scheme_id


def _scheme(uow: Any, municipality: object) -> Scheme:
    m = municipality_code(municipality)
    return uow.get(Scheme, scheme_id(m), f"trial scheme for municipality {m}")


@handles("establish_scheme")
def establish(uow: Any, cmd: c.EstablishScheme, ctx: Any, svc: Any) -> dict[str, Any]:
    m = municipality_code(cmd.municipality)
    if uow.find(Scheme, scheme_id(m)) is not None:
        raise AlreadyExists(f"municipality {m} already has a trial scheme; open a new window or change its rules")
    s = uow.add(Scheme.establish(ctx, m, cmd.name, cmd.window_start, cmd.window_end, list(cmd.sections),
                                 cmd.minimum_minutes, cmd.increment_minutes, cmd.requires_municipal_provider))
    return {"scheme_id": str(s.id), "municipality": m}


@handles("open_scheme_window")
def open_window(uow: Any, cmd: c.OpenSchemeWindow, ctx: Any, svc: Any) -> dict[str, Any]:
    s = _scheme(uow, cmd.municipality)
    s.open_window(ctx, cmd.window_start, cmd.window_end)
    return {"scheme_id": str(s.id)}


@handles("change_scheme_window")
def change_window(uow: Any, cmd: c.ChangeSchemeWindow, ctx: Any, svc: Any) -> dict[str, Any]:
    s = _scheme(uow, cmd.municipality)
    s.change_window_end(ctx, cmd.window_start, cmd.window_end)
    return {"scheme_id": str(s.id)}


@handles("change_scheme_rules")
def change_rules(uow: Any, cmd: c.ChangeSchemeRules, ctx: Any, svc: Any) -> dict[str, Any]:
    s = _scheme(uow, cmd.municipality)
    s.change_rules(ctx, cmd.effective, list(cmd.sections), cmd.minimum_minutes, cmd.increment_minutes,
                   cmd.requires_municipal_provider)
    return {"scheme_id": str(s.id)}
