"""Re-rating invariants over generated histories of facts, back-dated corrections and invoice runs.

For any sequence of deliveries, price changes and price corrections, scheme rule and window changes,
grant ends and new grants, provider changes, withdrawals, late cancellations, payments and invoice runs (in any
order), with default interest on or off, after a final run of every month:
* the reconciliation reports no difference for any month (what the documents charge is what the
  facts as known now say is owed, to the øre);
* every issued invoice, debit note and credit note reproduces exactly from the log (ledger-replay);
* a second run issues nothing.

Hypothesis runs on SQLite (fast); a fixed history runs on both backends.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from conftest import fewer_examples

from ledger.application.reconciliation import reconcile
from ledger.domain.assessment import assessment_id
from ledger.domain.errors import LedgerError
from ledger.projections import billing_queries as q
from replay.invoice import reproduce, reproduce_note
from replay.store import open_store
from tests.helpers.billing_factories import (HERNING, billing_engine, cancel_order, citizen, deliver, herning,
                                             invoice_run, open_ledger, order, prices, run, withdraw)
from tests.helpers.costs import at_cost

MONTHS = ("2019-03", "2019-04", "2019-05")
OFFERS = ("extra-cleaning", "window-cleaning")
CITIZENS = 3
PRICES = (29_000, 35_400, 36_400, 41_000)

_deliver = st.tuples(st.just("deliver"), st.integers(0, 20), st.sampled_from(MONTHS), st.integers(1, 28),
                     st.integers(1, 130))
steps = st.lists(
    st.one_of(
        _deliver, _deliver, _deliver,
        st.tuples(st.just("run"), st.sampled_from(MONTHS)),
        st.tuples(st.just("run"), st.sampled_from(MONTHS)),
        st.tuples(st.just("correct"), st.sampled_from(OFFERS), st.sampled_from(PRICES)),
        st.tuples(st.just("price"), st.sampled_from(OFFERS), st.sampled_from(MONTHS), st.sampled_from(PRICES)),
        st.tuples(st.just("rules"), st.sampled_from(MONTHS), st.sampled_from((15, 30, 60)), st.sampled_from((15, 30))),
        st.tuples(st.just("end_grant"), st.integers(0, CITIZENS - 1), st.sampled_from(MONTHS), st.integers(1, 28)),
        st.tuples(st.just("reend_grant"), st.integers(0, CITIZENS - 1), st.sampled_from(MONTHS), st.integers(1, 28)),
        st.tuples(st.just("new_grant"), st.integers(0, CITIZENS - 1), st.sampled_from(MONTHS), st.integers(1, 28)),
        st.tuples(st.just("provider"), st.integers(0, CITIZENS - 1), st.sampled_from(MONTHS), st.booleans()),
        st.tuples(st.just("withdraw"), st.integers(0, 30), st.booleans()),
        st.tuples(st.just("cancel_order"), st.integers(0, 10), st.booleans()),
        st.tuples(st.just("pay"), st.integers(0, CITIZENS - 1), st.integers(1, 80_000), st.sampled_from(MONTHS)),
        st.tuples(st.just("window"), st.sampled_from(("2019-03-20", "2019-04-10", "2021-12-31"))),
    ),
    min_size=3, max_size=30,
)
histories = st.builds(lambda first, delivered, rest: [("order", i, o) for i, o in enumerate(first)] + delivered + rest,
                      st.lists(st.sampled_from(OFFERS), min_size=CITIZENS, max_size=CITIZENS),
                      st.lists(_deliver, min_size=2, max_size=8), steps)


def _apply(ledger: Any, state: dict[str, Any], step: tuple[Any, ...]) -> None:
    kind, cs, orders, deliveries = step[0], state["citizens"], state["orders"], state["deliveries"]
    try:
        if kind == "order":
            orders.append(order(ledger, cs[step[1]], step[2], "2019-03-01", kind="recurring", every_weeks=1,
                                minutes=60))
        elif kind == "deliver" and orders:
            deliveries.append(deliver(ledger, orders[step[1] % len(orders)], f"{step[2]}-{step[3]:02d}", step[4]))
        elif kind == "run":
            invoice_run(ledger, HERNING, step[1])
        elif kind == "correct":
            vat = "exempt" if step[1] == "extra-cleaning" else "standard"
            run(ledger, "correct_price_version", {"municipality": HERNING, "offer_id": step[1],
                                                  "effective": "2018-06-01", "vat_class": vat,
                                                  "prices": prices(step[2]), "cost_basis": at_cost(prices(step[2])),
                                                  "reason": "wrong"})
        elif kind == "price":
            vat = "exempt" if step[1] == "extra-cleaning" else "standard"
            run(ledger, "change_price", {"municipality": HERNING, "offer_id": step[1], "effective": f"{step[2]}-10",
                                         "vat_class": vat, "prices": prices(step[3]),
                                         "cost_basis": at_cost(prices(step[3]))})
        elif kind == "rules":
            run(ledger, "change_scheme_rules", {"municipality": HERNING, "effective": f"{step[1]}-15",
                                                "sections": ["83", "85"], "minimum_minutes": step[2],
                                                "increment_minutes": step[3]})
        elif kind == "end_grant":
            grants = ledger.repository.get(assessment_id(cs[step[1]])).grants
            open_ = sorted(g for g, v in grants.items() if v["valid_to"] is None)
            if open_:
                run(ledger, "end_grant", {"citizen_id": cs[step[1]], "grant_id": open_[0],
                                          "last_day": f"{step[2]}-{step[3]:02d}"})
        elif kind == "reend_grant":  # an ended grant's end moved (earlier or later: a correction)
            grants = ledger.repository.get(assessment_id(cs[step[1]])).grants
            ended = sorted(g for g, v in grants.items() if v["valid_to"] is not None)
            if ended:
                run(ledger, "end_grant", {"citizen_id": cs[step[1]], "grant_id": ended[0],
                                          "last_day": f"{step[2]}-{step[3]:02d}"})
        elif kind == "new_grant":
            run(ledger, "award_grant", {"citizen_id": cs[step[1]], "fsiii": "H1.8", "section": "83",
                                        "amount": {"minutes_per_week": 30}, "valid_from": f"{step[2]}-{step[3]:02d}"})
        elif kind == "provider":
            run(ledger, "choose_provider", {"citizen_id": cs[step[1]], "effective": f"{step[2]}-05",
                                            "provider": "municipal" if step[3] else "private:Hjem ApS"})
        elif kind == "withdraw" and deliveries:
            withdraw(ledger, deliveries[step[1] % len(deliveries)], "2019-06-01", dispute=step[2])
        elif kind == "window":  # the trial window closed early (back-dated), or extended again
            run(ledger, "change_scheme_window", {"municipality": HERNING, "window_start": "2018-06-01",
                                                 "window_end": step[1]})
        elif kind == "pay":
            run(ledger, "receive_payment", {"citizen_id": cs[step[1]], "amount": step[2], "date": f"{step[3]}-20",
                                            "method": "bank_transfer"}, role="billing_clerk")
        elif kind == "cancel_order" and orders:
            cancel_order(ledger, orders[step[1] % len(orders)], "2019-05-20",
                         "2019-05-20T03:00:00+00:00" if step[2] else "2019-05-01T06:00:00+00:00")
    except LedgerError:
        pass  # a refused command stores nothing


def check_history(url: str, history: list[tuple[Any, ...]], interest: bool = False) -> None:
    ledger = open_ledger(url)
    if interest:  # default interest on: its lines must reproduce too, and never charge a day twice

        ledger.settings = ledger.settings.replace(default_interest=True)
    try:
        herning(ledger)
        run(ledger, "set_reference_rate", {"municipality": HERNING, "effective": "2018-01-01", "rate_bp": 5})
        run(ledger, "set_reference_rate", {"municipality": HERNING, "effective": "2019-01-01", "rate_bp": 35})
        state: dict[str, Any] = {"citizens": [citizen(ledger, HERNING) for _ in range(CITIZENS)], "orders": [],
                                 "deliveries": []}
        for step in history:
            _apply(ledger, state, step)
        for month in MONTHS:  # the final run of every month
            invoice_run(ledger, HERNING, month, run_date="2019-06-15")
        report = reconcile(ledger, HERNING)
        assert report["agree"], [d for m in report["months"] for d in m["differences"]]
        for month in MONTHS:  # a second run issues nothing
            again = invoice_run(ledger, HERNING, month, run_date="2019-06-15")
            assert again["invoices"] == again["debit_notes"] == again["credit_notes"] == [], again
        billing_engine(ledger).catch_up()
        db = ledger.db
        invoices = [i["number"] for i in q.invoices(db, HERNING)]
        notes = [n["number"] for n in q.debit_notes(db, HERNING)] + [n["number"] for n in q.credit_notes(db, HERNING)]
        # The projection's invoiced total per month of service equals the reconciliation's.
        charged: dict[str, int] = {}
        for number in invoices:
            for line in q.invoice(db, HERNING, number)["lines"]:
                if line["kind"] != "interest":  # interest is not owed for a month of service
                    charged[line["service_date"][:7]] = charged.get(line["service_date"][:7], 0) + line["gross"]
        assert sum(charged.values()) + sum(n["gross"] for n in q.debit_notes(db, HERNING)) \
            - sum(n["gross"] for n in q.credit_notes(db, HERNING)) == sum(m["invoiced"] for m in report["months"])
    finally:
        ledger.close()
    store = open_store(url)
    try:
        for number in invoices:
            assert reproduce(store, number, HERNING).ok, number
        for number in notes:
            found = reproduce_note(store, number, HERNING)
            assert found.ok, (number, [(x.line_no, x.differences, x.problems) for x in found.lines])
    finally:
        store.close()


@fewer_examples(10)
@given(history=histories, interest=st.booleans())
def test_after_a_final_run_the_books_agree_every_document_reproduces_and_a_rerun_issues_nothing(history, interest):
    with tempfile.TemporaryDirectory() as folder:
        check_history(f"sqlite:///{Path(folder) / 'ledger.db'}", history, interest)


FIXED = [
    ("order", 0, "extra-cleaning"), ("order", 1, "window-cleaning"), ("order", 2, "extra-cleaning"),
    ("deliver", 0, "2019-03", 4, 50), ("deliver", 1, "2019-03", 5, 30), ("deliver", 2, "2019-03", 12, 95),
    ("run", "2019-03"), ("correct", "extra-cleaning", 36_400), ("deliver", 0, "2019-04", 1, 60),
    ("end_grant", 2, "2019-03", 10), ("run", "2019-04"), ("rules", "2019-03", 60, 30),
    ("provider", 1, "2019-03", False), ("run", "2019-04"), ("new_grant", 2, "2019-03", 1),
    ("provider", 1, "2019-03", True), ("withdraw", 0, True), ("price", "window-cleaning", "2019-03", 41_000),
    ("cancel_order", 1, True), ("pay", 0, 20_000, "2019-05"), ("deliver", 0, "2019-04", 15, 40),
    ("deliver", 1, "2019-04", 16, 40), ("run", "2019-04"), ("window", "2019-04-10"), ("run", "2019-05"),
    ("deliver", 2, "2019-04", 17, 40), ("window", "2021-12-31"), ("reend_grant", 2, "2019-05", 28),
]


def test_a_fixed_history_of_corrections_reconciles_on_both_backends(database_url):
    check_history(database_url, FIXED, interest=True)

