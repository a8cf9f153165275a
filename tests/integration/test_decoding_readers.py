"""The readers that decode stored events go through the one decoder, on both backends."""

from __future__ import annotations

from functools import reduce
from uuid import UUID

from ledger.api.tenancy import Records
from ledger.domain.order import Order
from replay.store import open_store
from tests.helpers.billing_factories import HERNING, citizen, herning, open_ledger, order


def test_the_tenancy_and_the_replay_store_read_typed_events(database_url):
    ledger = open_ledger(database_url)
    try:
        herning(ledger)
        c = citizen(ledger, HERNING)
        o = order(ledger, c, "extra-cleaning", "2019-03-04")
        records = Records(ledger)
        assert (records.find(UUID(o)).kind, records.find(UUID(o)).municipality) == ("Order", HERNING)
        assert records.find(UUID(o)).citizen_id == c and records.find(UUID(c)).citizen_id == c
        live = ledger.repository.get(UUID(o))
    finally:
        ledger.close()
    store = open_store(database_url)
    try:
        events = store.aggregate_history(UUID(o), before=10**9)
    finally:
        store.close()
    assert [type(e) for e in events] == [Order.OrderPlaced]
    rebuilt = reduce(lambda agg, e: e.mutate(agg), events, None)
    assert isinstance(rebuilt, Order) and vars(rebuilt) == vars(live)
