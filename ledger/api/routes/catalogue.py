"""The add-on catalogue of a municipality: items, packages, price changes, retirement."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from ledger.api import bodies as b
from ledger.api.commanding import Command, Runner
from ledger.api.deps import AtPosition, CallerDep, ServicesDep, reader
from ledger.api.reads import etag, history
from ledger.api.routes import COMMAND_ERRORS, MunicipalityPath, ShortIdPath
from ledger.api.schemas import CommandResponse, History
from ledger.domain.catalogue import catalogue_id
from ledger.api.tenancy import code_of

router = APIRouter(prefix="/catalogue", tags=["catalogue"], responses=COMMAND_ERRORS)


@router.post("/items", status_code=201, response_model=CommandResponse)
def add_item(body: b.AddItemBody, run: Runner = Command("add_item")) -> Response:
    return run(body)


@router.post("/packages", status_code=201, response_model=CommandResponse)
def add_package(body: b.AddPackageBody, run: Runner = Command("add_package")) -> Response:
    return run(body)


@router.post("/{municipality}/offers/{offer_id}/prices", response_model=CommandResponse)
def change_price(municipality: MunicipalityPath, offer_id: ShortIdPath, body: b.ChangePriceBody,
                 run: Runner = Command("change_price")) -> Response:
    return run(body, municipality=municipality, offer_id=offer_id)


@router.post("/{municipality}/offers/{offer_id}/price-corrections", response_model=CommandResponse)
def correct_price_version(municipality: MunicipalityPath, offer_id: ShortIdPath, body: b.CorrectPriceVersionBody,
                          run: Runner = Command("correct_price_version")) -> Response:
    """Correct the price version from `effective`; the answer says which issued lines the next run re-rates."""
    return run(body, municipality=municipality, offer_id=offer_id)


@router.post("/{municipality}/offers/{offer_id}/retire", response_model=CommandResponse)
def retire_offer(municipality: MunicipalityPath, offer_id: ShortIdPath, body: b.RetireOfferBody,
                 run: Runner = Command("retire_offer")) -> Response:
    return run(body, municipality=municipality, offer_id=offer_id)


@router.get("/{municipality}/events", response_model=History, dependencies=[Depends(reader("catalogue"))])
def catalogue_events(municipality: MunicipalityPath, svc: ServicesDep, who: CallerDep, response: Response,
                     at_position: AtPosition = None) -> dict[str, Any]:
    return etag(response, history(svc, who, catalogue_id(code_of(municipality)), "Catalogue", "catalogue", None, at_position))
