"""Tables for people: money in Danish kroner with the unit, and nothing ever cut off.

Rich shrinks a table that is wider than the terminal (80 columns when piped) by cutting cells
with "…", which cost a reader an invoice number or an amount. Here every id and amount keeps its
full width: a table that does not fit is split into several narrower tables stacked under each
other, each repeating the key columns (the fewest leading columns that tell the rows apart, e.g.
municipality and month), and a list of refs ("a:1;b:2") is shown one ref a
line. Only free text with spaces (an offer's name, a reason) may wrap inside its cell.

JSON and CSV are for programs and keep integer øre; this module is only the people's view.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

# A light box without outer edges: each column costs its width plus a space each side and a
# separator, less those three once for the outer edges (width = sum + 3 × (columns - 1)).
_PER_COLUMN = 3
_EDGE = -3
_FOLD_MIN = 16  # free text may wrap down to this width


def kr(ore: int | None) -> str:
    """Øre as Danish kroner with the unit: 133600 → '1.336,00 kr.' (integers only, never a float)."""
    if ore is None:
        return ""
    sign = "-" if ore < 0 else ""
    whole, part = divmod(abs(int(ore)), 100)
    return f"{sign}{whole:,}".replace(",", ".") + f",{part:02d} kr."


def cell(value: Any, money: bool) -> str:
    if money:
        return kr(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    # A list of refs joined for CSV reads one ref a line in a table (so no ref is cut or folded).
    return text.replace(";", ";\n") if ";" in text and " " not in text else text


def _width(text: str) -> int:
    from rich.cells import cell_len

    return max((cell_len(line) for line in text.split("\n")), default=0)


def select(columns: Sequence[str], wanted: str | None, default: Sequence[str] | None = None) -> list[str]:
    """The columns to show: `--columns a,b,c`, `all`, or the default set. Unknown names exit 2."""
    if wanted is None or not wanted.strip():
        return list(default or columns)
    if wanted.strip() == "all":
        return list(columns)
    names = [c.strip().replace("-", "_").replace(" ", "_") for c in wanted.split(",") if c.strip()]
    unknown = [n for n in names if n not in columns]
    if unknown:
        from ledger.cli import fail

        fail(f"--columns: unknown {', '.join(unknown)}; choose from {', '.join(columns)} (or all)")
    return names


def render(console: Any, title: str | None, columns: Sequence[str], rows: Iterable[dict[str, Any]],
           money: Iterable[str] = ()) -> None:
    """Print rows as one or more tables that fit `console.width` without cutting an id or amount."""
    from rich import box
    from rich.table import Table

    money = frozenset(money)
    texts = [[cell(r.get(c), c in money) for c in columns] for r in rows]
    widths: list[int] = []
    foldable: list[bool] = []
    for i, c in enumerate(columns):
        values = [t[i] for t in texts]
        content = max((_width(v) for v in values), default=0)
        words = max((len(w) for w in c.split("_")), default=0)
        fold = c not in money and any(" " in v for v in values)
        foldable.append(fold)
        widths.append(max(words, min(content, _FOLD_MIN) if fold else content))
    groups = _groups(widths, console.width, _key_columns(texts, widths, console.width))
    for n, group in enumerate(groups):
        suffix = f" (continued, {n + 1} of {len(groups)})" if n else ""
        table = Table(title=(title or "") + suffix if (title or n) else None, title_justify="left",
                      box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for i in group:
            c = columns[i]
            header = c.replace("_", " ")
            if len(header) > max(widths[i], _width_of(texts, i)):
                header = c.replace("_", "\n")
            table.add_column(header, justify="right" if c in money else "left", no_wrap=not foldable[i],
                             overflow="fold", min_width=widths[i])
        for t in texts:
            table.add_row(*[t[i] for i in group])
        console.print(table)


def _width_of(texts: list[list[str]], i: int) -> int:
    return max((_width(t[i]) for t in texts), default=0)


def _key_columns(texts: list[list[str]], widths: list[int], total: int) -> int:
    """How many leading columns a continued table repeats: the fewest (at most 3, at most half
    the width) whose values tell the rows apart, so each continued row can be matched to its first part."""
    for n in range(1, min(3, len(widths) - 1) + 1):
        if sum(w + _PER_COLUMN for w in widths[:n]) + _EDGE > total // 2:
            return max(n - 1, 1)
        if len({tuple(t[:n]) for t in texts}) == len(texts):
            return n
    return max(1, min(3, len(widths) - 1))


def _groups(widths: list[int], total: int, keys: int = 1) -> list[list[int]]:
    """Split column indexes into runs that fit `total`, each starting with the `keys` key columns."""
    if sum(w + _PER_COLUMN for w in widths) + _EDGE <= total or len(widths) <= keys:
        return [list(range(len(widths)))]
    head = list(range(keys))
    key = sum(widths[i] + _PER_COLUMN for i in head) + _EDGE
    groups: list[list[int]] = []
    current: list[int] = list(head)
    used = key
    for i in range(keys, len(widths)):
        need = widths[i] + _PER_COLUMN
        if len(current) > keys and used + need > total:
            groups.append(current)
            current, used = list(head), key
        current.append(i)
        used += need
    groups.append(current)
    return groups
