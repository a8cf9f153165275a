"""The add-on catalogue of a municipality: items, packages, price changes, retirement."""

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
from ledger.domain.catalogue import catalogue_id
from ledger.api.tenancy import code_of

router = APIRouter(prefix="/catalogue", tags=["catalogue"], responses=COMMAND_ERRORS)


@router.post("/items", **declared(c.AddItem))
def add_item(run: Run[c.AddItem] = Command(c.AddItem)) -> Response:
    return run()


@router.post("/packages", **declared(c.AddPackage))
def add_package(run: Run[c.AddPackage] = Command(c.AddPackage)) -> Response:
    return run()


@router.post("/{municipality}/offers/{offer_id}/prices", **declared(c.ChangePrice))
def change_price(run: Run[c.ChangePrice] = Command(c.ChangePrice)) -> Response:
    return run()


@router.post("/{municipality}/offers/{offer_id}/price-corrections", **declared(c.CorrectPriceVersion))
def correct_price_version(run: Run[c.CorrectPriceVersion] = Command(c.CorrectPriceVersion)) -> Response:
    """Correct the price version from `effective`; the answer says which issued lines the next run re-rates."""
    return run()


@router.post("/{municipality}/offers/{offer_id}/retire", **declared(c.RetireOffer))
def retire_offer(run: Run[c.RetireOffer] = Command(c.RetireOffer)) -> Response:
    return run()


@router.get("/{municipality}/events", response_model=History, dependencies=[Depends(reader("catalogue"))])
def catalogue_events(municipality: MunicipalityPath, svc: ServicesDep, who: CallerDep, response: Response,
                     at_position: AtPosition = None) -> dict[str, Any]:
    return etag(response, history(svc, who, catalogue_id(code_of(municipality)), "Catalogue", "catalogue", None, at_position))
