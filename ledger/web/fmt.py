"""How figures look to a person: Danish money (1.336,00 kr.) and dates (30-06-2019).

Money stays integer øre everywhere; only here is it turned into text, with integer arithmetic
so no rounding can creep in.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

# Kroner as a Danish clerk types them: 1.234,50 or 1234,5 or 150 (a "kr." after is allowed).
_KR = re.compile(r"^(?P<whole>[0-9]{1,3}(?:\.[0-9]{3})+|[0-9]+)(?:,(?P<part>[0-9]{1,2}))?$")


def kr(ore: int | None, unit: bool = True) -> str:
    """1336_00 -> '1.336,00 kr.'; negative amounts keep their sign in front."""
    if ore is None:
        return ""
    sign = "-" if ore < 0 else ""
    whole, part = divmod(abs(int(ore)), 100)
    text = f"{sign}{whole:,}".replace(",", ".") + f",{part:02d}"
    return f"{text} kr." if unit else text


def parse_kr(text: str) -> int:
    """'1.234,50 kr.' -> 123450 øre; the inverse of `kr` for amounts typed into a form. Only the
    Danish spelling (decimal comma, thousands dot) is read, so 1.234 is 1 234 kroner, never 1,23;
    anything else is a ValueError with a message a clerk can act on."""
    given = text.strip().removesuffix("kr.").removesuffix("kr").strip()
    m = _KR.match(given)
    if m is None:
        raise ValueError(f"the amount must be kroner as 1.234,50 (decimal comma, at most 2 decimals), got {text!r}")
    return int(m["whole"].replace(".", "")) * 100 + int((m["part"] or "0").ljust(2, "0"))


_ORE = re.compile(r"(-?[0-9]+) øre\b")


def ore_as_kr(text: str) -> str:
    """A domain message's amounts ('... (15000 øre)', as the API words them) in Danish kroner for a
    person ('... (150,00 kr.)')."""
    return _ORE.sub(lambda m: kr(int(m.group(1))), text)


def number(value: int | float | None, decimals: int = 0) -> str:
    """Thousands with '.', decimals with ','."""
    if value is None:
        return ""
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def day(value: str | date | datetime | None) -> str:
    """'2019-06-30' (or a date, or an ISO instant) -> '30-06-2019'."""
    if value is None or value == "":
        return ""
    if isinstance(value, (date, datetime)):
        d = value.date() if isinstance(value, datetime) else value
    else:
        try:
            d = date.fromisoformat(str(value)[:10])
        except ValueError:
            return str(value)
    return d.strftime("%d-%m-%Y")


def instant(value: str | None) -> str:
    """An ISO instant -> '30-06-2019 14:05:09 UTC' (the log keeps UTC; so does the screen)."""
    if not value:
        return ""
    try:
        t = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return t.strftime("%d-%m-%Y %H:%M:%S") + (" UTC" if t.utcoffset() is not None and not t.utcoffset() else "")


def month(value: str | None) -> str:
    """'2019-03' -> '03-2019'."""
    if not value or len(value) < 7:
        return value or ""
    return f"{value[5:7]}-{value[:4]}"


def quantity(line: dict[str, Any]) -> str:
    """An invoice line's quantity as a person reads it: hours with two decimals, or units."""
    q = line.get("quantity") or 0
    if line.get("unit") == "hour":
        return f"{number(q / 60, 2)} t"
    return f"{q} stk."


FILTERS = {"kr": kr, "ore_as_kr": ore_as_kr, "number": number, "day": day, "instant": instant, "month": month,
           "quantity": quantity}
