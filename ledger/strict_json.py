"""JSON as systems exchange it (RFC 8259): a key repeated in one object is refused, never guessed.

Parsers differ on a repeated key (most keep the last, some the first), so a document that two
systems may read differently is refused wherever it comes in: the API's bodies, `ledger command`'s
payload and `ledger import`'s lines are all parsed by `loads`. (orjson, faster, cannot tell: it
keeps the last. The standard library's C scanner with a pairs hook costs ~15-50 µs a line.)
"""

from __future__ import annotations

import json
from typing import Any


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


def loads(text: str | bytes) -> Any:
    """The JSON document in `text`. Raises RepeatedKey for a key repeated in one object and
    ValueError (json.JSONDecodeError) for anything that is not JSON."""
    return json.loads(text, object_pairs_hook=_no_duplicates)
