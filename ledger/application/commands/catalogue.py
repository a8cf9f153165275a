"""The catalogue of a municipality: items and packages, their price versions, corrections, retirement."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from ledger.application.commands._base import (BandCosts, CancellationTerms, Command, Day, Fsiii, Municipality, Prices,
                                               ShortId, Text, VatClass)
from ledger.application.commands._spec import Result, Services, declare
from ledger.application.uow import UnitOfWork
from ledger.domain.base import Context
from ledger.domain.catalogue import Catalogue, catalogue_id
from ledger.domain.municipalities import municipality_code

_PRICES = {"weekday_day": 35400, "evening": 66500, "weekend": 49600}
# Each band's price is that band's full cost (docs/adr/0027): the parts add up to the price.
_COST = {"weekday_day": {"wage": 25000, "overhead": 5000, "transport": 3000, "capital": 2400},
         "evening": {"wage": 52500, "overhead": 8000, "transport": 3600, "capital": 2400},
         "weekend": {"wage": 38200, "overhead": 6000, "transport": 3000, "capital": 2400}}
_COST_2020 = {"weekday_day": {"wage": 25700, "overhead": 5000, "transport": 3000, "capital": 2400},
              "evening": {"wage": 53800, "overhead": 8000, "transport": 3600, "capital": 2400},
              "weekend": {"wage": 39200, "overhead": 6000, "transport": 3000, "capital": 2400}}
_COST_CORRECTED = {**_COST, "weekday_day": {"wage": 26000, "overhead": 5000, "transport": 3000, "capital": 2400}}


class AddItem(Command):
    municipality: Municipality
    item_id: ShortId
    name: Text
    unit: Literal["hour", "visit", "day"]
    fsiii: Fsiii
    vat_class: VatClass
    prices: Prices
    cost_basis: BandCosts
    effective: Day
    cancellation: CancellationTerms | None = None


class AddPackage(Command):
    municipality: Municipality
    package_id: ShortId
    name: Text
    items: list[ShortId] = Field(min_length=1, max_length=50)
    fsiii: Fsiii
    vat_class: VatClass
    prices: Prices
    cost_basis: BandCosts
    effective: Day
    cancellation: CancellationTerms | None = None


class ChangePrice(Command):
    municipality: Municipality
    offer_id: ShortId
    effective: Day
    vat_class: VatClass
    prices: Prices
    cost_basis: BandCosts


class CorrectPriceVersion(Command):
    """Replace the price version in force from `effective` (its own date) with these figures."""

    municipality: Municipality
    offer_id: ShortId
    effective: Day
    vat_class: VatClass
    prices: Prices
    cost_basis: BandCosts
    reason: Text


class RetireOffer(Command):
    municipality: Municipality
    offer_id: ShortId
    effective: Day


def catalogue(uow: UnitOfWork, municipality: object, ctx: Context | None = None,
              effective: date | None = None) -> Catalogue:
    """The municipality's catalogue; opened on first use when a catalogue manager adds to it."""
    m = municipality_code(municipality)
    cat = uow.find(Catalogue, catalogue_id(m))
    if cat is None and ctx is not None and effective is not None:
        cat = uow.add(Catalogue.open(ctx, m, effective))
    if cat is None:
        return uow.get(Catalogue, catalogue_id(m), f"catalogue of municipality {m}")
    return cat


def _dump(model: BaseModel | None) -> dict[str, int] | None:
    return None if model is None else model.model_dump()


@declare(AddItem, name="add_item", roles=["catalogue_manager"], creates=True, etag="catalogue",
         location="/catalogue/{municipality}/events",
         example={"municipality": 657, "item_id": "clean", "name": "Extra cleaning", "unit": "hour", "fsiii": "H1.8",
                  "vat_class": "exempt", "prices": _PRICES, "cost_basis": _COST, "effective": "2018-06-01",
                  "cancellation": {"notice_hours": 24, "fee_ore": 17700}})
def add_item(uow: UnitOfWork, cmd: AddItem, ctx: Context, svc: Services) -> Result:
    cat = catalogue(uow, cmd.municipality, ctx, cmd.effective)
    cat.add_item(ctx, cmd.item_id, cmd.name, cmd.unit, cmd.fsiii, cmd.vat_class, cmd.prices.model_dump(),
                 cmd.cost_basis.model_dump(), cmd.effective, _dump(cmd.cancellation))
    return {"catalogue_id": str(cat.id), "offer_id": cmd.item_id}


@declare(AddPackage, name="add_package", roles=["catalogue_manager"], creates=True, etag="catalogue",
         location="/catalogue/{municipality}/events",
         example={"municipality": 657, "package_id": "clean-wash", "name": "Cleaning and laundry",
                  "items": ["clean", "wash"], "fsiii": "H1.8", "vat_class": "exempt", "prices": _PRICES,
                  "cost_basis": _COST, "effective": "2018-06-01"})
def add_package(uow: UnitOfWork, cmd: AddPackage, ctx: Context, svc: Services) -> Result:
    cat = catalogue(uow, cmd.municipality, ctx, cmd.effective)
    cat.add_package(ctx, cmd.package_id, cmd.name, list(cmd.items), cmd.fsiii, cmd.vat_class, cmd.prices.model_dump(),
                    cmd.cost_basis.model_dump(), cmd.effective, _dump(cmd.cancellation))
    return {"catalogue_id": str(cat.id), "offer_id": cmd.package_id}


@declare(ChangePrice, name="change_price", roles=["catalogue_manager"], path=["municipality", "offer_id"],
         if_match="catalogue",
         example={"effective": "2020-01-01", "vat_class": "exempt",
                  "prices": {"weekday_day": 36100, "evening": 67800, "weekend": 50600}, "cost_basis": _COST_2020})
def change_price(uow: UnitOfWork, cmd: ChangePrice, ctx: Context, svc: Services) -> Result:
    cat = catalogue(uow, cmd.municipality)
    cat.change_price(ctx, cmd.offer_id, cmd.effective, cmd.vat_class, cmd.prices.model_dump(), cmd.cost_basis.model_dump())
    return {"catalogue_id": str(cat.id), "offer_id": cmd.offer_id}


@declare(CorrectPriceVersion, name="correct_price_version", roles=["catalogue_manager"],
         path=["municipality", "offer_id"], if_match="catalogue",
         example={"effective": "2018-06-01", "vat_class": "exempt",
                  "prices": {"weekday_day": 36400, "evening": 66500, "weekend": 49600},
                  "cost_basis": _COST_CORRECTED, "reason": "the wage basis was last year's"})
def correct_price_version(uow: UnitOfWork, cmd: CorrectPriceVersion, ctx: Context, svc: Services) -> Result:
    from ledger.application.commands.rerating import preview

    cat = catalogue(uow, cmd.municipality)
    old = cat.correct_price(ctx, cmd.offer_id, cmd.effective, cmd.vat_class, cmd.prices.model_dump(),
                            cmd.cost_basis.model_dump(), cmd.reason)
    # What the correction reaches: the issued lines priced by the old version, and what the next
    # invoice run's re-rating will bill for them (debit positive, credit negative).
    return {"catalogue_id": str(cat.id), "offer_id": cmd.offer_id, "corrects": old["ref"],
            **preview(uow, svc, cat, cmd.offer_id, old["effective"])}


@declare(RetireOffer, name="retire_offer", roles=["catalogue_manager"], path=["municipality", "offer_id"],
         if_match="catalogue", example={"effective": "2021-12-31"})
def retire(uow: UnitOfWork, cmd: RetireOffer, ctx: Context, svc: Services) -> Result:
    cat = catalogue(uow, cmd.municipality)
    cat.retire(ctx, cmd.offer_id, cmd.effective)
    return {"catalogue_id": str(cat.id), "offer_id": cmd.offer_id}
