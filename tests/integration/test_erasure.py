"""Personal data stay out of the log; erasing a citizen leaves every event replayable."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers.history import herning, open_ledger, run, stored_rows

FAKE_CPR = "001399-0042"  # not a date: never a real-looking CPR number
FAKE_NAME = "Testa Fiktivsen"


@pytest.fixture
def app(database_url):
    ledger = open_ledger(database_url)
    yield ledger
    ledger.close()


def _citizen_with_history(app) -> tuple[str, str, str]:
    herning(app)
    cid = str(uuid.uuid4())
    run(app, "register_citizen", {"citizen_id": cid, "municipality": 657, "effective": "2018-01-01",
                                  "residence": "own_home", "identity": {"cpr": FAKE_CPR, "name": FAKE_NAME}})
    run(app, "award_grant", {"citizen_id": cid, "grant_id": "g", "fsiii": "H1.8", "section": "83",
                             "amount": {"minutes_per_week": 30}, "valid_from": "2018-01-01"})
    order = run(app, "place_order", {"citizen_id": cid, "offer_id": "extra-cleaning", "kind": "one_off",
                                     "start": "2018-07-05", "minutes": 60}).result["order_id"]
    delivery = run(app, "record_delivery", {"order_id": order, "date": "2018-07-05", "band": "weekday_day",
                                            "minutes": 55, "staff_id": "s-9", "note": "borgeren var svimmel"},
                   "2018-07-05T15:00:00+00:00").result["delivery_id"]
    run(app, "run_invoices", {"municipality": 657, "month": "2018-07", "run_date": "2018-08-03"},
        "2018-08-03T08:00:00+00:00")
    run(app, "receive_payment", {"citizen_id": cid, "amount": 35400, "date": "2018-08-10", "method": "direct_debit"},
        "2018-08-10T08:00:00+00:00")
    return cid, order, delivery


def test_no_cpr_name_or_note_is_ever_in_the_stored_events(app):
    _citizen_with_history(app)
    blob = b"".join(r[4] for r in stored_rows(app))
    for secret in (FAKE_CPR, FAKE_CPR.replace("-", ""), FAKE_NAME, "svimmel"):
        assert secret.encode() not in blob


def test_erasure_destroys_identity_but_every_event_still_loads_and_adds_up(app):
    cid, order, delivery = _citizen_with_history(app)
    assert app.identity.get(cid) == {"cpr": FAKE_CPR, "name": FAKE_NAME}
    before = stored_rows(app)
    run(app, "erase_identity", {"citizen_id": cid}, "2019-01-01T08:00:00+00:00")
    assert app.identity.get(cid) is None
    # Nothing stored was rewritten: erasure only appended the fact that it happened.
    after = stored_rows(app)
    assert after[: len(before)] == before and len(after) == len(before) + 1
    fresh = open_ledger(app.settings.database_url)
    try:
        from ledger.domain.account import account_id
        account = fresh.repository.get(account_id(cid))
        assert account.state().balance == 0 and list(account.invoices) == ["657-000001"]
        assert fresh.repository.get(uuid.UUID(order)).citizen_id == cid
        d = fresh.repository.get(uuid.UUID(delivery))
        # The sealed note can no longer be opened: its key is gone.
        sealed = fresh.history(uuid.UUID(delivery))[0]["note_sealed"]
        assert sealed and fresh.identity.unseal(cid, sealed) is None
        assert d.minutes == 55
    finally:
        fresh.close()


def test_the_sqlite_file_holds_no_cpr_in_clear_text(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    app = open_ledger(url)
    _citizen_with_history(app)
    app.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("ledger.db"))
    assert FAKE_CPR.encode() not in raw and FAKE_NAME.encode() not in raw
