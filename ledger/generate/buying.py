"""Buying: when a citizen may buy, what and when they order, and what is delivered.

Two independent processes make the orders: a citizen's own wish to buy (a Poisson process at
`Behaviour.take_up`, then `next_order_rate`), and, after an assessor cuts the citizen's granted
cleaning, a chance (`substitution_rate`) that the citizen buys the difference back. What is bought
follows the purchase mix (about 90 % cleaning) and the municipality's own catalogue; the VAT class
is the one staff pick from the grants they see, wrong now and then (`vat_error_rate`). Nothing here
looks at the audit's rules: the simulation only records, as its ground truth, which orders bought
back a cut and which were sold under a VAT class that does not fit the citizen's grants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger.generate.billing import Billable, delivery_gross, fee_gross
from ledger.generate.clock import DAY, HOUR, at, d, day_of, iso_date, iso_instant, month_key, next_weekday, weekday
from ledger.generate.commands import Cmd
from ledger.generate.life import FOREVER, LifeBase
from ledger.domain.values import BAND_START, iso_week, local_instant
from ledger.generate.people import pick
from ledger.generate.world import ACTIVITY_END, HISTORY_START, OfferSpec

KLIPPEKORT_MINUTES = 30  # the nursing homes' free half hour a week (domain.md §2)


def planned_start(ordinal: int, band: str) -> int:
    """The instant (UTC seconds) a visit of the band is planned to start on a date."""
    from datetime import date

    return int(local_instant(date.fromordinal(ordinal), BAND_START[band]).timestamp())

MISSED_REASONS = ((50, "citizen_absent"), (20, "citizen_cancelled"), (15, "staff_unavailable"),
                  (10, "hospitalised"), (5, "other"))
# Within cleaning: more (or a new service) of cleaning, window cleaning, the spring-cleaning package.
CLEANING_MIX = ((90, "hourly"), (6, "window-cleaning"), (4, "spring-cleaning"))
# Outside cleaning: by purchase class (domain § 2 gives no split; estimate).
OTHER_MIX = ((25, "care"), (20, "escort"), (15, "support"), (15, "relief"), (25, "activity"))
ONE_OFF_MINUTES = {"cleaning": (2, 9), "care": (1, 5), "escort": (4, 9), "support": (2, 7), "relief": (6, 9),
                   "activity": (2, 7)}  # half hours: low, high (exclusive)
RECURRING_SHARE = {"cleaning": 0.55, "care": 0.3, "support": 0.3, "relief": 0.3}


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
        catalogue_known = min(o.added_recorded for o in self.w.catalogues[self.m].offers.values())
        factor = self.b.nursing_home_factor
        out = []
        for k, (since, provider, known) in enumerate(self.providers):
            until = self.providers[k + 1][0] - 1 if k + 1 < len(self.providers) else FOREVER
            if provider != "municipal":
                continue
            a, b = max(lo, since), min(hi, until)
            kt = max(g_known, known + HOUR, catalogue_known + HOUR)
            a = max(a, day_of(kt) + 2)
            home = 1.0 if self.residence == "own_home" else factor
            if self.moved is not None and a < self.moved <= b:
                out.append(Segment(a, self.moved - 1, kt, home))
                out.append(Segment(self.moved, b, kt, factor))
            elif a <= b:
                out.append(Segment(a, b, kt, home if self.moved is None or b < self.moved else factor))
        return [s for s in out if s.end - s.start >= 14]

    def arrivals(self, segments: list[Segment], after: int, rate_per_year: float) -> list[tuple[int, Segment]]:
        """Days (with their segment) when the citizen decides to buy: a Poisson process over eligible days."""
        out = []
        x = self.rng.expovariate(1.0)
        for seg in segments:
            start = max(seg.start, after)
            while start <= seg.end - 7:
                rate = rate_per_year * seg.rate_factor / 365
                if rate <= 0:
                    break
                need = x / rate
                if start + need > seg.end - 7:
                    x -= (seg.end - 7 - start) * rate
                    break
                day = start + int(need)
                out.append((day, seg))
                start = day + 1
                x = self.rng.expovariate(1.0)
        return out

    def buy(self) -> None:
        segments = self.segments()
        if not segments:
            return
        rng = self.rng
        planned: list[tuple[int, Segment, tuple[str, int, int] | None]] = []
        # Cuts an assessor made may be bought back (the substitution the trials worried about).
        for cut in self.cut_log:
            if rng.random() < self.b.substitution_rate:
                day = cut[1] + int(rng.expovariate(1 / self.b.substitution_delay_days))
                seg = next((s for s in segments if s.start <= day <= s.end - 14), None)
                if seg is not None:
                    planned.append((day, seg, cut))
        first = self.arrivals(segments, 0, self.b.take_up)
        if first:
            planned.append((first[0][0], first[0][1], None))
        if not planned:
            return
        start = min(p[0] for p in planned)
        # A buyer buys for a while, then stops (most bought in one year only: about 0.5 % a year
        # against about 2 % ever, domain § 2): further orders fall inside a spell of mean length.
        spell_end = start + int(rng.expovariate(1 / self.b.buying_spell_days))
        planned += [(day, seg, None) for day, seg in self.arrivals(segments, start + 7, self.b.next_order_rate)
                    if day <= spell_end]
        planned.sort(key=lambda p: (p[0], p[2] is None))
        for day, seg, bought_back in planned:
            self.order(day, seg, bought_back)
        self.settle()

    def grant_active(self, fsiii: str, day: int, section: str | None = None) -> bool:
        return any(g.fsiii == fsiii and g.start <= day and (g.end is None or day <= g.end)
                   and (section is None or g.section == section) for g in self.grants)

    def choose(self, day: int, cut: tuple[str, int, int] | None) -> str | None:
        """What the citizen wants, as an offer id of the catalogue (None: nothing on offer fits)."""
        rng, cat = self.rng, self.w.catalogues[self.m]
        if cut is not None or rng.random() < self.b.cleaning_share:
            what = "hourly" if cut is not None else pick(rng, CLEANING_MIX)
            if what != "hourly":
                return what if cat.has(what) else None
            # Staff sell "more of a granted service" (no VAT) on top of granted cleaning and a new
            # service (25 % VAT) otherwise; now and then they pick the other.
            right = "extra-cleaning" if self.grant_active("H1.8", day) else "cleaning"
            wrong = "cleaning" if right == "extra-cleaning" else "extra-cleaning"
            choice = wrong if rng.random() < self.b.vat_error_rate else right
            return choice if cat.has(choice) else (right if cat.has(right) else None)
        by_kind: dict[str, list[OfferSpec]] = {}
        for o in cat.offers.values():
            spec = o.spec
            if spec.purchase_class == "cleaning" or spec.offer_id == "holiday-fee" or not o.in_force(day):
                continue
            if spec.purchase_class == "care" and not (self.grant_active("H1.1", day)
                                                      or rng.random() < self.b.vat_error_rate):
                continue  # more personal care is asked for by those who hold it
            if spec.purchase_class == "support" and not self.grant_active("H1.5", day, "85"):
                continue
            by_kind.setdefault(spec.purchase_class, []).append(spec)
        mix = tuple((w, k) for w, k in OTHER_MIX if k in by_kind)
        if not mix:
            return None
        options = by_kind[pick(rng, mix)]
        return options[rng.randrange(len(options))].offer_id

    def truth_of_vat(self, spec: OfferSpec, start: int) -> str | None:
        """The simulation's ground truth: does the VAT class fit the citizen's grants on the start day
        (as the grants finally are)? "More of" a service the citizen does not hold is sold exempt
        wrongly; a new kind of service sold with VAT while the very service is granted, likewise."""
        if spec.vat_class == "exempt" and spec.more_of is not None and not self.grant_active(spec.more_of, start):
            return "extra_service_without_grant"
        if spec.vat_class == "standard" and spec.offer_id == "cleaning" and self.grant_active("H1.8", start):
            return "granted_service_sold_as_new"
        return None

    def order(self, day: int, seg: Segment, cut: tuple[str, int, int] | None) -> None:
        rng, w, m = self.rng, self.w, self.m
        cat = w.catalogues[m]
        trial = self.trial
        assert trial is not None
        offer_id = self.choose(day, cut)
        if offer_id is None:
            return
        if offer_id == "holiday-escort" and cat.has("holiday-3-days") and rng.random() < 0.5:
            offer_id = "holiday-3-days"
        spec = cat.offer(offer_id).spec
        staff = f"staff-{m}-{rng.randrange(1, 40):03d}"
        lead = rng.randrange(2, 21)
        placed = max(self.office(day - lead), seg.known)
        if cut is not None:
            placed = max(placed, cut[2] + DAY)
        start = max(day, day_of(placed) + 1)
        band = "weekday_day"
        if spec.unit == "hour" and spec.purchase_class in ("escort", "activity", "relief") and len(trial.bands) > 1:
            band = pick(rng, ((30, "weekday_day"), (40, "evening"), (30, "weekend")))
            band = band if band in trial.bands else "weekday_day"
        start = self.fit_band(start, band)
        if start > seg.end - 7 or not cat.offer(offer_id).in_force(start):
            return
        recurring = spec.unit == "hour" and rng.random() < RECURRING_SHARE.get(spec.purchase_class, 0.0)
        if cut is not None:
            recurring = True  # buying back a cut in a recurring grant
        if recurring and self.order_stop.get(offer_id, -1) >= start:
            return  # already has a recurring order of it
        order_id = self.uuid()
        payload: dict[str, Any] = {"order_id": order_id, "citizen_id": self.citizen_id, "offer_id": offer_id,
                                   "kind": "recurring" if recurring else "one_off", "start": iso_date(start)}
        minutes: int | None = None
        units = 1
        if recurring:
            every = 4 if spec.purchase_class == "relief" else pick(rng, ((15, 1), (55, 2), (10, 3), (20, 4)))
            minutes = 180 if spec.purchase_class == "relief" else pick(rng, ((60, 60), (20, 90), (10, 120), (10, 30)))
            if rng.random() < 0.15:
                end = min(start + rng.randrange(8, 27) * 7, trial.window_end)
                payload["end"] = iso_date(end)
            payload["every_weeks"] = every
        elif spec.unit == "hour":
            lo, hi = ONE_OFF_MINUTES.get(spec.purchase_class, (2, 7))
            minutes = rng.randrange(lo, hi) * 30
        elif spec.unit == "day":
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
        if cut is not None:
            self.stats.substitutions.append({
                "municipality": str(m), "citizen_id": self.citizen_id, "grant_id": cut[0],
                "cut_on": iso_date(cut[1]), "cut_recorded": iso_instant(cut[2]), "order_id": order_id,
                "offer_id": offer_id, "order_start": iso_date(start), "days_after_cut": str(start - cut[1])})
        mismatch = self.truth_of_vat(spec, start)
        if mismatch is not None:
            self.stats.vat_mismatches.append({
                "municipality": str(m), "citizen_id": self.citizen_id, "order_id": order_id, "offer_id": offer_id,
                "vat_class": spec.vat_class, "start": iso_date(start), "finding": mismatch})
        if recurring:
            self.recurring(place, order_id, offer_id, start, payload, minutes or 60, seg, staff)
        else:
            self.one_off(place, order_id, offer_id, start, band, minutes, units, staff)
            if offer_id == "holiday-escort" and cat.has("holiday-fee"):  # the booking fee is its own one-off order
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
                units: int, staff: str, may_cancel: bool = True) -> None:
        rng = self.rng
        if may_cancel and rng.random() < 0.08:
            spec = self.w.catalogues[self.m].offer(offer_id).spec
            if rng.random() < 0.3:  # late: the day before
                notified = at(day - 1, rng.randrange(8, 20), rng.randrange(60))
            else:
                notified = self.office(day - rng.randrange(2, 11) - spec.notice_hours // 24)
            notified = max(notified, place.t + HOUR)
            self.cancel(order_id, offer_id, day, notified, notified, staff, "citizen_request")
            return
        if minutes is None:
            minutes = {"window-cleaning": 60, "spring-cleaning": 240, "holiday-3-days": 600,
                       "culture-package": 240}.get(offer_id, 60)
        elif offer_id == "holiday-escort":
            minutes = 600
        self.visit(order_id, offer_id, day, band, minutes, units, staff)

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
        if rng.random() < 0.95:  # most stop after a while (a buying spell); a few go on to the end
            wanted = start + int(rng.expovariate(1 / self.b.buying_spell_days))
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
            # At the order's band: a recurring order placed at the weekend band starts on a Saturday
            # and every visit falls on one (visits at weekday daytime there are refused: band-not-on-day).
            self.visit(order_id, offer_id, v, payload.get("band", "weekday_day"), actual, 1, staff)

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

    def visit(self, order_id: str, offer_id: str, day: int, band: str, minutes: int, units: int, staff: str) -> None:
        rng, w, m = self.rng, self.w, self.m
        if day > ACTIVITY_END:
            return
        delivery_id = self.uuid()
        if rng.random() < 0.04:
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
        more_of = w.catalogues[m].offer(offer_id).spec.more_of
        # Straight after a granted visit of the same service (seed 003 l. 1683-1690: one of the gains
        # the trials set out to measure): only possible where that service is granted that day.
        adjacent = more_of is not None and self.grant_active(more_of, day) and rng.random() < self.b.adjacent_share
        payload = {"delivery_id": delivery_id, "order_id": order_id, "date": iso_date(day), "band": band,
                   "minutes": minutes, "units": units, "staff_id": staff,
                   "after_granted_visit": adjacent,
                   "klippekort": klippekort}
        self.add(t, "record_delivery", payload, staff, "provider_staff", day)
        self.stats.deliveries += 1
        if klippekort:
            return  # free hours are recorded but never billed
        item = Billable("delivery", day, t, delivery_gross(w, m, offer_id, day, band, minutes, units), delivery_id)
        if rng.random() < 0.005:  # recorded by mistake: withdrawn a day or two later
            wt = self.office(day_of(t) + rng.randrange(1, 3), 8, 15)
            item.withdrawn = wt
            self.add(wt, "cancel_delivery", {"delivery_id": delivery_id, "effective": iso_date(day_of(wt)),
                                             "reason": "recorded_by_mistake"}, self.clerk, "billing_clerk", day_of(wt))
        self.items.append(item)

