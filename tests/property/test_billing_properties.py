"""Billing invariants over generated histories: orders, deliveries (some klippekort, some missed),
cancellations and disputes, payments (over-payments, references, reversals), reminders and invoice
runs over a few months for a few citizens, in any order the generator picks.

After a last invoice run of every month, per citizen:
* invoice gross + reminder fees − credit notes − payments = balance, as the projection reports it
  and as the Account aggregate's `state()` reports it (and each open item equals the aggregate's);
* no delivery is on two invoice lines, and no payment is allocated more than it paid;
* every billable delivery of a closed month is billed exactly once, which a plain model of the
  runs (written here, independent of the handlers) predicts delivery by delivery;
* the live projection, caught up at random points, equals a rebuild from zero.

Hypothesis runs on SQLite (fast); the same checker runs a fixed history on both backends.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from conftest import fewer_examples

from ledger.domain.errors import LedgerError
from ledger.projections import billing_queries as q
from tests.helpers.billing_factories import (HERNING, account_state, billing_digests, billing_engine, cancel_order,
                                             citizen, deliver, herning, invoice_run, missed, open_ledger, order, pay,
                                             remind, reverse, withdraw)

MONTHS = ("2019-03", "2019-04", "2019-05")
OFFERS = ("extra-cleaning", "window-cleaning", "escort-day")
CITIZENS = 3

_deliver = st.tuples(st.just("deliver"), st.integers(0, 50), st.sampled_from(MONTHS), st.integers(1, 28),
                    st.integers(1, 200), st.booleans())
steps = st.lists(
    st.one_of(
        _deliver, _deliver, _deliver, _deliver,  # deliveries are most of what happens
        st.tuples(st.just("order"), st.integers(0, CITIZENS - 1), st.sampled_from(OFFERS)),
        st.tuples(st.just("missed"), st.integers(0, 50), st.sampled_from(MONTHS), st.integers(1, 28)),
        st.tuples(st.just("withdraw"), st.integers(0, 50), st.booleans()),
        st.tuples(st.just("cancel_order"), st.integers(0, 50), st.booleans()),
        st.tuples(st.just("pay"), st.integers(0, CITIZENS - 1), st.integers(1, 150_000), st.integers(-1, 10)),
        st.tuples(st.just("pay"), st.integers(0, CITIZENS - 1), st.integers(1, 150_000), st.integers(-1, 10)),
        st.tuples(st.just("reverse"), st.integers(0, 50)),
        st.tuples(st.just("run"), st.sampled_from(MONTHS)),
        st.tuples(st.just("run"), st.sampled_from(MONTHS)),
        st.tuples(st.just("remind"), st.sampled_from(("2019-04-20", "2019-05-03", "2019-05-20", "2019-06-10"))),
        st.tuples(st.just("catch_up")),
    ),
    min_size=4, max_size=40,
)
# Every citizen starts with one order and some deliveries, so the steps after have something to
# withdraw, bill, pay and remind about (random steps alone rarely build that up in 25 examples).
histories = st.builds(lambda first, delivered, rest: [("order", i, o) for i, o in enumerate(first)] + delivered + rest,
                      st.lists(st.sampled_from(OFFERS), min_size=CITIZENS, max_size=CITIZENS),
                      st.lists(_deliver, min_size=2, max_size=10), steps)
# After every month is closed: credit notes for billed deliveries, payments, reversals, reminders.
afterwards = st.lists(
    st.one_of(
        st.tuples(st.just("withdraw"), st.integers(0, 50), st.booleans()),
        st.tuples(st.just("pay"), st.integers(0, CITIZENS - 1), st.integers(1, 150_000), st.integers(-1, 10)),
        st.tuples(st.just("reverse"), st.integers(0, 50)),
        st.tuples(st.just("remind"), st.sampled_from(("2019-07-01", "2019-07-11", "2019-07-25", "2019-08-30"))),
    ),
    max_size=10,
)


@dataclass
class Model:
    """What the test itself knows about the history, to predict what billing must show."""

    citizens: list[str] = field(default_factory=list)
    orders: list[tuple[str, str]] = field(default_factory=list)  # (order id, citizen)
    deliveries: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → date, billable, billed
    payments: list[tuple[str, str]] = field(default_factory=list)  # (citizen, payment id)
    invoices: dict[str, list[str]] = field(default_factory=dict)  # citizen → invoice numbers issued

    def run(self, month: str) -> None:
        """A run bills every billable, unbilled delivery dated up to the month's end."""
        for d in self.deliveries.values():
            if d["billable"] and not d["billed"] and d["date"] <= f"{month}-31":
                d["billed"] = True


def _pick(items: list[Any], index: int) -> Any:
    return items[index % len(items)] if items else None


def _apply(ledger: Any, model: Model, step: tuple[Any, ...], live: Any) -> None:
    kind = step[0]
    try:
        if kind == "order":
            cid = model.citizens[step[1]]
            minutes = None if step[2] == "escort-day" else 60
            model.orders.append((order(ledger, cid, step[2], "2019-03-01", kind="recurring", every_weeks=1,
                                       minutes=minutes), cid))
        elif kind in ("deliver", "missed") and model.orders:
            oid, _ = _pick(model.orders, step[1])
            on = f"{step[2]}-{step[3]:02d}"
            if kind == "missed":
                model.deliveries[missed(ledger, oid, on)] = {"date": on, "billable": False, "billed": False,
                                                              "delivered": False}
            else:
                minutes, klippekort = step[4], step[5]
                did = deliver(ledger, oid, on, minutes, klippekort=klippekort)
                model.deliveries[did] = {"date": on, "billable": not klippekort, "billed": False, "delivered": True}
        elif kind == "withdraw" and model.deliveries:
            did = _pick(list(model.deliveries), step[1])
            withdraw(ledger, did, "2019-06-01", dispute=step[2])
            model.deliveries[did]["billable"] = False
        elif kind == "cancel_order" and model.orders:
            oid, _ = _pick(model.orders, step[1])
            # Cancelled from 1 May; notified that very morning (late) or a week before (on time).
            cancel_order(ledger, oid, "2019-05-01", "2019-05-01T06:00:00+00:00" if step[2] else "2019-04-24T06:00:00+00:00")
        elif kind == "pay":
            cid = model.citizens[step[1]]
            numbers = model.invoices.get(cid, [])
            reference = None if step[3] < 0 else (_pick(numbers, step[3]) or f"657-{step[3]:06d}")
            model.payments.append((cid, pay(ledger, cid, step[2], "2019-06-05", reference=reference)))
        elif kind == "reverse" and model.payments:
            cid, pid = _pick(model.payments, step[1])
            reverse(ledger, cid, pid, "2019-06-06")
        elif kind == "run":
            for issued in invoice_run(ledger, HERNING, step[1])["invoices"]:
                model.invoices.setdefault(issued["citizen_id"], []).append(issued["number"])
            model.run(step[1])
        elif kind == "remind":
            remind(ledger, HERNING, step[1])
        elif kind == "catch_up" and live is not None:
            live.catch_up()
    except LedgerError:
        pass  # a refused command stores nothing; the model was not changed either


def check_history(url: str, history: list[tuple[Any, ...]], after: list[tuple[Any, ...]] = ()) -> None:
    ledger = open_ledger(url)
    try:
        herning(ledger)
        model = Model(citizens=[citizen(ledger, HERNING, klippekort=7 * 24 * 60) for _ in range(CITIZENS)])
        live = billing_engine(ledger, batch_size=7)
        for step in history:
            _apply(ledger, model, step, live)
        for month in MONTHS:  # close every month
            invoice_run(ledger, HERNING, month, run_date="2019-06-15")
            model.run(month)
        for step in after:
            _apply(ledger, model, step, live)
        live.catch_up()
        db = ledger.db

        # Every billable delivery of a closed month is billed exactly once; nothing else is billed.
        lines = [line for i in q.invoices(db, HERNING) for line in q.invoice(db, HERNING, i["number"])["lines"]]
        billed = [line["delivery_id"] for line in lines if line["delivery_id"] is not None]
        assert len(billed) == len(set(billed)), "a delivery is on two invoice lines"
        assert set(billed) == {d for d, m in model.deliveries.items() if m["billed"]}
        assert q.unbilled_deliveries(db, HERNING) == []
        on_rows = {d["delivery_id"]: d["invoice_number"] for d in q.deliveries(db, HERNING)}
        assert {d for d, n in on_rows.items() if n is not None} == set(billed)

        # Per citizen: gross + fees − credit notes − payments = balance, = the aggregate's balance.
        gross: dict[str, int] = {}
        for i in q.invoices(db, HERNING):
            gross[i["citizen_id"]] = gross.get(i["citizen_id"], 0) + i["gross"]
        for r in q.reminders(db, HERNING):
            gross[r["citizen_id"]] = gross.get(r["citizen_id"], 0) + r["fee"]
        for c in q.credit_notes(db, HERNING):
            gross[c["citizen_id"]] = gross.get(c["citizen_id"], 0) - c["gross"]
        for p in q.payments(db, HERNING):
            assert sum(a["amount"] for a in p["allocations"]) == p["allocated"] <= (0 if p["reversed"] else p["amount"])
            if not p["reversed"]:
                gross[p["citizen_id"]] = gross.get(p["citizen_id"], 0) - p["amount"]
        balances = {b["citizen_id"]: b for b in q.balances(db, HERNING)}
        # (A run opens an account for anyone with deliveries due, even if none turns out billable.)
        assert set(balances) >= set(gross) | {c for c, _ in model.payments}
        for cid, b in balances.items():
            state = account_state(ledger, cid)
            assert b["balance"] == gross.get(cid, 0) == state.balance
            assert (b["credit"], b["owed"]) == (state.credit, sum(state.owed.values()))
            assert {i["number"]: i["open_amount"] for i in q.invoices(db, HERNING, citizen_id=cid)} == state.owed

        # The live projection, caught up in pieces, equals a rebuild from zero.
        live.rebuild(swap=False)
        assert billing_digests(live) == billing_digests(live, "__rebuild")
    finally:
        ledger.close()


@fewer_examples(10)
@given(history=histories, after=afterwards)
def test_billing_balances_to_the_ore_and_bills_each_delivery_exactly_once(history, after):
    with tempfile.TemporaryDirectory() as folder:
        check_history(f"sqlite:///{Path(folder) / 'ledger.db'}", history, after)


FIXED = [
    ("order", 0, "extra-cleaning"), ("order", 1, "window-cleaning"), ("order", 2, "escort-day"),
    ("deliver", 0, "2019-03", 4, 50, False), ("deliver", 1, "2019-03", 5, 30, False),
    ("deliver", 0, "2019-03", 11, 20, True), ("deliver", 2, "2019-03", 12, 1, False), ("missed", 0, "2019-03", 18),
    ("run", "2019-03"), ("catch_up",), ("deliver", 0, "2019-03", 25, 95, False), ("withdraw", 0, False),
    ("pay", 0, 120_000, 0), ("pay", 1, 5_000, -1), ("deliver", 1, "2019-04", 2, 45, False), ("run", "2019-04"),
    ("reverse", 1), ("remind", "2019-05-03"), ("cancel_order", 2, True), ("withdraw", 4, True),
    ("remind", "2019-05-20"), ("pay", 1, 150_000, 3), ("catch_up",), ("deliver", 0, "2019-05", 6, 60, False),
]


AFTER = [("withdraw", 1, True), ("remind", "2019-07-01"), ("pay", 2, 80_000, 0), ("reverse", 0),
         ("remind", "2019-07-11")]


def test_a_fixed_history_keeps_the_billing_invariants_on_both_backends(database_url):
    check_history(database_url, FIXED, AFTER)
