"""A demo store built the way a user builds it (`ledger demo --no-serve`, in a folder of its own),
at the demo's smallest scale so a test module can afford one."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ledger.demo import SMALLEST_FACTOR

BIN = Path(sys.executable).parent


def env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: the venv's commands on PATH, no store or tokens chosen."""
    out = {**os.environ, "COLUMNS": "80", "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    for key in ("LEDGER_DATABASE_URL", "LEDGER_TOKENS_FILE", "LEDGER_API_DEV_TOKEN_SHA256"):
        out.pop(key, None)
    out.update(extra)
    return out


def build(where: Path, database_url: str | None = None) -> str:
    """Build the demo in `where` (its `ledger.db`), or in `database_url` (LEDGER_DATABASE_URL, as a
    user would name a PostgreSQL schema); returns what the demo printed (the tour)."""
    extra = {"COLUMNS": "200", **({"LEDGER_DATABASE_URL": database_url} if database_url else {})}
    run = subprocess.run([str(BIN / "ledger"), "demo", "--no-serve", "--factor", str(SMALLEST_FACTOR)], cwd=where,
                         env=env(**extra), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def url(where: Path) -> str:
    return f"sqlite:///{where / 'ledger.db'}"


def store(request: Any, tmp_path_factory: Any, name: str) -> Iterator[str]:
    """A module's demo store on SQLite or PostgreSQL (`request.param`), dropped afterwards."""
    import pytest

    from conftest import drop_pg_schema, fresh_pg_url, pg_ok

    where = tmp_path_factory.mktemp(name)
    if request.param == "sqlite":
        build(where)
        yield url(where)
        return
    if not pg_ok():
        pytest.skip("PostgreSQL is not reachable")
    database_url = fresh_pg_url()
    try:
        build(where, database_url)
        yield database_url
    finally:
        drop_pg_schema(database_url)
