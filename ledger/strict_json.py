"""JSON as systems exchange it (RFC 8259): a key repeated in one object is refused, never guessed.

Parsers differ on a repeated key (most keep the last, some the first), so a document that two
systems may read differently is refused wherever it comes in: the API's bodies, `ledger command`'s
payload and `ledger import`'s lines are all parsed by `loads`. orjson, faster, cannot tell (it
keeps the last), and the standard library's C scanner with a pairs hook costs ~15-50 µs a line, so
`loads` asks orjson first and keeps its answer only when that answer is provably the standard
library's: every key of the text was kept (the decoded objects hold as many keys as the text has
places where a key can end, a quote then a colon) and nothing in it is a float (orjson reads an
integer past 64 bits as one). Anything else (a repeated key, a colon inside a text, a float, NaN,
a lone surrogate, a byte-order mark, any error) is parsed by the standard library as before, so
the answer and the error are always the standard library's.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

# Where a key can end: its closing quote, JSON whitespace, the colon (a text value may hold these
# too; then the count is larger than the keys kept, and the slow path decides).
_KEY_ENDS = re.compile(rb'"[ \t\n\r]*:')
_KEY_ENDS_TEXT = re.compile(r'"[ \t\n\r]*:')


class RepeatedKey(ValueError):
    """A key appears twice in one object; `key` names it."""

    def __init__(self, key: str) -> None:
        super().__init__(f"the key {key!r} appears twice in one object; send it once")
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise RepeatedKey(key)
        out[key] = value
    return out


def _plain_keys(doc: Any) -> int | None:
    """The number of keys in every object of `doc`, or None when it holds a float."""
    keys = 0
    todo = [doc]
    while todo:
        value = todo.pop()
        kind = type(value)
        if kind is dict:
            keys += len(value)
            todo.extend(value.values())
        elif kind is list:
            todo.extend(value)
        elif kind is float:
            return None
    return keys


def loads(text: str | bytes) -> Any:
    """The JSON document in `text`. Raises RepeatedKey for a key repeated in one object and
    ValueError (json.JSONDecodeError) for anything that is not JSON."""
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    else:
        ends = _KEY_ENDS.findall(text) if isinstance(text, bytes) else _KEY_ENDS_TEXT.findall(text)
        if _plain_keys(doc) == len(ends):
            return doc
    return json.loads(text, object_pairs_hook=_no_duplicates)
