"""The timeline and audit read latencies before and after, side by side in one run, on stores that exist.

    python bench/run.py --scales network --backends postgres --steps generate,import   # the store, once
    python bench/query_side_by_side.py --before main                                 # network, PostgreSQL
    python bench/query_side_by_side.py --before main --scale national --rounds 3 --queries 300
    python bench/query_side_by_side.py --before main --before-url URL --after-url URL2  # two stores

`--before REV` (and `--after REV`, default: this checkout) is any git revision: its tree is unpacked
(`git archive`) into a scratch folder and run by the same interpreter with that folder first on
`sys.path`. Each round runs one process per version, alternating (before, after, before, ...), so
the load of a shared machine falls on both alike; a process reads the same draws as `bench/run.py`'s
steps: `timeline` (`bench/timeline_latency.py`'s plan: random (D, K), 20 % the network (or
`--network-share`), 30 % K = now; the version's own module) and `audit` (`audit_queries.audit` for a random municipality with a
scheme, 70 % one year, else all time; 20 reads of warm-up each). It reports, per version, the median
over rounds of each class's p50 / p95 / p99 and the load average at each round's start.

A version that stores its tables differently must read a store its own code built: `--before-url`
and `--after-url` (default: the scale's `bench/run.py` store). No catch-up or rebuild is made here:
the projections must be current for both versions (check with `ledger projections status`).
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
import importlib.util, json, os, random, sys, time
root, url, what, queries, network_share = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
sys.path.insert(0, root)
from ledger.db import Database
load = os.getloadavg()
db = Database(url)
out = {"load_average_at_start": [round(x, 2) for x in load]}
try:
    if what == "timeline":
        spec = importlib.util.spec_from_file_location("timeline_latency", f"{root}/bench/timeline_latency.py")
        tl = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(tl)
        info, todo = tl.plan(db, queries, 7, network_share, 0.3)
        out.update(tl.summarize(tl.run_queries([db], [todo])[0]))
    else:
        from ledger.projections import audit_queries
        ms = [int(r[0]) for r in db.query("SELECT DISTINCT municipality FROM au_schemes ORDER BY 1")]
        rnd = random.Random(7)
        samples = []
        for i in range(20 + queries):
            m = rnd.choice(ms)
            year = rnd.randrange(2018, 2022)
            date_from, date_to = (f"{year}-01-01", f"{year}-12-31") if rnd.random() < 0.7 else (None, None)
            started = time.perf_counter()
            audit_queries.audit(db, m, date_from=date_from, date_to=date_to)
            if i >= 20:
                samples.append(time.perf_counter() - started)
        spec = importlib.util.spec_from_file_location("timeline_latency", f"{root}/bench/timeline_latency.py")
        tl = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(tl)
        out["all"] = tl._summary(samples)
finally:
    db.close()
print(json.dumps(out))
"""


def unpack(rev: str, into: Path) -> Path:
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def child(root: Path, url: str, what: str, queries: int, network_share: float) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", CHILD, str(root), url, what, str(queries), str(network_share)],
                          capture_output=True, text=True, cwd=tempfile.gettempdir())
    if done.returncode:
        raise SystemExit(f"{root} {what}: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True, help="git revision measured first in each round")
    ap.add_argument("--after", help="git revision (default: this checkout as it is)")
    ap.add_argument("--scale", default="network", help="bench/run.py's store of this scale (PostgreSQL)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--before-url", help="the store the before version reads (default: the scale's)")
    ap.add_argument("--after-url", help="the store the after version reads (default: the scale's)")
    ap.add_argument("--steps", default="timeline,audit")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--network-share", type=float, default=0.2,
                    help="timeline: share of reads for the whole network (bench/run.py: 0.2)")
    args = ap.parse_args()
    prefix = os.environ.get("LEDGER_BENCH_PREFIX", "bench")
    url = f"{PG_BASE}?schema={prefix}_{args.scale}_s{args.seed}"
    scratch = Path(tempfile.mkdtemp(prefix="query-sbs-"))
    try:
        roots = {"before": unpack(args.before, scratch / "before"),
                 "after": unpack(args.after, scratch / "after") if args.after else ROOT}
        urls = {"before": args.before_url or url, "after": args.after_url or url}
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {v: {} for v in roots}
        for step in [s for s in args.steps.split(",") if s]:
            for r in range(args.rounds):
                for version in roots:
                    res = child(roots[version], urls[version], step, args.queries, args.network_share)
                    runs[version].setdefault(step, []).append(res)
                    brief = {k: (v["p50_ms"], v["p95_ms"]) for k, v in res.items() if isinstance(v, dict)}
                    print(f"round {r + 1} {step} {version}: load {res['load_average_at_start']} {brief}",
                          file=sys.stderr, flush=True)
        report: dict[str, Any] = {"before": args.before, "after": args.after or "this checkout", "urls": urls,
                                  "rounds": args.rounds, "queries": args.queries, "network_share": args.network_share}
        for version, steps in runs.items():
            for step, rs in steps.items():
                classes = sorted({k for res in rs for k, v in res.items() if isinstance(v, dict)})
                report.setdefault(step, {})[version] = {
                    "load_average_at_start": [res["load_average_at_start"] for res in rs],
                    **{c: {q: round(statistics.median(res[c][q] for res in rs if c in res), 2)
                           for q in ("p50_ms", "p95_ms", "p99_ms")} for c in classes}}
        print(json.dumps(report, indent=1))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
