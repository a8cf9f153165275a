"""Who may read what. Commands are governed by `ROLE_COMMANDS` (ledger.application.commands); reads
by this one table, so the whole access policy of the service can be read in two places.

Every read is further limited to the caller's municipalities. Auditors and evaluators have no
commands at all: they read only.
"""

from __future__ import annotations

from typing import Final

# What a reader sees, by kind of data.
READERS: Final[dict[str, frozenset[str]]] = {
    # a citizen's record, grants, orders and deliveries (care details are health data)
    "citizen": frozenset({"assessor", "provider_staff", "billing_clerk", "auditor", "administrator"}),
    # CPR number and name from the identity store: only those who must address the person
    "identity": frozenset({"assessor", "billing_clerk", "administrator"}),
    # invoices, balances, payments, credit notes, exports, a citizen's account
    "billing": frozenset({"billing_clerk", "auditor", "administrator"}),
    # schemes and catalogues are public facts of a municipality
    "catalogue": frozenset({"assessor", "catalogue_manager", "provider_staff", "billing_clerk", "auditor",
                            "evaluator", "administrator"}),
    # the trial timeline (pseudonymous, aggregated)
    "timeline": frozenset({"catalogue_manager", "auditor", "evaluator", "administrator"}),
    # audit findings and the access log
    "audit": frozenset({"auditor", "administrator"}),
}


def may_read(role: str, kind: str) -> bool:
    return role in READERS[kind]
