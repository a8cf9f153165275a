"""The fixed frame of generated history: which municipalities, their trial schemes, catalogues and
price lists, and when each month's invoice run happens.

Everything here is a pure function of the seed, so every citizen's life can be generated on its
own (in any order, in constant memory) and still agree with the municipality-level commands.

Sources for the figures: /work/shared/domain.md §1–2 (trial windows, Herning and Aabenraa prices,
holiday escort, shares of granted time). Where a municipality's figure is not published, a
plausible value is drawn from the seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

from ledger.domain.municipalities import MUNICIPALITIES
from ledger.generate.clock import at, d, day_of, month_first, month_key, month_last, next_month

HISTORY_START = d("2017-01-01")
ACTIVITY_END = d("2021-12-31")  # last day anything happens in the world (the trials ended)
HORIZON = d("2022-06-30")  # last day anything is recorded (late payments, reminders)
LAST_RUN_MONTH = d("2022-02-01")  # invoice runs go on a little after the trials, for late records
SHARE_OF_POPULATION = 0.0265  # ~155,000 home-help recipients / 5.85 million inhabitants


@dataclass(frozen=True)
class Trial:
    """One municipality's add-on trial: the selling window and the billing rules (domain.md §1)."""

    municipality: int
    networks: tuple[int, ...]
    approved: int  # ordinal: when the network's trial was approved
    window_start: int
    window_end: int
    minimum_minutes: int
    increment_minutes: int
    sections: tuple[str, ...] = ("83",)
    rules_change: tuple[int, int, int] | None = None  # (effective, minimum, increment)


_N1, _N2 = d("2017-07-01"), d("2018-01-01")
_END = d("2021-12-31")
# Herning and Aabenraa: published rules. The others: plausible (minimum 30 or 60, half or quarter hours).
TRIALS: dict[int, Trial] = {t.municipality: t for t in (
    Trial(710, (1,), _N1, _N1, _END, 30, 15),
    Trial(657, (1,), _N1, d("2018-06-01"), _END, 30, 30),
    Trial(661, (1,), _N1, _N1, _END, 30, 15),
    Trial(730, (1, 2), _N1, _N1, _END, 30, 30, ("83", "85")),
    Trial(740, (1,), _N1, _N1, _END, 60, 15, rules_change=(d("2020-01-01"), 30, 15)),
    Trial(779, (1,), _N1, _N1, _END, 30, 30),
    Trial(580, (1,), _N1, d("2018-06-01"), _END, 60, 30),
    Trial(561, (2,), _N2, _N2, _END, 30, 15),
    Trial(101, (2,), _N2, _N2, _END, 30, 30, ("83", "85")),
    Trial(461, (2,), _N2, _N2, _END, 60, 30),
    Trial(751, (2,), _N2, _N2, _END, 30, 15),
)}
NETWORK_NAMES = {
    1: "Bedre styring af udgifterne på det specialiserede socialområde",
    2: "Sammenhængende indsatser på tværs af sektorområder",
}


@dataclass(frozen=True)
class Scale:
    """How much history to make: which municipalities, and recipients as a share of the real number."""

    name: str
    municipalities: tuple[int, ...]
    factor: float  # 1.0 = the real number of recipients (2.65 % of the population)

    def recipients(self, municipality: int) -> int:
        """Recipients at any one time (the stock), in proportion to population."""
        return round(MUNICIPALITIES[municipality][1] * 1000 * SHARE_OF_POPULATION * self.factor)


NETWORK_FACTOR = 0.05  # `network` keeps 1 in 20 recipients so `ledger demo` sets up in well under a minute
SCALES = {
    "network": Scale("network", tuple(sorted(TRIALS)), NETWORK_FACTOR),
    "national": Scale("national", tuple(sorted(MUNICIPALITIES)), 1.0),
}


def custom_scale(factor: float, municipalities: tuple[int, ...] | None = None) -> Scale:
    """A small scale for tests: the trial municipalities (by default) with `factor` of their recipients."""
    return Scale(f"custom-{factor:g}", tuple(sorted(municipalities or TRIALS)), factor)


# -- catalogue ---------------------------------------------------------------------------------

BANDS = ("weekday_day", "evening", "weekend")


@dataclass(frozen=True)
class OfferSpec:
    offer_id: str
    name: str
    unit: str  # hour | visit | day | package
    fsiii: str
    vat_class: str
    price_2021: int  # øre per unit, weekday daytime, in 2021
    band_factor: tuple[float, float]  # evening, weekend relative to weekday
    notice_hours: int
    fee_ore: int
    items: tuple[str, ...] = ()  # for packages


def _offers(practical: int, care: int, standard_hour: int) -> list[OfferSpec]:
    """The catalogue every trial municipality offers (names in Danish, as the citizen sees them).

    practical: more of a granted service (exempt); standard_hour: new kinds of service (25 % VAT);
    care: personal-care level work (the relative-substitute visit).
    """
    evening, weekend = 665 / 403, 496 / 403  # Herning 2021 personal care: 403 / 665 / 496
    half_hour = (practical // 2) // 100 * 100
    return [
        OfferSpec("extra-cleaning", "Ekstra rengøring", "hour", "H1.8", "exempt", practical, (evening, weekend),
                  24, half_hour),
        OfferSpec("window-cleaning", "Vinduespudsning", "visit", "H1.8", "standard", 450_00, (1.0, 1.0), 48, 150_00),
        OfferSpec("escort", "Ledsagelse ved kendt personale", "hour", "H1.5", "standard", standard_hour,
                  (evening, weekend), 24, 0),
        OfferSpec("guests", "Hjælp til at modtage gæster", "hour", "H1.10", "standard", standard_hour,
                  (evening, weekend), 24, half_hour),
        OfferSpec("relative-substitute", "Pårørendevikar (besøg)", "hour", "H3.2", "standard", care,
                  (evening, weekend), 24, 0),
        OfferSpec("holiday-escort", "Ferieledsagelse pr. dag", "day", "H1.5", "standard", 2_700_00, (1.0, 1.0),
                  14 * 24, 250_00),
        OfferSpec("holiday-fee", "Gebyr for ferieledsagelse", "visit", "H1.5", "standard", 250_00, (1.0, 1.0), 0, 0),
        OfferSpec("spring-cleaning", "Forårsrengøring: 3 timers rengøring og vinduespudsning", "package", "H1.8",
                  "standard", 3 * practical + 450_00, (1.0, 1.0), 48, 150_00, ("extra-cleaning", "window-cleaning")),
        OfferSpec("holiday-3-days", "Ferieledsagelse, 3 dage inkl. gebyr", "package", "H1.5", "standard",
                  3 * 2_700_00 + 250_00, (1.0, 1.0), 14 * 24, 250_00, ("holiday-escort", "holiday-fee")),
    ]


@dataclass
class PriceVersion:
    effective: int
    recorded: int
    prices: dict[str, int]
    cost_basis: dict[str, int]
    vat_class: str


@dataclass
class Offer:
    spec: OfferSpec
    added: int  # effective ordinal
    added_recorded: int
    versions: list[PriceVersion] = field(default_factory=list)
    retired: int | None = None
    retired_recorded: int | None = None

    def version_on(self, day: int) -> PriceVersion:
        current = self.versions[0]
        for v in self.versions:
            if v.effective <= day:
                current = v
        return current

    def in_force(self, day: int) -> bool:
        return self.added <= day and (self.retired is None or day < self.retired)


def _cost_basis(total: int) -> dict[str, int]:
    wage = total * 78 // 100
    overhead = total * 12 // 100
    transport = total * 7 // 100
    return {"wage": wage, "overhead": overhead, "transport": transport, "capital": total - wage - overhead - transport}


def _band_prices(weekday: int, factors: tuple[float, float]) -> dict[str, int]:
    def kroner(x: float) -> int:  # prices are whole kroner
        return int(round(x / 100)) * 100

    return {"weekday_day": weekday, "evening": kroner(weekday * factors[0]), "weekend": kroner(weekday * factors[1])}


@dataclass
class Catalogue:
    municipality: int
    offers: dict[str, Offer]
    below_cost: list[dict[str, str]]  # planted: an item priced below its full cost for a while

    def offer(self, offer_id: str) -> Offer:
        return self.offers[offer_id]


@dataclass(frozen=True)
class Planted:
    """Which citizens get the planted 'grant cut, then add-on' case (index within their municipality)."""

    municipality: int
    index: int


class World:
    """The municipality-level plan, shared by every citizen's generator."""

    def __init__(self, scale: Scale, seed: int) -> None:
        self.scale = scale
        self.seed = seed
        self.trials = {m: TRIALS[m] for m in scale.municipalities if m in TRIALS}
        self.catalogues = {m: self._catalogue(m) for m in sorted(self.trials)}
        self.planted = self._planted()
        self.planted_sales = self._planted_sales()

    def rng(self, *parts: object) -> random.Random:
        """A generator of its own for one part of the world: independent of the order things are made in."""
        return random.Random("/".join(str(p) for p in (self.seed, *parts)))

    # -- schemes -------------------------------------------------------------------------------
    def rules_on(self, m: int, day: int) -> tuple[int, int]:
        t = self.trials[m]
        if t.rules_change and day >= t.rules_change[0]:
            return t.rules_change[1], t.rules_change[2]
        return t.minimum_minutes, t.increment_minutes

    # -- catalogues ----------------------------------------------------------------------------
    def _catalogue(self, m: int) -> Catalogue:
        rng = self.rng("catalogue", m)
        if m == 657:  # Herning 2021: practical help and escort 354, personal care weekday 403
            practical, care, standard = 354_00, 403_00, 354_00
        elif m == 580:  # Aabenraa 2018–21: 290 without VAT; 365 incl. VAT for a new kind of service
            practical, care, standard = 290_00, 292_00, 292_00
        else:
            practical = rng.randrange(300, 421) * 100
            care, standard = practical + rng.randrange(30, 70) * 100, practical
        t = self.trials[m]
        added = t.window_start
        added_recorded = at(added - rng.randrange(15, 45), 9, rng.randrange(60))
        offers: dict[str, Offer] = {}
        for spec in _offers(practical, care, standard):
            offers[spec.offer_id] = Offer(spec, added, added_recorded)
        years = range(date_year(added), 2022)
        below_cost: list[dict[str, str]] = []
        for offer in offers.values():
            for year in years:
                effective = added if year == date_year(added) else d(f"{year}-01-01")
                # Prices are adjusted each 1 January (about 2 % a year up to the 2021 level);
                # Aabenraa kept the same price through the trial.
                index = 1.0 if m == 580 else 1.02 ** (year - 2021)
                weekday = int(round(offer.spec.price_2021 * index / 100)) * 100
                cost = weekday * rng.randrange(955, 992) // 1000  # full cost just under the price
                prices = _band_prices(weekday, offer.spec.band_factor)
                recorded = offer.added_recorded if year == date_year(added) else at(
                    d(f"{year - 1}-12-01") + rng.randrange(0, 15), 10, rng.randrange(60))
                offer.versions.append(PriceVersion(effective, recorded, prices, _cost_basis(cost), offer.spec.vat_class))
        # Planted for the audit: Holstebro (or the first trial municipality) priced window cleaning
        # below its full cost from 1 January 2019 until a correction from 1 July 2019.
        if m == self.below_cost_municipality:
            offer = offers["window-cleaning"]
            base = offer.version_on(d("2019-01-01"))
            low = dict(base.prices)
            low = {k: v - 60_00 for k, v in low.items()}
            cost = sum(base.cost_basis.values())
            fixed_cost = cost + 5_00
            offer.versions = [v for v in offer.versions if v.effective != d("2019-01-01")] + [
                PriceVersion(d("2019-01-01"), at(d("2018-12-03"), 10, 15), low, base.cost_basis, base.vat_class),
                PriceVersion(d("2019-07-01"), at(d("2019-06-14"), 11, 5),
                             {k: v + 20_00 for k, v in base.prices.items()}, _cost_basis(fixed_cost), base.vat_class),
            ]
            offer.versions.sort(key=lambda v: v.effective)
            below_cost.append({"municipality": str(m), "offer_id": "window-cleaning", "from": "2019-01-01",
                               "to": "2019-06-30", "price_ore": str(low["weekday_day"]), "cost_ore": str(cost)})
        # Aarhus stopped offering help receiving guests in mid-2020 (little demand).
        if m == 751:
            offers["guests"].retired = d("2020-06-01")
            offers["guests"].retired_recorded = at(d("2020-05-11"), 9, 30)
            offers["guests"].versions = [v for v in offers["guests"].versions if v.effective < d("2020-06-01")]
        return Catalogue(m, offers, below_cost)

    # -- planted audit cases -------------------------------------------------------------------
    def _planted(self) -> frozenset[Planted]:
        """A handful of citizens whose H1.8 cleaning grant is cut and who then buy extra cleaning."""
        rng = self.rng("planted")
        ms = sorted(m for m in self.trials if self.scale.recipients(m) >= 20)
        if not ms:
            return frozenset()
        count = 6 if len(self.scale.municipalities) <= 20 else 12
        chosen: set[Planted] = set()
        while len(chosen) < count:
            m = ms[rng.randrange(len(ms))]
            chosen.add(Planted(m, rng.randrange(self.scale.recipients(m))))
        return frozenset(chosen)

    @property
    def below_cost_municipality(self) -> int:
        return 661 if 661 in self.trials else min(self.trials)

    def _planted_sales(self) -> frozenset[Planted]:
        """Two citizens who buy window cleaning while it is priced below its full cost."""
        if not self.trials:
            return frozenset()
        m = self.below_cost_municipality
        stock = self.scale.recipients(m)
        rng = self.rng("planted-sales")
        chosen: set[Planted] = set()
        while stock > len(self.planted) + 2 and len(chosen) < 2:
            p = Planted(m, rng.randrange(stock))
            if p not in self.planted:
                chosen.add(p)
        return frozenset(chosen)

    # -- billing calendar ------------------------------------------------------------------------
    @cached_property
    def runs(self) -> dict[int, list[tuple[str, int, int]]]:
        """Per municipality: (month, month's last day, run instant), oldest first.

        Each month's invoice run is recorded a few days into the next month, at night.
        """
        out: dict[int, list[tuple[str, int, int]]] = {}
        for m, t in self.trials.items():
            rng = self.rng("runs", m)
            runs = []
            month = month_first(t.window_start)
            while month <= LAST_RUN_MONTH:
                last = month_last(month)
                run_day = last + rng.randrange(2, 6)
                runs.append((month_key(month), last, at(run_day, 2, rng.randrange(60))))
                month = next_month(month)
            out[m] = runs
        return out

    def reminder_days(self, m: int, after: int) -> list[tuple[int, int]]:
        """(date, instant) of the possible reminder runs after an instant: the 20th of each month, 04:00."""
        out = []
        month = month_first(day_of(after))
        while month <= HORIZON:
            day = month + 19
            instant = at(day, 4, 0)
            if instant > after:
                out.append((day, instant))
            month = next_month(month)
        return out


def date_year(ordinal: int) -> int:
    return date.fromordinal(ordinal).year
