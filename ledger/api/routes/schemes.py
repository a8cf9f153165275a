"""Trial schemes: a municipality's add-on trial, its windows and its rules."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from ledger.application import commands as c
from ledger.api.commanding import Command, Run, declared
from ledger.api.deps import CallerDep, ServicesDep, reader, AtPosition
from ledger.api.reads import history, etag
from ledger.api.routes import COMMAND_ERRORS, MunicipalityPath
from ledger.api.schemas import History
from ledger.api.tenancy import code_of
from ledger.domain.scheme import scheme_id

router = APIRouter(prefix="/schemes", tags=["schemes"], responses=COMMAND_ERRORS)


@router.post("", **declared(c.EstablishScheme))
def establish_scheme(run: Run[c.EstablishScheme] = Command(c.EstablishScheme)) -> Response:
    return run()


@router.post("/{municipality}/windows", **declared(c.OpenSchemeWindow))
def open_scheme_window(run: Run[c.OpenSchemeWindow] = Command(c.OpenSchemeWindow)) -> Response:
    return run()


@router.post("/{municipality}/window-changes", **declared(c.ChangeSchemeWindow))
def change_scheme_window(run: Run[c.ChangeSchemeWindow] = Command(c.ChangeSchemeWindow)) -> Response:
    return run()


@router.post("/{municipality}/rules", **declared(c.ChangeSchemeRules))
def change_scheme_rules(run: Run[c.ChangeSchemeRules] = Command(c.ChangeSchemeRules)) -> Response:
    return run()


@router.get("/{municipality}/events", response_model=History, dependencies=[Depends(reader("catalogue"))])
def scheme_events(municipality: MunicipalityPath, svc: ServicesDep, who: CallerDep, response: Response,
                  at_position: AtPosition = None) -> dict[str, Any]:
    return etag(response, history(svc, who, scheme_id(code_of(municipality)), "Scheme", "scheme", None, at_position))
