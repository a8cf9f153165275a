"""Default interest ("morarenter", renteloven § 5): the central bank's reference rate + 8 % a year.

The reference rate is data, effective-dated: Danmarks Nationalbank's rate as published for each
1 January and 1 July, recorded as `ReferenceRateSet` facts on the municipality's rate table (one
aggregate per municipality, so the billing clerk who bills also keeps the table), so every
interest line can be computed again from the log (replay) and names the rate facts it used.

The arithmetic, in integers only: interest = Σ(principal × days × annual rate in basis points)
/ (365 × 10,000) over runs of days with one principal and one rate, rounded half up once, to whole
øre. The principal of a day is what of the document was open at the end of that day (allocation.py,
as of that day; a payment reversed by the run counts as never made), so a document paid late is
charged for exactly the days it was late, whenever the run comes, and a part payment lowers the
principal from the day it was paid (docs/adr/0028, round-9 amendment). Days run from the due date
itself (renteloven § 3 stk. 1: "Er forfaldsdagen fastsat på forhånd, skal der betales renter fra
forfaldsdagen"; docs/adr/0028) to the day before the invoice run that bills them, so a document
open throughout is charged R − due_on days at a run on R; a document is never charged interest
twice for the same day, and interest is not charged on interest or on reminder fees.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.domain.allocation import MoneyEvent, allocate
from ledger.domain.base import Context, LedgerAggregate, key_id
from ledger.domain.errors import rule
from ledger.domain.values import iso, round_half_up_div, whole

MARGIN_BP = 800  # renteloven § 5 stk. 1: the reference rate plus 8 percentage points a year


def rates_id(municipality: int) -> UUID:
    return key_id("reference-rates", municipality)


class ReferenceRates(LedgerAggregate):
    if TYPE_CHECKING:  # state the events' apply() methods assign (declared for the type checker only)
        rates: list[tuple[str, int, str]]

    class ReferenceRatesOpened(LedgerAggregate.Created):
        def apply(self, r: ReferenceRates) -> None:
            r.municipality = self.municipality
            r.rates = []  # (effective, basis points, event ref), by effective

    class ReferenceRateSet(LedgerAggregate.Event):
        """The reference rate from `effective` (a later fact for the same date replaces it)."""

        rate_bp: int

        def apply(self, r: ReferenceRates) -> None:
            ref = f"{self.originator_id}:{self.originator_version}"
            r.rates = sorted([x for x in r.rates if x[0] != self.effective] + [(self.effective, self.rate_bp, ref)])

    @classmethod
    def open(cls, ctx: Context, municipality: int, effective: date) -> ReferenceRates:
        return cls._start(cls.ReferenceRatesOpened, rates_id(municipality), ctx, iso(effective), municipality)

    def set_rate(self, ctx: Context, effective: date, rate_bp: int) -> None:
        whole(rate_bp, "rate_bp", low=-1_000, high=5_000)  # the rate has been negative (2015-2022)
        # renteloven § 5 stk. 2: the reference rate is the central bank's lending rate in force on
        # 1 January and on 1 July, each for the half-year that follows (conventions l.29), so it
        # changes on those days only; a rate the bank set on another day counts from the next one.
        rule((effective.month, effective.day) in ((1, 1), (7, 1)), "reference-rate-date",
             f"a reference rate holds from 1 January or 1 July (renteloven § 5), not from {iso(effective)}: "
             "record the rate in force on the half-year's first day")
        self._record(self.ReferenceRateSet, ctx, iso(effective), rate_bp=rate_bp)

    def periods(self, first: date, last: date) -> list[tuple[str, str, int, str]]:
        """[(from, to, annual basis points incl. the margin, rate ref)] covering first..last (inclusive)."""
        s, e = iso(first), iso(last)
        rule(bool(self.rates) and self.rates[0][0] <= s, "no-reference-rate",
             f"no reference rate is recorded for {s}; record it with set_reference_rate")
        out = []
        for i, (eff, bp, ref) in enumerate(self.rates):
            nxt = self.rates[i + 1][0] if i + 1 < len(self.rates) else None
            a = max(eff, s)
            b = min(e, iso(date.fromisoformat(nxt) - timedelta(days=1))) if nxt else e
            if a <= b:
                out.append((a, b, bp + MARGIN_BP, ref))
        return out


def interest_ore(principal: int, periods: Sequence[tuple[Any, ...]]) -> int:
    """Σ(principal × days × basis points) / (365 × 10,000), rounded half up once. A period is
    (from, to, basis points, rate ref) at `principal`, or (from, to, basis points, rate ref,
    principal) with its own principal (the open amount changed within the line)."""
    total = sum(((date.fromisoformat(p[1]) - date.fromisoformat(p[0])).days + 1) * p[2]
                * (p[4] if len(p) > 4 else principal) for p in periods)
    return max(0, round_half_up_div(total, 365 * 10_000))


def open_by_day(money: Iterable[MoneyEvent], firsts: Mapping[str, date], last: date, run_date: date
                ) -> dict[str, list[tuple[date, date, int]]]:
    """For each document (number → the first day to look at), what of it was open at the end of
    each day from that day to `last`, as runs of days with one amount: [(from, to, øre)]. The
    state at the end of a day is `allocate` as of that day (payments oldest first, credit used at
    once), which holds until the next money event's date. A payment reversed by `run_date` counts
    as never made, on the days before its reversal too: a bounced payment did not pay (the citizen
    was in default all along)."""
    run, end = iso(run_date), iso(last)
    counted = [m for m in money if not (m.kind == "payment" and m.reversed_on is not None and m.reversed_on <= run)]
    looked = {n: f for n, f in firsts.items() if f <= last}
    for n in _settled_before(counted, looked, end):
        del looked[n]
    out: dict[str, list[tuple[date, date, int]]] = {n: [] for n in firsts}
    if not looked:
        return out
    s = iso(min(looked.values()))
    starts = [s, *sorted({m.on for m in counted if s < m.on <= end})]
    for i, a in enumerate(starts):
        b = date.fromisoformat(starts[i + 1]) - timedelta(days=1) if i + 1 < len(starts) else last
        owed = allocate(counted, as_of=a).owed
        for n, first in looked.items():
            if b >= first:
                out[n].append((max(date.fromisoformat(a), first), b, owed.get(n, 0)))
    return out


def _settled_before(counted: Sequence[MoneyEvent], firsts: Mapping[str, date], end: str) -> set[str]:
    """The documents provably open on none of the days from their first day to `end`, found from
    one allocation instead of one per day (so a run does not allocate a long account's history
    again for every day since the due date of every document it ever paid on time).

    Allocation reads the events in the order they were recorded; the state as of a day d skips
    those dated after d. Take the last event (in that order) that changed what is open on a
    document in the whole allocation: its invoice, a payment that paid it, a credit note or a
    reminder fee on it. If that event and every event recorded before it is dated on or before
    the document's first day, every state as of a day from then on read exactly those events
    first, as the whole did; so if nothing is open on the document at `end`, nothing was at the
    end of any of those days (a payment never un-pays, and nothing else adds to what is open on
    it).

    Credit on the account pays a document at once (allocation.py: "Credit never waits beside an
    open document"), so credit pays an open document only when a credit note's excess makes
    credit; otherwise it pays a document as it is issued or reminded of (events counted above).
    A document credit paid with a credit note recorded after it is looked at day by day, as is
    any document this cannot show settled."""
    if not firsts:
        return set()
    final = allocate(counted, as_of=end)
    up_to: list[str] = []  # up_to[i]: the latest date of the events recorded up to the i-th
    at: dict[str, int] = {}  # payment id → where it was recorded
    issued_at: dict[str, int] = {}  # document → where it was issued
    last_change: dict[str, int] = {}  # document → the last event that changed what is open on it
    last_credit_note = -1
    for i, m in enumerate(counted):
        up_to.append(max(up_to[-1], m.on) if up_to else m.on)
        if m.kind == "payment":
            at[m.key] = i
        elif m.on <= end and m.kind in ("invoice", "debit_note", "reminder", "credit_note"):
            last_change[m.key] = i
            if m.kind == "credit_note":
                last_credit_note = i
            elif m.kind != "reminder":
                issued_at[m.key] = i
    for payment_id, number, _ in final.allocations:
        if payment_id in at:
            i = at[payment_id]
        else:  # from credit: as the document was issued or reminded of, unless a credit note came after
            i = -1 if last_credit_note < issued_at.get(number, len(counted)) else len(counted)
        last_change[number] = max(last_change.get(number, -1), i)
    return {n for n, first in firsts.items()
            if final.owed.get(n, 0) == 0 and n in last_change and last_change[n] < len(counted)
            and up_to[last_change[n]] <= iso(first)}


def charged_periods(rates: ReferenceRates, spans: Sequence[tuple[date, date, int]]
                    ) -> list[tuple[str, str, int, str, int]]:
    """[(from, to, annual basis points incl. the margin, rate ref, principal)] for runs of days
    [(from, to, principal)] with something open, split where the rate changes."""
    return [(a, b, bp, ref, principal) for first, last, principal in spans
            for a, b, bp, ref in rates.periods(first, last)]
