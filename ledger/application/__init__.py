"""The application layer: the one place that executes commands and saves what they change."""

from ledger.application.ledger import Ledger, Outcome

__all__ = ["Ledger", "Outcome"]
