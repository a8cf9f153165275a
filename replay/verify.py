"""`verify`: the whole log against its chain, published heads, and every projection rebuilt.

Steps, each timed (the benchmark reads the timings):
1. chain: stream chain rows and event rows, join them, check every link (replay.chain);
2. heads: every chain head recorded in InvoiceIssued / InvoiceRunCompleted events, and each
   `--expect-head`, against the stored chain;
3. projections: rebuild each into scratch tables and compare digests (replay.projections).
On a large log the steps run in separate processes at the same time (see `verify_store`).
"""

from __future__ import annotations

import multiprocessing
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from ledger.db import Database
from ledger.projections import all_projections
from replay.chain import ChainCheck, Claim, check_heads, join
from replay.errors import UsageError
from replay.projections import Comparison, ScratchEngine, compare_projections, scratch_suffix
from replay.store import Store, open_store

Progress = Callable[[int, int], None]
StepBar = Callable[[str], AbstractContextManager[Progress]]

_HEAD = re.compile(r"^(\d+):([0-9a-fA-F]{64})$")


def parse_expect_head(text: str) -> Claim:
    """`POSITION:HASH` (64 hex digits) → a claim to check; bad text is a usage error."""
    m = _HEAD.match(text.strip())
    if not m:
        raise UsageError(f"--expect-head {text!r}: give POSITION:HASH, e.g. 1234:{'ab' * 32}")
    return Claim(int(m.group(1)), m.group(2).lower(), "--expect-head", 0)


@dataclass
class Step:
    name: str
    seconds: float
    items: int

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds else 0.0


@dataclass
class VerifyReport:
    source: str
    check: ChainCheck
    steps: list[Step] = field(default_factory=list)
    comparison: Comparison | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.check.ok and (self.comparison is None or self.comparison.ok)


def _no_bar(label: str) -> AbstractContextManager[Progress]:
    return nullcontext(lambda done, total: None)


def check_chain(store: Store, expect: list[Claim], bar: StepBar = _no_bar) -> tuple[ChainCheck, list[Step]]:
    """Steps 1 and 2 (no writes, read-only connection on SQLite)."""
    top, last_nid = store.bounds()
    check = ChainCheck()
    started = time.perf_counter()
    with bar("chain") as progress:
        rows = join(store.chain_pages(top), store.event_pages(last_nid), store.event_at)
        for page in rows:
            check.feed(page)
            progress(check.prev_pos, top)
    steps = [Step("chain", time.perf_counter() - started, check.events)]
    started = time.perf_counter()
    claims = [*check.claims.values(), *expect]
    stored = store.chain_hashes(c.position for c in claims if c.position > 0)
    check_heads(check, stored, claims)
    steps.append(Step("heads", time.perf_counter() - started, len(claims)))
    return check, steps


def verify_store(store: Store, expect: list[Claim], projections: list[Any] | None, bar: StepBar = _no_bar,
                 jobs: int | None = None) -> VerifyReport:
    """Everything `ledger-replay verify` checks; `projections=None` skips step 3.

    The chain check and each projection's rebuild read the log independently, so on a large log
    they run as separate processes, `jobs` at a time (default: one per CPU, at most 4): the wall
    time is then about that of the slowest projection rather than the sum of all steps. `jobs=1`
    runs everything here, one step after the other.
    """
    if not projections:
        check, steps = check_chain(store, expect, bar)
        report = VerifyReport(store.describe(), check, steps)
        if projections is not None:
            report.notes.append("no projections are defined: nothing to rebuild")
        return report
    if jobs is None:
        jobs = min(os.cpu_count() or 1, 4) if store.bounds()[0] >= PARALLEL_FROM else 1
    if jobs <= 1 or not _registered(projections):
        check, steps = check_chain(store, expect, bar)
        started = time.perf_counter()
        with bar("projections") as progress:
            comparison = compare_projections(store.db, projections, progress, jobs=jobs)
        step = Step("projections", time.perf_counter() - started, comparison.events)
        return VerifyReport(store.describe(), check, [*steps, step], comparison)
    return _verify_in_processes(store, expect, projections, bar, jobs)


# Below this many chain positions, starting processes costs more than it saves.
PARALLEL_FROM = 100_000


def _registered(projections: list[Any]) -> bool:
    """Child processes re-create projections from the registry by name: only those qualify."""
    known = {p.name: type(p) for p in all_projections()}
    return all(known.get(p.name) is type(p) for p in projections)


def _chain_task(url: str, expect: list[Claim]) -> tuple[ChainCheck, list[Step]]:
    store = open_store(url)
    try:
        return check_chain(store, expect)
    finally:
        store.close()


def _projection_task(url: str, name: str, suffix: str) -> tuple[Comparison, float]:
    db = Database(url)
    try:
        started = time.perf_counter()
        projections = [p for p in all_projections() if p.name == name]
        return compare_projections(db, projections, suffix=suffix), time.perf_counter() - started
    finally:
        db.close()


def _verify_in_processes(store: Store, expect: list[Claim], projections: list[Any], bar: StepBar,
                         jobs: int) -> VerifyReport:
    started = time.perf_counter()
    url = store.db.url
    # The suffixes are chosen here, so that if this process is interrupted it can still drop the
    # scratch tables its workers were building.
    suffixes = {p.name: scratch_suffix("verify") for p in projections}
    context = multiprocessing.get_context("spawn")  # no fork: this process holds database pools
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context)
    try:
        # Projections first (the long tasks), in registry order; the chain check fills a gap.
        tasks = {pool.submit(_projection_task, url, p.name, suffixes[p.name]): p.name for p in projections}
        chain = pool.submit(_chain_task, url, expect)
        with bar("chain and projections") as progress:
            total = len(tasks) + 1
            for done, _ in enumerate(as_completed([*tasks, chain]), start=1):
                progress(done, total)
        check, steps = chain.result()
        results, events, seconds = {}, 0, 0.0
        for future, name in tasks.items():
            comparison, took = future.result()
            results[name] = comparison.results[0]
            events, seconds = max(events, comparison.events), max(seconds, took)
    except BaseException:
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()  # a worker killed mid-rebuild cannot drop its tables: do it here
        pool.shutdown(wait=True, cancel_futures=True)
        for p in projections:
            ScratchEngine(store.db, [p]).drop_suffix(suffixes[p.name])
        raise
    pool.shutdown(wait=True)
    comparison = Comparison([results[p.name] for p in projections], events, seconds)
    report = VerifyReport(store.describe(), check, [*steps, Step("projections", seconds, events)], comparison)
    report.notes.append(f"the chain and each projection were checked in {jobs} processes at once: "
                        f"{time.perf_counter() - started:.1f} s in all")
    return report
