"""The one registry of commands, and samples that make each command's example a whole command.

Every command is declared once, beside its handler, in `ledger/application/commands/<resource>.py`
(ADR 0010, ADR 0019); `declare()` puts its `CommandSpec` in `REGISTRY`, keyed by the command's
class, and `by_name()` derives the name → spec map the API paths, the import file and `ledger
command` use. This module re-exports them, and gives the sample path values that turn an example
body into a whole command (for tests and documentation).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ledger.application.commands import REGISTRY, Command, CommandSpec, by_name, spec_of

__all__ = ["REGISTRY", "SAMPLE_PATH", "CommandSpec", "by_class", "by_name", "sample_command", "sample_payload",
           "spec_of"]

# Values for the fields a route takes from its path, so that an example body becomes a whole command.
SAMPLE_CITIZEN = "2554e582-e697-59f2-9cfd-e5850753d758"
SAMPLE_ORDER = "eaf05690-abee-5b4c-b8b9-cd1ca082d42f"
SAMPLE_DELIVERY = "7d1f0c7e-2f0a-5d7e-9a51-0c6f3f4b2a11"
SAMPLE_PATH: Mapping[str, Any] = MappingProxyType({
    "municipality": 657, "citizen_id": SAMPLE_CITIZEN, "order_id": SAMPLE_ORDER, "delivery_id": SAMPLE_DELIVERY,
    "grant_id": "g-clean", "offer_id": "clean", "payment_id": "p-1"})


def sample_payload(spec: CommandSpec[Any]) -> dict[str, Any]:
    """The example body plus sample path values: a whole, valid command (as JSON values)."""
    return sample_command(spec).model_dump(mode="json")


def sample_command(spec: CommandSpec[Any]) -> Command:
    command: Command = spec.parse({**spec.example, **{f: SAMPLE_PATH[f] for f in spec.path_fields}})
    return command


def by_class() -> Mapping[type[Command], CommandSpec[Any]]:
    """The registry itself: one spec per command class (no two commands share a class)."""
    return MappingProxyType(REGISTRY)
