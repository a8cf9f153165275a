"""The one error the replay tool raises for a problem the user can fix (exit code 2).

Findings about the store itself (a broken chain, a differing projection) are not errors: they are
the result of a check and end in exit code 1, never in an exception.
"""

from __future__ import annotations


class UsageError(Exception):
    """Bad input: an unusable URL, a missing file, a store without an event log, a bad option."""
