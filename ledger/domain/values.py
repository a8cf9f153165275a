"""Value types and pure calculations: money in øre, minutes, dates, bands, VAT, rounding.

Money is always an int of øre and durations whole minutes; nothing here ever sees a float.
Dates travel in events as ISO strings ("2019-03-01") because they sort and compare as text.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import overload

from ledger.domain.errors import InvalidInput, rule

SECTIONS = ("83", "83a", "85", "107", "108")
RESIDENCES = ("own_home", "nursing_home", "residential_care")
BANDS = ("weekday_day", "evening", "weekend")
UNITS = ("hour", "visit", "day", "package")
VAT_CLASSES = ("exempt", "standard")  # exempt: more of a granted service; standard: a new kind, 25 %
VAT_RATE_PERCENT = {"exempt": 0, "standard": 25}
ORDER_KINDS = ("one_off", "recurring")
# The satisfaction survey's measures, each answered on a 1-5 scale (ledger/domain/survey.py).
SURVEY_MEASURES = ("safety", "information", "coherence", "practical_help", "personal_care")
SURVEY_SCALE = (1, 5)
PAYMENT_METHODS = ("digital_post", "direct_debit", "bank_transfer", "card", "cash")
# How credit on an account is paid out: to the citizen's NemKonto (the public payout account), by bank
# transfer, back to the card paid with, or in cash.
REFUND_METHODS = ("nemkonto", "bank_transfer", "card", "cash")
MISSED_REASONS = ("citizen_absent", "citizen_cancelled", "staff_unavailable", "hospitalised", "other")

# No single visit is plausibly longer than a long working day (the "no 30-hour visit").
MAX_VISIT_MINUTES = 16 * 60
MAX_DAYS_PER_DELIVERY = 31
MAX_MONEY_ORE = 10_000_000_00  # ten million kroner: far beyond any add-on, catches unit mistakes

_FSIII_CODE = re.compile(r"^H[0-9]+(\.[0-9]+)?[a-z]?$")

# The days a value from outside (a command, a query parameter, a CLI option) may name. Far dates
# are typos, and beyond them date arithmetic in the domain overflows (a year 9999 order runs off
# the calendar). The one home of the bounds: command schemas, API queries and the CLI read them here.
EARLIEST_DATE, LATEST_DATE = date(1900, 1, 1), date(2199, 12, 31)
MONTH_PATTERN = r"^(19|20|21)\d{2}-(0[1-9]|1[0-2])$"  # YYYY-MM within the same years
_MONTH = re.compile(MONTH_PATTERN)


def within_bounds(d: date) -> bool:
    return EARLIEST_DATE <= d <= LATEST_DATE


def plausible_date(d: date, field: str) -> date:
    """`d`, or InvalidInput naming `field` when it lies outside 1900-2199."""
    if not within_bounds(d):
        raise InvalidInput(f"{field}: {d.isoformat()} is outside {EARLIEST_DATE.year}-{LATEST_DATE.year}",
                           field=field)
    return d


def parse_day_or_instant(value: str, field: str) -> date | datetime:
    """A date (YYYY-MM-DD) or an ISO instant (Z or an offset; naive means UTC), within 1900-2199 as
    written. InvalidInput names `field` otherwise."""
    text = value.strip()
    parsed: date | datetime
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            parsed = date.fromisoformat(text)
        else:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{field} must be a date (YYYY-MM-DD) or an instant (2019-06-30T12:00:00Z), "
                           f"got {value!r}", field=field) from None
    plausible_date(parsed.date() if isinstance(parsed, datetime) else parsed, field)
    return parsed


def parse_date(value: object, field: str = "date") -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be an ISO date (YYYY-MM-DD), got {value!r}", field=field)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{field} must be an ISO date (YYYY-MM-DD), got {value!r}", field=field) from None


@overload
def iso(d: date) -> str: ...
@overload
def iso(d: None) -> None: ...
@overload
def iso(d: date | None) -> str | None: ...
def iso(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


def parse_instant(value: object, field: str = "instant") -> datetime:
    """An aware UTC instant; a naive value is refused rather than guessed."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"{field} must be an ISO instant with a UTC offset, got {value!r}", field=field) from None
    else:
        raise InvalidInput(f"{field} must be an ISO instant, got {value!r}", field=field)
    if dt.tzinfo is None:
        raise InvalidInput(f"{field} must carry a UTC offset (e.g. 2019-06-30T12:00:00Z), got {value!r}", field=field)
    return dt.astimezone(timezone.utc)


def parse_month(value: str) -> tuple[date, date]:
    """'2019-03' → (2019-03-01, 2019-03-31)."""
    if not isinstance(value, str) or not _MONTH.match(value):
        raise InvalidInput(f"month must be YYYY-MM within 1900-2199, got {value!r}", field="month")
    first = date(int(value[:4]), int(value[5:7]), 1)
    return first, month_end(first)


def month_end(d: date) -> date:
    nxt = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return date.fromordinal(nxt.toordinal() - 1)


def month_of(d: date | str) -> str:
    return (d if isinstance(d, str) else d.isoformat())[:7]


_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def public_holiday(day: date) -> bool:
    """A Danish public holiday (helligdag), from the `holidays` library's calendar. Imported on
    first use: the calendar takes ~0.5 s to import and only a weekday at the weekend band asks."""
    from holidays.countries.denmark import Denmark

    return day in Denmark(years=day.year)  # type: ignore[no-untyped-call]  # the library is untyped


def band_on(band: str, day: date) -> str:
    """The band a delivery on `day` may be priced at: a Saturday or Sunday is never weekday
    daytime, and the weekend band is for Saturdays, Sundays and public holidays. (Evening is
    a time of day, which the date alone cannot check.)"""
    one_of(band, BANDS, "band")
    weekend = day.weekday() >= 5
    rule(not (band == "weekday_day" and weekend), "band-not-on-day",
         f"{day.isoformat()} is a {_WEEKDAYS[day.weekday()]}: a visit that day is priced at the weekend (or evening) "
         "band, not weekday_day", band=band, date=day.isoformat())
    rule(band != "weekend" or weekend or public_holiday(day), "band-not-on-day",
         f"{day.isoformat()} is a {_WEEKDAYS[day.weekday()]} and no public holiday: the weekend band is for "
         "Saturdays, Sundays and public holidays", band=band, date=day.isoformat())
    return band


def one_of(value: object, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise InvalidInput(f"{field} must be one of {', '.join(allowed)}; got {value!r}", field=field)
    return value


def ore(value: object, field: str, *, allow_zero: bool = True, allow_negative: bool = False) -> int:
    """An amount of money in øre: an int, never a float, within sane bounds."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{field} must be a whole number of øre (an integer), got {value!r}", field=field)
    if value < 0 and not allow_negative:
        raise InvalidInput(f"{field} must not be negative, got {value}", field=field)
    if value == 0 and not allow_zero:
        raise InvalidInput(f"{field} must be more than 0 øre", field=field)
    if abs(value) > MAX_MONEY_ORE:
        raise InvalidInput(f"{field} of {value} øre is implausibly large", field=field)
    return value


def whole(value: object, field: str, *, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{field} must be a whole number, got {value!r}", field=field)
    if not low <= value <= high:
        raise InvalidInput(f"{field} must be between {low} and {high}, got {value}", field=field)
    return value


def fsiii_code(value: object, field: str = "fsiii") -> str:
    from ledger.domain.fsiii import known_code

    if not isinstance(value, str) or not _FSIII_CODE.match(value):
        raise InvalidInput(f"{field} must be an FSIII service code like H1.8, got {value!r}", field=field)
    if not known_code(value):
        raise InvalidInput(f"{field} {value!r} is not a code in FSIII", field=field)
    return value


def round_half_up_div(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half away from zero, in integers (no float ever)."""
    assert denominator > 0
    q, r = divmod(abs(numerator), denominator)
    if 2 * r >= denominator:
        q += 1
    return q if numerator >= 0 else -q


def billable_minutes(minutes: int, minimum: int, increment: int) -> int:
    """max(minimum, minutes rounded up to a whole number of increments)."""
    assert minutes > 0 and increment > 0
    rounded = -(-minutes // increment) * increment
    return max(minimum, rounded)


def line_amounts(net: int, vat_class: str) -> tuple[int, int, int]:
    """(net, vat, gross) of a line whose net is already in whole øre."""
    vat = round_half_up_div(net * VAT_RATE_PERCENT[vat_class], 100)
    return net, vat, net + vat


def hourly_net(billed_minutes: int, hourly_price_ore: int) -> int:
    return round_half_up_div(billed_minutes * hourly_price_ore, 60)


# When a visit in each band starts unless the order says otherwise (07–17 weekday daytime, from
# 17:00 evening; weekend visits are planned from the morning). Local time: the municipality's.
BAND_START = {"weekday_day": "07:00", "evening": "17:00", "weekend": "07:00"}
LOCAL_TIMEZONE = "Europe/Copenhagen"
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def clock_time(value: object, field: str = "start_time") -> str:
    """A local wall-clock time 'HH:MM' (24-hour)."""
    if not isinstance(value, str) or not _HHMM.match(value):
        raise InvalidInput(f"{field} must be a time of day HH:MM (e.g. 08:00), got {value!r}", field=field)
    return value


def local_instant(d: date, hhmm: str) -> datetime:
    """The aware instant of a local wall-clock time on a date (Danish time, summer time included)."""
    from zoneinfo import ZoneInfo

    h, m = int(hhmm[:2]), int(hhmm[3:])
    return datetime(d.year, d.month, d.day, h, m, tzinfo=ZoneInfo(LOCAL_TIMEZONE))


def iso_week(d: date | str) -> str:
    """'2019-W10': the ISO week a date lies in (klippekort minutes are counted per ISO week)."""
    day = date.fromisoformat(d) if isinstance(d, str) else d
    y, w, _ = day.isocalendar()
    return f"{y}-W{w:02d}"


def add_months(month: str, n: int) -> str:
    """'2019-03' plus n months (n may be negative)."""
    y, m = int(month[:4]), int(month[5:7]) - 1 + n
    return f"{y + m // 12:04d}-{m % 12 + 1:02d}"


def band_of(d: date, start_hour: int | None = None) -> str:
    """The price band of a visit: weekend, weekday evening (from 17:00) or weekday daytime."""
    if d.weekday() >= 5:
        return "weekend"
    if start_hour is not None and (start_hour >= 17 or start_hour < 7):
        return "evening"
    return "weekday_day"
