"""Whatever the rows and the terminal width, a table shows every id and amount whole."""

from __future__ import annotations

import io
import uuid

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from ledger.cli.tables import kr, render

ore = st.integers(min_value=-10**11, max_value=10**11)
ids = st.builds(lambda n: str(uuid.UUID(int=n)), st.integers(min_value=0, max_value=2**128 - 1))
names = st.text(alphabet="abcæøå ", min_size=0, max_size=40)


@given(rows=st.lists(st.fixed_dictionaries({"citizen_id": ids, "number": st.from_regex(r"\A\d{3}-\d{6}\Z"),
                                            "name": names, "net": ore, "vat": ore, "gross": ore, "open": ore,
                                            "refs": st.lists(ids, max_size=3).map(";".join)}),
                     min_size=1, max_size=8),
       width=st.integers(min_value=60, max_value=200))
def test_every_id_and_amount_is_shown_whole_at_any_width(rows, width):
    out = io.StringIO()
    console = Console(file=out, width=width, color_system=None)
    columns = ("number", "citizen_id", "name", "net", "vat", "gross", "open", "refs")
    render(console, "t", columns, rows, money=("net", "vat", "gross", "open"))
    text = out.getvalue()
    assert "…" not in text
    assert all(len(line) <= width for line in text.splitlines())
    for r in rows:
        assert r["number"] in text and r["citizen_id"] in text
        assert all(kr(r[c]) in text for c in ("net", "vat", "gross", "open"))
        assert all(ref in text for ref in r["refs"].split(";") if ref)


def test_kroner_are_formatted_from_integers():
    assert kr(10**17 + 1) == "1.000.000.000.000.000,01 kr."
    assert kr(None) == ""
