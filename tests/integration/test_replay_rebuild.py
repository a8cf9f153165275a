"""`rebuild --known-at`: deterministic files, and the figures a report written at K would have seen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from ledger.db import Database
from ledger.projections import all_projections
from replay.snapshot import parse_known_at, rebuild_known_at
from replay.store import open_store
from tests.integration.test_replay_chain import BEFORE_CORRECTION, CORRECTED_AT, build_history, history

AS_OF = "2018-07-15"


def rebuild(url: str, known_at: str, out: Path, as_of: str | None = AS_OF) -> dict[str, Any]:
    store = open_store(url)
    try:
        return rebuild_known_at(store, all_projections(), parse_known_at(known_at), as_of, out)
    finally:
        store.close()


def files(directory: Path, names: tuple[str, ...] = (".tables.json", ".view.json")) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.name.endswith(names)}


def test_two_rebuilds_give_byte_identical_files(database_url: str, tmp_path: Path) -> None:
    history(database_url)
    rebuild(database_url, "2018-12-31", tmp_path / "a")
    rebuild(database_url, "2018-12-31", tmp_path / "b")
    first = files(tmp_path / "a", (".json", "SHA256SUMS"))
    assert first == files(tmp_path / "b", (".json", "SHA256SUMS"))
    assert {f"{p.name}.tables.json" for p in all_projections()} <= set(first)
    sums = (tmp_path / "a" / "SHA256SUMS").read_text().splitlines()
    assert len(sums) == len(first) - 1  # every file but SHA256SUMS itself


def test_known_at_before_a_back_dated_correction_reproduces_the_earlier_figures(database_url: str,
                                                                                  tmp_path: Path) -> None:
    history(database_url)
    # A store that never got the correction (on SQLite, whatever the first store is): what a
    # report written before CORRECTED_AT was computed from.
    earlier = f"sqlite:///{tmp_path / 'earlier.db'}"
    build_history(earlier, until=CORRECTED_AT).close()
    then = rebuild(database_url, BEFORE_CORRECTION, tmp_path / "then")
    rebuild(earlier, BEFORE_CORRECTION, tmp_path / "earlier")  # holds nothing later anyway
    now = rebuild(database_url, "2030-01-01", tmp_path / "now")
    assert files(tmp_path / "then") == files(tmp_path / "earlier")
    assert now["log"]["events_known"] == then["log"]["events_known"] + 1
    changed = {n for n, b in files(tmp_path / "now").items() if files(tmp_path / "then")[n] != b}
    assert "timeline.tables.json" in changed  # the correction is visible once it is known


def test_the_manifest_names_the_cut_and_the_chain_head_read(database_url: str, tmp_path: Path) -> None:
    history(database_url)
    db = Database(database_url)
    top = db.query("SELECT position, hash FROM ledger_chain ORDER BY position DESC LIMIT 1")[0]
    head = {"position": top[0], "hash": bytes(top[1]).hex()}
    db.close()
    manifest = rebuild(database_url, "2018-08-01T00:00:00Z", tmp_path / "out", as_of=None)
    assert manifest["known_at"] == "2018-08-01T00:00:00.000000+00:00"
    assert manifest["as_of"] is None
    assert manifest["log"]["chain_head"] == head
    written = orjson.loads((tmp_path / "out" / "manifest.json").read_bytes())
    assert written["files"] == {k: v for k, v in manifest["files"].items() if k != "manifest.json"}
