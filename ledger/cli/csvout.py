"""CSV as finance and statistics tools read it without options: one tidy table per file.

Two dialects:

- `plain` (default): comma, `.` for decimals, UTF-8 without BOM, money in integer øre. pandas,
  R and every CSV library read it as it is.
- `excel-da`: what a Danish spreadsheet opens with a double click: `;` between fields, decimal
  comma, a UTF-8 byte-order mark (so æøå survive), money in kroner with two decimals (a money
  column `x_ore` or `x` becomes `x_kr`). Still integers underneath: øre are formatted, never
  divided as floats.

`-` as the target means standard output. A file is written next to its place and renamed in only
when complete, so a reader never sees half a file.
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO
from collections.abc import Iterator

DIALECTS = ("plain", "excel-da")


def money_header(name: str) -> str:
    return (name[:-4] if name.endswith("_ore") else name) + "_kr"


def kroner_decimal_comma(ore: int) -> str:
    sign = "-" if ore < 0 else ""
    whole, part = divmod(abs(int(ore)), 100)
    return f"{sign}{whole},{part:02d}"


def header(columns: Sequence[str], money: Iterable[str], dialect: str) -> list[str]:
    money = frozenset(money)
    return [money_header(c) if dialect == "excel-da" and c in money else c for c in columns]


def value(v: Any, is_money: bool, dialect: str) -> Any:
    if v is None:
        return ""
    if dialect == "excel-da":
        if is_money and isinstance(v, int) and not isinstance(v, bool):
            return kroner_decimal_comma(v)
        if isinstance(v, float):
            return repr(v).replace(".", ",")
    return v


def writer(out: TextIO, dialect: str) -> Any:
    if dialect == "excel-da":
        out.write("\ufeff")
        return csv.writer(out, delimiter=";", lineterminator="\r\n")
    return csv.writer(out, lineterminator="\n")


@contextmanager
def opened(target: str | Path) -> Iterator[TextIO]:
    """Standard output for `-`; else a temporary file beside the target, renamed in on success."""
    if str(target) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    path = Path(target)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as out:
            yield out
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_rows(target: str | Path, columns: Sequence[str], rows: Iterable[dict[str, Any]], money: Iterable[str] = (),
               dialect: str = "plain") -> None:
    money = frozenset(money)
    with opened(target) as out:
        w = writer(out, dialect)
        w.writerow(header(columns, money, dialect))
        for r in rows:
            w.writerow([value(r.get(c), c in money, dialect) for c in columns])
