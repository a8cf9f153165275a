"""How one delivery becomes one invoice line: the scheme's minimum and increment, the price in
force on the delivery's date for its band, VAT by class, rounding half up to whole øre per line.

`price_delivery` is the one pricing rule: the invoice run, a re-rating, `ledger-replay invoice`
and the timeline's revenue figures all call it. The values here are frozen and carry no
framework: a `Quote` is what an order records, an `InvoiceLine` what an invoice records, and each
turns into exactly the payload dict stored in its event (`to_payload`), key for key, in order,
so the stored bytes never change (docs/adr/0023).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeAlias

from ledger.domain.values import BANDS, billable_minutes, hourly_net, line_amounts


if TYPE_CHECKING:  # the aggregates import these values, so they are named here for the type checker only
    from ledger.domain.delivery import Delivery
    from ledger.domain.order import Order

Ore: TypeAlias = int  # money is a whole number of øre, never a float
Payload: TypeAlias = dict[str, Any]  # a JSON object as it is stored in an event


def band_costs(basis: dict[str, Any]) -> dict[str, int | None]:
    """Each band's full cost total in øre; None where the version does not state it (a version
    recorded before costs were kept per band states the weekday daytime cost only)."""
    return {b: None if basis.get(b) is None else sum(basis[b].values()) for b in BANDS}


@dataclass(frozen=True, slots=True)
class Amounts:
    """Net, VAT and gross of a line, in øre."""

    net: Ore
    vat: Ore
    gross: Ore

    @classmethod
    def of(cls, net: Ore, vat_class: str) -> Amounts:
        """The amounts of a line whose net is already in whole øre (VAT rounded half up)."""
        return cls(*line_amounts(net, vat_class))

    def as_dict(self) -> dict[str, Ore]:
        return {"net": self.net, "vat": self.vat, "gross": self.gross}


@dataclass(frozen=True, slots=True)
class PriceVersion:
    """One price version of an item or package: øre per band from `effective`, and its event ref."""

    effective: str
    vat_class: str
    prices: Mapping[str, Ore]  # band → øre (per hour for hourly items, per unit otherwise)
    ref: str = ""

    @classmethod
    def from_state(cls, v: Mapping[str, Any]) -> PriceVersion:
        """From a version as the catalogue keeps it ({effective, vat_class, prices, ref, ...})."""
        return cls(v["effective"], v["vat_class"], v["prices"], v.get("ref", ""))


@dataclass(frozen=True, slots=True)
class Priced:
    """What `price_delivery` answers: the quantity billed, at which unit price, for how much."""

    quantity: int
    billed_minutes: int
    unit_price: Ore
    vat_class: str
    amounts: Amounts


@dataclass(frozen=True, slots=True)
class Quote:
    """The price and VAT class an order was told on its date (OrderPlaced.quoted)."""

    price_ore: Ore
    vat_class: str
    unit: str
    price_ref: str

    @classmethod
    def of(cls, version: PriceVersion, band: str, unit: str) -> Quote:
        return cls(version.prices[band], version.vat_class, unit, version.ref)

    def to_payload(self) -> Payload:
        return {"price_ore": self.price_ore, "vat_class": self.vat_class, "unit": self.unit,
                "price_ref": self.price_ref}


# The provenance keys each kind of line stores, in their stored order.
_PROVENANCE_KEYS = {"delivery": ("order", "delivery", "price", "grant"),
                    "late_cancellation": ("order", "cancellation", "grant"),
                    "interest": ("document", "rates")}


@dataclass(frozen=True, slots=True)
class Provenance:
    """The events an invoice line was computed from ('<aggregate id>:<version>' each)."""

    order: str | None = None
    delivery: str | None = None
    price: str | None = None
    cancellation: str | None = None
    grant: str | None = None
    document: str | None = None
    rates: tuple[str, ...] = ()

    def to_payload(self, kind: str) -> Payload:
        return {k: list[Any](self.rates) if k == "rates" else getattr(self, k) for k in _PROVENANCE_KEYS[kind]}


@dataclass(frozen=True, slots=True)
class InterestBasis:
    """What a default-interest line was computed from (renteloven § 5; interest.py)."""

    document: str
    principal: Ore
    first: str
    last: str
    # (from, to, basis points) at `principal`; or, when what was open changed within the line,
    # (from, to, basis points, principal) each (docs/adr/0028, round 9), `principal` the first's
    periods: tuple[tuple[str, str, int] | tuple[str, str, int, int], ...]

    def to_payload(self) -> Payload:
        return {"document": self.document, "principal": self.principal, "from": self.first, "to": self.last,
                "periods": [list(p) for p in self.periods]}


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    """One line of an invoice: a delivery, a late-cancellation fee or default interest."""

    line_no: int
    kind: str  # delivery | late_cancellation | interest
    billing_key: str
    delivery_id: str | None
    order_id: str | None
    offer_id: str
    offer_name: str
    date: str
    band: str | None
    unit: str
    minutes: int
    billed_minutes: int
    quantity: int
    unit_price: Ore
    vat_class: str
    net: Ore
    vat: Ore
    gross: Ore
    provenance: Provenance
    interest: InterestBasis | None = None

    @property
    def amounts(self) -> Amounts:
        return Amounts(self.net, self.vat, self.gross)

    @property
    def price_ref(self) -> str:
        """The price version a delivery line was priced by."""
        assert self.provenance.price is not None, f"a {self.kind} line names no price version"
        return self.provenance.price

    @property
    def grant_ref(self) -> str:
        """The grant that made the line's delivery (or the cancelled order) eligible."""
        assert self.provenance.grant is not None, f"a {self.kind} line names no grant"
        return self.provenance.grant

    def numbered(self, line_no: int) -> InvoiceLine:
        return replace(self, line_no=line_no)

    def to_payload(self) -> Payload:
        """The line exactly as InvoiceIssued stores it."""
        out: Payload = {
            "line_no": self.line_no, "kind": self.kind, "billing_key": self.billing_key,
            "delivery_id": self.delivery_id, "order_id": self.order_id, "offer_id": self.offer_id,
            "offer_name": self.offer_name, "date": self.date, "band": self.band, "unit": self.unit,
            "minutes": self.minutes, "billed_minutes": self.billed_minutes, "quantity": self.quantity,
            "unit_price": self.unit_price, "vat_class": self.vat_class, "net": self.net, "vat": self.vat,
            "gross": self.gross, "provenance": self.provenance.to_payload(self.kind)}
        if self.interest is not None:
            out["interest"] = self.interest.to_payload()
        return out


def price_version_on(versions: Sequence[PriceVersion], on: str) -> PriceVersion:
    """The version in force on `on` (ISO date): the last dated on or before it; before the first,
    the first (an order placed before retirement keeps its price)."""
    current = versions[0]
    for v in versions:
        if v.effective <= on:
            current = v
    return current


def price_delivery(unit: str, version: PriceVersion, band: str, minutes: int, units: int, minimum_minutes: int,
                   increment_minutes: int) -> Priced:
    """The one pricing rule. Hourly items bill max(minimum, minutes rounded up to increments) at the
    band's hourly price; other units bill units × the band's price. VAT by the version's class."""
    unit_price = version.prices[band]
    if unit == "hour":
        billed = billable_minutes(minutes, minimum_minutes, increment_minutes)
        quantity, net = billed, hourly_net(billed, unit_price)
    else:
        billed = minutes
        quantity, net = units, unit_price * units
    return Priced(quantity, billed, unit_price, version.vat_class, Amounts.of(net, version.vat_class))


def offer_versions(offer: Mapping[str, Any]) -> list[PriceVersion]:
    return [PriceVersion.from_state(v) for v in offer["versions"]]


def delivery_line(line_no: int, delivery: Delivery, order: Order, offer: Mapping[str, Any], rules: Mapping[str, Any],
                  grant_ref: str) -> InvoiceLine:
    """The line a delivery of an order bills at."""
    if delivery.band is None:  # a missed visit: never billable (ledger-replay reports it as a problem)
        raise ValueError(f"delivery {delivery.id} is a missed visit, which has no band and no price")
    version = price_version_on(offer_versions(offer), delivery.date)
    p = price_delivery(offer["unit"], version, delivery.band, delivery.minutes, delivery.units,
                       rules["minimum_minutes"], rules["increment_minutes"])
    return InvoiceLine(
        line_no, "delivery", str(delivery.id), str(delivery.id), str(order.id), order.offer_id, offer["name"],
        delivery.date, delivery.band, offer["unit"], delivery.minutes, p.billed_minutes, p.quantity, p.unit_price,
        p.vat_class, p.amounts.net, p.amounts.vat, p.amounts.gross,
        Provenance(order=order.placed_ref, delivery=delivery.recorded_ref, price=version.ref, grant=grant_ref))


def fee_line(line_no: int, order: Order, offer: Mapping[str, Any], cancelled_on: str, fee: Ore, cancel_ref: str,
             vat_class: str) -> InvoiceLine:
    a = Amounts.of(fee, vat_class)
    return InvoiceLine(
        line_no, "late_cancellation", f"fee:{order.id}", None, str(order.id), order.offer_id, offer["name"],
        cancelled_on, None, "fee", 0, 0, 1, fee, vat_class, a.net, a.vat, a.gross,
        Provenance(order=order.placed_ref, cancellation=cancel_ref, grant=order.eligibility))


def interest_line(line_no: int, document: str, principal: Ore, periods: Sequence[tuple[Any, ...]]
                  ) -> InvoiceLine:
    """Default interest on an overdue document for the days of `periods` (renteloven § 5; interest.py):
    (from, to, bp, rate ref) at `principal`, or (from, to, bp, rate ref, principal) each. A line
    whose periods all have one principal is stored in the shape lines always had."""
    from ledger.domain.interest import interest_ore

    amount = interest_ore(principal, periods)
    first, last = periods[0][0], periods[-1][1]
    own = {p[4] for p in periods if len(p) > 4}
    if own and own != {principal}:
        basis: tuple[tuple[str, str, int] | tuple[str, str, int, int], ...] = tuple(
            (p[0], p[1], p[2], p[4] if len(p) > 4 else principal) for p in periods)
    else:
        basis = tuple((p[0], p[1], p[2]) for p in periods)
    return InvoiceLine(
        line_no, "interest", f"interest:{document}:{last}", None, None, "interest", "Morarenter", last, None,
        "interest", 0, 0, 1, amount, "exempt", amount, 0, amount,
        Provenance(document=document, rates=tuple(sorted({p[3] for p in periods}))),
        InterestBasis(document, principal, first, last, basis))
