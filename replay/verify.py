"""`verify`: the whole log against its chain, published heads, and every projection rebuilt.

Steps, each timed (the benchmark reads the timings):
1. chain: stream chain rows and event rows, join them, check every link (replay.chain);
2. heads: every chain head recorded in InvoiceIssued / InvoiceRunCompleted events, and each
   `--expect-head`, against the stored chain; then the end of the log against what other records
   say they saw of it (projection tracking positions, command records): if they saw further than
   the log now reaches, events were removed from its end (truncation);
3. projections: rebuild each into scratch tables and compare digests (replay.projections).

Every check reports, never crashes: a rebuild that stops on a tampered event is a finding of that
projection (what stopped it, and at which position), not an exception.
On a large log the steps run in separate processes at the same time (see `verify_store`).
"""

from __future__ import annotations

import multiprocessing
import os
import re
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from ledger.db import Database
from ledger.projections.engine import TRACKING_TABLE
from ledger.store.recorders import CHAIN_TABLE, COMMANDS_TABLE
from replay.chain import ChainCheck, Claim, check_heads, join
from replay.errors import UsageError
from replay.projections import Comparison, ProjectionResult, ScratchEngine, compare_projections, scratch_suffix
from replay.store import Store, _table_exists, open_store

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
    check_heads(check, stored, claims, top)
    check_log_end(store, check)
    steps.append(Step("heads", time.perf_counter() - started, len(claims)))
    return check, steps


def check_log_end(store: Store, check: ChainCheck) -> None:
    """Truncation: the projections' tracking positions and the command records name the
    notification their writer last saw; a log that now ends before that lost its end.

    Read in one statement with the log's end, so a writer appending meanwhile cannot make the
    records look ahead of a log bound read earlier."""
    json_position = ("(result::jsonb->>'position')::bigint" if store.is_postgres
                     else "CAST(json_extract(result, '$.position') AS INTEGER)")
    parts = [f"(SELECT max({store.nid}) FROM {store.events})", f"(SELECT max(position) FROM {CHAIN_TABLE})"]
    names = []
    for table, expr in ((TRACKING_TABLE, "max(position)"), (COMMANDS_TABLE, f"max({json_position})")):
        if _table_exists(store, table):
            parts.append(f"(SELECT {expr} FROM {table})")
            names.append(table)
    row = store.query("SELECT " + ", ".join(parts))[0]
    last_nid, last_pos = int(row[0] or 0), int(row[1] or 0)
    for table, seen in zip(names, row[2:]):
        if seen is not None and int(seen) > last_nid:
            who = "the projections were applied" if table == TRACKING_TABLE else "a stored command wrote events"
            check.problem(last_pos, "truncation",
                          f"truncation after position {last_pos}: {who} up to notification {int(seen)} "
                          f"(table {table}), but the log ends at notification {last_nid}: events were removed "
                          "from its end")


def _failed(name: str, error: BaseException) -> ProjectionResult:
    """A rebuild that stopped: the projection differs, and the report says what stopped it where
    (the engine notes the projection and position on the exception)."""
    where = "; ".join(getattr(error, "__notes__", ())) or f"projection {name!r}"
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return ProjectionResult(name, "differs",
                            f"the rebuild from zero stopped at {where}: {type(error).__name__}"
                            + (f" {text}" if text else "") + " (a stored event it cannot apply: altered?)")


def _compare_reporting(db: Database, projections: list[Any], progress: Progress | None = None,
                       suffix: str | None = None, jobs: int | None = None) -> Comparison:
    """compare_projections, with a failed rebuild reported as a finding. All projections rebuild in
    one pass, so when that pass stops, each is rebuilt alone to tell which of them fail."""
    try:
        return compare_projections(db, projections, progress, suffix, jobs=jobs)
    except Exception as e:
        if len(projections) == 1:
            return Comparison([_failed(projections[0].name, e)])
    results = []
    for p in projections:
        try:
            results.extend(compare_projections(db, [p]).results)
        except Exception as e:
            results.append(_failed(p.name, e))
    return Comparison(results)


def verify_store(store: Store, expect: list[Claim], projections: list[Any] | None, bar: StepBar = _no_bar,
                 jobs: int | None = None) -> VerifyReport:
    """Everything `ledger-replay verify` checks; `projections=None` skips step 3.

    On a large log the chain check runs in a process of its own while every projection is rebuilt
    in one pass, partitioned over `jobs` worker processes (default: one per CPU, at most 4): the
    wall time is then about that of the rebuild rather than the sum of both. `jobs=1` runs
    everything here, one step after the other.
    """
    if not projections:
        check, steps = check_chain(store, expect, bar)
        report = VerifyReport(store.describe(), check, steps)
        if projections is not None:
            report.notes.append("no projections are defined: nothing to rebuild")
        return report
    if jobs is None:
        jobs = min(os.cpu_count() or 1, 4) if store.bounds()[0] >= PARALLEL_FROM else 1
    if jobs <= 1:
        check, steps = check_chain(store, expect, bar)
        started = time.perf_counter()
        with bar("projections") as progress:
            comparison = _compare_reporting(store.db, projections, progress, jobs=jobs)
        step = Step("projections", time.perf_counter() - started, comparison.events)
        return VerifyReport(store.describe(), check, [*steps, step], comparison)
    return _verify_in_processes(store, expect, projections, bar, jobs)


# Below this many chain positions, starting processes costs more than it saves.
PARALLEL_FROM = 100_000


def _chain_task(url: str, expect: list[Claim]) -> tuple[ChainCheck, list[Step]]:
    store = open_store(url)
    try:
        return check_chain(store, expect)
    finally:
        store.close()


def _chain_child(url: str, expect: list[Claim], out: Any) -> None:
    """The chain check in a process of its own: sends ("ok", result) or ("error", exception)
    and exits, so its memory is given back as soon as the chain is checked."""
    try:
        result: tuple[str, Any] = ("ok", _chain_task(url, expect))
    except BaseException as e:  # reported in the parent, as a pool would have raised it there
        result = ("error", e)
    try:
        out.send(result)
    except Exception as e:  # an exception that does not pickle: its text at least
        out.send(("error", RuntimeError(f"{type(result[1]).__name__}: {result[1]} ({e})")))
    finally:
        out.close()


class _ChainProcess:
    """The chain check's process, its answer read by a thread of this process as soon as it is
    sent: the child then exits at once (an answer larger than the pipe's buffer would otherwise
    keep it waiting for this process to read), instead of idling through the fold as a pool's
    worker did (round 8: ~85 of the 1,037 MiB summed at a national verify's peak; a pool with
    max_tasks_per_child=1 starts a fresh worker in its place)."""

    def __init__(self, context: Any, url: str, expect: list[Claim]) -> None:
        receive, send = context.Pipe(duplex=False)
        self._answer: list[tuple[str, Any]] = []
        self._process = context.Process(target=_chain_child, args=(url, expect, send), daemon=True)
        self._process.start()
        send.close()  # the child's end: this process only reads

        def read() -> None:
            try:
                self._answer.append(receive.recv())
            except EOFError:  # the child died without answering (killed)
                self._answer.append(("error", RuntimeError("the chain check's process ended without an answer")))
            except Exception as e:  # an answer that does not unpickle here
                self._answer.append(("error", RuntimeError(f"the chain check's answer could not be read: {e!r}")))
            finally:
                receive.close()

        self._reader = threading.Thread(target=read, name="chain-answer", daemon=True)
        self._reader.start()

    def result(self) -> tuple[ChainCheck, list[Step]]:
        self._reader.join()
        self._process.join()
        kind, value = self._answer[0]
        if kind == "error":
            raise value
        return value  # type: ignore[no-any-return]

    def terminate(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()


def _verify_in_processes(store: Store, expect: list[Claim], projections: list[Any], bar: StepBar,
                         jobs: int) -> VerifyReport:
    """The chain check in a process of its own while this one runs the projections' rebuild: one
    pass of the engine's fold over the log for every projection together, partitioned over `jobs`
    worker processes (`Engine.rebuild(jobs=...)`, the same rebuild `ledger projections rebuild`
    runs; ADR 0022). The processes at work are then the chain's, the fold's workers and this one,
    which only waits for them."""
    started = time.perf_counter()
    # The suffix is chosen here, so that if this process is interrupted it can still drop the
    # scratch tables the workers were building.
    suffix = scratch_suffix("verify")
    context = multiprocessing.get_context("spawn")  # no fork: this process holds database pools
    chain = _ChainProcess(context, store.db.url, expect)
    try:
        with bar("projections") as progress:
            comparison = _compare_reporting(store.db, projections, progress, suffix=suffix, jobs=jobs)
        with bar("chain") as progress:
            check, steps = chain.result()
            progress(1, 1)
    except BaseException:
        chain.terminate()
        ScratchEngine(store.db, projections).drop_suffix(suffix)  # the rebuild's workers die with us
        raise
    report = VerifyReport(store.describe(), check,
                          [*steps, Step("projections", comparison.seconds, comparison.events)], comparison)
    report.notes.append(f"the chain was checked in a process of its own while the projections were rebuilt "
                        f"in one pass by {jobs} worker processes: {time.perf_counter() - started:.1f} s in all")
    return report
