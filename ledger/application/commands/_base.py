"""The value types every command schema shares: checked text, plausible dates, øre, the base class.

These schemas check shape and types only (an integer of øre, an ISO date, no unknown fields); the
business rules live in the domain and the handlers.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (AfterValidator, BaseModel, ConfigDict, StrictInt, StringConstraints, WithJsonSchema,
                      model_validator)

from ledger.domain.errors import InvalidInput
from ledger.domain.values import EARLIEST_DATE, LATEST_DATE, MONTH_PATTERN, parse_day_or_instant, within_bounds

# No NUL characters: PostgreSQL cannot store them in text, and they mean nothing in a ledger.
_CLEAN = r"^[^\x00]*$"
# Text and ShortId are stripped and must then be non-empty, so their published pattern says so: at
# least one character that is neither NUL nor whitespace. The class spells out the Unicode
# White_Space characters that the strip removes (pydantic-core trims by that property), so the
# pattern means the same to every reader of the document (ECMA-262, Python re, Rust regex) and a
# whitespace-only value is refused by the schema as it is by the validation.
_SPACE = r"\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_WORDS = rf"^[^\x00]*[^\x00{_SPACE}][^\x00]*$"
# A CPR number (ddmmyy-ssss, the hyphen optional): events must never carry one (domain.md l.96-97),
# and free text is where one would slip in (a dispute's reason, a name of a scheme). Only the
# identity store holds CPR numbers; names cannot be told from words, so that stays the writer's duty.
_CPR = re.compile(r"(?<!\d)(?:0[1-9]|[12]\d|3[01])(?:0[1-9]|1[0-2])\d{2}[- ]?\d{4}(?!\d)")


def _no_cpr(text: str) -> str:
    if _CPR.search(text):
        raise ValueError("free text must not carry a CPR number (events are kept for good; the identity "
                         "store holds CPR numbers): leave it out, or refer to the citizen by their id")
    return text


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_WORDS),
                 AfterValidator(_no_cpr)]
ShortId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=_WORDS)]
Note = Annotated[str, StringConstraints(max_length=2000, pattern=_CLEAN)]
Fsiii = Annotated[str, StringConstraints(max_length=20)]
Provider = Annotated[str, StringConstraints(max_length=90)]
Section = Literal["83", "83a", "85", "107", "108"]
Band = Literal["weekday_day", "evening", "weekend"]
VatClass = Literal["exempt", "standard"]
Residence = Literal["own_home", "nursing_home", "residential_care"]
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


def _plausible_day(d: date) -> date:
    # Far dates are typos, and they overflow date arithmetic (a year 9999 order runs off the calendar).
    if not within_bounds(d):
        raise ValueError(f"date must lie between {EARLIEST_DATE} and {LATEST_DATE}")
    return d


def _plausible_instant(t: datetime) -> datetime:
    _plausible_day(t.date())
    return t


def _day_or_instant(text: str) -> str:
    try:
        parse_day_or_instant(text, "value")
    except InvalidInput as e:
        raise ValueError(e.message.removeprefix("value: ").removeprefix("value ")) from None
    return text.strip()


Day = Annotated[date, AfterValidator(_plausible_day)]
Instant = Annotated[datetime, AfterValidator(_plausible_instant)]
def _month(text: str) -> str:
    if not re.match(MONTH_PATTERN, text):
        raise ValueError(f"month must be YYYY-MM within {EARLIEST_DATE.year}-{LATEST_DATE.year}, got {text!r}")
    return text


Month = Annotated[str, AfterValidator(_month), WithJsonSchema({"type": "string", "pattern": MONTH_PATTERN})]
# A date or an instant, kept as the text given (a date means its whole day to the reader that takes
# it, e.g. "known at"); the document says the one or the other, each bounded like Day.
DayOrInstant = Annotated[str, AfterValidator(_day_or_instant), WithJsonSchema(
    {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]})]
Municipality = StrictInt | Annotated[str, StringConstraints(min_length=1, max_length=40)]
Ore = StrictInt
Minutes = StrictInt


class Command(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Prices(Command):
    weekday_day: Ore
    evening: Ore
    weekend: Ore


class CostBasis(Command):
    """One band's full cost per unit, in øre."""

    wage: Ore
    overhead: Ore
    transport: Ore
    capital: Ore


class BandCosts(Command):
    """The full cost each band's price is set from (docs/adr/0027). The single basis of before
    (wage, overhead, ... at the top) is refused with a message saying the new shape."""

    weekday_day: CostBasis
    evening: CostBasis
    weekend: CostBasis

    @model_validator(mode="before")
    @classmethod
    def _per_band(cls, value: object) -> object:
        if isinstance(value, dict) and set(value) & {"wage", "overhead", "transport", "capital"}:
            raise ValueError("cost_basis is given per band since docs/adr/0027: {weekday_day: {wage, overhead, "
                             "transport, capital}, evening: {...}, weekend: {...}}; one basis for all bands is "
                             "not taken")
        return value


class CancellationTerms(Command):
    notice_hours: StrictInt = 24
    fee_ore: Ore = 0


class Amount(Command):
    """Minutes per week, or visits per period (days) with minutes per visit."""

    minutes_per_week: Minutes | None = None
    visits: StrictInt | None = None
    period_days: StrictInt | None = None
    minutes_per_visit: Minutes | None = None


class Identity(Command):
    """Personal data: goes to the erasable identity store, never into an event."""

    cpr: Annotated[str, StringConstraints(pattern=r"^\d{6}-?\d{4}$")]
    name: Text
