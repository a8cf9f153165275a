"""`ledger command`: one command through the application's rules; bad payloads exit 2 and store nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.application.ledger import Ledger
from ledger.settings import Settings
from tests.helpers.cli import invoke


@pytest.mark.parametrize(("payload", "says"), [
    ('{"citizen_id": "c", "amount": 100, "amount": 200}', "the key 'amount' appears twice"),
    ('{"citizen_id": "c", "amount": 100', "not valid JSON"),
    ('["a list"]', "must be a JSON object"),
])
def test_a_payload_two_parsers_could_read_differently_exits_2_and_stores_nothing(tmp_path: Path, payload: str,
                                                                                 says: str) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    out = invoke(url, "command", "receive_payment", payload, code=2)
    assert says in out
    ledger = Ledger(Settings.from_env({"LEDGER_DATABASE_URL": url}))
    try:
        assert ledger.head_position() == 0
    finally:
        ledger.close()


def test_a_refund_larger_than_the_credit_exits_2_and_takes_no_refund_number(tmp_path: Path) -> None:
    import json

    from tests.helpers.billing_factories import HERNING, citizen, herning, pay, refund

    url = f"sqlite:///{tmp_path / 'l.db'}"
    ledger = Ledger(Settings.from_env({"LEDGER_DATABASE_URL": url}))
    try:
        herning(ledger)
        cid = citizen(ledger, HERNING)
        pay(ledger, cid, 2_000, "2019-03-11")  # nothing invoiced: all of it is credit
        head = ledger.head_position()
    finally:
        ledger.close()
    payload = {"citizen_id": cid, "amount": 2_001, "date": "2019-03-12", "method": "nemkonto", "reason": "overpaid"}
    out = invoke(url, "command", "refund_credit", json.dumps(payload), code=2)
    assert "refund-exceeds-credit" in out or "exceeds the credit" in out
    ledger = Ledger(Settings.from_env({"LEDGER_DATABASE_URL": url}))
    try:
        assert ledger.head_position() == head
        assert refund(ledger, cid, 2_000, "2019-03-12") == f"{HERNING}-R00001"
    finally:
        ledger.close()
