"""A projection column that keeps an event's notification id must be digested by rank.

PostgreSQL's id sequence skips the values of a killed transaction, so two stores with the same
events in the same order can give them different ids; a digest over raw ids would then differ
although the content is equal (tests/e2e/test_fault_injection.py found this in billing_invoices).
Chain positions are the ledger's own gap-free counter and stay as they are.
"""

from __future__ import annotations

from ledger.projections import all_projections

NOTIFICATION_ID_COLUMNS = {"position", "log_position"}


def test_every_column_holding_a_notification_id_is_ordinal() -> None:
    loose = [(t.name, c) for p in all_projections() for t in p.tables for c in t.columns
             if c in NOTIFICATION_ID_COLUMNS and c not in t.ordinal]
    assert loose == []
