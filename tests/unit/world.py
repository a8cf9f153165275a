"""A small Herning (657) world made through the handlers on a FakeLedger: a scheme, an item and a
citizen with a § 83 grant. Plain functions, like the other factories."""

from __future__ import annotations

from typing import Any

from tests.unit.fakes import FakeLedger
from tests.helpers.costs import at_cost

HERNING = 657
WINDOW = ("2018-06-01", "2021-12-31")
PRICES = {"weekday_day": 35_400, "evening": 66_500, "weekend": 49_600}


def scheme(ledger: FakeLedger, minimum: int = 30, provider_required: bool = True) -> None:
    ledger.execute("establish_scheme", {
        "municipality": HERNING, "name": "Herning tilkøb", "window_start": WINDOW[0], "window_end": WINDOW[1],
        "sections": ["83"], "minimum_minutes": minimum, "increment_minutes": 30,
        "requires_municipal_provider": provider_required})


def item(ledger: FakeLedger, item_id: str = "clean", effective: str = WINDOW[0], fee_ore: int = 10_000,
         prices: dict[str, int] | None = None) -> None:
    ledger.execute("add_item", {
        "municipality": HERNING, "item_id": item_id, "name": "Extra cleaning", "unit": "hour", "fsiii": "H1.8",
        "vat_class": "exempt", "prices": prices or PRICES, "cost_basis": at_cost(prices or PRICES),
        "effective": effective,
        "cancellation": {"notice_hours": 24, "fee_ore": fee_ore}})


def citizen(ledger: FakeLedger, grant: bool = True, since: str = "2018-01-01") -> str:
    cid: str = ledger.execute("register_citizen", {"municipality": HERNING, "effective": since,
                                                   "residence": "own_home"})["citizen_id"]
    if grant:
        ledger.execute("award_grant", {"citizen_id": cid, "fsiii": "H1.8", "section": "83",
                                       "amount": {"minutes_per_week": 30}, "valid_from": since})
    return cid


def herning(ledger: FakeLedger) -> str:
    """The scheme, the cleaning item and one eligible citizen; returns the citizen id."""
    scheme(ledger)
    item(ledger)
    return citizen(ledger)


def place(ledger: FakeLedger, citizen_id: str, **fields: Any) -> dict[str, Any]:
    payload = {"citizen_id": citizen_id, "offer_id": "clean", "kind": "recurring", "start": "2019-03-04",
               "every_weeks": 2, "minutes": 60, **fields}
    return ledger.execute("place_order", payload)
