"""Plain factory functions that build billing histories through the application's front door.

Every fact is made by a real command (`Ledger.execute`), so the events a test projects are the
events production would store. Prices and rules are the published Herning and Aabenraa figures
(domain.md §2); ids are fresh uuids, so tests never collide.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from ledger.application import Ledger
from ledger.domain.base import Context
from ledger.settings import Settings
from tests.helpers.costs import at_cost

HERNING = 657
AABENRAA = 580
WINDOW = ("2018-06-01", "2021-12-31")
# One cost basis for every band, as versions were stored before docs/adr/0027 (the audit tests
# store such old versions; new ones state a basis per band, `tests.helpers.costs.at_cost`).
COST = {"wage": 25_000, "overhead": 5_000, "transport": 2_000, "capital": 1_000}


def open_ledger(url: str) -> Ledger:
    return Ledger(Settings(database_url=url))


def run(ledger: Ledger, command_type: str, payload: dict[str, Any], *, role: str = "administrator",
        command_id: str | None = None) -> dict[str, Any]:
    """Execute one command with a fresh command id; returns its result."""
    ctx = Context("test", role, command_id or str(uuid.uuid4()))
    return ledger.execute(command_type, payload, ctx).result


def prices(weekday: int, evening: int | None = None, weekend: int | None = None) -> dict[str, int]:
    return {"weekday_day": weekday, "evening": evening or weekday, "weekend": weekend or weekday}


def scheme(ledger: Ledger, municipality: int, minimum: int, increment: int, sections: tuple[str, ...] = ("83", "85")) -> None:
    run(ledger, "establish_scheme", {
        "municipality": municipality, "name": f"Tilkøb {municipality}", "window_start": WINDOW[0],
        "window_end": WINDOW[1], "sections": list(sections), "minimum_minutes": minimum,
        "increment_minutes": increment, "requires_municipal_provider": True})


def item(ledger: Ledger, municipality: int, item_id: str, price: int, *, vat_class: str = "exempt",
         unit: str = "hour", fsiii: str = "H1.8", effective: str = WINDOW[0], fee_ore: int = 0,
         notice_hours: int = 24) -> None:
    run(ledger, "add_item", {
        "municipality": municipality, "item_id": item_id, "name": item_id.replace("-", " ").capitalize(),
        "unit": unit, "fsiii": fsiii, "vat_class": vat_class, "prices": prices(price),
        "cost_basis": at_cost(prices(price)), "effective": effective, "cancellation": {"notice_hours": notice_hours, "fee_ore": fee_ore}})


def change_price(ledger: Ledger, municipality: int, item_id: str, price: int, effective: str,
                 vat_class: str = "exempt") -> None:
    run(ledger, "change_price", {"municipality": municipality, "offer_id": item_id, "effective": effective,
                                 "vat_class": vat_class, "prices": prices(price),
                                 "cost_basis": at_cost(prices(price))})


def herning(ledger: Ledger) -> None:
    """Herning: minimum 30, increment 30; extra cleaning 354 DKK/h (no VAT), windows 292.04/h + 25 % VAT."""
    scheme(ledger, HERNING, 30, 30)
    item(ledger, HERNING, "extra-cleaning", 35_400)
    item(ledger, HERNING, "window-cleaning", 29_204, vat_class="standard", fsiii="H3.2")
    item(ledger, HERNING, "escort-day", 270_000, unit="day", vat_class="standard", fsiii="H3.2", fee_ore=25_000)


def herning_weekly_cleaning(ledger: Ledger) -> tuple[str, str]:
    """Herning's catalogue, a citizen there and a weekly hour of extra cleaning from 2019-03-01:
    the billing tests' common start. -> (citizen id, order id)"""
    herning(ledger)
    h = citizen(ledger, HERNING)
    return h, order(ledger, h, "extra-cleaning", "2019-03-01", kind="recurring", every_weeks=1, minutes=60)


def herning_january_invoiced(ledger: Ledger) -> tuple[str, str]:
    """Herning's catalogue, a citizen there with one hour of extra cleaning on 2019-01-07, and
    January's invoice run (657-000001). -> (citizen id, delivery id)"""
    herning(ledger)
    h = citizen(ledger, HERNING)
    d = deliver(ledger, order(ledger, h, "extra-cleaning", "2019-01-07", minutes=60), "2019-01-07", 60)
    invoice_run(ledger, HERNING, "2019-01")
    return h, d


def aabenraa(ledger: Ledger) -> None:
    """Aabenraa: minimum 60, increment 30; more of a granted service 290 DKK/h without VAT."""
    scheme(ledger, AABENRAA, 60, 30)
    item(ledger, AABENRAA, "extra-cleaning", 29_000)


def citizen(ledger: Ledger, municipality: int, since: str = WINDOW[0], *, klippekort: int | None = None) -> str:
    """A citizen at home with a § 83 cleaning grant (the grant that makes them eligible); with
    `klippekort` minutes a week, a nursing-home resident holding a klippekort instead."""
    cid = run(ledger, "register_citizen", {"municipality": municipality, "effective": since,
                                           "residence": "own_home" if klippekort is None else "nursing_home"})["citizen_id"]
    run(ledger, "award_grant", {"citizen_id": cid, "fsiii": "H1.8", "section": "83",
                                "amount": {"minutes_per_week": 30}, "valid_from": since})
    if klippekort is not None:
        run(ledger, "grant_klippekort", {"citizen_id": cid, "minutes_per_week": klippekort, "valid_from": since})
    return cid


def order(ledger: Ledger, citizen_id: str, offer_id: str, start: str, *, kind: str = "one_off",
          every_weeks: int | None = None, minutes: int | None = 60, end: str | None = None) -> str:
    payload: dict[str, Any] = {"citizen_id": citizen_id, "offer_id": offer_id, "kind": kind, "start": start,
                               "minutes": minutes}
    if every_weeks is not None:
        payload["every_weeks"] = every_weeks
    if end is not None:
        payload["end"] = end
    return run(ledger, "place_order", payload)["order_id"]


def deliver(ledger: Ledger, order_id: str, on: str, minutes: int, *, band: str = "weekday_day",
            klippekort: bool = False, units: int = 1) -> str:
    return run(ledger, "record_delivery", {"order_id": order_id, "date": on, "band": band, "minutes": minutes,
                                           "units": units, "staff_id": "staff-1", "klippekort": klippekort})["delivery_id"]


def missed(ledger: Ledger, order_id: str, on: str, reason: str = "citizen_absent") -> str:
    return run(ledger, "record_missed_visit", {"order_id": order_id, "date": on, "reason": reason})["delivery_id"]


def invoice_run(ledger: Ledger, municipality: int, month: str, run_date: str | None = None) -> dict[str, Any]:
    if run_date is None:
        y, m = int(month[:4]), int(month[5:7])
        run_date = date(y + (m == 12), m % 12 + 1, 1).isoformat()
    return run(ledger, "run_invoices", {"municipality": municipality, "month": month, "run_date": run_date},
               role="billing_clerk")


def pay(ledger: Ledger, citizen_id: str, amount: int, on: str, reference: str | None = None,
        payment_id: str | None = None) -> str:
    payload: dict[str, Any] = {"citizen_id": citizen_id, "amount": amount, "date": on, "method": "bank_transfer"}
    if reference is not None:
        payload["reference"] = reference
    if payment_id is not None:
        payload["payment_id"] = payment_id
    return run(ledger, "receive_payment", payload, role="billing_clerk")["payment_id"]


def refund(ledger: Ledger, citizen_id: str, amount: int, on: str, method: str = "nemkonto") -> str:
    """Pay credit out to the citizen (refund_credit); the refund's number."""
    return run(ledger, "refund_credit", {"citizen_id": citizen_id, "amount": amount, "date": on, "method": method,
                                         "reason": "overpaid"}, role="billing_clerk")["refund_number"]


def reverse(ledger: Ledger, citizen_id: str, payment_id: str, on: str) -> dict[str, Any]:
    """Reverse a payment; the command's answer (a claim's number and amount when its money was refunded)."""
    return run(ledger, "reverse_payment", {"citizen_id": citizen_id, "payment_id": payment_id, "date": on,
                                    "reason": "bounced"}, role="billing_clerk")


def withdraw(ledger: Ledger, delivery_id: str, on: str, *, dispute: bool = False) -> dict[str, Any]:
    return run(ledger, "dispute_delivery" if dispute else "cancel_delivery",
               {"delivery_id": delivery_id, "effective": on, "reason": "not as agreed"}, role="billing_clerk")


def remind(ledger: Ledger, municipality: int, on: str) -> dict[str, Any]:
    return run(ledger, "issue_reminders", {"municipality": municipality, "date": on}, role="billing_clerk")


# -- reading back ----------------------------------------------------------------------------

def billing_engine(ledger: Ledger, **kwargs: Any) -> Any:
    from ledger.projections.billing import BillingProjection
    from ledger.projections.engine import Engine

    return Engine(ledger.db, [BillingProjection()], **kwargs)


def caught_up(ledger: Ledger) -> Any:
    """The ledger's database with the billing projection applied up to the head of the log."""
    billing_engine(ledger).catch_up()
    return ledger.db


def refundable(ledger: Ledger, citizen_id: str, on: str) -> int | None:
    """What the Account aggregate would let a refund dated `on` pay out (None: no account yet)."""
    from eventsourcing.application import AggregateNotFoundError

    from ledger.domain.account import account_id

    try:
        account = ledger.repository.get(account_id(citizen_id))
    except AggregateNotFoundError:  # the citizen was never billed nor paid: refund_credit finds no account
        return None
    return int(account.refundable(date.fromisoformat(on)))


def q_payments(ledger: Ledger, municipality: int = 657) -> list[dict[str, Any]]:
    """The payments list (billing_queries.payments) once the projection has caught up."""
    from ledger.projections import billing_queries

    return billing_queries.payments(caught_up(ledger), municipality)


def account_money(ledger: Ledger, citizen_id: str) -> Any:
    """The Account aggregate's money events (allocation.MoneyEvent), as allocate() reads them."""
    from ledger.domain.account import account_id

    return ledger.repository.get(account_id(citizen_id)).money


def account_state(ledger: Ledger, citizen_id: str) -> Any:
    """What the Account aggregate itself says (allocation.AccountState), for comparison."""
    from ledger.domain.account import account_id

    return ledger.repository.get(account_id(citizen_id)).state()


def billing_digests(engine: Any, suffix: str = "") -> dict[str, str]:
    from ledger.projections.billing import TABLES

    return {t.name: engine.digest(t.name + suffix) for t in TABLES}


def cancel_order(ledger: Ledger, order_id: str, effective: str, notified_at: str) -> dict[str, Any]:
    return run(ledger, "cancel_order", {"order_id": order_id, "effective": effective, "notified_at": notified_at})


def billing_history(ledger: Ledger) -> dict[str, Any]:
    """A few months of two municipalities with every kind of billing fact: hourly and daily items,
    VAT and no VAT, a klippekort hour, a missed visit, a late-recorded delivery, a late
    cancellation fee, a credit note and a dispute, payments (by reference, over-paid, reversed)
    and reminders. Returns the ids a test may want."""
    herning(ledger)
    aabenraa(ledger)
    h1, h2 = citizen(ledger, HERNING, klippekort=60), citizen(ledger, HERNING)
    a1 = citizen(ledger, AABENRAA)
    weekly = order(ledger, h1, "extra-cleaning", "2019-03-01", kind="recurring", every_weeks=1, minutes=50)
    windows = order(ledger, h2, "window-cleaning", "2019-03-01", kind="recurring", every_weeks=2, minutes=30)
    fortnightly = order(ledger, a1, "extra-cleaning", "2019-03-01", kind="recurring", every_weeks=2, minutes=20)
    escort = order(ledger, h2, "escort-day", "2019-03-22", minutes=None)
    cancel_order(ledger, escort, "2019-03-22", "2019-03-22T06:00:00+00:00")  # late: the fee is billed
    ids: dict[str, Any] = {"citizens": [h1, h2, a1], "deliveries": []}
    for day in ("04", "11", "18", "25"):
        ids["deliveries"].append(deliver(ledger, weekly, f"2019-03-{day}", 50, klippekort=day == "11"))
    ids["deliveries"] += [deliver(ledger, windows, "2019-03-05", 30), deliver(ledger, windows, "2019-03-19", 45),
                          deliver(ledger, fortnightly, "2019-03-06", 20), deliver(ledger, fortnightly, "2019-03-20", 70)]
    missed(ledger, weekly, "2019-03-26")
    march = {i["citizen_id"]: i["number"] for i in invoice_run(ledger, HERNING, "2019-03")["invoices"]}
    invoice_run(ledger, AABENRAA, "2019-03")
    ids["late"] = deliver(ledger, weekly, "2019-03-28", 40)  # after March was invoiced
    ids["credited"] = withdraw(ledger, ids["deliveries"][0], "2019-04-03")["credit_note"]
    withdraw(ledger, ids["deliveries"][6], "2019-04-04", dispute=True)
    pay(ledger, h1, 80_000, "2019-04-10", reference=march[h1])  # more than owed after the credit: credit
    bounced = pay(ledger, h2, 20_000, "2019-04-12")
    reverse(ledger, h2, bounced, "2019-04-20")
    for day in ("01", "08", "15"):
        deliver(ledger, weekly, f"2019-04-{day}", 60, band="evening" if day == "08" else "weekday_day")
    deliver(ledger, windows, "2019-04-02", 30)
    invoice_run(ledger, HERNING, "2019-04")
    invoice_run(ledger, AABENRAA, "2019-04")
    remind(ledger, HERNING, "2019-04-20")
    remind(ledger, HERNING, "2019-05-20")
    pay(ledger, h2, 10_000, "2019-05-21", reference=march[h2])
    remind(ledger, HERNING, "2019-06-01")
    return ids
