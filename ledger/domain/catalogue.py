"""A municipality's add-on catalogue ("tilkøbskatalog"): items, packages and their prices over time.

One Catalogue per municipality. Items and packages are both *offers*: each has a unit, an FSIII
category, a VAT class, and price versions per time band with the cost basis the price was set from,
each effective from a date. Old versions are kept, so every past price stays reproducible and an
invoice line can name the exact version ('<catalogue id>:<version>') it used.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.domain.base import Context, LedgerAggregate, key_id
from ledger.domain.errors import AlreadyExists, InvalidInput, NotFound, RuleViolated, rule
from ledger.domain.pricing import PriceVersion, offer_versions, price_version_on
from ledger.domain.values import BANDS, UNITS, VAT_CLASSES, fsiii_code, iso, one_of, ore, whole

COST_PARTS = ("wage", "overhead", "transport", "capital")


def catalogue_id(municipality: int) -> UUID:
    return key_id("catalogue", municipality)


def prices(value: object) -> dict[str, int]:
    """Price per time band in øre (per hour for hourly items, per unit otherwise)."""
    if not isinstance(value, dict) or set(value) != set(BANDS):
        raise InvalidInput(f"prices must give øre for each band: {', '.join(BANDS)}", field="prices")
    return {b: ore(value[b], f"prices.{b}", allow_zero=False) for b in BANDS}


def cost_basis(value: object) -> dict[str, int]:
    """The full cost the price was set from, per unit: wage, overhead, transport and capital, in øre."""
    if not isinstance(value, dict) or set(value) != set(COST_PARTS):
        raise InvalidInput(f"cost_basis must give øre for each of: {', '.join(COST_PARTS)}", field="cost_basis")
    return {p: ore(value[p], f"cost_basis.{p}") for p in COST_PARTS}


def terms(value: object) -> dict[str, int]:
    """Late-cancellation terms: cancelling less than notice_hours before costs fee_ore."""
    value = value or {"notice_hours": 24, "fee_ore": 0}
    if not isinstance(value, dict):
        raise InvalidInput("cancellation must be {notice_hours, fee_ore}", field="cancellation")
    return {"notice_hours": whole(value.get("notice_hours", 24), "cancellation.notice_hours", low=0, high=24 * 30),
            "fee_ore": ore(value.get("fee_ore", 0), "cancellation.fee_ore")}


class Catalogue(LedgerAggregate):
    if TYPE_CHECKING:  # state the events' apply() methods assign (declared for the type checker only)
        offers: dict[str, dict[str, Any]]

    class CatalogueOpened(LedgerAggregate.Created):
        def apply(self, c: Catalogue) -> None:
            c.municipality = self.municipality
            c.offers = {}

    class ItemAdded(LedgerAggregate.Event):
        item_id: str
        name: str
        unit: str
        fsiii: str
        vat_class: str
        prices: dict[str, Any]
        cost_basis: dict[str, Any]
        cancellation: dict[str, Any]

        def apply(self, c: Catalogue) -> None:
            c._add(self, "item", [])

    class PackageAdded(LedgerAggregate.Event):
        package_id: str
        name: str
        items: list[Any]
        fsiii: str
        vat_class: str
        prices: dict[str, Any]
        cost_basis: dict[str, Any]
        cancellation: dict[str, Any]

        def apply(self, c: Catalogue) -> None:
            c._add(self, "package", list(self.items))

    class PriceChanged(LedgerAggregate.Event):
        """A new price version of an item or package from `effective` (e.g. each 1 January)."""

        offer_id: str
        vat_class: str
        prices: dict[str, Any]
        cost_basis: dict[str, Any]

        def apply(self, c: Catalogue) -> None:
            o = c.offers[self.offer_id]
            o["versions"] = sorted(
                [v for v in o["versions"] if v["effective"] != self.effective] + [c._price_version(self)],
                key=lambda v: v["effective"])

    class PriceVersionCorrected(LedgerAggregate.Event):
        """A price version was wrong from the start: it is replaced, from its own `effective` date,
        by these figures. `corrects` names the version (the event ref) it replaces; `reason` says why.
        The next invoice run re-rates every issued line priced by it (see docs/adr/0011)."""

        offer_id: str
        corrects: str
        vat_class: str
        prices: dict[str, Any]
        cost_basis: dict[str, Any]
        reason: str

        def apply(self, c: Catalogue) -> None:
            o = c.offers[self.offer_id]
            o["versions"] = [{**c._price_version(self), "corrects": self.corrects} if v["ref"] == self.corrects else v
                             for v in o["versions"]]

    class OfferRetired(LedgerAggregate.Event):
        """The item or package can no longer be ordered from `effective` on."""

        offer_id: str

        def apply(self, c: Catalogue) -> None:
            c.offers[self.offer_id]["retired_from"] = self.effective

    @staticmethod
    def _price_version(e: Any) -> dict[str, Any]:
        return {"effective": e.effective, "vat_class": e.vat_class, "prices": e.prices,
                "cost_basis": e.cost_basis, "ref": f"{e.originator_id}:{e.originator_version}"}

    def _add(self, e: Any, kind: str, items: list[str]) -> None:
        offer_id = e.item_id if kind == "item" else e.package_id
        self.offers[offer_id] = {"kind": kind, "name": e.name, "unit": getattr(e, "unit", "package"),
                                 "fsiii": e.fsiii, "items": items, "cancellation": e.cancellation,
                                 "retired_from": None, "versions": [self._price_version(e)]}

    # -- commands --------------------------------------------------------------------------
    @classmethod
    def open(cls, ctx: Context, municipality: int, effective: date) -> Catalogue:
        return cls._start(cls.CatalogueOpened, catalogue_id(municipality), ctx, iso(effective), municipality)

    def _check_new(self, offer_id: str, name: str) -> None:
        if not isinstance(offer_id, str) or not offer_id.strip() or len(offer_id) > 64:
            raise InvalidInput("an offer id must be a short non-empty text", field="id")
        if offer_id in self.offers:
            raise AlreadyExists(f"the catalogue already has {offer_id!r}")
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput("an item or package needs a name", field="name")

    def add_item(self, ctx: Context, item_id: str, name: str, unit: str, fsiii: str, vat_class: str,
                 prices_: dict[str, Any], cost_basis_: dict[str, Any], effective: date, cancellation: dict[str, Any] | None = None) -> None:
        self._check_new(item_id, name)
        one_of(unit, UNITS[:3], "unit")
        one_of(vat_class, VAT_CLASSES, "vat_class")
        self._record(self.ItemAdded, ctx, iso(effective), item_id=item_id, name=name.strip(), unit=unit,
                     fsiii=fsiii_code(fsiii), vat_class=vat_class, prices=prices(prices_),
                     cost_basis=cost_basis(cost_basis_), cancellation=terms(cancellation))

    def add_package(self, ctx: Context, package_id: str, name: str, items: list[str], fsiii: str, vat_class: str,
                    prices_: dict[str, Any], cost_basis_: dict[str, Any], effective: date, cancellation: dict[str, Any] | None = None) -> None:
        self._check_new(package_id, name)
        if not isinstance(items, list) or not items:
            raise InvalidInput("a package must name at least one item", field="items")
        for i in items:
            o = self.offers.get(i)
            if o is None or o["kind"] != "item":
                raise NotFound(f"package item {i!r} is not an item in this catalogue")
        one_of(vat_class, VAT_CLASSES, "vat_class")
        self._record(self.PackageAdded, ctx, iso(effective), package_id=package_id, name=name.strip(),
                     items=sorted(set(items)), fsiii=fsiii_code(fsiii), vat_class=vat_class, prices=prices(prices_),
                     cost_basis=cost_basis(cost_basis_), cancellation=terms(cancellation))

    def offer(self, offer_id: str) -> dict[str, Any]:
        found = self.offers.get(offer_id)
        if found is None:
            raise NotFound(f"the catalogue of municipality {self.municipality} has no item or package {offer_id!r}")
        return found

    def change_price(self, ctx: Context, offer_id: str, effective: date, vat_class: str, prices_: dict[str, Any],
                     cost_basis_: dict[str, Any]) -> None:
        o = self.offer(offer_id)
        one_of(vat_class, VAT_CLASSES, "vat_class")
        rule(iso(effective) >= o["versions"][0]["effective"], "price-before-offer",
             f"price change {effective} is before {offer_id} was added ({o['versions'][0]['effective']})")
        rule(o["retired_from"] is None or iso(effective) < o["retired_from"], "offer-retired",
             f"{offer_id} is retired from {o['retired_from']}")
        same = next((v for v in o["versions"] if v["effective"] == iso(effective)), None)
        # A second version on the same date would silently replace the first: that is a correction.
        rule(same is None, "price-version-exists",
             f"{offer_id} already has a price version from {effective} ({same['ref'] if same else ''}); "
             "correct it with correct_price_version, which names it and says why")
        self._record(self.PriceChanged, ctx, iso(effective), offer_id=offer_id, vat_class=vat_class,
                     prices=prices(prices_), cost_basis=cost_basis(cost_basis_))

    def correct_price(self, ctx: Context, offer_id: str, effective: date, vat_class: str, prices_: dict[str, Any],
                      cost_basis_: dict[str, Any], reason: str) -> dict[str, Any]:
        """Correct the version in force from `effective` (its own date); returns the version corrected."""
        o = self.offer(offer_id)
        one_of(vat_class, VAT_CLASSES, "vat_class")
        old: dict[str, Any] | None = next((v for v in o["versions"] if v["effective"] == iso(effective)), None)
        if old is None:
            raise NotFound(f"{offer_id} has no price version from {effective}; versions start "
                           + ", ".join(v["effective"] for v in o["versions"]))
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidInput("a correction must say why", field="reason")
        new_prices, new_cost = prices(prices_), cost_basis(cost_basis_)
        rule((new_prices, new_cost, vat_class) != (old["prices"], old["cost_basis"], old["vat_class"]),
             "correction-changes-nothing", f"the correction of {old['ref']} gives the figures it already has")
        self._record(self.PriceVersionCorrected, ctx, iso(effective), offer_id=offer_id, corrects=old["ref"],
                     vat_class=vat_class, prices=new_prices, cost_basis=new_cost, reason=reason.strip())
        return old

    def retire(self, ctx: Context, offer_id: str, effective: date) -> None:
        o = self.offer(offer_id)
        rule(o["retired_from"] is None, "offer-retired", f"{offer_id} is already retired from {o['retired_from']}")
        self._record(self.OfferRetired, ctx, iso(effective), offer_id=offer_id)

    # -- queries ---------------------------------------------------------------------------
    def in_force(self, offer_id: str, d: date) -> bool:
        o = self.offer(offer_id)
        s = iso(d)
        return o["versions"][0]["effective"] <= s and (o["retired_from"] is None or s < o["retired_from"])

    def price_on(self, offer_id: str, d: date) -> PriceVersion:
        """The price version in force on d; refuses a date before the offer or after retirement."""
        o = self.offer(offer_id)
        if not self.in_force(offer_id, d):
            raise RuleViolated("offer-not-in-force", f"{offer_id} is not in the catalogue on {d}")
        return price_version_on(offer_versions(o), iso(d))
