"""Time for generated history: dates as ordinals, instants as whole seconds since the Unix epoch (UTC).

Plain integers keep the generator fast and make every comparison exact; text is made only when a
line is written. Recorded instants are written as fixed-width "YYYY-MM-DDTHH:MM:SSZ", so they sort
correctly as text too (the external sort relies on that).
"""

from __future__ import annotations

from datetime import date, datetime, timezone

DAY = 86_400
HOUR = 3_600
MINUTE = 60
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def d(text: str) -> int:
    """'2018-06-01' → its ordinal."""
    return date.fromisoformat(text).toordinal()


def iso_date(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


def at(ordinal: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    """The instant (UTC seconds) of a time of day on a date."""
    return (ordinal - _EPOCH_ORDINAL) * DAY + hour * HOUR + minute * MINUTE + second


def day_of(instant: int) -> int:
    """The date (ordinal) an instant falls on, in UTC."""
    return instant // DAY + _EPOCH_ORDINAL


def iso_instant(instant: int) -> str:
    return datetime.fromtimestamp(instant, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def weekday(ordinal: int) -> int:
    """Monday 0 … Sunday 6."""
    return (ordinal - 1) % 7  # date(1, 1, 1) (ordinal 1) was a Monday


def month_key(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()[:7]


def month_first(ordinal: int) -> int:
    day = date.fromordinal(ordinal)
    return date(day.year, day.month, 1).toordinal()


def next_month(ordinal: int) -> int:
    """The first day of the month after the one `ordinal` falls in."""
    day = date.fromordinal(ordinal)
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1).toordinal()


def month_last(ordinal: int) -> int:
    return next_month(ordinal) - 1


def next_weekday(ordinal: int) -> int:
    """The date itself if it is Monday–Friday, else the Monday after."""
    wd = weekday(ordinal)
    return ordinal if wd < 5 else ordinal + (7 - wd)
