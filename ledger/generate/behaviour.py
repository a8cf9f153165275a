"""The rates of the simulated behaviour, as parameters with the published figures as defaults.

Assessors re-assess grants (cutting some, raising others) and citizens buy, as independent random
processes. A cut in granted cleaning may prompt the citizen to buy the difference back
(`substitution_rate`): that is the "udhuling af kerneydelsen" the audit looks for, and the
simulation knows which purchases it caused (its ground truth, written beside the history, never in
it). Sales staff pick the VAT class from what they see; now and then they pick the wrong one
(`vat_error_rate`). None of this consults the audit's rules.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ledger.generate.world import DOCUMENTS

_B = DOCUMENTS["behaviour"]


@dataclass(frozen=True)
class Behaviour:
    take_up: float = _B["take_up"]["value"]  # first purchases per eligible recipient-year
    cleaning_share: float = _B["cleaning_share"]["value"]  # of purchases that are cleaning
    nursing_home_factor: float = _B["nursing_home_factor"]["value"]  # buying rate in nursing homes, relative
    next_order_rate: float = _B["next_order_rate"]["value"]  # further orders a year once a citizen has bought
    buying_spell_days: float = 60.0  # mean time a buyer goes on buying (and a recurring order runs)
    reassess_rate: float = 0.3  # re-assessments per grant a year (each one a cut or a raise, at random)
    substitution_rate: float = 0.01  # share of cuts in granted cleaning a citizen buys back (estimate)
    substitution_delay_days: float = 45.0  # mean days from such a cut to the purchase
    vat_error_rate: float = 0.03  # sales where staff pick the wrong VAT class (estimate)
    adjacent_share: float = 0.6  # deliveries of more of a granted service made straight after a granted visit
    survey_response_rate: float = 0.45  # of those asked who answer a survey round (estimate)
    buyer_satisfaction_lift: float = 0.0  # chance a buyer's answer is one step higher (no effect assumed)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


DEFAULT = Behaviour()


def parse_rates(pairs: list[str]) -> Behaviour:
    """`["substitution_rate=0.1", ...]` → the default behaviour with those rates; InvalidInput otherwise."""
    from dataclasses import replace

    from ledger.domain.errors import InvalidInput

    values: dict[str, float] = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name.strip() not in Behaviour.names():
            raise InvalidInput(f"unknown rate {name!r}: one of {', '.join(Behaviour.names())}", field="rate")
        try:
            number = float(value)
        except ValueError:
            raise InvalidInput(f"rate {name} needs a number, got {value!r}", field="rate") from None
        if not 0 <= number <= (10_000 if name.strip() == "substitution_delay_days" else 100):
            raise InvalidInput(f"rate {name} out of range: {number}", field="rate")
        values[name.strip()] = number
    return replace(DEFAULT, **values)
