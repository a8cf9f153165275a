"""The full rebuild before and after, side by side in one run, on stores that already exist.

    python bench/run.py --scales network --steps generate,import      # the stores, once
    python bench/rebuild_side_by_side.py --before main                # both backends, 3 rounds
    python bench/rebuild_side_by_side.py --before 91635ed --rounds 3 --runs 3 --memory 10000

`--before REV` (and `--after REV`, default: this checkout) is any git revision: its tree is unpacked
(`git archive`) into a scratch folder and run by the same interpreter with that folder first on
`sys.path` (rebuild workers inherit it), so both versions read the same store on the same machine
in the same minutes. Each round runs one process per version and backend, alternating; a process
measures `--runs` times: the raw read + decode (`read_raw`), `Engine.rebuild(jobs=1)` (wall and
this process's CPU seconds: the steadier figure on a shared machine; on SQLite it includes the
database's own work) and `rebuild(jobs=2)`, then each projection alone; medians are reported.
`--memory N` adds, per version and backend, a process that rebuilds once with one worker at
`flush_rows=N` and reports its peak RSS (where the old code spilled, the new folds in passes).

The stores are `bench/run.py`'s (`--data`, `LEDGER_BENCH_PREFIX`, `LEDGER_BENCH_PG`); each rebuild
swaps its tables in, so the two versions must agree on the projections' versions or each run
leaves the other a rebuild to do (which it does anyway: it rebuilds everything).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PG_BASE = os.environ.get("LEDGER_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")

CHILD = r"""
import gc, json, resource, statistics, sys, time
root, url, runs, flush = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
sys.path.insert(0, root)
from ledger.db import Database
from ledger.projections import all_projections
from ledger.projections.engine import Engine
from ledger.projections.reader import read_raw
db = Database(url)
out = {}
if flush:
    t = time.perf_counter()
    st = Engine(db, all_projections(), flush_rows=flush).rebuild(jobs=1)
    out.update(seconds=time.perf_counter() - t, passes=st.get("passes", 1),
               rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(out)); sys.exit()
raw, one, cpu, two, workers = [], [], [], [], []
for _ in range(runs):
    gc.disable()
    t = time.perf_counter(); events = sum(len(b) for b in read_raw(db)); raw.append(time.perf_counter() - t)
    gc.enable()
    t, c = time.perf_counter(), time.process_time()
    st = Engine(db, all_projections()).rebuild(jobs=1)
    one.append(time.perf_counter() - t); cpu.append(time.process_time() - c)
    rows = sum(s["inserted"] + s["upserted"] + s["deleted"] for s in st["projections"].values())
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    st = Engine(db, all_projections()).rebuild(jobs=2)
    two.append(time.perf_counter() - t); workers.append(sum(st.get("worker_peak_rss_mib", [])))
alone = {}
for p in all_projections():
    ts = []
    for _ in range(runs):
        t = time.perf_counter(); Engine(db, all_projections()).rebuild([p.name], jobs=1); ts.append(time.perf_counter() - t)
    alone[p.name] = events / statistics.median(ts)
m = statistics.median
out.update(events=events, raw=events / m(raw), jobs1=events / m(one), jobs1_seconds=m(one), jobs1_cpu=m(cpu),
           jobs2=events / m(two), alone=alone, rows_per_event=rows / events, rss_mib=rss, workers_rss_mib=m(workers))
print(json.dumps(out))
"""


def store_url(backend: str, data: Path, scale: str, seed: int) -> str:
    if backend == "sqlite":
        return f"sqlite:///{data / f'{scale}-s{seed}.db'}"
    return f"{PG_BASE}?schema={os.environ.get('LEDGER_BENCH_PREFIX', 'bench')}_{scale}_s{seed}"


def unpack(rev: str, into: Path) -> Path:
    into.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def child(root: Path, url: str, runs: int, flush: int = 0) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(root) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-c", CHILD, str(root), url, str(runs), str(flush)],
                          capture_output=True, text=True, env=env, cwd=root)
    if done.returncode:
        raise SystemExit(f"{root} on {url}:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True, help="git revision to compare against")
    ap.add_argument("--after", help="git revision to measure instead of this checkout")
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--scale", default="network")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "ledger-bench")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--runs", type=int, default=3, help="rebuilds of each kind per process")
    ap.add_argument("--memory", type=int, default=0, help="also: peak RSS of one worker at this flush_rows")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ledger-rebuild-bench-"))
    try:
        versions = {"before": unpack(args.before, work / "before"),
                    "after": unpack(args.after, work / "after") if args.after else ROOT}
        results: dict[tuple[str, str], list[dict[str, Any]]] = {}
        memory: dict[tuple[str, str], dict[str, Any]] = {}
        loads = []
        for n in range(args.rounds):
            for backend in args.backends.split(","):
                url = store_url(backend, args.data, args.scale, args.seed)
                for name, root in versions.items():
                    loads.append(os.getloadavg()[0])
                    r = child(root, url, args.runs)
                    results.setdefault((backend, name), []).append(r)
                    print(f"round {n + 1} {backend:8} {name:6}: rebuild {r['jobs1']:,.0f} ev/s "
                          f"(cpu {r['jobs1_cpu']:.2f} s), raw {r['raw']:,.0f} ev/s", file=sys.stderr)
        if args.memory:
            for backend in args.backends.split(","):
                for name, root in versions.items():
                    memory[(backend, name)] = child(root, store_url(backend, args.data, args.scale, args.seed), 1,
                                                    args.memory)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    m = statistics.median
    print(f"\nRebuild side by side, {args.scale} store, before = {args.before}, after = {args.after or 'this checkout'}; "
          f"medians of {args.rounds} rounds x {args.runs} runs; load average {min(loads):.1f}-{max(loads):.1f}\n")
    print("| backend | version | raw read+decode | rebuild 1 worker | CPU s | rebuild 2 workers | 1 worker / raw "
          "| alone: " + " / ".join(results[next(iter(results))][0]["alone"]) + " | rows/event | RSS 1 worker / 2 workers |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (backend, name), rs in results.items():
        def med(key: str, rs: list[dict[str, Any]] = rs) -> float:
            return float(m(r[key] for r in rs))
        alone = " / ".join(f"{m(r['alone'][p] for r in rs) / 1000:.1f}k" for p in rs[0]["alone"])
        print(f"| {backend} | {name} | {med('raw'):,.0f} | {med('jobs1'):,.0f} ({med('jobs1_seconds'):.2f} s) "
              f"| {med('jobs1_cpu'):.2f} | {med('jobs2'):,.0f} | {med('jobs1') / med('raw'):.1%} | {alone} "
              f"| {med('rows_per_event'):.2f} | {med('rss_mib'):.0f} / {med('workers_rss_mib'):.0f} MiB |")
    if memory:
        print(f"\nOne worker at flush_rows={args.memory:,}:\n")
        print("| backend | version | seconds | passes | peak RSS |")
        print("|---|---|---:|---:|---:|")
        for (backend, name), r in memory.items():
            print(f"| {backend} | {name} | {r['seconds']:.2f} | {r['passes']} | {r['rss_mib']:.0f} MiB |")


if __name__ == "__main__":
    main()
