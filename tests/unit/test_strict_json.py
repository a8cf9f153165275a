"""`strict_json.loads` answers exactly as the standard library with a repeated-key hook does,
whether its orjson fast path takes the text or hands it on (ADR 0024, round-5 amendment)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import strict_json


def _reference(text: str | bytes) -> Any:
    return json.loads(text, object_pairs_hook=strict_json._no_duplicates)


def _outcome(f: Any, text: str | bytes) -> tuple[str, Any]:
    try:
        return "value", f(text)
    except strict_json.RepeatedKey as e:
        return "repeated", e.key
    except ValueError as e:
        return "error", type(e).__name__


CASES = [
    b'{"a":1}', b'{"a":1,"a":2}', b'{"a":{"b":1,"b":2}}', b'[{"x":1},{"x":2,"x":3}]',
    b'{"a":"x\\": 1","a":2}', b'{"a":"\\u0022:","a":1}', b'{"a" :\t1, "b" \n: 2}', b'{"a":"b\\":"}',
    b'123456789012345678901234567890', b'{"n":-18446744073709551617}', b'{"n":18446744073709551615}',
    b'{"a":1.5}', b'1E400', b'{"a":NaN}', b'{"a":Infinity}', b'"\\ud800"', b'\xef\xbb\xbf{}', b'{"a":1}x',
    b'', b' {} ', b'{"\xc3\xa9":"\xc3\xbc"}', b'\xff', b'[]', b'null', b'{"a":[1,2,{"b":true}]}',
    '{"é": "ü"}', '{"a":1,"a":1}',
]


@pytest.mark.parametrize("text", CASES)
def test_same_answer_as_the_standard_library(text: str | bytes) -> None:
    assert _outcome(strict_json.loads, text) == _outcome(_reference, text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2 ** 70), max_value=2 ** 70) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["a", "b", '"', ':', '":']), inner,
                                                                max_size=3),
    max_leaves=12)


@given(json_values, st.data())
@settings(max_examples=300, deadline=None)
def test_same_answer_with_keys_repeated_at_random(value: Any, data: st.DataObject) -> None:
    text = json.dumps(value, ensure_ascii=data.draw(st.booleans()))
    # Repeat one key by text surgery: the first `{"` gets a copy of a pair.
    if data.draw(st.booleans()) and '{"' in text:
        at = text.index('{"') + 1
        text = text[:at] + '"a": 0, ' + text[at:]
    for t in (text, text.encode()):
        assert _outcome(strict_json.loads, t) == _outcome(_reference, t)
