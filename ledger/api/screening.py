"""Checks the command schemas leave to the caller, made once at the door so no bad value can reach
the store: dates within 1900-2199 (beyond that, date arithmetic in the domain overflows), integers
that JSON and PostgreSQL can hold, and text without NUL characters or lone surrogates (which
PostgreSQL text columns and orjson refuse, and which would stall a projection for good)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from ledger.domain.errors import InvalidInput
from ledger.domain.values import EARLIEST_DATE as EARLIEST
from ledger.domain.values import LATEST_DATE as LATEST
MAX_INT = 2**53 - 1  # the largest integer every JSON reader keeps exactly


def screen(value: Any, where: str = "body") -> None:
    """Raise InvalidInput naming the first unacceptable value found in `value`."""
    if not _clean(value):
        _screen(value, where)


def _clean(value: Any) -> bool:
    """True when `value` certainly holds nothing `_screen` refuses, False when it may: then
    `_screen`, the one that decides and names the value, walks it. A body checked on every command
    is almost always clean, and this walk builds no path text for it (ADR 0030)."""
    todo = [value]
    while todo:
        v = todo.pop()
        kind = type(v)
        if kind is str:
            if "\x00" in v or not (v.isascii() or _encodes(v)):
                return False
        elif kind is int:
            if not -MAX_INT <= v <= MAX_INT:
                return False
        elif v is None or kind is bool or kind is UUID:
            continue
        elif kind is date:
            if not EARLIEST <= v <= LATEST:
                return False
        elif isinstance(v, BaseModel):
            todo.extend(getattr(v, name) for name in type(v).model_fields)
        elif kind is list or kind is tuple:
            todo.extend(v)
        elif kind is dict:
            todo.extend(v.keys())
            todo.extend(v.values())
        else:  # any other type (a datetime, a subclass): `_screen` decides
            return False
    return True


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _screen(value: Any, where: str) -> None:
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _screen(getattr(value, name), f"{where}.{name}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _screen(item, f"{where}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            _screen(key, f"{where} key")
            _screen(item, f"{where}.{key}")
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, datetime):
        if not EARLIEST <= value.date() <= LATEST:
            raise InvalidInput(f"{where}: {value.isoformat()} is outside {EARLIEST.year}-{LATEST.year}", field=where)
    elif isinstance(value, date):
        if not EARLIEST <= value <= LATEST:
            raise InvalidInput(f"{where}: {value.isoformat()} is outside {EARLIEST.year}-{LATEST.year}", field=where)
    elif isinstance(value, int):
        if not -MAX_INT <= value <= MAX_INT:
            raise InvalidInput(f"{where}: {value} is out of range (at most +/-{MAX_INT})", field=where)
    elif isinstance(value, str):
        if "\x00" in value:
            raise InvalidInput(f"{where}: text must not contain NUL characters", field=where)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInput(f"{where}: text is not valid Unicode (a lone surrogate)", field=where) from None
