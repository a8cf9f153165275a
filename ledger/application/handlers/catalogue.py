from __future__ import annotations

from typing import Any

from ledger.application import commands as c
from ledger.application.handlers import handles
from ledger.domain.catalogue import Catalogue, catalogue_id
from ledger.domain.municipalities import municipality_code


def catalogue(uow: Any, municipality: object, ctx: Any = None, effective: Any = None) -> Catalogue:
    """The municipality's catalogue; opened on first use when a catalogue manager adds to it."""
    m = municipality_code(municipality)
    cat = uow.find(Catalogue, catalogue_id(m))
    if cat is None and ctx is not None:
        cat = uow.add(Catalogue.open(ctx, m, effective))
    if cat is None:
        return uow.get(Catalogue, catalogue_id(m), f"catalogue of municipality {m}")
    return cat


def _dump(model: Any) -> dict[str, Any] | None:
    return None if model is None else model.model_dump()


@handles("add_item")
def add_item(uow: Any, cmd: c.AddItem, ctx: Any, svc: Any) -> dict[str, Any]:
    cat = catalogue(uow, cmd.municipality, ctx, cmd.effective)
    cat.add_item(ctx, cmd.item_id, cmd.name, cmd.unit, cmd.fsiii, cmd.vat_class, cmd.prices.model_dump(),
                 cmd.cost_basis.model_dump(), cmd.effective, _dump(cmd.cancellation))
    return {"catalogue_id": str(cat.id), "offer_id": cmd.item_id}


@handles("add_package")
def add_package(uow: Any, cmd: c.AddPackage, ctx: Any, svc: Any) -> dict[str, Any]:
    cat = catalogue(uow, cmd.municipality, ctx, cmd.effective)
    cat.add_package(ctx, cmd.package_id, cmd.name, list(cmd.items), cmd.fsiii, cmd.vat_class, cmd.prices.model_dump(),
                    cmd.cost_basis.model_dump(), cmd.effective, _dump(cmd.cancellation))
    return {"catalogue_id": str(cat.id), "offer_id": cmd.package_id}


@handles("change_price")
def change_price(uow: Any, cmd: c.ChangePrice, ctx: Any, svc: Any) -> dict[str, Any]:
    cat = catalogue(uow, cmd.municipality)
    cat.change_price(ctx, cmd.offer_id, cmd.effective, cmd.vat_class, cmd.prices.model_dump(), cmd.cost_basis.model_dump())
    return {"catalogue_id": str(cat.id), "offer_id": cmd.offer_id}


@handles("correct_price_version")
def correct_price_version(uow: Any, cmd: c.CorrectPriceVersion, ctx: Any, svc: Any) -> dict[str, Any]:
    from ledger.application.handlers.rerating import preview

    cat = catalogue(uow, cmd.municipality)
    old = cat.correct_price(ctx, cmd.offer_id, cmd.effective, cmd.vat_class, cmd.prices.model_dump(),
                            cmd.cost_basis.model_dump(), cmd.reason)
    # What the correction reaches: the issued lines priced by the old version, and what the next
    # invoice run's re-rating will bill for them (debit positive, credit negative).
    return {"catalogue_id": str(cat.id), "offer_id": cmd.offer_id, "corrects": old["ref"],
            **preview(uow, svc, cat, cmd.offer_id, old["effective"])}


@handles("retire_offer")
def retire(uow: Any, cmd: c.RetireOffer, ctx: Any, svc: Any) -> dict[str, Any]:
    cat = catalogue(uow, cmd.municipality)
    cat.retire(ctx, cmd.offer_id, cmd.effective)
    return {"catalogue_id": str(cat.id), "offer_id": cmd.offer_id}
