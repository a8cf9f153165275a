"""A municipality's add-on catalogue ("tilkøbskatalog"): items, packages and their prices over time.

One Catalogue per municipality. Items and packages are both *offers*: each has a unit, an FSIII
category, a VAT class, and price versions per time band with the cost basis each band's price was
set from (wage, overhead, transport and capital per band: an evening hour costs more than a
weekday daytime hour), each effective from a date. Old versions are kept, so every past price stays reproducible and an
invoice line can name the exact version ('<catalogue id>:<version>') it used.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.domain.base import Context, LedgerAggregate, key_id
from ledger.domain.errors import AlreadyExists, InvalidInput, NotFound, RuleViolated, rule
from ledger.domain.pricing import PriceVersion, band_costs, offer_versions, price_version_on
from ledger.domain.values import BANDS, UNITS, VAT_CLASSES, fsiii_code, iso, one_of, ore, whole

COST_PARTS = ("wage", "overhead", "transport", "capital")
# A band's price is its full cost rounded up to whole kroner: it may lie above the cost by less
# than one krone, never below it (docs/adr/0027). Prices and costs are both net of VAT: VAT is
# charged on top of the price for a new kind of service and is no part of the cost.
PRICE_ROUNDING_ORE = 100


def catalogue_id(municipality: int) -> UUID:
    return key_id("catalogue", municipality)


def prices(value: object) -> dict[str, int]:
    """Price per time band in øre (per hour for hourly items, per unit otherwise)."""
    if not isinstance(value, dict) or set(value) != set(BANDS):
        raise InvalidInput(f"prices must give øre for each band: {', '.join(BANDS)}", field="prices")
    return {b: ore(value[b], f"prices.{b}", allow_zero=False) for b in BANDS}


def cost_parts(value: object, field: str = "cost_basis") -> dict[str, int]:
    """One band's full cost per unit: wage, overhead, transport and capital, in øre."""
    if not isinstance(value, dict) or set(value) != set(COST_PARTS):
        raise InvalidInput(f"{field} must give øre for each of: {', '.join(COST_PARTS)}", field=field)
    return {p: ore(value[p], f"{field}.{p}") for p in COST_PARTS}


def cost_basis(value: object) -> dict[str, dict[str, int]]:
    """The full cost each band's price was set from: {band: {wage, overhead, transport, capital}}."""
    if isinstance(value, dict) and set(value) == set(COST_PARTS):
        raise InvalidInput("cost_basis is given per band since docs/adr/0027: {"
                           + ", ".join(f"{b}: {{{', '.join(COST_PARTS)}}}" for b in BANDS)
                           + "}; one basis for all bands is not taken", field="cost_basis")
    if not isinstance(value, dict) or set(value) != set(BANDS):
        raise InvalidInput(f"cost_basis must give a cost for each band: {', '.join(BANDS)}", field="cost_basis")
    return {b: cost_parts(value[b], f"cost_basis.{b}") for b in BANDS}


def off_cost(price: int, cost: int | None, tolerance_bp: int = 0) -> str | None:
    """How a band's price stands to that band's full cost: 'below' (it does not cover it),
    'above' (it exceeds it by a krone or more, past the rounding to whole kroner, plus
    `tolerance_bp` basis points of the cost an auditor may allow), 'cost not stated', or None
    (it is the full cost). The one statement of the full-cost rule: the catalogue's commands
    refuse 'below' and 'above' (with no extra tolerance); the audit reports all three."""
    if cost is None:
        return "cost not stated"
    if price * 10_000 < cost * (10_000 - tolerance_bp):
        return "below"
    if (price - PRICE_ROUNDING_ORE + 1) * 10_000 > cost * (10_000 + tolerance_bp):
        return "above"
    return None


def _kr(ore_: int | None) -> str:
    """35400 -> '354,00 kr.' (Danish format, as every amount a person reads)."""
    if ore_ is None:
        return "not stated"
    whole_, part = divmod(abs(ore_), 100)
    return f"{'-' if ore_ < 0 else ''}{whole_:,}".replace(",", ".") + f",{part:02d} kr."


def full_cost_rule(prices_: dict[str, int], basis: dict[str, dict[str, int]]) -> None:
    """Refuse a price version a band of which is not priced at that band's full cost."""
    costs = band_costs(basis)
    for b in BANDS:
        price, cost = prices_[b], costs[b]
        assert cost is not None, "a checked cost basis states every band's cost"
        off = off_cost(price, cost)
        rule(off != "below", "price-below-full-cost",
             f"the {b} price {_kr(price)} does not cover the {b} full cost {_kr(cost)} "
             "(wage + overhead + transport + capital): the citizen pays the full cost, no less",
             band=b, price=price, cost=cost)
        rule(off != "above", "price-above-full-cost",
             f"the {b} price {_kr(price)} is above the {b} full cost {_kr(cost)} by a krone or more: "
             "the price is the full cost rounded up to whole kroner, no profit",
             band=b, price=price, cost=cost)


def priced_at_full_cost(prices_: object, cost_basis_: object) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """A price version's figures, checked: øre per band and each band's cost parts, each band
    priced at its full cost (`full_cost_rule`)."""
    checked_prices, checked_basis = prices(prices_), cost_basis(cost_basis_)
    full_cost_rule(checked_prices, checked_basis)
    return checked_prices, checked_basis


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
        class_version = 2  # cost_basis per band (docs/adr/0027)

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
        class_version = 2  # cost_basis per band (docs/adr/0027)

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

        class_version = 2  # cost_basis per band (docs/adr/0027)

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

        class_version = 2  # cost_basis per band (docs/adr/0027)

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
        checked_prices, checked_basis = priced_at_full_cost(prices_, cost_basis_)
        self._record(self.ItemAdded, ctx, iso(effective), item_id=item_id, name=name.strip(), unit=unit,
                     fsiii=fsiii_code(fsiii), vat_class=vat_class, prices=checked_prices,
                     cost_basis=checked_basis, cancellation=terms(cancellation))

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
        checked_prices, checked_basis = priced_at_full_cost(prices_, cost_basis_)
        self._record(self.PackageAdded, ctx, iso(effective), package_id=package_id, name=name.strip(),
                     items=sorted(set(items)), fsiii=fsiii_code(fsiii), vat_class=vat_class, prices=checked_prices,
                     cost_basis=checked_basis, cancellation=terms(cancellation))

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
        checked_prices, checked_basis = priced_at_full_cost(prices_, cost_basis_)
        self._record(self.PriceChanged, ctx, iso(effective), offer_id=offer_id, vat_class=vat_class,
                     prices=checked_prices, cost_basis=checked_basis)

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
        new_prices, new_cost = priced_at_full_cost(prices_, cost_basis_)
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
