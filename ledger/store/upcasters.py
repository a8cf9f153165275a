"""The ledger's upcasters: one function per step of an event class's stored shape (see decoding.py).

Imported by `ledger.store` itself, so they are attached before the application's repository or any
reader decodes an event. None of the ledger's events has changed shape yet. The day one does, say
`Order.OrderPlaced` gains a `channel` field:

    # ledger/domain/order.py: the event class names its current version
    class OrderPlaced(LedgerAggregate.Created):
        class_version = 2
        channel: str

    # here: how a version-1 state becomes version 2 (a default a reader can rely on)
    @upcaster(Order.OrderPlaced, 1)
    def _order_placed_v1_v2(state: dict[str, Any]) -> None:
        state["channel"] = "unknown"

and a test loads a stored version-1 payload through it (tests/unit/test_decoding.py shows how).
"""

from __future__ import annotations

from ledger.store.decoding import upcaster  # noqa: F401  (the decorator every registration here uses)
