"""The door's screen (ledger.api.screening): its quick walk for clean bodies never passes a value the
walk that names the problem would refuse, so every body gets exactly the answer it got before
(ADR 0030)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from ledger.api import screening
from ledger.domain.errors import InvalidInput


class Body(BaseModel):
    text: str = "x"
    number: int = 1
    day: date | None = None
    items: list[Any] = []


_leaves = st.one_of(
    st.none(), st.booleans(), st.uuids(),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=8),
    st.sampled_from(["a\x00b", "\ud800", "é", "ok"]),
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(timezone.utc)),
)
_values = st.recursive(_leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(st.text(max_size=4) | st.sampled_from(["k\x00"]), inner, max_size=3),
    st.builds(Body, items=st.lists(inner, max_size=3))), max_leaves=12)


def _answer(f: Any, value: Any) -> str | None:
    try:
        f(value, "body")
    except InvalidInput as e:
        return e.message
    return None


@given(_values)
def test_the_quick_walk_gives_the_same_answer_as_the_naming_walk(value: Any) -> None:
    assert _answer(screening.screen, value) == _answer(screening._screen, value)
    if screening._clean(value):
        assert _answer(screening._screen, value) is None


@pytest.mark.parametrize("value", [
    Body(text="a\x00"), Body(number=2**53), Body(day=date(2200, 1, 1)), Body(items=[{"k": "\ud800"}]),
    {"a\x00": 1}, [date(1899, 12, 31)], datetime(2300, 1, 1, tzinfo=timezone.utc),
])
def test_a_bad_value_is_named_as_before(value: Any) -> None:
    with pytest.raises(InvalidInput):
        screening.screen(value)


def test_a_clean_body_passes_the_quick_walk() -> None:
    assert screening._clean(Body(text="Herning", number=657, day=date(2019, 3, 2),
                                 items=[UUID(int=1), None, True, ("a", 2)]))
