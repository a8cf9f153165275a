"""The evaluators' reads as known at K are what a rebuild from only the events recorded by K gives
(SQLite): the export at (D, K), and one citizen's as-of read at (D, K).

One generated network history (three municipalities, with take-up raised so there are buyers)
is imported once. For each K, the events recorded by K are copied, as stored, into a scratch store
(replay.snapshot.copy_known, the auditors' own cut) and the read models are rebuilt there from
zero; the reads on the full store at (D, K) must equal the reads on that rebuild at D, as known now.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from conftest import fewer_examples

from ledger.application import Ledger
from ledger.db import Database
from ledger.generate import custom_scale, generate
from ledger.importer import Importer
from ledger.projections.audit import AuditProjection
from ledger.projections.citizen_asof import citizen_as_of
from ledger.projections.engine import Engine
from ledger.projections.evaluation_export import export
from ledger.settings import Settings
from replay.snapshot import copy_known
from replay.store import Store

SCALE = custom_scale(0.01, (657, 101, 580))
MUNICIPALITIES = list(SCALE.municipalities)
# 10 examples in CI (fewer_examples, tests/conftest.py; 300 when thorough); an example copies and rebuilds a
# store of about 2,600 events (well under a second).

instants = st.builds(lambda d, s: datetime.combine(d, time(), tzinfo=timezone.utc) + timedelta(seconds=s),
                     st.dates(date(2018, 3, 1), date(2022, 3, 1)), st.integers(0, 86_399))
offsets = st.integers(min_value=-400, max_value=200)


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> Iterator[tuple[Path, str]]:
    root = tmp_path_factory.mktemp("evaluation-properties")
    path = root / "history.jsonl"
    generate(SCALE, seed=5, out=path, take_up=0.08)
    url = f"sqlite:///{root / 'full.db'}"
    led = Ledger(Settings(database_url=url))
    try:
        Importer(led, batch_size=2_000).run(path)
        Engine(led.db, [AuditProjection()]).catch_up()
    finally:
        led.close()
    yield root, url


def _rebuilt_at(url: str, known_at: str, into: Path) -> str:
    """A scratch store holding only the events recorded by `known_at`, its audit projection
    rebuilt from zero there; returns its URL."""
    scratch_url = f"sqlite:///{into / 'cut.db'}"
    store, scratch = Store(Database(url)), Database(scratch_url)
    try:
        copy_known(store, scratch, known_at, lambda done, total: None)
        Engine(scratch, [AuditProjection()]).rebuild(["audit"])
    finally:
        store.close()
        scratch.close()
    return scratch_url


def _export(url: str, out: Path, as_of: str, known_at: str | None) -> dict[str, Any]:
    db = Database(url)
    try:
        return export(db, MUNICIPALITIES, out, as_of, known_at)
    finally:
        db.close()


@fewer_examples(10)
@given(k=instants, d_offset=offsets)
@example(k=datetime(2021, 6, 1, 12, tzinfo=timezone.utc), d_offset=-150)  # late enough that orders are known
def test_the_export_at_d_k_equals_the_export_of_a_rebuild_from_the_events_recorded_by_k(full, k, d_offset):
    root, url = full
    known_at, as_of = k.isoformat(), (k.date() + timedelta(days=d_offset)).isoformat()
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        tmpd = Path(tmp)
        cut_url = _rebuilt_at(url, known_at, tmpd)
        a = _export(url, tmpd / "a", as_of, known_at)
        b = _export(cut_url, tmpd / "b", as_of, None)
        assert a["files"] == b["files"]
        for name in a["files"]:
            assert (tmpd / "a" / name).read_bytes() == (tmpd / "b" / name).read_bytes(), name
        assert a["projection_digests"] == b["projection_digests"]


@fewer_examples(10)
@given(k=instants, d_offset=offsets, pick=st.randoms(use_true_random=False))
def test_a_citizens_as_of_read_equals_the_same_read_on_a_rebuild_from_the_events_recorded_by_k(
        full, k, d_offset, pick):
    root, url = full
    known_at, as_of = k.isoformat(), (k.date() + timedelta(days=d_offset)).isoformat()
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        cut_url = _rebuilt_at(url, known_at, Path(tmp))
        whole, cut = Ledger(Settings(database_url=url)), Ledger(Settings(database_url=cut_url))
        try:
            known = sorted(r[0] for r in cut.db.query("SELECT DISTINCT citizen_id FROM au_citizens"))
            buyers = sorted(r[0] for r in cut.db.query("SELECT DISTINCT citizen_id FROM au_orders"))
            chosen = sorted(set(pick.sample(known, min(3, len(known))) + buyers[:3]))
            for citizen in chosen:
                a = citizen_as_of(whole, citizen, as_of, known_at)
                b = citizen_as_of(cut, citizen, as_of, None)
                # Each answer states the head of its own store when read, and its own K.
                assert {**a, "log_position": 0} == {**b, "known_at": known_at, "log_position": 0}, citizen
        finally:
            whole.close()
            cut.close()
