"""Fault injection in the spirit of TigerBeetle's simulator (issue 13): a seeded random history is
imported, caught up and rebuilt by the real `ledger` processes, each killed with SIGKILL at seeded
random moments and restarted, and at the end the store must equal that of an uninterrupted run:
the same events (content, in chain order), the same chain head, the same projection digests, and
`ledger-replay verify` passes.

Fast profile (CI): one seed, two kills per phase, a history of about 9,000 commands (invoice runs
included). Long profile by hand: `LEDGER_SIM_SEEDS=20 LEDGER_SIM_KILLS=5 LEDGER_SIM_FACTOR=0.1`.
It holds on PostgreSQL too: invoice events carry chain positions, never values of the
notification-id sequence that a killed transaction advances.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ledger.db import Database
from ledger.projections import all_projections
from ledger.projections.engine import Engine
from replay.store import open_store

SEEDS = [int(s) for s in os.environ.get("LEDGER_SIM_SEED_LIST", "").split(",") if s] or list(
    range(1, int(os.environ.get("LEDGER_SIM_SEEDS", "1")) + 1))
KILLS = int(os.environ.get("LEDGER_SIM_KILLS", "2"))
FACTOR = os.environ.get("LEDGER_SIM_FACTOR", "0.02")
BIN = Path(sys.executable).parent  # the console scripts installed beside this interpreter
LEDGER = [str(BIN / "ledger")]


def run(args: list[str], url: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LEDGER_DATABASE_URL": url}
    done = subprocess.run([*LEDGER, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
    return done


def killed(args: list[str], url: str, cwd: Path, after: float) -> bool:
    """Start `ledger ARGS`, SIGKILL it after `after` seconds; True if it was still running."""
    env = {**os.environ, "LEDGER_DATABASE_URL": url}
    process = subprocess.Popen([*LEDGER, *args], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        process.wait(after)
        return False
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait()
        return True


def fingerprint(url: str) -> dict[str, Any]:
    """What must equal an uninterrupted run: events as stored (without notification ids, which a
    killed PostgreSQL transaction may skip), the chain head, every projection table's digest."""
    store = open_store(url)
    try:
        events = hashlib.sha256()
        count = 0
        for page in store.event_pages(store.bounds()[1]):
            for _nid, oid, version, topic, state in page:
                events.update(repr((oid, version, topic, bytes(state))).encode())
                count += 1
        top = store.bounds()[0]
        head = store.chain_row(top)
    finally:
        store.close()
    db = Database(url)
    try:
        engine = Engine(db, all_projections())
        digests = {t.name: engine.digest(t.name) for p in all_projections() for t in p.tables}
    finally:
        db.close()
    return {"events": (count, events.hexdigest()), "head": (top, head[2].hex() if head else None),
            "projections": digests}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Per seed, made once for both backends: the generated history, what an uninterrupted import
    into SQLite and a catch-up leave (the fingerprint), and how long that import took."""
    made: dict[int, tuple[Path, dict[str, Any], float]] = {}

    def get(seed: int) -> tuple[Path, dict[str, Any], float]:
        if seed not in made:
            where = tmp_path_factory.mktemp(f"uninterrupted-{seed}")
            history = where / "history.jsonl"
            run(["generate", "--scale", "network", "--seed", str(seed), "--factor", FACTOR, "--out", str(history)],
                "sqlite:///unused.db", where)
            reference = f"sqlite:///{where / 'reference.db'}"
            started = time.monotonic()
            run(["import", str(history)], reference, where)
            import_seconds = time.monotonic() - started
            run(["projections", "catch-up"], reference, where)
            made[seed] = (history, fingerprint(reference), import_seconds)
        return made[seed]

    return get


@pytest.mark.parametrize("seed", SEEDS)
def test_a_store_killed_at_random_and_restarted_equals_the_uninterrupted_one(database_url: str, tmp_path: Path,
                                                                               seed: int, uninterrupted: Any) -> None:
    rng = random.Random(seed)
    history, expected, import_seconds = uninterrupted(seed)

    url = database_url
    kills = 0
    for _ in range(KILLS):
        kills += killed(["import", str(history)], url, tmp_path, rng.uniform(0.3, max(0.4, import_seconds * 0.9)))
    run(["import", str(history)], url, tmp_path)
    for phase in (["projections", "catch-up"], ["projections", "rebuild"]):
        for _ in range(KILLS):
            kills += killed(phase, url, tmp_path, rng.uniform(0.2, 1.5))
        run(phase, url, tmp_path)
    assert kills >= 1  # at least one process was really killed mid-work
    assert fingerprint(url) == expected
    verify = subprocess.run([str(BIN / "ledger-replay"), "verify", "--db", url], cwd=tmp_path,
                            env={**os.environ, "LEDGER_DATABASE_URL": ""}, capture_output=True, text=True,
                            timeout=600)
    assert verify.returncode == 0, verify.stdout[-2000:]
