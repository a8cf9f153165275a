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
