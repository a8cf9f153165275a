"""A demo store built the way a user builds it (`ledger demo --no-serve`, in a folder of its own),
at the demo's smallest scale so a test module can afford one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ledger.demo import SMALLEST_FACTOR

BIN = Path(sys.executable).parent


def env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: the venv's commands on PATH, no store or tokens chosen."""
    out = {**os.environ, "COLUMNS": "80", "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    for key in ("LEDGER_DATABASE_URL", "LEDGER_TOKENS_FILE", "LEDGER_API_DEV_TOKEN_SHA256"):
        out.pop(key, None)
    out.update(extra)
    return out


def build(where: Path) -> str:
    """Build the demo in `where` (its `ledger.db`); returns what the demo printed (the tour)."""
    run = subprocess.run([str(BIN / "ledger"), "demo", "--no-serve", "--factor", str(SMALLEST_FACTOR)], cwd=where,
                         env=env(COLUMNS="200"), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def url(where: Path) -> str:
    return f"sqlite:///{where / 'ledger.db'}"
