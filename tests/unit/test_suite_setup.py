"""The suite makes what it needs: the PostgreSQL test database, and a failure (not a skip) in CI."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid

import pytest

import conftest


@pytest.mark.postgres
def test_a_missing_test_database_is_created(monkeypatch):
    import psycopg
    from psycopg.conninfo import make_conninfo

    if not conftest.pg_ok():
        pytest.skip("PostgreSQL is not reachable")
    name = "t_created_" + uuid.uuid4().hex[:8]
    url = make_conninfo(conftest.PG_BASE, dbname=name)
    monkeypatch.setattr(conftest, "PG_BASE", url)
    try:
        conftest._ensure_database()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (name,)
    finally:
        with psycopg.connect(make_conninfo(url, dbname="postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def test_under_ci_a_missing_postgresql_fails_instead_of_skipping(tmp_path):
    (tmp_path / "test_needs_pg.py").write_text(textwrap.dedent("""
        def test_storage(database_url):
            assert database_url
    """))
    conf = tmp_path / "conftest.py"
    conf.write_text(open(conftest.__file__, encoding="utf-8").read())
    # A port nothing listens on: the server is "missing".
    env = {"LEDGER_TEST_PG": "postgresql://postgres@127.0.0.1:9/test", "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                         env={**env, "CI": "true"}, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 1, run.stdout
    assert " skipped" not in run.stdout.splitlines()[-1] and ("1 error" in run.stdout or "1 failed" in run.stdout)
    assert "under CI=true" in run.stdout
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                         env=env, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert run.returncode == 0, run.stdout
    assert "1 skipped" in run.stdout
