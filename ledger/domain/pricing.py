"""How one delivery becomes one invoice line: the scheme's minimum and increment, the price in
force on the delivery's date for its band, VAT by class, rounding half up to whole øre per line."""

from __future__ import annotations

from typing import Any

from ledger.domain.values import billable_minutes, hourly_net, line_amounts


def price_version_on(offer: dict[str, Any], on: str) -> dict[str, Any]:
    """The version in force on `on` (ISO date); an order placed before retirement keeps its price."""
    current = offer["versions"][0]
    for v in offer["versions"]:
        if v["effective"] <= on:
            current = v
    return current


def delivery_line(line_no: int, delivery: Any, order: Any, offer: dict[str, Any], rules: dict[str, Any],
                  grant_ref: str) -> dict[str, Any]:
    version = price_version_on(offer, delivery.date)
    unit_price = version["prices"][delivery.band]
    if offer["unit"] == "hour":
        billed = billable_minutes(delivery.minutes, rules["minimum_minutes"], rules["increment_minutes"])
        quantity, net = billed, hourly_net(billed, unit_price)
    else:
        billed = delivery.minutes
        quantity, net = delivery.units, unit_price * delivery.units
    net, vat, gross = line_amounts(net, version["vat_class"])
    return {
        "line_no": line_no, "kind": "delivery", "billing_key": str(delivery.id), "delivery_id": str(delivery.id),
        "order_id": str(order.id), "offer_id": order.offer_id, "offer_name": offer["name"], "date": delivery.date,
        "band": delivery.band, "unit": offer["unit"], "minutes": delivery.minutes, "billed_minutes": billed,
        "quantity": quantity, "unit_price": unit_price, "vat_class": version["vat_class"], "net": net, "vat": vat,
        "gross": gross,
        "provenance": {"order": order.placed_ref, "delivery": delivery.recorded_ref, "price": version["ref"],
                       "grant": grant_ref},
    }


def fee_line(line_no: int, order: Any, offer: dict[str, Any], cancelled_on: str, fee: int, cancel_ref: str,
             vat_class: str) -> dict[str, Any]:
    net, vat, gross = line_amounts(fee, vat_class)
    return {
        "line_no": line_no, "kind": "late_cancellation", "billing_key": f"fee:{order.id}", "delivery_id": None,
        "order_id": str(order.id), "offer_id": order.offer_id, "offer_name": offer["name"], "date": cancelled_on,
        "band": None, "unit": "fee", "minutes": 0, "billed_minutes": 0, "quantity": 1, "unit_price": fee,
        "vat_class": vat_class, "net": net, "vat": vat, "gross": gross,
        "provenance": {"order": order.placed_ref, "cancellation": cancel_ref, "grant": order.eligibility},
    }


def interest_line(line_no: int, document: str, principal: int, periods: list[tuple[str, str, int, str]]) -> dict[str, Any]:
    """Default interest on an overdue document for the days of `periods` (renteloven § 5; interest.py)."""
    from ledger.domain.interest import interest_ore

    amount = interest_ore(principal, periods)
    first, last = periods[0][0], periods[-1][1]
    return {
        "line_no": line_no, "kind": "interest", "billing_key": f"interest:{document}:{last}", "delivery_id": None,
        "order_id": None, "offer_id": "interest", "offer_name": "Morarenter", "date": last, "band": None,
        "unit": "interest", "minutes": 0, "billed_minutes": 0, "quantity": 1, "unit_price": amount,
        "vat_class": "exempt", "net": amount, "vat": 0, "gross": amount,
        "provenance": {"document": document, "rates": sorted({p[3] for p in periods})},
        "interest": {"document": document, "principal": principal, "from": first, "to": last,
                     "periods": [[a, b, bp] for a, b, bp, _ in periods]},
    }
