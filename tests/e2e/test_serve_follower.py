"""`ledger serve --workers 2` on PostgreSQL, as a user runs it: the projection catch-up runs in a
process of its own (ADR 0031), a query with `min_position` reads the write it follows within
seconds although every catch-up interval is a minute, and the follower stops with the server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ledger.api.auth import token_sha256
from tests.helpers.api import USERS, auth, build_world, ok, token_of

pytestmark = pytest.mark.postgres


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                children = [int(c) for c in (task / "children").read_text().split()]
                found += children
                todo += children
        except OSError:
            pass
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_serve_runs_the_catch_up_in_its_own_process_and_reads_follow_writes(pg_url, tmp_path):
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps([{"user": u, "role": r, "municipalities": m, "token_sha256": token_sha256(token_of(u))}
                                  for u, (r, m) in USERS.items()]))
    port = _free_port()
    env = {**os.environ, "LEDGER_DATABASE_URL": pg_url, "LEDGER_TOKENS_FILE": str(tokens),
           "LEDGER_API_CATCH_UP_SECONDS": "60", "LEDGER_LOG_FORMAT": "json"}
    server = subprocess.Popen([sys.executable, "-c", "from ledger.cli import main; main()", "serve", "--port",
                               str(port), "--workers", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/ready").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert server.poll() is None, server.communicate()[1].decode()[-2000:]
                assert time.monotonic() < deadline, "the server did not become ready within 60 s"
                time.sleep(0.2)
            followers = [p for p in _descendants(server.pid) if "projections follow" in _cmdline(p)]
            assert len(followers) == 1

            order = build_world(client, 1).orders[657][0]
            ok(client.post("/deliveries", headers=auth("staff-657"), json={
                "order_id": order, "date": "2019-03-04", "band": "weekday_day", "minutes": 60, "staff_id": "s-1"}))
            run = ok(client.post("/billing/runs", headers=auth("clerk-657"),
                                 json={"municipality": 657, "month": "2019-03", "run_date": "2019-04-01"}))
            started = time.monotonic()
            seen = ok(client.get("/billing/invoices", headers=auth("clerk-657"),
                                 params={"min_position": run["position"]}))
            assert time.monotonic() - started < 5
            assert [i["number"] for i in seen["invoices"]] == ["657-000001"]
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert server.returncode == 0, server.stderr.read().decode()[-2000:] if server.stderr else ""
    # The follower went with the server.
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{p}") and "projections follow" in _cmdline(p) for p in followers):
        assert time.monotonic() < deadline, "the follower process outlived the server"
        time.sleep(0.1)
