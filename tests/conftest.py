"""Shared fixtures: every storage test runs against a SQLite file and a real PostgreSQL schema.

PostgreSQL is taken from LEDGER_TEST_PG (default: the local server with trust auth). Each test
gets its own schema, dropped afterwards, so runs never collide.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

PG_BASE = os.environ.get("LEDGER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")

# A fast profile for CI, a thorough one for local runs: HYPOTHESIS_PROFILE=thorough.
settings.register_profile(
    "ci", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
settings.register_profile(
    "thorough", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True, scope="session")
def _master_keys_in_a_temporary_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The default master key of a PostgreSQL store is a file in the user's config folder
    (ledger.identity.master); tests keep theirs in a folder of their own."""
    saved = os.environ.get("LEDGER_MASTER_KEY_DIR")
    os.environ["LEDGER_MASTER_KEY_DIR"] = str(tmp_path_factory.mktemp("master-keys"))
    yield
    if saved is None:
        os.environ.pop("LEDGER_MASTER_KEY_DIR", None)
    else:
        os.environ["LEDGER_MASTER_KEY_DIR"] = saved


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_BASE.replace("postgresql://", "postgresql://", 1), connect_timeout=3):
            return True
    except Exception:
        return False


_PG_OK: bool | None = None


def pg_ok() -> bool:
    global _PG_OK
    if _PG_OK is None:
        _PG_OK = _pg_available()
    return _PG_OK


def fresh_pg_url() -> str:
    """A URL naming a new, empty schema; the caller drops it with drop_pg_schema()."""
    import psycopg

    schema = "t_" + uuid.uuid4().hex[:16]
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{PG_BASE}?schema={schema}"


def drop_pg_schema(url: str) -> None:
    import psycopg

    schema = url.rsplit("schema=", 1)[1]
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    if not pg_ok():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {PG_BASE}; CI must test against it")
        pytest.skip("PostgreSQL is not reachable")
    url = fresh_pg_url()
    try:
        yield url
    finally:
        drop_pg_schema(url)
