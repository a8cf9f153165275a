"""A citizen's order of an add-on: one item or package, one-off or recurring.

The order records the price and VAT class quoted on its date (what the citizen was told), but
billing uses the price in force on each delivery's date, so January price changes reach recurring
orders. The cross-aggregate checks (active grant, scheme window, provider, item in force) are made
by the application before `place` is called; the order checks what it alone knows.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.domain.base import Context, LedgerAggregate
from ledger.domain.errors import InvalidInput, rule
from ledger.domain.pricing import Quote
from ledger.domain.values import (BAND_START, BANDS, MAX_VISIT_MINUTES, ORDER_KINDS, band_on, clock_time, iso,
                                  local_instant, one_of, whole)


class Order(LedgerAggregate):
    if TYPE_CHECKING:  # state the events' apply() methods assign (declared for the type checker only)
        citizen_id: str
        offer_id: str
        offer_kind: str
        fsiii: str
        kind: str
        every_weeks: int | None
        start: str
        end: str | None
        minutes: int | None
        band: str
        cancelled_from: str | None
        placed_ref: str
        eligibility: str
        quoted: dict[str, Any]
        start_time: str
        start_times: list[tuple[str, str]]

    class OrderPlaced(LedgerAggregate.Created):
        """v2 adds `start_time`: the visits' planned local start (HH:MM); late notice is measured to it."""

        class_version = 2
        citizen_id: str
        offer_id: str
        offer_kind: str
        fsiii: str
        kind: str
        every_weeks: int | None
        start: str
        end: str | None
        minutes: int | None
        band: str
        quoted: dict[str, Any]
        eligibility: str
        start_time: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # Orders placed before visits carried a time start when their band starts.
            state["start_time"] = BAND_START[state["band"]]

        def apply(self, o: Order) -> None:
            o.municipality = self.municipality
            o.citizen_id = self.citizen_id
            o.offer_id = self.offer_id
            o.offer_kind = self.offer_kind
            o.fsiii = self.fsiii
            o.kind = self.kind
            o.every_weeks = self.every_weeks
            o.start = self.start
            o.end = self.end
            o.minutes = self.minutes
            o.band = self.band
            o.cancelled_from = None
            o.placed_ref = f"{self.originator_id}:{self.originator_version}"
            o.eligibility = self.eligibility
            o.quoted = self.quoted
            o.start_time = self.start_time
            o.start_times = [(self.start, self.start_time)]  # (from, HH:MM): each visit's planned start

    class OrderChanged(LedgerAggregate.Event):
        """v2 adds `start_time`: the visits' planned start from `effective` on (None: unchanged)."""

        class_version = 2
        every_weeks: int | None
        end: str | None
        minutes: int | None
        start_time: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["start_time"] = None

        def apply(self, o: Order) -> None:
            o.every_weeks, o.end, o.minutes = self.every_weeks, self.end, self.minutes
            if self.start_time is not None:
                o.start_times = sorted([*(t for t in o.start_times if t[0] != self.effective),
                                        (self.effective, self.start_time)])

    class OrderCancelled(LedgerAggregate.Event):
        """No visits from `effective` on; a late cancellation carries the catalogue's fee."""

        late: bool
        fee_ore: int
        reason: str

        def apply(self, o: Order) -> None:
            o.cancelled_from = self.effective

    @classmethod
    def place(cls, ctx: Context, order_id: UUID, municipality: int, citizen_id: str, offer: dict[str, Any],
              offer_id: str, kind: str, start: date, end: date | None, every_weeks: int | None,
              minutes: int | None, band: str, quoted: Quote, eligibility: str,
              start_time: str | None = None) -> Order:
        one_of(kind, ORDER_KINDS, "kind")
        one_of(band, BANDS, "band")
        start_time = BAND_START[band] if start_time is None else clock_time(start_time)
        if kind == "one_off":
            rule(every_weeks is None, "one-off-interval", "a one-off order has no interval (every_weeks)")
            end = start if end is None else end
            rule(end == start, "one-off-period", "a one-off order is for one date: end must equal start")
            # Its one visit's date is known: the price quoted must be one its delivery can bill.
            band_on(band, start)
        else:
            if every_weeks is None:
                raise InvalidInput("a recurring order needs every_weeks (1 = weekly, 2 = every second week)", field="every_weeks")
            whole(every_weeks, "every_weeks", low=1, high=52)
        rule(end is None or start <= end, "order-period", f"order starts {start} after it ends {end}")
        if offer["unit"] == "hour":
            if minutes is None:
                raise InvalidInput("an hourly item needs the planned minutes per visit", field="minutes")
            whole(minutes, "minutes", low=1, high=MAX_VISIT_MINUTES)
        return cls._start(cls.OrderPlaced, order_id, ctx, iso(start), municipality, citizen_id=citizen_id,
                          offer_id=offer_id, offer_kind=offer["kind"], fsiii=offer["fsiii"], kind=kind,
                          every_weeks=every_weeks, start=iso(start), end=iso(end), minutes=minutes, band=band,
                          quoted=quoted.to_payload(), eligibility=eligibility, start_time=start_time)

    def _open(self) -> None:
        rule(self.cancelled_from is None, "order-cancelled", f"the order is cancelled from {self.cancelled_from}")

    def change(self, ctx: Context, effective: date, every_weeks: int | None, end: date | None, minutes: int | None,
               start_time: str | None = None) -> None:
        self._open()
        rule(self.kind == "recurring", "one-off-change", "a one-off order cannot be changed; cancel it and place a new one")
        if every_weeks is not None:
            whole(every_weeks, "every_weeks", low=1, high=52)
        if minutes is not None:
            whole(minutes, "minutes", low=1, high=MAX_VISIT_MINUTES)
        rule(end is None or iso(end) >= self.start, "order-period", f"order cannot end {end}, before it starts {self.start}")
        if start_time is not None:
            clock_time(start_time)
        self._record(self.OrderChanged, ctx, iso(effective), every_weeks=every_weeks or self.every_weeks,
                     end=iso(end) if end is not None else self.end, minutes=minutes or self.minutes,
                     start_time=start_time)

    def start_time_on(self, d: date) -> str:
        """The planned start (HH:MM, Danish time) of a visit on d."""
        s, current = iso(d), self.start_times[0][1]
        for eff, hhmm in self.start_times:
            if eff <= s:
                current = hhmm
        return current

    def cancel(self, ctx: Context, effective: date, notified_at: datetime, terms: dict[str, int], reason: str) -> None:
        """Cancel from `effective`; notice shorter than the catalogue's terms makes it late (with the fee)."""
        self._open()
        if not isinstance(reason, str) or len(reason) > 200:
            raise InvalidInput("reason must be a short code or text of at most 200 characters", field="reason")
        # Notice is measured to the first cancelled visit's planned start, not to midnight.
        first_visit = local_instant(effective, self.start_time_on(effective))
        late = first_visit - notified_at < timedelta(hours=terms["notice_hours"])
        self._record(self.OrderCancelled, ctx, iso(effective), late=late, fee_ore=terms["fee_ore"] if late else 0,
                     reason=reason)

    def active_on(self, d: date) -> bool:
        s = iso(d)
        if s < self.start or (self.end is not None and s > self.end):
            return False
        return self.cancelled_from is None or s < self.cancelled_from
