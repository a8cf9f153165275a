"""Keys a database copy cannot use (issue 13, ADR 0015), on SQLite and PostgreSQL.

A copy of the database (the SQLite file with its WAL; the identity tables' rows, as a pg_dump holds
them) without the master key decrypts no identity. After an erasure and a master-key rotation,
neither a copy taken before nor one taken after yields the erased identity. Identity writes and
erasures are stored in their events' transaction: a refused command leaves nothing behind.
"""

from __future__ import annotations

import base64
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.exceptions import InvalidTag
from typer.testing import CliRunner

from ledger.application import Ledger
from ledger.application.ledger import Submission
from ledger.cli import app as ledger_cli
from ledger.db import Database
from ledger.domain.base import Context
from ledger.domain.errors import LedgerError
from ledger.identity.master import IdentityUnavailable, LocalMasterKey
from ledger.settings import Settings
from tests.conftest import drop_pg_schema, fresh_pg_url
from tests.helpers.history import herning, run

CPR_A, NAME_A = "001399-0042", "Testa Fiktivsen"
CPR_B, NAME_B = "001399-0043", "Testo Fiktivsen"


def key_file(folder: Path, name: str) -> Path:
    _, text = LocalMasterKey.generate()
    path = folder / name
    path.write_text(text + "\n")
    return path


def open_with(url: str, master: Path | None) -> Ledger:
    return Ledger(Settings(database_url=url, master_key_file=str(master) if master else None))


def register(app: Ledger, cpr: str, name: str) -> str:
    cid = str(uuid.uuid4())
    run(app, "register_citizen", {"citizen_id": cid, "municipality": 657, "effective": "2018-01-01",
                                  "residence": "own_home", "identity": {"cpr": cpr, "name": name}})
    return cid


def copy_store(url: str, folder: Path) -> str:
    """A copy as an attacker or a backup gets it: the SQLite file and its WAL, or every table's
    rows in another schema (what a pg_dump restored elsewhere holds). Never the master key."""
    if url.startswith("sqlite:///"):
        source = Path(url.removeprefix("sqlite:///"))
        folder.mkdir(parents=True, exist_ok=True)
        for part in source.parent.iterdir():
            if part.name.startswith(source.name) and not part.name.endswith(".master-key"):
                shutil.copyfile(part, folder / part.name)
        return f"sqlite:///{folder / source.name}"
    target = fresh_pg_url()
    source_schema, target_schema = Database(url).config.schema, Database(target).config.schema
    with psycopg.connect(Database(url).config.conninfo, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (source_schema,))]
        for table in tables:
            conn.execute(f'CREATE TABLE "{target_schema}"."{table}" (LIKE "{source_schema}"."{table}" INCLUDING ALL)')
            conn.execute(f'INSERT INTO "{target_schema}"."{table}" SELECT * FROM "{source_schema}"."{table}"')
    return target


@pytest.fixture
def copies() -> Any:
    made: list[str] = []
    yield made
    for url in made:
        if url.startswith("postgres"):
            drop_pg_schema(url)


def stored_key_rows(app: Ledger) -> dict[str, bytes]:
    return {c: bytes(k) for c, k in app.db.query("SELECT citizen_id, key_bytes FROM identity_keys")}


def test_with_the_master_key_the_service_works_as_before(database_url: str, tmp_path: Path) -> None:
    master = key_file(tmp_path, "master.key")
    app = open_with(database_url, master)
    try:
        herning(app)
        cid = register(app, CPR_A, NAME_A)
        assert app.identity.get(cid) == {"cpr": CPR_A, "name": NAME_A}
        assert all(len(k) > 32 for k in stored_key_rows(app).values())  # wrapped, never the bare key
    finally:
        app.close()


def test_a_copy_of_the_database_without_the_master_key_decrypts_no_identity(database_url: str, tmp_path: Path,
                                                                            copies: list[str]) -> None:
    master = key_file(tmp_path, "master.key")
    app = open_with(database_url, master)
    try:
        herning(app)
        ids = [register(app, CPR_A, NAME_A), register(app, CPR_B, NAME_B)]
        copy = copy_store(database_url, tmp_path / "copy")
        copies.append(copy)
    finally:
        app.close()
    # The attacker's own master key (or none they can name) opens nothing, with a clear error.
    stolen = open_with(copy, key_file(tmp_path, "attacker.key"))
    try:
        for cid in ids:
            with pytest.raises(IdentityUnavailable, match="wrapped by master key"):
                stolen.identity.get(cid)
        # Nor does taking the stored key bytes for the key: they are a wrapped key, not the key.
        rows = dict(stolen.db.query("SELECT citizen_id, sealed FROM identity_records"))
        for cid, wrapped in stored_key_rows(stolen).items():
            raw = base64.b64decode(rows[cid])
            for candidate in (wrapped[:32], wrapped[-32:], wrapped[24:56]):
                with pytest.raises(InvalidTag):
                    AESGCM(candidate).decrypt(raw[:12], raw[12:], cid.encode())
    finally:
        stolen.close()
    missing = open_with(copy, tmp_path / "no-such.key")
    try:
        with pytest.raises(IdentityUnavailable, match="no master key file"):
            missing.identity.get(ids[0])
    finally:
        missing.close()


def test_after_erasure_and_rotation_no_copy_before_or_after_yields_the_erased_identity(
        database_url: str, tmp_path: Path, copies: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    master = key_file(tmp_path, "master.key")
    app = open_with(database_url, master)
    try:
        herning(app)
        erased, kept = register(app, CPR_A, NAME_A), register(app, CPR_B, NAME_B)
        before = copy_store(database_url, tmp_path / "before")
        copies.append(before)
        run(app, "erase_identity", {"citizen_id": erased}, "2019-01-01T08:00:00+00:00")
        assert app.identity.get(erased) is None
    finally:
        app.close()
    monkeypatch.setenv("LEDGER_DATABASE_URL", database_url)
    monkeypatch.setenv("LEDGER_MASTER_KEY_FILE", str(master))
    monkeypatch.delenv("LEDGER_MASTER_KEY", raising=False)
    old_key = master.read_text()
    result = CliRunner().invoke(ledger_cli, ["identity", "rotate-master-key"])
    assert result.exit_code == 0, result.output
    assert "re-wrapped 1 citizen key(s)" in result.output
    assert master.read_text() != old_key  # the file now holds the new key: the old one is destroyed
    after = copy_store(database_url, tmp_path / "after")
    copies.append(after)
    for url in (database_url, before, after):
        copy = open_with(url, master)
        try:
            if url == before:
                with pytest.raises(IdentityUnavailable):
                    copy.identity.get(erased)  # its wrapped key needs the destroyed master key
            else:
                assert copy.identity.get(erased) is None
                assert copy.identity.get(kept) == {"cpr": CPR_B, "name": NAME_B}
        finally:
            copy.close()


def test_an_erased_key_leaves_no_bytes_in_the_live_table(database_url: str, tmp_path: Path) -> None:
    app = open_with(database_url, key_file(tmp_path, "master.key"))
    try:
        herning(app)
        erased, _ = register(app, CPR_A, NAME_A), register(app, CPR_B, NAME_B)
        wrapped = stored_key_rows(app)[erased]
        run(app, "erase_identity", {"citizen_id": erased}, "2019-01-01T08:00:00+00:00")
        if app.db.is_postgres:
            # The server is shared: a transaction of another session that began before the erasure
            # may still see the row, and VACUUM FULL must keep it until that one ends.
            deadline = time.monotonic() + 60
            while not app.identity.scrub() and time.monotonic() < deadline:
                time.sleep(0.5)
            with app.db.connection() as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
                where = conn.execute("SELECT extnamespace::regnamespace::text FROM pg_extension "
                                     "WHERE extname = 'pageinspect'").fetchone()[0]
                pages = conn.execute("SELECT pg_relation_size('identity_keys') / current_setting('block_size')::int"
                                     ).fetchone()[0]
                raw = b"".join(bytes(conn.execute(f"SELECT {where}.get_raw_page('identity_keys', %s::int)",
                                                  (n,)).fetchone()[0]) for n in range(pages))
                assert pages > 0
        else:
            with app.db.connection() as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            path = Path(database_url.removeprefix("sqlite:///"))
            raw = b"".join(p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name + "-")
                           or p.name == path.name)
        assert wrapped[12:] not in raw
    finally:
        app.close()


def test_a_refused_registration_leaves_no_identity_behind(database_url: str, tmp_path: Path) -> None:
    app = open_with(database_url, key_file(tmp_path, "master.key"))
    try:
        herning(app)
        cid = str(uuid.uuid4())
        ctx = Context("test", "administrator", "reg-refused", None)
        batch = [Submission("register_citizen", {"citizen_id": cid, "municipality": 657, "effective": "2018-01-01",
                                                 "residence": "own_home", "identity": {"cpr": CPR_A, "name": NAME_A}},
                            ctx),
                 Submission("award_grant", {"citizen_id": str(uuid.uuid4()), "grant_id": "g", "fsiii": "H1.8",
                                            "section": "83", "amount": {"minutes_per_week": 30},
                                            "valid_from": "2018-01-01"}, Context("test", "administrator", "bad", None))]
        with pytest.raises(LedgerError):
            app.execute_batch(batch)
        assert app.db.query("SELECT count(*) FROM identity_keys")[0][0] == 0
        assert app.db.query("SELECT count(*) FROM identity_records")[0][0] == 0
    finally:
        app.close()


def test_a_refused_erasure_keeps_the_identity(database_url: str, tmp_path: Path) -> None:
    app = open_with(database_url, key_file(tmp_path, "master.key"))
    try:
        herning(app)
        cid = register(app, CPR_A, NAME_A)
        batch = [Submission("erase_identity", {"citizen_id": cid}, Context("test", "administrator", "erase-1", None)),
                 Submission("award_grant", {"citizen_id": str(uuid.uuid4()), "grant_id": "g", "fsiii": "H1.8",
                                            "section": "83", "amount": {"minutes_per_week": 30},
                                            "valid_from": "2018-01-01"}, Context("test", "administrator", "bad", None))]
        with pytest.raises(LedgerError):
            app.execute_batch(batch)
        assert app.identity.get(cid) == {"cpr": CPR_A, "name": NAME_A}  # the event was not stored: nor was erasure
    finally:
        app.close()


def test_keys_an_older_version_stored_in_clear_are_wrapped_on_first_start(database_url: str, tmp_path: Path) -> None:
    master = key_file(tmp_path, "master.key")
    app = open_with(database_url, master)
    try:
        herning(app)
        cid = register(app, CPR_A, NAME_A)
        key = app.identity.stored_key(cid)
        with app.db.transaction() as cur:  # as the previous version stored it
            cur.execute(app.db.sql("UPDATE identity_keys SET key_bytes = ? WHERE citizen_id = ?"), (key, cid))
    finally:
        app.close()
    again = open_with(database_url, master)
    try:
        assert len(stored_key_rows(again)[cid]) > 32
        assert again.identity.get(cid) == {"cpr": CPR_A, "name": NAME_A}
    finally:
        again.close()
