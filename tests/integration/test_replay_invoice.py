"""`invoice NUMBER`: an issued invoice recomputed from the events before it equals the stored one."""

from __future__ import annotations

from datetime import datetime, timezone

import orjson
import pytest

from ledger.domain.base import Context
from replay.errors import UsageError
from replay.invoice import reproduce
from replay.store import open_store
from ledger.application import Ledger
from ledger.db import Database
from ledger.settings import Settings
from tests.integration.test_replay_chain import HERNING, execute, history
from tests.helpers.costs import at_cost
from ledger.domain.values import BANDS

NUMBERS = ("657-000001", "657-000002", "657-000003")  # July: citizens A and B; August: A


def reproduced(url: str, number: str):
    store = open_store(url)
    try:
        return reproduce(store, number, HERNING)
    finally:
        store.close()


def test_every_issued_invoice_is_reproduced_exactly(database_url: str) -> None:
    history(database_url)
    kinds = set()
    for number in NUMBERS:
        result = reproduced(database_url, number)
        assert result.ok, [(x.line_no, x.differences, x.problems) for x in result.lines]
        assert result.lines and all(line.recomputed == line.stored for line in result.lines)
        kinds |= {line.kind for line in result.lines}
    assert kinds == {"delivery", "late_cancellation"}


def test_a_back_dated_price_change_recorded_later_does_not_change_the_reproduction(database_url: str) -> None:
    app = Ledger(Settings(database_url=history(database_url)))
    app.execute("change_price", {"municipality": HERNING, "offer_id": "extra-cleaning", "effective": "2018-07-01",
                                 "vat_class": "exempt", "cost_basis": at_cost(dict.fromkeys(BANDS, 99_900)),
                                 "prices": {"weekday_day": 99_900, "evening": 99_900, "weekend": 99_900}},
                Context("replay-test", "administrator", "replay-late-price", datetime(2018, 10, 1, tzinfo=timezone.utc)))
    app.close()
    assert reproduced(database_url, "657-000001").ok


def test_an_altered_invoice_line_is_reported_field_by_field(database_url: str) -> None:
    db = Database(history(database_url))
    nid, raw = next((n, bytes(s)) for n, s in db.query(
        f"SELECT {db.position_column}, state FROM {db.events_table} WHERE topic LIKE ?", ("%.InvoiceIssued",))
        if orjson.loads(bytes(s))["number"] == "657-000001")
    state = orjson.loads(raw)
    state["lines"][1]["unit_price"] += 100
    execute(db, (f"UPDATE {db.events_table} SET state = ? WHERE {db.position_column} = ?", (orjson.dumps(state), nid)))
    result = reproduced(database_url, "657-000001")
    assert not result.ok
    assert [line.ok for line in result.lines] == [True, False, True]
    stored = state["lines"][1]["unit_price"]
    assert result.lines[1].differences == [("unit_price", stored, stored - 100)]


def test_an_unknown_invoice_number_is_a_usage_error(database_url: str) -> None:
    history(database_url)
    with pytest.raises(UsageError, match="no invoice 657-999999 of municipality 657"):
        reproduced(database_url, "657-999999")
