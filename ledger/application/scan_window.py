"""The rows an import's invoice runs read from the log, kept between runs (ADR 0024).

An import's invoice runs come in rounds: every municipality's run for a month, one after another.
Each reads the log from where its own previous run stopped to the head, so the runs of one round
read nearly the same stretch of the log, each asking the database for its municipality's rows of
it: the database examines every event about eleven times (once per municipality). The window asks
the database once for every municipality's rows of the stretch (same topics, same positions) and
hands each run the ones it would have got; the next run only asks for what was stored since.

Kept rows never go stale: the log is append-only, and every row at or below a notification id the
log's head has reached is committed and final (PostgreSQL commits in id order under the library's
table lock; a rolled-back id stays a gap; SQLite reuses a rolled-back rowid only while it is above
every committed one, and the window only reads up to a committed head). Only the importer installs
a window (`Ledger.scan_window`), for the length of one import, on its one thread.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import Any

Row = tuple[int, str, Any, int, bytes]  # (notification id, topic, originator id, version, state)


class ScanWindow:
    """Rows of the log with one set of topics, for the notification ids (lo, hi]."""

    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit  # rows kept at most: past it, the rows before the asked range are dropped
        self.topics: tuple[str, ...] = ()
        self.lo = self.hi = 0
        self.nids: list[int] = []
        self.rows: list[Row] = []

    def rows_between(self, topics: Sequence[str], after: int, until: int,
                     fetch: Callable[[int, int], list[Row]]) -> list[Row]:
        """The rows with these topics in (after, until], in id order; `fetch(a, b)` reads (a, b] of
        the log (every municipality) from the database, in id order."""
        key = tuple(sorted(set(topics)))
        if key != self.topics or after < self.lo:
            self.topics, self.lo, self.hi, self.nids, self.rows = key, after, after, [], []
        if until > self.hi:
            fresh = fetch(self.hi, until)
            assert all(self.hi < r[0] <= until for r in fresh), "fetched rows outside the asked range"
            assert all(a[0] < b[0] for a, b in zip(fresh, fresh[1:])), "fetched rows not in id order"
            self.rows.extend(fresh)
            self.nids.extend(r[0] for r in fresh)
            self.hi = until
        start, stop = bisect_right(self.nids, after), bisect_right(self.nids, until)
        found = self.rows[start:stop]
        if len(self.rows) > self.limit:  # keep the newest: the next run asks from its own start
            del self.rows[:start], self.nids[:start]
            self.lo = after
        return found
