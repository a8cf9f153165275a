"""`ledger demo --no-serve` end to end, as a user runs it: a subprocess in an empty folder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

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
    # A guard, not a benchmark: about 15 s on a quiet machine; the box is shared and noisy.
    assert took < 90


def test_a_second_demo_moves_the_first_database_aside(tmp_path):
    (tmp_path / "ledger.db").write_bytes(b"an earlier demo")
    run = demo(tmp_path, "--factor", "0.005")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "moved the earlier ledger.db aside" in run.stdout
    assert [p.read_bytes() for p in tmp_path.glob("ledger.db.*.bak")] == [b"an earlier demo"]
