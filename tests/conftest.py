"""Shared fixtures: every storage test runs against a SQLite file and a real PostgreSQL schema.

PostgreSQL is taken from LEDGER_TEST_PG (default: the local server with trust auth, database
`test`, which is created when missing). Each test gets its own schema, dropped afterwards, so runs
never collide. Without a server the PostgreSQL half is skipped, except under CI=true, where it fails.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

PG_BASE = os.environ.get("LEDGER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")

# A fast profile for CI, a thorough one for local runs: HYPOTHESIS_PROFILE=thorough.
# The fast profile is derandomised: the same 25 draws every run, so a main that was green stays
# green (a rare failing draw is for the thorough, random profile to find, then kept as @example).
settings.register_profile(
    "ci", max_examples=25, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
settings.register_profile(
    "thorough", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)


def fewer_examples(n: int) -> settings:
    """For a slow property test (seconds per example): `n` draws under the fast `ci` profile, the
    loaded profile's own count under any other (`thorough`: 300)."""
    return settings(max_examples=n) if PROFILE == "ci" else settings()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test keeps a node id of its own. schemathesis names each API operation's test
    `test_x[GET /path]`, but under pytest 9.2 the node id is built from the function's original name
    and loses the operation, so all of them share one id; xdist schedules by id and would then run
    one operation instead of each (silently). Such a test takes its name as its id; any other
    duplicate stops the run."""
    counts = Counter(item.nodeid for item in items)
    for item in items:
        if counts[item.nodeid] > 1 and item.parent is not None and not item.nodeid.endswith("::" + item.name):
            if hasattr(item.parent, "id"):  # pytest >= 9.2: a NodeId, made as Node.__init__ makes one
                item._id = item.parent.id.child(item.name)  # type: ignore[attr-defined]
            else:
                item._nodeid = f"{item.parent.nodeid}::{item.name}"  # type: ignore[attr-defined]
    twice = sorted(nodeid for nodeid, n in Counter(item.nodeid for item in items).items() if n > 1)
    if twice:
        raise pytest.UsageError(f"{len(twice)} test ids name more than one test (xdist would run one of each): "
                                + ", ".join(twice[:5]))


def _ensure_database() -> None:
    """Create the test database (`test` by default) when the server is up but the database is not
    there yet, connecting to the server's `postgres` database to do it: a fresh PostgreSQL needs
    nothing made by hand."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(PG_BASE)
    name = params.get("dbname") or "postgres"
    try:
        with psycopg.connect(PG_BASE, connect_timeout=3):
            return
    except psycopg.OperationalError as e:
        if f'database "{name}" does not exist' not in str(e):
            raise
    with psycopg.connect(make_conninfo(PG_BASE, dbname="postgres"), autocommit=True, connect_timeout=3) as conn:
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            pass  # another xdist worker made it first (a race on pg_database's name index is a UniqueViolation)


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

        _ensure_database()
        with psycopg.connect(PG_BASE, connect_timeout=3):
            return True
    except Exception as e:  # noqa: BLE001 - any failure means "not reachable"; the message says which
        global _PG_PROBLEM
        _PG_PROBLEM = f"{type(e).__name__}: {e}".strip()
        return False


_PG_PROBLEM = ""


def in_ci() -> bool:
    """CI=true (as GitHub Actions, GitLab and most CI services set it): PostgreSQL must be there."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


_PG_OK: bool | None = None


def pg_ok() -> bool:
    """Is PostgreSQL there? Under CI=true a missing server fails the asking test instead of
    letting it skip, so a CI run never passes with half the suite left out."""
    global _PG_OK
    if _PG_OK is None:
        _PG_OK = _pg_available()
    if not _PG_OK and in_ci():
        pytest.fail(f"PostgreSQL is not reachable at {PG_BASE} ({_PG_PROBLEM}); under CI=true the "
                    "PostgreSQL half of the suite must run, not be skipped")
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


def _pg_schema() -> Iterator[str]:
    if not pg_ok():  # (under CI=true pg_ok fails the test instead)
        pytest.skip(f"PostgreSQL is not reachable at {PG_BASE} ({_PG_PROBLEM}); set LEDGER_TEST_PG")
    url = fresh_pg_url()
    try:
        yield url
    finally:
        drop_pg_schema(url)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema, for what is PostgreSQL's alone (no SQLite twin to skip)."""
    yield from _pg_schema()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A fresh, empty database URL: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
        return
    yield from _pg_schema()
