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

import orjson

Row = tuple[int, str, Any, int, bytes]  # (notification id, topic, originator id, version, state)


class _Rows:
    """Rows in id order, with their ids for bisection."""

    def __init__(self) -> None:
        self.nids: list[int] = []
        self.rows: list[Row] = []

    def add(self, row: Row) -> None:
        self.nids.append(row[0])
        self.rows.append(row)

    def between(self, after: int, until: int) -> list[Row]:
        return self.rows[bisect_right(self.nids, after):bisect_right(self.nids, until)]


class ScanWindow:
    """Rows of the log with one set of topics, for the notification ids (lo, hi], also by the
    municipality their state names (the decoded value, as the scan's own check compares it)."""

    def __init__(self, limit: int = 200_000) -> None:
        self.limit = limit  # rows kept at most: past it, the window starts again from the asked range
        self.topics: tuple[str, ...] = ()
        self.lo = self.hi = 0
        self.all = _Rows()
        self.by_municipality: dict[Any, _Rows] = {}

    def _reset(self, topics: tuple[str, ...], at: int) -> None:
        self.topics, self.lo, self.hi = topics, at, at
        self.all, self.by_municipality = _Rows(), {}

    def covers(self, after: int, until: int) -> bool:
        """Whether (after, until] is a stretch for the window: one no longer than the rows it keeps
        (notification ids count at least the rows in between). A longer one, a municipality's first
        run over the whole history, is read past the window, leaving what it holds for the next run."""
        return until - after <= self.limit

    def rows_between(self, topics: Sequence[str], after: int, until: int, fetch: Callable[[int, int], list[Row]],
                     municipality: int | None = None) -> list[Row]:
        """The rows with these topics in (after, until], in id order, of every municipality or
        only those whose decoded state names `municipality` (a superset of what the scan yields:
        it still makes its byte and decoded tests). `fetch(a, b)` reads (a, b] of the log, every
        municipality, in id order."""
        key = tuple(sorted(set(topics)))
        if key != self.topics or after < self.lo or len(self.all.rows) > self.limit:
            self._reset(key, after)
        if until > self.hi:
            fresh = fetch(self.hi, until)
            assert all(self.hi < r[0] <= until for r in fresh), "fetched rows outside the asked range"
            assert all(a[0] < b[0] for a, b in zip(fresh, fresh[1:])), "fetched rows not in id order"
            for row in fresh:
                self.all.add(row)
                named = _municipality(row[4])
                if named is not None:
                    self.by_municipality.setdefault(named, _Rows()).add(row)
            self.hi = until
        if municipality is None:
            return self.all.between(after, until)
        # Equal values share a dict key (657, 657.0), so this is every row the decoded test keeps.
        rows = self.by_municipality.get(municipality)
        return rows.between(after, until) if rows is not None else []


def _municipality(state: bytes) -> Any:
    """The state's top-level `municipality` when it can be a dict key (None: no row of it can equal
    a municipality code, so no municipality's scan yields it)."""
    try:
        value = orjson.loads(state)
    except orjson.JSONDecodeError:
        return None
    named = value.get("municipality") if isinstance(value, dict) else None
    return named if isinstance(named, (int, float, str)) else None
