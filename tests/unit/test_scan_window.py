"""The import's scan window hands every run exactly the rows the database would have (ADR 0024)."""

from __future__ import annotations

import random

import orjson

from ledger.application.scan_window import Row, ScanWindow

TOPICS = ("a:Delivery.Recorded", "a:Order.Cancelled")


def _log(n: int, seed: int) -> list[Row]:
    rng = random.Random(seed)
    rows: list[Row] = []
    nid = 0
    for version in range(n):
        nid += rng.choice((1, 1, 1, 2))  # PostgreSQL's ids may skip
        state = {"municipality": rng.choice((101, 147, 657)), "effective": "2019-01-01", "v": version}
        if rng.random() < 0.05:
            state["municipality"] = 657.0  # equal to 657, spelled otherwise: the decoded test keeps it
        if rng.random() < 0.05:
            del state["municipality"]
        rows.append((nid, rng.choice(TOPICS), f"{version:032x}", version, orjson.dumps(state)))
    return rows


def _direct(log: list[Row], after: int, until: int, municipality: int | None) -> list[Row]:
    """What the database query plus the scan's decoded test keep."""
    return [r for r in log if after < r[0] <= until
            and (municipality is None or orjson.loads(r[4]).get("municipality") == municipality)]


def test_window_gives_each_run_the_rows_the_database_would() -> None:
    log = _log(3_000, seed=7)
    calls: list[tuple[int, int]] = []

    def fetch(a: int, b: int) -> list[Row]:
        calls.append((a, b))
        return [r for r in log if a < r[0] <= b]

    window = ScanWindow(limit=1_000)
    rng = random.Random(3)
    head = 0
    last: dict[int, int] = {}
    for _ in range(300):
        head = min(log[-1][0], head + rng.randint(0, 60))
        m = rng.choice((101, 147, 657))
        after = last.get(m, 0) if rng.random() < 0.9 else rng.randint(0, head)
        got = window.rows_between(TOPICS, after, head, fetch, m)
        kept = [r for r in got if orjson.loads(r[4]).get("municipality") == m]
        assert kept == _direct(log, after, head, m)
        assert window.rows_between(TOPICS, after, head, fetch) == _direct(log, after, head, None)
        last[m] = head
    assert all(a < b for a, b in calls), "the window never asks for an empty stretch"


def test_window_starts_again_for_other_topics_or_an_earlier_start() -> None:
    log = _log(200, seed=1)
    fetched: list[tuple[int, int]] = []

    def fetch(a: int, b: int) -> list[Row]:
        fetched.append((a, b))
        return [r for r in log if a < r[0] <= b]

    window = ScanWindow()
    top = log[-1][0]
    window.rows_between(TOPICS, 50, top, fetch)
    assert window.rows_between(TOPICS, 10, top, fetch) == _direct(log, 10, top, None)
    assert fetched[-1] == (10, top)
    window.rows_between(TOPICS[:1], 10, top, fetch)
    assert fetched[-1] == (10, top) and len(fetched) == 3
