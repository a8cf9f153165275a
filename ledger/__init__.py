"""The add-on ledger: an event-sourced ledger for Danish municipal add-on services (tilkøb)."""

__version__ = "0.1.0"
