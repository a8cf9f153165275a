"""A nursing-home resident's klippekort: free minutes per ISO week, from a date to a date.

One Klippekort per citizen (id from the citizen id). It holds the periods granted and the minutes
used per ISO week, so "a delivery flagged klippekort must fit the week's remaining minutes" reads
this aggregate alone; the delivery handler saves the use together with the delivery (one
transaction). Klippekort minutes are never billed (domain.md §2).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.domain.base import Context, LedgerAggregate, key_id
from ledger.domain.errors import InvalidInput, rule
from ledger.domain.values import iso, iso_week, whole


def klippekort_id(citizen_id: UUID | str) -> UUID:
    return key_id("klippekort", citizen_id)


class Klippekort(LedgerAggregate):
    if TYPE_CHECKING:  # state the events' apply() methods assign (declared for the type checker only)
        citizen_id: str
        periods: list[list[Any]]
        used: dict[str, int]
        uses: dict[str, tuple[str, int]]

    class KlippekortOpened(LedgerAggregate.Created):
        citizen_id: str

        def apply(self, k: Klippekort) -> None:
            k.municipality = self.municipality
            k.citizen_id = self.citizen_id
            k.periods = []  # [valid_from, valid_to or None, minutes per week, event ref], by valid_from
            k.used = {}  # ISO week → minutes used
            k.uses = {}  # delivery id → (week, minutes)

    class KlippekortGranted(LedgerAggregate.Event):
        minutes_per_week: int
        valid_from: str
        valid_to: str | None

        def apply(self, k: Klippekort) -> None:
            ref = f"{self.originator_id}:{self.originator_version}"
            k.periods = sorted([*k.periods, [self.valid_from, self.valid_to, self.minutes_per_week, ref]])

    class KlippekortEnded(LedgerAggregate.Event):
        """The period holding on `effective` ends after that day."""

        def apply(self, k: Klippekort) -> None:
            for p in k.periods:
                if p[0] <= self.effective and (p[1] is None or self.effective <= p[1]):
                    p[1] = self.effective

    class KlippekortMinutesUsed(LedgerAggregate.Event):
        delivery_id: str
        week: str
        minutes: int

        def apply(self, k: Klippekort) -> None:
            k.used[self.week] = k.used.get(self.week, 0) + self.minutes
            k.uses[self.delivery_id] = (self.week, self.minutes)

    class KlippekortMinutesReleased(LedgerAggregate.Event):
        """A klippekort delivery was withdrawn: its minutes are the week's again."""

        delivery_id: str

        def apply(self, k: Klippekort) -> None:
            week, minutes = k.uses.pop(self.delivery_id)
            k.used[week] -= minutes

    # -- commands --------------------------------------------------------------------------
    @classmethod
    def open(cls, ctx: Context, citizen_id: UUID | str, municipality: int, effective: date) -> Klippekort:
        return cls._start(cls.KlippekortOpened, klippekort_id(citizen_id), ctx, iso(effective), municipality,
                          citizen_id=str(citizen_id))

    def grant(self, ctx: Context, minutes_per_week: int, valid_from: date, valid_to: date | None) -> None:
        whole(minutes_per_week, "minutes_per_week", low=1, high=7 * 24 * 60)
        rule(valid_to is None or valid_from <= valid_to, "klippekort-period",
             f"klippekort valid from {valid_from} after it ends {valid_to}")
        for a, b, _, _ in self.periods:
            rule((valid_to is not None and iso(valid_to) < a) or (b is not None and iso(valid_from) > b),
                 "klippekort-overlap", f"the citizen already holds a klippekort from {a} to {b or 'open end'}")
        self._record(self.KlippekortGranted, ctx, iso(valid_from), minutes_per_week=minutes_per_week,
                     valid_from=iso(valid_from), valid_to=iso(valid_to))

    def end(self, ctx: Context, last_day: date) -> None:
        rule(self.period_on(last_day) is not None, "no-klippekort",
             f"the citizen holds no klippekort on {last_day} to end")
        self._record(self.KlippekortEnded, ctx, iso(last_day))

    def use(self, ctx: Context, delivery_id: UUID | str, on: date, minutes: int) -> None:
        period = self.period_on(on)
        rule(period is not None, "no-klippekort", f"citizen {self.citizen_id} holds no klippekort on {on}")
        week = iso_week(on)
        left = self.remaining(on)
        rule(minutes <= left, "klippekort-exhausted",
             f"{minutes} klippekort minutes on {on} exceed what is left of week {week}: {left} of "
             f"{period[2] if period else 0}")
        if str(delivery_id) in self.uses:
            raise InvalidInput(f"delivery {delivery_id} already used klippekort minutes", field="delivery_id")
        self._record(self.KlippekortMinutesUsed, ctx, iso(on), delivery_id=str(delivery_id), week=week,
                     minutes=minutes)

    def release(self, ctx: Context, delivery_id: UUID | str, on: date) -> None:
        if str(delivery_id) in self.uses:
            self._record(self.KlippekortMinutesReleased, ctx, iso(on), delivery_id=str(delivery_id))

    # -- queries ---------------------------------------------------------------------------
    def period_on(self, d: date | str) -> list[Any] | None:
        s = d if isinstance(d, str) else iso(d)
        for p in self.periods:
            if p[0] <= s and (p[1] is None or s <= p[1]):
                return p
        return None

    def remaining(self, d: date) -> int:
        period = self.period_on(d)
        return 0 if period is None else max(0, period[2] - self.used.get(iso_week(d), 0))
