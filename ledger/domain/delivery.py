"""What was actually delivered against an order, or a visit that did not happen and why.

Each delivery is its own aggregate (id given by the provider's system or derived from the command),
so providers recording visits in parallel never contend. A delivery cancelled or disputed after it
was invoiced leads to a credit note (see account.py); the delivery itself is never edited.
Free text that might describe health is sealed under the citizen's key before it gets here.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, TypeAlias
from uuid import UUID

from ledger.domain.base import Context, LedgerAggregate
from ledger.domain.errors import InvalidInput, rule
from ledger.domain.values import (MAX_DAYS_PER_DELIVERY, MAX_VISIT_MINUTES, MISSED_REASONS, band_on, iso, one_of,
                                  whole)


Day: TypeAlias = date  # the aggregate's own `date` attribute shadows the type inside its class


class Delivery(LedgerAggregate):
    if TYPE_CHECKING:  # state the events' apply() methods assign (declared for the type checker only)
        order_id: str
        citizen_id: str
        offer_id: str
        date: str
        delivered: bool
        withdrawn: str | None
        withdrawn_ref: str | None
        recorded_ref: str
        band: str | None
        minutes: int
        units: int
        klippekort: bool

    class DeliveryRecorded(LedgerAggregate.Created):
        order_id: str
        citizen_id: str
        offer_id: str
        band: str
        minutes: int
        units: int
        staff_id: str
        after_granted_visit: bool
        klippekort: bool
        note_sealed: str | None

        def apply(self, d: Delivery) -> None:
            d._init(self, delivered=True)
            d.band, d.minutes, d.units, d.klippekort = self.band, self.minutes, self.units, self.klippekort

    class VisitMissed(LedgerAggregate.Created):
        order_id: str
        citizen_id: str
        offer_id: str
        reason: str
        note_sealed: str | None

        def apply(self, d: Delivery) -> None:
            d._init(self, delivered=False)
            d.band, d.minutes, d.units, d.klippekort = None, 0, 0, False

    class DeliveryCancelled(LedgerAggregate.Event):
        reason: str

        def apply(self, d: Delivery) -> None:
            d.withdrawn = "cancelled"
            d.withdrawn_ref = f"{self.originator_id}:{self.originator_version}"

    class DeliveryDisputed(LedgerAggregate.Event):
        reason: str

        def apply(self, d: Delivery) -> None:
            d.withdrawn = "disputed"
            d.withdrawn_ref = f"{self.originator_id}:{self.originator_version}"

    def _init(self, e: DeliveryRecorded | VisitMissed, delivered: bool) -> None:
        self.municipality = e.municipality
        self.order_id, self.citizen_id, self.offer_id = e.order_id, e.citizen_id, e.offer_id
        self.date = e.effective
        self.delivered = delivered
        self.withdrawn = None
        self.withdrawn_ref = None
        self.recorded_ref = f"{e.originator_id}:{e.originator_version}"

    @classmethod
    def record(cls, ctx: Context, delivery_id: UUID, municipality: int, order_id: str, citizen_id: str, offer_id: str,
               unit: str, on: Day, band: str, minutes: int, units: int, staff_id: str, after_granted_visit: bool,
               klippekort: bool, note_sealed: str | None) -> Delivery:
        band_on(band, on)
        whole(minutes, "minutes", low=1, high=MAX_VISIT_MINUTES)
        whole(units, "units", low=1, high=MAX_DAYS_PER_DELIVERY if unit == "day" else 1)
        if not isinstance(staff_id, str) or not staff_id or len(staff_id) > 64:
            raise InvalidInput("staff_id must be a pseudonymous staff id (short text)", field="staff_id")
        for name, flag in (("after_granted_visit", after_granted_visit), ("klippekort", klippekort)):
            if not isinstance(flag, bool):
                raise InvalidInput(f"{name} must be true or false", field=name)
        return cls._start(cls.DeliveryRecorded, delivery_id, ctx, iso(on), municipality, order_id=order_id,
                          citizen_id=citizen_id, offer_id=offer_id, band=band, minutes=minutes, units=units,
                          staff_id=staff_id, after_granted_visit=after_granted_visit, klippekort=klippekort,
                          note_sealed=note_sealed)

    @classmethod
    def missed(cls, ctx: Context, delivery_id: UUID, municipality: int, order_id: str, citizen_id: str, offer_id: str,
               on: Day, reason: str, note_sealed: str | None) -> Delivery:
        one_of(reason, MISSED_REASONS, "reason")
        return cls._start(cls.VisitMissed, delivery_id, ctx, iso(on), municipality, order_id=order_id,
                          citizen_id=citizen_id, offer_id=offer_id, reason=reason, note_sealed=note_sealed)

    def _withdrawable(self, effective: Day) -> None:
        rule(self.delivered, "not-delivered", "a missed visit was never delivered; there is nothing to cancel")
        rule(self.withdrawn is None, "already-withdrawn", f"the delivery is already {self.withdrawn}")
        rule(iso(effective) >= self.date, "withdrawn-before-delivered",
             f"the delivery was on {self.date}; it cannot be withdrawn from {iso(effective)}, before it happened")

    def cancel(self, ctx: Context, effective: Day, reason: str) -> None:
        self._withdrawable(effective)
        self._record(self.DeliveryCancelled, ctx, iso(effective), reason=_reason(reason))

    def dispute(self, ctx: Context, effective: Day, reason: str) -> None:
        self._withdrawable(effective)
        self._record(self.DeliveryDisputed, ctx, iso(effective), reason=_reason(reason))

    @property
    def billable(self) -> bool:
        """Klippekort hours are recorded but never billed; withdrawn deliveries neither."""
        return self.delivered and not self.klippekort and self.withdrawn is None


def _reason(reason: object) -> str:
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 200:
        raise InvalidInput("reason must be a short code or text of at most 200 characters", field="reason")
    return reason.strip()
