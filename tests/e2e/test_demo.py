"""`ledger demo --no-serve` end to end, as a user runs it: a subprocess in an empty folder."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

_SCRIPT = Path(sys.executable).with_name("ledger")
LEDGER = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-c", "from ledger.cli import main; main()"]


def demo(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "LEDGER_DATABASE_URL": ""}
    return subprocess.run([*LEDGER, "demo", "--no-serve", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_demo_sets_up_the_trial_shows_the_tour_and_exits(tmp_path):
    started = time.perf_counter()
    # 1 % of recipients keeps the suite quick; the default (5 %) is what a person sees.
    run = demo(tmp_path, "--factor", "0.01")
    took = time.perf_counter() - started
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert "Traceback" not in out + run.stderr
    assert (tmp_path / "ledger.db").exists()
    assert "recipients scaled by 0.01" in out
    assert "imported" in out and "events/s" in out
    for section in ("The timeline", "An invoice", "The audit", "Verify"):
        assert section in out
    assert "set up in" in out
    # Each band's price is set from that band's own cost (docs/adr/0027): the audit finds no version
    # off full cost, where one weekday basis for every band made each dearer evening and weekend
    # price look "above" it.
    assert "every price equals its full cost" in out and "off full cost (above)" not in out
    with sqlite3.connect(tmp_path / "ledger.db") as db:
        dearer, off = db.execute(
            "SELECT SUM(price_evening > price_weekday_day OR price_weekend > price_weekday_day), "
            "SUM(price_weekday_day - cost_weekday_day NOT BETWEEN 0 AND 99 OR price_evening - cost_evening "
            "NOT BETWEEN 0 AND 99 OR price_weekend - cost_weekend NOT BETWEEN 0 AND 99) FROM au_prices").fetchone()
    assert dearer > 0 and off == 0
    # A guard, not a benchmark: about 15 s on a quiet machine; the box is shared and noisy.
    assert took < 90


def test_a_second_demo_replaces_its_own_store_and_leaves_no_copies(tmp_path):
    assert demo(tmp_path, "--factor", "0.005").returncode == 0
    again = demo(tmp_path, "--factor", "0.005")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "replaced the earlier demo store ledger.db" in again.stdout
    assert sorted(p.name for p in tmp_path.iterdir() if ".bak" in p.name or p.name.endswith(".partial")) == []


def test_the_demo_leaves_a_store_it_did_not_build_alone_unless_fresh(tmp_path):
    (tmp_path / "ledger.db").write_bytes(b"someone's store")
    refused = demo(tmp_path, "--factor", "0.005")
    assert refused.returncode == 2 and "did not build" in refused.stderr and "--fresh" in refused.stderr
    assert (tmp_path / "ledger.db").read_bytes() == b"someone's store"
    fresh = demo(tmp_path, "--factor", "0.005", "--fresh")
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "deleted ledger.db (--fresh)" in fresh.stdout


def test_the_demo_honours_ledger_database_url(tmp_path):
    target = tmp_path / "elsewhere.db"
    env = {**os.environ, "COLUMNS": "200", "LEDGER_DATABASE_URL": f"sqlite:///{target}"}
    run = subprocess.run([*LEDGER, "demo", "--no-serve", "--factor", "0.005"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert target.exists() and not (tmp_path / "ledger.db").exists()
    assert f"--db sqlite:///{target}" in run.stdout


def test_the_demo_says_before_building_when_its_port_is_taken(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**os.environ, "COLUMNS": "200", "LEDGER_DATABASE_URL": ""}
        run = subprocess.run([*LEDGER, "demo", "--factor", "0.005", "--port", str(port)], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and f"port {port}" in run.stderr and "--no-serve" in run.stderr
    assert not (tmp_path / "ledger.db").exists()


@pytest.mark.postgres
def test_on_postgresql_the_demo_replaces_its_own_schema_and_refuses_another(tmp_path):
    from conftest import drop_pg_schema, fresh_pg_url, pg_ok

    if not pg_ok():
        pytest.skip("PostgreSQL is not reachable")
    url = fresh_pg_url()
    env = {**os.environ, "COLUMNS": "200", "LEDGER_DATABASE_URL": url}
    try:
        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*LEDGER, "demo", "--no-serve", "--factor", "0.005", *args], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=180)

        first = run()
        assert first.returncode == 0, first.stdout + first.stderr
        again = run()
        assert again.returncode == 0 and "replaced the earlier demo schema" in again.stdout, again.stderr
        import psycopg

        schema = url.rsplit("schema=", 1)[1]
        with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
            conn.execute(f'COMMENT ON SCHEMA "{schema}" IS NULL')  # now it is someone else's store
        refused = run()
        assert refused.returncode == 2 and "did not build" in refused.stderr
    finally:
        drop_pg_schema(url)
