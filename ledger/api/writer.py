"""The API's writer: the application's group commit (ledger.application.group_commit, ADR 0008),
with the one HTTP concern it has: a command not answered in time is a 503 with `Retry-After`."""

from __future__ import annotations

from ledger.api.problems import ApiProblem
from ledger.application.group_commit import GroupCommit, Unanswered, versions_of

__all__ = ["Unanswered", "Writer", "versions_of"]


class Writer(GroupCommit):
    def unanswered(self) -> Exception:
        return ApiProblem("store-unavailable",
                          f"the command was not answered within {self.wait_seconds:g} s; it may still be stored: "
                          "retry with the same Idempotency-Key", headers={"Retry-After": "1"})
