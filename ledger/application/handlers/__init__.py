"""Use cases: one function per command, registered by name. Each validates everything first,
then changes aggregates through the unit of work; the application saves them in one transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

HANDLERS: dict[str, Callable[..., dict[str, Any]]] = {}


def handles(*names: str) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    def register(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        for name in names:
            HANDLERS[name] = fn
        return fn

    return register


def load_all() -> None:
    from ledger.application.handlers import billing, catalogue, citizens, deliveries, orders, payments, schemes  # noqa: F401
    from ledger.application.handlers import surveys  # noqa: F401
