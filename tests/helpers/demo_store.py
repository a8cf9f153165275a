"""A demo store built the way a user builds it (`ledger demo --no-serve`, in a folder of its own),
at the demo's smallest scale.

One build serves the whole run: the SQLite demo is built once (by whichever xdist worker asks
first, under a file lock; the others wait for it) and each module gets a copy of its own, so a
module that writes changes nobody else's store; the PostgreSQL demo is built once per worker and
shared by the modules that only read it (tables, CSV), its schema dropped when the worker ends."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _run_root(tmp_path_factory: Any) -> Path:
    """A folder every xdist worker of this run sees (their base folders' parent, as xdist's docs
    suggest); this run's own base folder without xdist (its parent holds earlier runs)."""
    base = Path(tmp_path_factory.getbasetemp())
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def sqlite_copy(tmp_path_factory: Any, name: str) -> tuple[Path, str]:
    """A folder of its own (`name`) holding a copy of this run's SQLite demo (`ledger.db` and its
    master key beside it), and the tour the demo printed."""
    root = _run_root(tmp_path_factory)
    template = root / "demo-sqlite"
    with _locked(root / "demo-sqlite.lock"):
        if not (template / "tour.txt").exists():  # written last: a build that failed is redone
            shutil.rmtree(template, ignore_errors=True)
            template.mkdir()
            tour = build(template)
            (template / "tour.txt").write_text(tour, encoding="utf-8")
    where = Path(tmp_path_factory.mktemp(name))
    for f in template.glob("ledger.db*"):
        if not f.name.endswith("-shm"):  # the file, its WAL if one is left, the master key
            shutil.copy2(f, where / f.name)
    return where, (template / "tour.txt").read_text(encoding="utf-8")


_PG_DEMO: dict[str, str] = {}


def pg_shared(config: Any, tmp_path_factory: Any) -> str:
    """This worker's PostgreSQL demo schema, built on first use; for tests that only read it."""
    from conftest import drop_pg_schema, fresh_pg_url

    if "url" not in _PG_DEMO:
        database_url = fresh_pg_url()
        config.add_cleanup(lambda: drop_pg_schema(database_url))
        build(Path(tmp_path_factory.mktemp("demo-pg")), database_url)
        _PG_DEMO["url"] = database_url
    return _PG_DEMO["url"]


def store(request: Any, tmp_path_factory: Any, name: str) -> Iterator[str]:
    """A module's demo store on SQLite (a copy of its own) or PostgreSQL (shared: only read it),
    by `request.param`."""
    import pytest

    from conftest import pg_ok

    if request.param == "sqlite":
        yield url(sqlite_copy(tmp_path_factory, name)[0])
        return
    if not pg_ok():
        pytest.skip("PostgreSQL is not reachable")
    yield pg_shared(request.config, tmp_path_factory)
