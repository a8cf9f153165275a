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

from collections.abc import Iterable, Sequence
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


def open_by_day(money: Iterable[MoneyEvent], first: date, last: date, run_date: date
                ) -> list[tuple[date, date, dict[str, int]]]:
    """What of each document was open at the end of each day first..last, as runs of days with the
    same amounts: [(from, to, {document number: open øre})]. Each is `allocate` as of its first day
    (payments oldest first, credit used at once), which holds until the next money event's date.
    A payment reversed by `run_date` counts as never made, on the days before its reversal too: a
    bounced payment did not pay (the citizen was in default all along)."""
    run = iso(run_date)
    counted = [m for m in money if not (m.kind == "payment" and m.reversed_on is not None and m.reversed_on <= run)]
    s, e = iso(first), iso(last)
    starts = [s, *sorted({m.on for m in counted if s < m.on <= e})]
    out = []
    for i, a in enumerate(starts):
        b = date.fromisoformat(starts[i + 1]) - timedelta(days=1) if i + 1 < len(starts) else last
        out.append((date.fromisoformat(a), b, dict(allocate(counted, as_of=a).owed)))
    return out


def charged_periods(rates: ReferenceRates, spans: Sequence[tuple[date, date, int]]
                    ) -> list[tuple[str, str, int, str, int]]:
    """[(from, to, annual basis points incl. the margin, rate ref, principal)] for runs of days
    [(from, to, principal)] with something open, split where the rate changes."""
    return [(a, b, bp, ref, principal) for first, last, principal in spans
            for a, b, bp, ref in rates.periods(first, last)]
