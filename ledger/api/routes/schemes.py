"""Trial schemes: a municipality's add-on trial, its windows and its rules."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from ledger.api import bodies as b
from ledger.api.commanding import Command, Runner
from ledger.api.deps import AtPosition, CallerDep, ServicesDep, reader
from ledger.api.reads import etag, history
from ledger.api.routes import COMMAND_ERRORS, MunicipalityPath
from ledger.api.schemas import CommandResponse, History
from ledger.api.tenancy import code_of
from ledger.domain.scheme import scheme_id

router = APIRouter(prefix="/schemes", tags=["schemes"], responses=COMMAND_ERRORS)


@router.post("", status_code=201, response_model=CommandResponse)
def establish_scheme(body: b.EstablishSchemeBody, run: Runner = Command("establish_scheme")) -> Response:
    return run(body)


@router.post("/{municipality}/windows", response_model=CommandResponse)
def open_scheme_window(municipality: MunicipalityPath, body: b.OpenSchemeWindowBody,
                       run: Runner = Command("open_scheme_window")) -> Response:
    return run(body, municipality=municipality)


@router.post("/{municipality}/window-changes", response_model=CommandResponse)
def change_scheme_window(municipality: MunicipalityPath, body: b.ChangeSchemeWindowBody,
                         run: Runner = Command("change_scheme_window")) -> Response:
    return run(body, municipality=municipality)


@router.post("/{municipality}/rules", response_model=CommandResponse)
def change_scheme_rules(municipality: MunicipalityPath, body: b.ChangeSchemeRulesBody,
                        run: Runner = Command("change_scheme_rules")) -> Response:
    return run(body, municipality=municipality)


@router.get("/{municipality}/events", response_model=History, dependencies=[Depends(reader("catalogue"))])
def scheme_events(municipality: MunicipalityPath, svc: ServicesDep, who: CallerDep, response: Response,
                  at_position: AtPosition = None) -> dict[str, Any]:
    return etag(response, history(svc, who, scheme_id(code_of(municipality)), "Scheme", "scheme", None, at_position))
