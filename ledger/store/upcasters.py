"""The ledger's upcasters: one function per step of an event class's stored shape (see decoding.py).

Imported by `ledger.store` itself, so they are attached before the application's repository or any
reader decodes an event. When an event changes shape, say `Order.OrderPlaced` gains a `channel` field:

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

from typing import Any

from ledger.domain.catalogue import Catalogue
from ledger.domain.invoice_series import InvoiceSeries
from ledger.store.decoding import upcaster


@upcaster(InvoiceSeries.InvoiceRunCompleted, 1)
def _invoice_run_completed_v1_v2(state: dict[str, Any]) -> None:
    """Runs recorded before ADR 0021 published no digest of what they read."""
    state.setdefault("read", None)


def _cost_basis_v1_v2(state: dict[str, Any]) -> None:
    """A price version recorded before costs were kept per band (docs/adr/0027) stated one cost
    basis, the one its weekday daytime price was set from; what an evening or weekend hour cost
    was never recorded, so those bands' costs are not stated (None), not guessed."""
    state["cost_basis"] = {"weekday_day": state["cost_basis"], "evening": None, "weekend": None}


for _event in (Catalogue.ItemAdded, Catalogue.PackageAdded, Catalogue.PriceChanged, Catalogue.PriceVersionCorrected):
    upcaster(_event, 1)(_cost_basis_v1_v2)
