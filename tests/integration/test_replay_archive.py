"""`export` and `verify --archive`: the log, as stored, in a file that verifies with no database."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from replay.archive import Archive, Cut, export, verify_archive
from replay.errors import UsageError
from replay.store import open_store
from ledger.db import Database
from tests.integration.test_replay_chain import (BEFORE_CORRECTION, event_at, first, history, position_of, set_state,
                                                 verify)


def write(url: str, path: Path, cut: Cut = Cut()) -> Any:
    store = open_store(url)
    try:
        return export(store, path, cut)
    finally:
        store.close()


def check(path: Path, expect: list[Any] = ()) -> Any:
    return verify_archive(Archive(path), list(expect))


def rewrite(path: Path, change: Any) -> None:
    """Apply `change` to the archive's lines (a list of bytes) and write it back."""
    with gzip.open(path, "rb") as f:
        lines = f.read().splitlines(keepends=True)
    with gzip.open(path, "wb") as f:
        f.write(b"".join(change(lines)))


@pytest.fixture
def stored(database_url: str) -> Any:
    db = Database(history(database_url))
    yield database_url, db
    db.close()


def test_an_exported_archive_verifies_without_a_database(stored: Any, tmp_path: Path) -> None:
    url, db = stored
    result = write(url, tmp_path / "log.jsonl.gz")
    head_pos, head_hash = db.query("SELECT position, hash FROM ledger_chain ORDER BY position DESC LIMIT 1")[0]
    assert result.manifest["count"] == head_pos
    assert result.manifest["head_hash"] == bytes(head_hash).hex()
    archived = check(tmp_path / "log.jsonl.gz", [])
    assert archived.ok, [p.message for p in archived.problems]
    assert archived.checked == head_pos and len(archived.claims) == 2


def test_an_archive_holds_the_stored_bytes_exactly(stored: Any, tmp_path: Path) -> None:
    url, db = stored
    write(url, tmp_path / "log.gz")
    archived = {row[1]: row[3] for page in Archive(tmp_path / "log.gz").pages() for row in page}
    for nid, state in db.query(f"SELECT {db.position_column}, state FROM {db.events_table}"):
        assert archived[nid][4] == bytes(state)


def test_an_edited_archive_fails_at_the_edited_position(stored: Any, tmp_path: Path) -> None:
    url, db = stored
    path = tmp_path / "log.gz"
    write(url, path)
    position = position_of(db, "DeliveryRecorded")
    rewrite(path, lambda lines: [line.replace(b'\\"minutes\\":55', b'\\"minutes\\":15') if i == position else line
                                 for i, line in enumerate(lines)])
    problems = check(path).problems
    assert sorted(problems)[0].message == f"position {position}: hash mismatch (stored state altered?)"
    assert any("events_sha256" in p.message for p in problems)


def test_a_truncated_archive_fails(stored: Any, tmp_path: Path) -> None:
    url, _ = stored
    path = tmp_path / "log.gz"
    write(url, path)
    rewrite(path, lambda lines: lines[:-4])  # the last rows and the manifest are gone
    assert "no manifest" in first(check(path)).message
    path.write_bytes(path.read_bytes()[:-40])  # and now the gzip stream itself ends early
    assert not check(path).ok


def test_an_export_cut_at_a_position_is_a_verifiable_prefix(stored: Any, tmp_path: Path) -> None:
    url, db = stored
    result = write(url, tmp_path / "cut.gz", Cut(until_position=10))
    h = bytes(db.query("SELECT hash FROM ledger_chain WHERE position = 10")[0][0]).hex()
    assert (result.manifest["count"], result.manifest["head_hash"]) == (10, h)
    assert check(tmp_path / "cut.gz", []).ok


def test_an_export_until_a_recorded_instant_stops_before_the_first_later_event(stored: Any, tmp_path: Path) -> None:
    url, db = stored
    result = write(url, tmp_path / "cut.gz", Cut(until_recorded=BEFORE_CORRECTION))
    total = db.query("SELECT max(position) FROM ledger_chain")[0][0]
    assert result.manifest["count"] == total - 1  # only the back-dated correction came later
    assert result.manifest["cut"] == {"until_position": None, "until_recorded": BEFORE_CORRECTION}
    assert check(tmp_path / "cut.gz").ok


def test_a_tampered_store_is_archived_as_it_is_and_the_archive_names_the_same_problem(stored: Any,
                                                                                      tmp_path: Path) -> None:
    url, db = stored
    position = position_of(db, "OrderPlaced")
    nid, state = event_at(db, position)
    set_state(db, nid, state + b" ")
    result = write(url, tmp_path / "log.gz")
    assert not result.check.ok
    assert first(check(tmp_path / "log.gz")).message == first(verify(url)).message


def test_a_file_that_is_not_an_archive_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "plain.txt").write_text("hello")
    with pytest.raises(UsageError, match="not a ledger archive"):
        Archive(tmp_path / "plain.txt")
    with gzip.open(tmp_path / "other.gz", "wb") as f:
        f.write(orjson.dumps({"format": "something-else"}) + b"\n")
    with pytest.raises(UsageError, match="no 'ledger-archive' header"):
        Archive(tmp_path / "other.gz")
    with pytest.raises(UsageError, match="no archive file"):
        Archive(tmp_path / "missing.gz")
