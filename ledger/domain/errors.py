"""Every refusal the domain can give, each with a stable code.

The code is what the API puts in a problem+json `type` and what the CLI prints; the message says
exactly what is wrong. A refusal never changes state: command methods check before they act.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every error the ledger reports to a user."""

    code = "ledger-error"
    status = 400

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class RuleViolated(LedgerError):
    """A business rule refuses the command (the request was well-formed)."""

    code = "rule-violated"
    status = 422

    def __init__(self, rule: str, message: str, **details: object) -> None:
        super().__init__(message, **details)
        self.rule = rule


class InvalidInput(LedgerError):
    """A value is malformed: a bad date, a negative amount, an unknown code."""

    code = "invalid-input"
    status = 422


class NotFound(LedgerError):
    code = "not-found"
    status = 404


class AlreadyExists(LedgerError):
    code = "already-exists"
    status = 409


class ConcurrencyConflict(LedgerError):
    """Another writer changed the aggregate first; nothing of this command was stored."""

    code = "concurrency-conflict"
    status = 409


class StaleVersion(LedgerError):
    """The caller's expected version (If-Match) is not the current one."""

    code = "stale-version"
    status = 412


class IdempotencyMismatch(LedgerError):
    """The command id was used before with a different payload."""

    code = "idempotency-mismatch"
    status = 422


def rule(condition: bool, name: str, message: str, **details: object) -> None:
    """Refuse with RuleViolated unless the condition holds."""
    if not condition:
        raise RuleViolated(name, message, **details)
