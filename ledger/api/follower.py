"""Keeps the projections of this server process close behind the log, and lets a query wait for them.

A background thread calls `Engine.catch_up()` every `interval` seconds, and at once when a query
asks for a position it has not reached (read-your-writes). The engine itself makes concurrent
catch-ups from several processes safe; this thread only decides when to run one.

With several server processes on PostgreSQL (`ledger serve --workers N`), one of them leads: it
holds a session advisory lock (per schema) on a connection of its own and applies the log on every
tick. The others only read the tracked positions on their ticks, and catch up themselves only when
a query of theirs waits for a position (so read-your-writes stays as quick as before). Two
processes applying the same projections on every tick each read and decode the same events, and
each time one finds that the other moved a projection it throws its cached rows away: under load
that cost more CPU than a second worker gained. When the leader stops, its session ends and the
next tick of another process takes the lead.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import structlog

from ledger.db import Database

log = structlog.get_logger("ledger.api.follower")


def make_engine(db: Database) -> Any:
    from ledger.projections import all_projections
    from ledger.projections.engine import Engine

    return Engine(db, all_projections())


class Follower:
    def __init__(self, db: Database, interval: float, engine: Any = None) -> None:
        self.db = db
        self.interval = interval
        self.engine = engine if engine is not None else make_engine(db)
        self.reached = 0  # every projection has applied the log up to here
        self.error: str | None = None
        self.runs = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._asked = False  # a query is waiting: catch up now, leader or not
        self._lead: Any = None  # PostgreSQL: the connection holding the leader's advisory lock
        self._leading = False

    # -- the loop -------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="ledger-projection-follower", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._lead is not None:
            try:
                self._lead.close()
            except Exception:  # pragma: no cover - closing a broken connection
                pass
            self._lead = None
            self._leading = False

    def leads(self) -> bool:
        """Whether this process applies the log on its ticks (always, but on PostgreSQL with
        another server process holding the lead)."""
        if not self.db.is_postgres:
            return True
        import psycopg

        if self._leading:
            return True  # (a lost lead connection only means two processes catching up: safe)
        try:
            if self._lead is None:
                self._lead = psycopg.connect(self.db.config.conninfo, autocommit=True)
            row = self._lead.execute("SELECT pg_try_advisory_lock(hashtext(%s))",
                                     (f"ledger-api-follower:{self.db.config.schema}",)).fetchone()
            self._leading = bool(row and row[0])
            return self._leading
        except psycopg.Error:
            # No lead connection: behave as a lone process (catching up is always safe).
            if self._lead is not None:
                try:
                    self._lead.close()
                except Exception:  # pragma: no cover
                    pass
                self._lead = None
            return True

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            asked, self._asked = self._asked, False
            if asked or self.leads():
                self.step()
            else:
                self.watch()
            self._wake.wait(self.interval)

    def watch(self) -> None:
        """A tick of a process that does not lead: take the positions the leader has reached."""
        try:
            positions = [p["position"] for p in self.engine.status()]
        except Exception as e:  # the leader's step reports failures; here only note them
            log.warning("projection positions unreadable", error=f"{type(e).__name__}: {e}")
            return
        with self._changed:
            if positions:
                self.reached = max(self.reached, min(positions))
            self.runs += 1
            self._changed.notify_all()

    def step(self) -> None:
        """One catch-up; failures are logged and reported by /ready, never raised into the loop."""
        from ledger.projections.reader import head_position

        try:
            head = head_position(self.db)
            positions = self.engine.catch_up(until=head)
            reached = min(positions.values()) if positions else head
            error = None
        except Exception as e:  # a broken projection must not kill the thread: /ready shows it
            reached, error = self.reached, f"{type(e).__name__}: {e}"
            if error != self.error:
                log.error("projection catch-up failed", error=error)
        with self._changed:
            self.reached = max(self.reached, reached)
            self.error = error
            self.runs += 1
            self._changed.notify_all()

    # -- for queries ----------------------------------------------------------------------
    def wait_for(self, position: int, timeout: float) -> bool:
        """True once every projection has applied the log up to `position` (waits at most `timeout`)."""
        if self.reached >= position:
            return True
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.reached < position:
                if self._thread is None:
                    # No background thread (tests, a follower-less worker): catch up in the caller.
                    self._changed.release()
                    try:
                        self.step()
                    finally:
                        self._changed.acquire()
                    return self.reached >= position
                self._asked = True
                self._wake.set()
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, 0.25))
        return True
