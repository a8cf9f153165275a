"""Keeps the projections close behind the log, and lets a query wait for them (read-your-writes).

A follower's loop catches up (`Engine.catch_up()`) every `interval` seconds when it leads, and at
once when a query asks for a position the read models have not reached. The engine itself makes
concurrent catch-ups from several processes safe; a follower only decides when to run one.

Where it runs:
- SQLite (one process): a background thread of the server process.
- PostgreSQL: one follower leads, the holder of a session advisory lock (per schema) on a
  connection of its own; the others only watch. `ledger serve` starts a follower *process* of its
  own first (`ledger projections follow`), which takes the lead; the server processes' threads
  then watch. Why a process: a catch-up step is 100-160 ms of Python, and in a server's thread it
  held the GIL against the event loop, so the commands' p99 was that step (ADR 0031). When the
  lead is free (the follower process stopped), the next tick of a server process's thread takes
  it, as before: slower at the tail, never wrong.
- Asks (PostgreSQL LISTEN/NOTIFY, one channel per schema): a query waiting for a position sends
  `ask`; the leader, which alone listens (on the connection that holds the lead), catches up at
  once. The waiting query reads the tracked positions every few milliseconds until they reach its
  position. A lost ask costs at most one `interval`. (The leader does not announce what it
  reached: every NOTIFY wakes every listening session of the database, and the event-sourcing
  library already sends one per save; only the leader listening keeps that cost at one session.)
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any

import structlog

from ledger.db import Database

# A query waiting on PostgreSQL reads the positions this often, and asks again this often.
POLL_SECONDS = 0.01
ASK_AGAIN_SECONDS = 0.25

log = structlog.get_logger("ledger.projections.follower")


def make_engine(db: Database) -> Any:
    from ledger.projections import all_projections
    from ledger.projections.engine import Engine

    return Engine(db, all_projections())


def channel_of(db: Database) -> str:
    """The schema's LISTEN/NOTIFY channel; an identifier, so at most 63 bytes."""
    name = f"ledger_follow_{db.config.schema}"
    if len(name.encode()) > 63:
        name = "ledger_follow_" + hashlib.sha256(db.config.schema.encode()).hexdigest()[:32]
    return name


class Follower:
    def __init__(self, db: Database, interval: float, engine: Any = None) -> None:
        self.db = db
        self.interval = interval
        self.engine = engine if engine is not None else make_engine(db)
        self.reached = 0  # every projection has applied the log up to here
        self.error: str | None = None
        self.runs = 0
        self.channel = channel_of(db) if db.is_postgres else ""
        self._wake = threading.Event()  # SQLite: a query asks, or stop()
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._signals: Any = None  # PostgreSQL: the lead's advisory lock and LISTEN, this follower's own
        self._leading = False

    # -- the loop -------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="ledger-projection-follower", daemon=True)
        self._thread.start()

    def run(self, on_lead: Callable[[], None] | None = None) -> None:
        """The loop, in the calling thread, until `stop()`; `on_lead` is called once, when this
        follower first takes the lead (`ledger projections follow` says so on its output)."""
        told_lead = False
        while not self._stop.is_set():
            if self.leads():
                if not told_lead and on_lead is not None:
                    told_lead = True
                    on_lead()
                self.step()
            else:
                self.watch()
            self._pause()

    def stop(self, timeout: float = 10.0) -> None:
        self.request_stop()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._close_signals()

    def request_stop(self) -> None:
        """From another thread: end `run()` now (it closes nothing itself; `stop()` does)."""
        self._stop.set()
        self._wake.set()
        if self._leading:
            self._signal("wake")  # out of the leader's LISTEN wait now, not at the end of its interval

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def leading(self) -> bool:
        """Whether this follower held the lead at its last look (no round trip; `leads()` looks)."""
        return not self.db.is_postgres or self._leading

    def leads(self) -> bool:
        """Whether this follower applies the log on its ticks (always, but on PostgreSQL with
        another follower holding the lead). Asks on the loop's own connection: call it from the
        loop's thread, or before `start()`."""
        if not self.db.is_postgres:
            return True
        import psycopg

        if self._leading:
            return True
        try:
            conn = self._connection()
            row = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))",
                               (f"ledger-api-follower:{self.db.config.schema}",)).fetchone()
            if row and row[0]:
                from psycopg import sql

                conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))  # for the asks
                self._leading = True
            return self._leading
        except psycopg.Error:
            # No lead connection: behave as a lone process (catching up is always safe).
            self._close_signals()
            return True

    def watch(self) -> None:
        """A tick of a follower that does not lead: take the positions the leader has reached."""
        try:
            self._read_reached()
        except Exception as e:  # the leader's step reports failures; here only note them
            log.warning("projection positions unreadable", error=f"{type(e).__name__}: {e}")

    def step(self) -> None:
        """One catch-up; failures are logged and reported by /ready, never raised into the loop."""
        from ledger.projections.reader import head_position

        try:
            head = head_position(self.db)
            positions = self.engine.catch_up(until=head)
            reached = min(positions.values()) if positions else head
            error = None
        except Exception as e:  # a broken projection must not kill the loop: /ready shows it
            reached, error = self.reached, f"{type(e).__name__}: {e}"
            if error != self.error:
                log.error("projection catch-up failed", error=error)
        self._reach(reached, stepped=True, error=error)

    def _reach(self, position: int, *, stepped: bool = False, error: str | None = None) -> None:
        """Say what was reached (and, after a step of our own, whether it failed) to the waiting queries."""
        with self._changed:
            self.reached = max(self.reached, position)
            if stepped:
                self.error = error
            self.runs += 1
            self._changed.notify_all()

    def _read_reached(self) -> None:
        """What every projection has applied, read from the tracking table (one query)."""
        from ledger.projections.engine import TRACKING_TABLE

        names = list(self.engine.projections)
        marks = ", ".join("?" for _ in names)
        rows = self.db.query(f"SELECT count(*), min(position) FROM {TRACKING_TABLE} WHERE name IN ({marks})", names)
        count, low = rows[0] if rows else (0, None)
        if count == len(names) and low is not None:
            self._reach(int(low))

    # -- signals (PostgreSQL) -------------------------------------------------------------
    def _connection(self) -> Any:
        if self._signals is None:
            import psycopg

            self._signals = psycopg.connect(self.db.config.conninfo, autocommit=True)
        return self._signals

    def _close_signals(self) -> None:
        conn, self._signals, self._leading = self._signals, None, False
        if conn is not None:
            try:
                conn.close()
            except Exception:  # pragma: no cover - closing a broken connection
                pass

    def _signal(self, payload: str) -> None:
        """Send `payload` to every follower of this schema (through the pool: the lead connection
        belongs to the loop's thread). A failure only means waiting out an interval."""
        try:
            self.db.query("SELECT pg_notify(?, ?)", (self.channel, payload))
        except Exception as e:  # pragma: no cover - the database is gone; the loop reports it
            log.warning("projection signal not sent", payload=payload, error=f"{type(e).__name__}: {e}")

    def _pause(self) -> None:
        """Wait out the interval; for a leader, an ask or a stop ends it at once."""
        if not self.db.is_postgres or not self._leading or self._signals is None:
            self._wake.wait(self.interval)
            self._wake.clear()
            return
        import psycopg

        deadline = time.monotonic() + self.interval
        try:
            while not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                for note in self._signals.notifies(timeout=left, stop_after=1):
                    if note.payload == "ask":
                        return
        except psycopg.Error as e:
            log.warning("projection signals lost; reconnecting", error=f"{type(e).__name__}: {e}")
            self._close_signals()
            self._stop.wait(self.interval)

    # -- for queries ----------------------------------------------------------------------
    def wait_for(self, position: int, timeout: float) -> bool:
        """True once every projection has applied the log up to `position` (waits at most `timeout`)."""
        if self.reached >= position:
            return True
        if self._thread is None:
            # No background loop (tests, a follower-less worker): catch up in the caller.
            self.step()
            return self.reached >= position
        deadline = time.monotonic() + timeout
        asked = float("-inf")
        while True:
            # The leader elsewhere: ask it, and read what it reached. Here (SQLite, or this
            # process leads): wake the loop, whose step tells the condition.
            elsewhere = not self.leading
            if time.monotonic() - asked >= ASK_AGAIN_SECONDS:
                asked = time.monotonic()
                if self.db.is_postgres:
                    self._signal("ask")
                else:
                    self._wake.set()
            if elsewhere:
                try:
                    self._read_reached()
                except Exception as e:  # the database is away: wait on, the deadline still holds
                    log.warning("projection positions unreadable", error=f"{type(e).__name__}: {e}")
            with self._changed:
                if self.reached >= position:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, POLL_SECONDS if elsewhere else ASK_AGAIN_SECONDS))
