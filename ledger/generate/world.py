"""The fixed frame of generated history: which municipalities, their trial schemes, catalogues and
price lists, and when each month's invoice run happens.

Everything here is a pure function of the seed, so every citizen's life can be generated on its
own (in any order, in constant memory) and still agree with the municipality-level commands.

The schemes, windows, rules, time bands and catalogues are read from data/schemes.json, where every
fact names the seed document line it comes from (or says it is an estimate). Prices equal full cost:
the cost basis of every price version adds up to its weekday price.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from importlib import resources

from ledger.domain.municipalities import MUNICIPALITIES
from ledger.generate.clock import at, d, day_of, month_first, month_key, month_last, next_month

HISTORY_START = d("2017-01-01")
ACTIVITY_END = d("2021-12-31")  # last day anything happens in the world (the trials ended)
HORIZON = d("2022-06-30")  # last day anything is recorded (late payments, reminders)
LAST_RUN_MONTH = d("2022-02-01")  # invoice runs go on a little after the trials, for late records
SHARE_OF_POPULATION = 0.0265  # ~155,000 home-help recipients / 5.85 million inhabitants


@dataclass(frozen=True)
class Trial:
    """One municipality's add-on trial as the documents give it (data/schemes.json)."""

    municipality: int
    networks: tuple[int, ...]
    approved: int  # ordinal: when the (earliest) network's trial was approved
    window_start: int
    window_end: int
    minimum_minutes: int
    increment_minutes: int
    sections: tuple[str, ...] = ("83",)
    rules_change: tuple[int, int, int] | None = None  # (effective, minimum, increment)
    bands: tuple[str, ...] = ("weekday_day", "evening", "weekend")
    catalogue: tuple[str, ...] = ()


def _load() -> dict:
    return json.loads(resources.files("ledger.generate").joinpath("data/schemes.json").read_text(encoding="utf-8"))


DOCUMENTS = _load()


def _trial(m: str, spec: dict) -> Trial:
    nets = DOCUMENTS["networks"]
    sections = sorted({s for n in spec["networks"] for s in nets[str(n)]["sections"]})
    change = spec.get("rules_change")
    return Trial(int(m), tuple(spec["networks"]), min(d(nets[str(n)]["approved"]) for n in spec["networks"]),
                 d(spec["window"][0]), d(spec["window"][1]), spec["minimum_minutes"], spec["increment_minutes"],
                 tuple(sections),
                 (d(change["effective"]), change["minimum_minutes"], change["increment_minutes"]) if change else None,
                 tuple(spec["bands"]), tuple(spec["catalogue"]))


TRIALS: dict[int, Trial] = {int(m): _trial(m, spec) for m, spec in DOCUMENTS["municipalities"].items()}
NETWORK_NAMES = {int(n): net["name"] for n, net in DOCUMENTS["networks"].items()}


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
    more_of: str | None = None  # the granted service (FSIII) this is more of; None: a new kind of service
    purchase_class: str = "other"  # cleaning | care | escort | support | relief | activity
    requires_section: str | None = None


def _hourly(m: int, rng: random.Random) -> dict[str, int]:
    """Hourly weekday prices (øre) by level: practical (more of a granted service), standard (a new
    kind of service, net of VAT) and care."""
    published = DOCUMENTS["municipalities"][str(m)].get("hourly_ore")
    if published:
        practical = published["practical"]
        return {"practical": practical, "standard": published.get("standard", practical), "care": published["care"]}
    practical = rng.randrange(300, 421) * 100  # estimate: no document gives this municipality's price
    return {"practical": practical, "standard": practical, "care": practical + rng.randrange(30, 70) * 100}


def _offers(m: int, rng: random.Random) -> list[OfferSpec]:
    """The municipality's own catalogue (data/schemes.json), priced at full cost."""
    trial = TRIALS[m]
    hourly = _hourly(m, rng)
    f = DOCUMENTS["band_factors"]
    factors = (f["evening"][0] / f["evening"][1], f["weekend"][0] / f["weekend"][1]) if len(trial.bands) > 1 \
        else (1.0, 1.0)  # one band sold (Aabenraa: weekdays only): one price
    half_hour = (hourly["practical"] // 2) // 100 * 100
    items, packages = DOCUMENTS["items"], DOCUMENTS["packages"]
    weekday: dict[str, int] = {}
    out: list[OfferSpec] = []
    for offer_id in trial.catalogue:
        if offer_id in packages:
            continue
        it = items[offer_id]
        if it["unit"] == "hour":
            level = it.get("price_level") or ("care" if it["fsiii"] == "H1.1" else
                                               "standard" if it["vat_class"] == "standard" else "practical")
            price, bf = hourly[level], factors
        else:
            price, bf = it["price_ore"], (1.0, 1.0)
        fee = half_hour if it.get("fee") == "half_hour" else it.get("fee_ore", 0)
        weekday[offer_id] = price
        out.append(OfferSpec(offer_id, it["name"], it["unit"], it["fsiii"], it["vat_class"], price, bf,
                             it["notice_hours"], fee, (), it["more_of"], it["purchase_class"],
                             it.get("requires_section")))
    for offer_id in trial.catalogue:
        if offer_id not in packages:
            continue
        pk = packages[offer_id]
        price = sum(weekday[i] * n for i, n in pk["content"].items())
        out.append(OfferSpec(offer_id, pk["name"], "package", pk["fsiii"], pk["vat_class"], price, (1.0, 1.0),
                             pk["notice_hours"], pk["fee_ore"], tuple(pk["items"]), None, pk["purchase_class"]))
    return out


@dataclass
class PriceVersion:
    effective: int
    recorded: int
    prices: dict[str, int]
    cost_basis: dict[str, dict[str, int]]  # band -> cost parts (docs/adr/0027)
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
    """One band's full cost split into its parts; they add up to `total` exactly (the band's price:
    no profit, no price below cost)."""
    wage = total * 78 // 100
    overhead = total * 12 // 100
    transport = total * 7 // 100
    return {"wage": wage, "overhead": overhead, "transport": transport, "capital": total - wage - overhead - transport}


def band_cost_basis(prices: dict[str, int]) -> dict[str, dict[str, int]]:
    """A cost basis per band at which each band's price is its full cost (docs/adr/0027)."""
    return {b: _cost_basis(p) for b, p in prices.items()}


def _band_prices(weekday: int, factors: tuple[float, float]) -> dict[str, int]:
    def kroner(x: float) -> int:  # prices are whole kroner
        return int(round(x / 100)) * 100

    return {"weekday_day": weekday, "evening": kroner(weekday * factors[0]), "weekend": kroner(weekday * factors[1])}


@dataclass
class Catalogue:
    municipality: int
    offers: dict[str, Offer]

    def offer(self, offer_id: str) -> Offer:
        return self.offers[offer_id]

    def has(self, offer_id: str) -> bool:
        return offer_id in self.offers


class World:
    """The municipality-level plan, shared by every citizen's generator."""

    def __init__(self, scale: Scale, seed: int) -> None:
        self.scale = scale
        self.seed = seed
        self.trials = {m: TRIALS[m] for m in scale.municipalities if m in TRIALS}
        self.catalogues = {m: self._catalogue(m) for m in sorted(self.trials)}

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
        t = self.trials[m]
        spec_m = DOCUMENTS["municipalities"][str(m)]
        added = t.window_start
        added_recorded = at(added - rng.randrange(15, 45), 9, rng.randrange(60))
        offers: dict[str, Offer] = {}
        for spec in _offers(m, rng):
            offers[spec.offer_id] = Offer(spec, added, added_recorded)
        years = range(date_year(added), 2022)
        for offer in offers.values():
            for year in years:
                effective = added if year == date_year(added) else d(f"{year}-01-01")
                # Prices are adjusted each 1 January (about 2 % a year up to the 2021 level);
                # a municipality with one published price for the whole trial keeps it.
                index = 1.0 if spec_m.get("fixed_prices") else 1.02 ** (year - 2021)
                weekday = int(round(offer.spec.price_2021 * index / 100)) * 100
                prices = _band_prices(weekday, offer.spec.band_factor)
                recorded = offer.added_recorded if year == date_year(added) else at(
                    d(f"{year - 1}-12-01") + rng.randrange(0, 15), 10, rng.randrange(60))
                # Full cost per band: each band's cost basis adds up to that band's price exactly
                # (an evening or weekend hour costs more: the band factors of domain.md § 2).
                offer.versions.append(PriceVersion(effective, recorded, prices, band_cost_basis(prices),
                                                   offer.spec.vat_class))
        for offer_id, day in sorted(spec_m.get("retired", {}).items()):
            o = offers[offer_id]
            o.retired = d(day)
            o.retired_recorded = at(d(day) - rng.randrange(14, 30), 9, 30)
            o.versions = [v for v in o.versions if v.effective < o.retired]
        return Catalogue(m, offers)

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
