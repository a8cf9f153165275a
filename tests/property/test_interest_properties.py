"""Default interest by day (docs/adr/0028, round 9): what `interest.open_by_day` says was open on a
document at the end of each day is exactly `allocate` as of that day, for any money history,
recorded in any order (back-dated payments included), with payments reversed by the run counted as
never made; its shortcut for documents settled before their first day (`_settled_before`) never
hides a day something was open."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.allocation import MoneyEvent, allocate
from ledger.domain.interest import open_by_day

START = date(2019, 1, 1)
DAYS = 40
DOCS = ("657-000001", "657-000002", "657-000003")


def day(n: int) -> str:
    return (START + timedelta(days=n)).isoformat()


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[MoneyEvent], dict[str, date], date]:
    issued = sorted(draw(st.lists(st.integers(0, DAYS - 10), min_size=1, max_size=len(DOCS))))
    events = [MoneyEvent.invoice(n, draw(st.integers(1, 500)), day(on)) for n, on in zip(DOCS, issued)]
    numbers = [e.key for e in events]
    for i in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(("payment", "payment", "payment", "credit_note", "reminder")))
        on = day(draw(st.integers(0, DAYS)))
        n = draw(st.sampled_from(numbers))
        if kind == "payment":
            p = MoneyEvent.payment(f"p-{i}", draw(st.integers(1, 600)), on, draw(st.sampled_from((None, n))))
            if draw(st.booleans()):
                p = p.reversed(day(draw(st.integers(0, DAYS + 5))))
            events.append(p)
        elif kind == "credit_note":
            events.append(MoneyEvent.credit_note(n, draw(st.integers(1, 300)), on))
        else:
            events.append(MoneyEvent.reminder(n, 100, on))
    # Recorded in any order (a payment before the invoice it pays, a back-dated payment after a
    # later invoice), the invoices in their own order.
    others = draw(st.permutations(events[len(numbers):]))
    cuts = sorted(draw(st.lists(st.integers(0, len(others)), min_size=len(numbers), max_size=len(numbers))))
    money, taken = [], 0
    for invoice, cut in zip(events[:len(numbers)], cuts):
        money += [*others[taken:cut], invoice]
        taken = cut
    money += others[taken:]
    firsts = {e.key: date.fromisoformat(e.on) + timedelta(days=draw(st.integers(0, 15))) for e in events[:len(numbers)]}
    run_date = START + timedelta(days=DAYS + draw(st.integers(-5, 5)))
    return money, firsts, run_date


@settings(max_examples=200)
@given(history=histories())
def test_what_was_open_each_day_is_the_allocation_as_of_that_day(history):
    money, firsts, run_date = history
    last = run_date - timedelta(days=1)
    found = open_by_day(money, firsts, last, run_date)
    counted = [m for m in money
               if not (m.kind == "payment" and m.reversed_on is not None and m.reversed_on <= run_date.isoformat())]
    for number, first in firsts.items():
        by_day = {}
        for a, b, amount in found[number]:
            d = a
            while d <= b:
                assert d not in by_day  # each day once
                by_day[d] = amount
                d += timedelta(days=1)
        expected = {}
        d = first
        while d <= last:
            expected[d] = allocate(counted, as_of=d.isoformat()).owed.get(number, 0)
            d += timedelta(days=1)
        # A document left out (settled before its first day) is one open on none of its days.
        assert {k: v for k, v in by_day.items() if v} == {k: v for k, v in expected.items() if v}, number
        assert not by_day or set(by_day) == set(expected), number
