"""The projection catch-up in a process of its own (ADR 0031): `ledger projections follow` leads,
server processes watch, and a query's wait is answered by the leader's signal, not by an interval.

PostgreSQL only: leading and the signals are an advisory lock and LISTEN/NOTIFY. (On SQLite the
server's own thread always leads; tests/e2e/test_api_idempotency.py covers its waits.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledger.projections.follower import Follower
from ledger.projections.reader import head_position

from helpers.history import citizen_with_grant, herning, open_ledger

pytestmark = pytest.mark.postgres

FOLLOW = [sys.executable, "-c", "from ledger.cli import main; main()", "projections", "follow"]


def _follow(url: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "LEDGER_DATABASE_URL": url, "LEDGER_LOG_FORMAT": "json"}
    return subprocess.Popen([*FOLLOW, *args], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _first_line(proc: subprocess.Popen[str], timeout: float = 60.0) -> str:
    import selectors

    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        assert sel.select(timeout), f"no output from the follower within {timeout} s"
    return proc.stdout.readline()


def test_a_waiting_query_asks_the_leader_and_does_not_wait_for_its_interval(pg_url):
    # Both loops tick once a minute: only the ask (watcher -> leader, NOTIFY) can bring the
    # watcher's wait to an end within seconds; the watcher then reads the positions it reached.
    a, b = open_ledger(pg_url), open_ledger(pg_url)
    leader, watcher = Follower(a.db, 60.0), Follower(b.db, 60.0)
    try:
        leader.engine.ensure_tables()
        assert leader.leads()
        leader.start()
        watcher.start()
        herning(a)
        citizen_with_grant(a)
        head = head_position(a.db)
        started = time.monotonic()
        assert watcher.wait_for(head, 10.0)
        assert time.monotonic() - started < 5
        assert not watcher.leading and watcher.reached >= head
        assert leader.wait_for(head, 5.0)  # (its step stored the positions just before saying so)
    finally:
        watcher.stop()
        leader.stop()
        a.close()
        b.close()


def test_the_follow_command_leads_catches_up_and_stops_on_sigterm(pg_url):
    app = open_ledger(pg_url)
    watcher = Follower(app.db, 0.2)
    proc = _follow(pg_url, "--interval", "30")
    try:
        assert "leading the projection catch-up" in _first_line(proc)
        assert not watcher.leads()  # the process holds the lead
        watcher.start()
        herning(app)
        head = head_position(app.db)
        assert watcher.wait_for(head, 10.0)
        assert {p["position"] for p in watcher.engine.status()} == {head}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        # The lead is free again: a server's thread takes it on its next tick.
        deadline = time.monotonic() + 10
        while not watcher.leading and time.monotonic() < deadline:
            time.sleep(0.1)
        assert watcher.leading
    finally:
        if proc.poll() is None:
            proc.kill()
        watcher.stop()
        app.close()


def test_a_follower_started_by_a_server_stops_when_the_server_goes_even_killed(pg_url):
    # `ledger serve` keeps the follower's stdin open; its end (the server's exit, or SIGKILL) stops it.
    proc = _follow(pg_url, "--until-stdin-closes")
    try:
        assert "leading" in _first_line(proc)
        assert proc.stdin is not None
        proc.stdin.close()
        assert proc.wait(15) == 0
        assert proc.stderr is not None and "Fatal Python error" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_second_follow_waits_and_takes_over_when_the_first_stops(pg_url):
    first = _follow(pg_url)
    second = None
    try:
        assert "leading" in _first_line(first)
        second = _follow(pg_url)
        assert "another process leads" in _first_line(second)
        first.send_signal(signal.SIGTERM)
        assert first.wait(15) == 0
        assert "leading" in _first_line(second, 15)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()


def test_follow_on_a_bad_store_url_is_a_clear_error(tmp_path: Path):
    env = {**os.environ, "LEDGER_DATABASE_URL": "mysql://nowhere/x"}
    done = subprocess.run([*FOLLOW], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error:") and "Traceback" not in done.stderr
