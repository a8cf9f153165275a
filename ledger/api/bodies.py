"""Request bodies: each command's schema minus the fields its path names (POST
/orders/{order_id}/cancel takes the order id from the path, not the body).

They are derived from the command's declaration (`CommandSpec.body`, ledger.application.commands),
never re-declared, so the API, the import file and the CLI share one vocabulary; the examples they
carry are the declarations' (what /openapi.json shows, and what schemathesis starts from).
`bodies.PlaceOrderBody` still names the body of `PlaceOrder`.
"""

from __future__ import annotations

from ledger.application.commands import REGISTRY, Command, spec_of


def body_of(command: type[Command]) -> type[Command] | None:
    """The request body of a command (None when the path names every field)."""
    return spec_of(command).body


def __getattr__(name: str) -> type[Command]:
    for spec in REGISTRY.values():
        if spec.body is not None and spec.body.__name__ == name:
            return spec.body
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
