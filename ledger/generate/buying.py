"""Buying: when a citizen may buy, what and when they order, and what is delivered.

Orders fit the citizen's grants so the audit finds only what is planted: more of a granted service
(VAT exempt) only on top of that grant, a new kind of service (25 % VAT) only without one, and no
cleaning order within 120 days of a cut in granted cleaning unless the case is planted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger.generate.billing import Billable, delivery_gross, fee_gross
from ledger.generate.clock import DAY, HOUR, at, d, day_of, iso_date, iso_instant, month_key, next_weekday, weekday
from ledger.generate.commands import Cmd
from ledger.generate.life import FOREVER, LifeBase
from ledger.generate.people import pick, weekly
from ledger.domain.values import BAND_START, iso_week, local_instant

KLIPPEKORT_MINUTES = 30  # the nursing homes' free half hour a week (domain.md §2)


def planned_start(ordinal: int, band: str) -> int:
    """The instant (UTC seconds) a visit of the band is planned to start on a date."""
    from datetime import date

    return int(local_instant(date.fromordinal(ordinal), BAND_START[band]).timestamp())
from ledger.generate.world import ACTIVITY_END, HISTORY_START

NEXT_ORDER_RATE = 1.3  # further orders a year once a citizen has bought (≈ 950 sales to 200 buyers in 3 years)
CUT_QUIET_DAYS = 120  # no natural "cut, then extra cleaning" inside this many days: only planted cases
OFFER_MIX = ((900, "extra-cleaning"), (30, "window-cleaning"), (20, "escort"), (15, "guests"),
             (15, "relative-substitute"), (12, "holiday"), (8, "spring-cleaning"))
MISSED_REASONS = ((50, "citizen_absent"), (20, "citizen_cancelled"), (15, "staff_unavailable"),
                  (10, "hospitalised"), (5, "other"))


@dataclass
class Segment:
    """Days a citizen may buy: inside the window, a covered grant, the municipal provider."""

    start: int
    end: int  # last day
    known: int  # earliest instant an order for these days passes the ledger's checks
    rate_factor: float


class Buying(LifeBase):
    def segments(self) -> list[Segment]:
        trial = self.trial
        assert trial is not None
        covered = [g for g in self.grants if g.section in trial.sections]
        if not covered:
            return []
        g_start = min(g.start for g in covered)
        g_end = max(FOREVER if g.end is None else g.end for g in covered)
        g_known = max(g.t for g in covered) + HOUR
        lo = max(trial.window_start, g_start, HISTORY_START)
        hi = min(trial.window_end, g_end, self.leave if self.leave is not None else FOREVER, ACTIVITY_END)
        out = []
        for k, (since, provider, known) in enumerate(self.providers):
            until = self.providers[k + 1][0] - 1 if k + 1 < len(self.providers) else FOREVER
            if provider != "municipal":
                continue
            a, b = max(lo, since), min(hi, until)
            kt = max(g_known, known + HOUR, self.w.catalogues[self.m].offers["extra-cleaning"].added_recorded + HOUR)
            a = max(a, day_of(kt) + 2)
            if self.moved is not None and a < self.moved <= b:
                out.append(Segment(a, self.moved - 1, kt, 1.0))
                out.append(Segment(self.moved, b, kt, 0.1))
            elif a <= b:
                out.append(Segment(a, b, kt, 1.0 if self.moved is None or b < self.moved else 0.1))
        return [s for s in out if s.end - s.start >= 14]

    def arrivals(self, segments: list[Segment], after: int, rate_per_year: float) -> list[tuple[int, Segment]]:
        """Days (with their segment) when the citizen decides to buy: a Poisson process over eligible days."""
        out = []
        x = self.rng.expovariate(1.0)
        for seg in segments:
            start = max(seg.start, after)
            while start <= seg.end - 7:
                rate = rate_per_year * seg.rate_factor / 365
                need = x / rate
                if start + need > seg.end - 7:
                    x -= (seg.end - 7 - start) * rate
                    break
                day = start + int(need)
                out.append((day, seg))
                start = day + 1
                x = self.rng.expovariate(1.0)
        return out

    def cleaning_cuts(self) -> list[int]:
        """Days on which the citizen's granted H1.8 minutes go down, judged as the audit judges them:
        on everything finally known (a later correction of the same date replaces the earlier amount;
        an end counts as a cut to nothing)."""
        found: list[int] = []
        for g in self.grants:
            if g.fsiii != "H1.8":
                continue
            amounts: dict[int, int] = {}
            end = g.end
            for c in sorted((c for c in self.cmds if c.payload.get("grant_id") == g.id), key=lambda c: (c.t, c.seq)):
                if c.type == "end_grant":
                    end = c.effective
                else:
                    amounts[c.effective] = weekly(c.payload["amount"])
            def on(day: int) -> int:
                if day < g.start or (end is not None and day > end):
                    return 0
                eff = max((e for e in amounts if e <= day), default=None)
                return 0 if eff is None else amounts[eff]
            days = set(amounts) | {g.start} | ({end + 1} if end is not None else set())
            found += [day for day in days if on(day) < on(day - 1)]
        return sorted(found)

    def buy(self) -> None:
        segments = self.segments()
        if not segments:
            return
        self.cuts = self.cleaning_cuts()
        first = self.arrivals(segments, 0, self.take_up)
        planned: list[tuple[int, Segment, str | None]] = []
        if self.planted and hasattr(self, "planted_cut"):
            cut, cut_t = self.planted_cut
            day = next_weekday(cut + self.rng.randrange(14, 70))
            seg = next((s for s in segments if s.start <= day <= s.end - 14), None)
            if seg is not None:
                planned.append((day, seg, "planted"))
        if self.planted_sale:  # window cleaning bought while it was priced below its full cost
            day = next_weekday(d("2019-02-01") + self.rng.randrange(0, 120))
            seg = next((s for s in segments if s.start <= day <= s.end - 14), None)
            if seg is not None:
                planned.append((day, seg, "below_cost"))
        if first:
            planned.append((first[0][0], first[0][1], None))
        if not planned:
            return
        start = min(p[0] for p in planned)
        planned += [(day, seg, None) for day, seg in self.arrivals(segments, start + 7, NEXT_ORDER_RATE)
                    if (day, seg, None) not in planned]
        planned.sort(key=lambda p: p[0])
        for day, seg, why in planned:
            self.order(day, seg, why)
        self.settle()

    def grant_active(self, fsiii: str, day: int) -> bool:
        return any(g.fsiii == fsiii and g.start <= day and (g.end is None or day <= g.end) for g in self.grants)

    def cut_nearby(self, start: int) -> bool:
        """A cleaning cut near the start of a cleaning order, before or after it (the audit looks both ways)."""
        return any(abs(start - cut) <= CUT_QUIET_DAYS for cut in self.cuts)

    def order(self, day: int, seg: Segment, why: str | None) -> None:
        rng, w, m = self.rng, self.w, self.m
        cat = w.catalogues[m]
        choice = {"planted": "extra-cleaning", "below_cost": "window-cleaning"}.get(why or "") or pick(rng, OFFER_MIX)
        staff = f"staff-{m}-{rng.randrange(1, 40):03d}"
        lead = rng.randrange(2, 8 if why else 21)
        placed = max(self.office(day - lead), seg.known)
        if why == "planted":
            placed = max(placed, self.planted_cut[1] + DAY)
        start = max(day, day_of(placed) + 1)
        band = "weekday_day"
        if choice in ("escort", "guests"):
            band = pick(rng, ((30, "weekday_day"), (40, "evening"), (30, "weekend")))
        start = self.fit_band(start, band)
        if start > seg.end - 7:
            return
        # Sell what fits the grants, so the audit's overlap rules find nothing but what is planted:
        # more of a granted service (exempt) only on top of that grant; a new kind (25 % VAT) only
        # when no grant of that kind is held.
        cleaning = self.grant_active("H1.8", start)
        if why is not None:
            pass
        elif choice == "extra-cleaning" and not cleaning:
            if rng.random() < 0.9:  # extra cleaning is bought on top of granted cleaning
                return
            choice = "window-cleaning"
        elif choice in ("window-cleaning", "spring-cleaning") and cleaning:
            choice = "extra-cleaning"
        if choice in ("escort", "holiday") and self.grant_active("H1.5", start):
            return
        offer_id = "holiday-3-days" if choice == "holiday" and rng.random() < 0.5 else (
            "holiday-escort" if choice == "holiday" else choice)
        if not cat.offer(offer_id).in_force(start):
            return
        if why is None and cat.offer(offer_id).spec.fsiii == "H1.8" and self.cut_nearby(start):
            return
        recurring = (choice == "extra-cleaning" and (why == "planted" or rng.random() < 0.55)) or (
            choice == "relative-substitute" and rng.random() < 0.3)
        if recurring and self.order_stop.get(offer_id, -1) >= start:
            return  # already has a recurring order of it
        order_id = self.uuid()
        payload: dict[str, Any] = {"order_id": order_id, "citizen_id": self.citizen_id, "offer_id": offer_id,
                                   "kind": "recurring" if recurring else "one_off", "start": iso_date(start)}
        minutes: int | None = None
        units = 1
        unit = cat.offer(offer_id).spec.unit
        if recurring:
            every = 4 if choice == "relative-substitute" else (2 if why == "planted" else pick(
                rng, ((15, 1), (55, 2), (10, 3), (20, 4))))
            minutes = 60 if why == "planted" else (180 if choice == "relative-substitute" else pick(
                rng, ((60, 60), (20, 90), (10, 120), (10, 30))))
            end = None
            if rng.random() < 0.15:
                end = min(start + rng.randrange(8, 27) * 7, self.trial.window_end)
                payload["end"] = iso_date(end)
            payload["every_weeks"] = every
        else:
            if unit == "hour":
                minutes = {"extra-cleaning": rng.randrange(2, 9) * 30, "escort": rng.randrange(4, 9) * 30,
                           "guests": rng.randrange(4, 7) * 30, "relative-substitute": rng.randrange(6, 9) * 30}[choice]
            elif unit == "day":
                units = rng.randrange(2, 6)
        if minutes is not None:
            payload["minutes"] = minutes
        payload["band"] = band
        self.__dict__.setdefault("order_band", {})[order_id] = band
        if not self.bought:
            self.bought = True
            self.stats.buyers += 1
        self.stats.orders += 1
        place = self.add(placed, "place_order", payload, staff, "provider_staff", start)
        if why == "below_cost":
            self.stats.planted_sales.append({"citizen_id": self.citizen_id, "municipality": str(m),
                                             "order_id": order_id, "offer_id": offer_id, "date": iso_date(start)})
        if why == "planted":
            cut, cut_t = self.planted_cut
            self.stats.planted.append({"citizen_id": self.citizen_id, "municipality": str(m),
                                       "grant_cut_effective": iso_date(cut), "grant_cut_recorded": iso_instant(cut_t),
                                       "order_id": order_id, "order_start": iso_date(start),
                                       "days_after_cut": str(start - cut)})
        if recurring:
            self.recurring(place, order_id, offer_id, start, payload, minutes or 60, seg, staff)
        else:
            self.one_off(place, order_id, offer_id, start, band, minutes, units, staff, certain=why is not None)
            if offer_id == "holiday-escort":  # the booking fee is its own one-off order
                fee_id = self.uuid()
                fee = self.add(placed + 120, "place_order", {
                    "order_id": fee_id, "citizen_id": self.citizen_id, "offer_id": "holiday-fee", "kind": "one_off",
                    "start": iso_date(start), "band": band}, staff, "provider_staff", start)
                self.stats.orders += 1
                self.one_off(fee, fee_id, "holiday-fee", start, band, 15, 1, staff, may_cancel=False)

    def fit_band(self, day: int, band: str) -> int:
        if band == "weekend":
            return day + (5 - weekday(day)) % 7 if weekday(day) < 5 else day
        return next_weekday(day)

    def one_off(self, place: Cmd, order_id: str, offer_id: str, day: int, band: str, minutes: int | None,
                units: int, staff: str, may_cancel: bool = True, certain: bool = False) -> None:
        rng = self.rng
        if may_cancel and not certain and rng.random() < 0.08:
            spec = self.w.catalogues[self.m].offer(offer_id).spec
            if rng.random() < 0.3:  # late: the day before
                notified = at(day - 1, rng.randrange(8, 20), rng.randrange(60))
            else:
                notified = self.office(day - rng.randrange(2, 11) - spec.notice_hours // 24)
            notified = max(notified, place.t + HOUR)
            self.cancel(order_id, offer_id, day, notified, notified, staff, "citizen_request")
            return
        if minutes is None:
            minutes = {"window-cleaning": 60, "spring-cleaning": 240, "holiday-3-days": 600}.get(offer_id, 60)
        elif offer_id == "holiday-escort":
            minutes = 600
        self.visit(order_id, offer_id, day, band, minutes, units, staff, certain)

    def recurring(self, place: Cmd, order_id: str, offer_id: str, start: int, payload: dict[str, Any],
                  minutes: int, seg: Segment, staff: str) -> None:
        rng, trial = self.rng, self.trial
        assert trial is not None
        end = min(seg.end, d(payload["end"]) if "end" in payload else trial.window_end)
        every = payload["every_weeks"]
        visits = list(range(start, end + 1, 7 * every))
        # Now and then the citizen wants visits more or less often from some visit on.
        change_t = None
        if len(visits) > 8 and rng.random() < 0.15:
            k = rng.randrange(3, len(visits) - 3)
            new_every = rng.choice([e for e in (1, 2, 3, 4) if e != every])
            effective = visits[k]
            change_t = max(self.office(effective - rng.randrange(3, 11)), place.t + HOUR)
            self.add(change_t, "change_order", {"order_id": order_id, "effective": iso_date(effective),
                                                "every_weeks": new_every}, staff, "provider_staff", effective)
            visits = visits[:k] + list(range(effective, end + 1, 7 * new_every))
        # The order ends: cancelled by the citizen, or when they may no longer buy (moved, private
        # provider, left), or it simply runs to its end.
        stop: tuple[int, int, int, str] | None = None  # (effective, notified, recorded, reason)
        natural_end = d(payload["end"]) if "end" in payload else trial.window_end
        if rng.random() < 0.55:
            wanted = start + int(rng.expovariate(1 / 270))
            later = [v for v in visits if v > wanted]
            if later:
                v = later[0]
                notified = at(v - 1, rng.randrange(8, 20), rng.randrange(60)) if rng.random() < 0.2 else \
                    self.office(v - rng.randrange(3, 15))
                stop = (v, notified, notified, "citizen_request")
        if seg.end < natural_end and (stop is None or stop[0] > seg.end + 1):
            effective = seg.end + 1
            notified = self.office(seg.end - rng.randrange(2, 6))
            recorded = max(notified, self.office(seg.end + 1)) if self.leave is not None and seg.end >= self.leave \
                else notified
            stop = (effective, notified, recorded, "no_longer_eligible")
        if stop is not None:
            effective, notified, recorded, reason = stop
            floor = max(place.t, change_t or 0) + HOUR
            notified, recorded = max(notified, floor), max(recorded, floor)
            visits = [v for v in visits if v < effective]
            self.cancel(order_id, offer_id, effective, notified, recorded, staff, reason)
            self.order_stop[offer_id] = effective - 1
        else:
            self.order_stop[offer_id] = natural_end
        for v in visits:
            actual = max(15, minutes + rng.choice((-10, -5, 0, 0, 0, 0, 5, 10, 15)))
            self.visit(order_id, offer_id, v, "weekday_day", actual, 1, staff)

    def cancel(self, order_id: str, offer_id: str, effective: int, notified: int, recorded: int, staff: str,
               reason: str) -> None:
        spec = self.w.catalogues[self.m].offer(offer_id).spec
        self.add(recorded, "cancel_order", {"order_id": order_id, "effective": iso_date(effective),
                                            "notified_at": iso_instant(notified), "reason": reason},
                 staff, "provider_staff", effective)
        # Notice is measured to the visit's planned start (its band's start, Danish time), as the ledger does.
        late = planned_start(effective, self.__dict__.get("order_band", {}).get(order_id, "weekday_day")) - notified \
            < spec.notice_hours * HOUR
        if late and spec.fee_ore > 0:
            self.items.append(Billable("fee", effective, recorded, fee_gross(self.w, self.m, offer_id, spec.fee_ore)))

    def visit(self, order_id: str, offer_id: str, day: int, band: str, minutes: int, units: int, staff: str,
              certain: bool = False) -> None:
        rng, w, m = self.rng, self.w, self.m
        if day > ACTIVITY_END:
            return
        delivery_id = self.uuid()
        if rng.random() < 0.04 and not certain:
            self.add(self.office(day, 12, 18), "record_missed_visit", {
                "delivery_id": delivery_id, "order_id": order_id, "date": iso_date(day),
                "reason": pick(rng, MISSED_REASONS)}, staff, "provider_staff", day)
            return
        style = rng.random()
        t = self.office(day, 14, 19) if style < 0.7 else self.office(day + 1, 6, 9)
        if style >= 0.97:  # recorded late: after the month's invoice run
            run = next((r for r in w.runs[m] if r[0] == month_key(day)), None)
            if run is not None and run is not w.runs[m][-1]:
                t = self.office(day_of(run[2]) + rng.randrange(1, 12))
        klippekort = self.residence_on(day) != "own_home" and w.catalogues[m].offer(offer_id).spec.unit == "hour" \
            and rng.random() < 0.3
        # Klippekort is a nursing-home resident's free half hour a week: only holders, within the week.
        used = self.__dict__.setdefault("klippekort_used", {})
        week = iso_week(iso_date(day))
        klippekort = klippekort and self.residence_on(day) == "nursing_home" \
            and used.get(week, 0) + minutes <= KLIPPEKORT_MINUTES
        if klippekort:
            used[week] = used.get(week, 0) + minutes
        payload = {"delivery_id": delivery_id, "order_id": order_id, "date": iso_date(day), "band": band,
                   "minutes": minutes, "units": units, "staff_id": staff,
                   "after_granted_visit": offer_id == "extra-cleaning" and rng.random() < 0.6,
                   "klippekort": klippekort}
        self.add(t, "record_delivery", payload, staff, "provider_staff", day)
        self.stats.deliveries += 1
        if klippekort:
            return  # free hours are recorded but never billed
        item = Billable("delivery", day, t, delivery_gross(w, m, offer_id, day, band, minutes, units), delivery_id)
        if rng.random() < 0.005 and not certain:  # recorded by mistake: withdrawn a day or two later
            wt = self.office(day_of(t) + rng.randrange(1, 3), 8, 15)
            item.withdrawn = wt
            self.add(wt, "cancel_delivery", {"delivery_id": delivery_id, "effective": iso_date(day_of(wt)),
                                             "reason": "recorded_by_mistake"}, self.clerk, "billing_clerk", day_of(wt))
        self.items.append(item)

