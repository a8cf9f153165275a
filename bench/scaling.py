"""Rebuild time against worker processes and against history size, side by side in one run.

    python bench/scaling.py --backend sqlite --factors 1,4 --jobs 1,2 --repeat 2

For each factor F the trial networks' history with F x the `network` scale's recipients is
generated (cached in --data) and imported once; then, round-robin in one run (so a busy machine
disturbs every cell alike), the full rebuild (swap=False) with each `--jobs` value and the raw
read + decode of the same log. Prints one JSON line per measurement and a markdown table at the
end (medians), which ADR 0012 quotes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

NETWORK_FACTOR = 0.05
PG_BASE = os.environ.get("LEDGER_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


def store(backend: str, factor: float, data: Path) -> str:
    from ledger.application import Ledger
    from ledger.generate import custom_scale, generate
    from ledger.importer import Importer
    from ledger.projections.reader import head_position
    from ledger.settings import Settings

    name = f"scaling-x{factor:g}"
    url = (f"sqlite:///{data / (name + '.db')}" if backend == "sqlite"
           else f"{PG_BASE}?schema={os.environ.get('LEDGER_BENCH_PREFIX', 'bench')}_{name.replace('-', '_').replace('.', '_')}")
    led = Ledger(Settings(database_url=url))
    try:
        if head_position(led.db) == 0:
            file = data / f"{name}.jsonl"
            if not file.exists():
                generate(custom_scale(NETWORK_FACTOR * factor), seed=1, out=file)
            Importer(led).run(file)
    finally:
        led.close()
    return url


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", default="sqlite")
    ap.add_argument("--factors", default="1,4")
    ap.add_argument("--jobs", default="1,2")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "ledger-bench")
    args = ap.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)

    from ledger.db import Database
    from ledger.projections import all_projections
    from ledger.projections.engine import Engine
    from ledger.projections.reader import head_position, read_raw

    factors = [float(f) for f in args.factors.split(",")]
    jobs = [int(j) for j in args.jobs.split(",")]
    urls = {f: store(args.backend, f, args.data) for f in factors}
    cells: dict[tuple[float, str], list[float]] = {}
    events: dict[float, int] = {}
    for _ in range(args.repeat):
        for f, url in urls.items():
            db = Database(url)
            try:
                events[f] = head_position(db)
                started = time.perf_counter()
                sum(len(b) for b in read_raw(db))
                cells.setdefault((f, "raw"), []).append(time.perf_counter() - started)
                for j in jobs:
                    engine = Engine(db, all_projections())
                    started = time.perf_counter()
                    result = engine.rebuild(swap=False, suffix="__scaling", jobs=j)
                    took = time.perf_counter() - started
                    cells.setdefault((f, f"jobs={j}"), []).append(took)
                    engine.drop_suffix("__scaling")
                    print(json.dumps({"factor": f, "events": events[f], "jobs": j, "seconds": round(took, 2),
                                      "load": os.getloadavg()[0], "workers_rss_mib": result.get("worker_peak_rss_mib")}),
                          flush=True)
            finally:
                db.close()
    cols = ["raw"] + [f"jobs={j}" for j in jobs]
    print(f"\n| history | events | {' | '.join(c + ' s' for c in cols)} |")
    print("|---|---:|" + "---:|" * len(cols))
    for f in factors:
        med = [statistics.median(cells[(f, c)]) for c in cols]
        print(f"| {f:g}x | {events[f]:,} | " + " | ".join(f"{m:.2f}" for m in med) + " |")


if __name__ == "__main__":
    main()
