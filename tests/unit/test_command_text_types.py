"""The stripped text types (Text, ShortId) publish a pattern that accepts exactly what their
validation accepts, so a client that follows the OpenAPI document is never refused as malformed."""

from __future__ import annotations

import re

import pytest
from pydantic import TypeAdapter, ValidationError

from ledger.application.commands._base import ShortId, Text


@pytest.mark.parametrize("kind", [Text, ShortId], ids=["Text", "ShortId"])
def test_the_published_pattern_accepts_exactly_what_the_validation_accepts(kind):
    adapter = TypeAdapter(kind)
    pattern = re.compile(adapter.json_schema()["pattern"])
    disagree = []
    for cp in range(0x10000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        for raw in (c, c + c, f"a{c}", f"{c}a"):
            try:
                adapter.validate_python(raw)
                valid = True
            except ValidationError:
                valid = False
            if valid != (pattern.search(raw) is not None):
                disagree.append((hex(cp), raw, valid))
    assert disagree == []


@pytest.mark.parametrize("raw", ["\t", " ", "\n \r", "\u3000", "\xa0\u2028"])
def test_a_whitespace_only_value_is_refused_by_the_schema_and_the_validation(raw):
    adapter = TypeAdapter(ShortId)
    assert re.search(adapter.json_schema()["pattern"], raw) is None
    with pytest.raises(ValidationError):
        adapter.validate_python(raw)
    assert adapter.validate_python(f" {raw}s-1{raw}") == "s-1"
