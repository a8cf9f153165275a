"""`ledger import` before and after, side by side in one run: events/s and peak RSS per backend.

    python bench/import_bulk.py --before main                 # factor 0.05, seed 1, both backends, 3 rounds
    python bench/import_bulk.py --before 7ae0f53 --factor 0.05 --repeat 3 --backends sqlite,postgres
    python bench/import_bulk.py --before main --backends sqlite --base first.db --file rest.jsonl

`--before REV` (and `--after REV`, default: this checkout) is any git revision of this repository:
its tree is unpacked (`git archive`) into a scratch folder and imported through the same interpreter with that folder first on `sys.path`, so
the two versions share the file, the machine and the moment. Rounds alternate before/after, each
import in a fresh process and a fresh store (SQLite file; PostgreSQL schema `$LEDGER_BENCH_PREFIX_import_*` of
LEDGER_BENCH_PG, default postgresql://root@127.0.0.1/test). Reported: the median events/s of the
rounds, the median peak RSS of the importing process (MiB), and the chain head each version stored
(the "after" heads must be equal on both backends). Events per CPU second counts the importing
process only (not the database server's), and moves less with the machine's load than the wall rate.
The import is run as `ledger import` runs it: without the billing projection digest each invoice run
would otherwise take (ADR 0021; `run_billing_digest`); `--run-digest` measures it with them.
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

# Runs in the child: one import into a fresh store, its figures as one JSON line.
CHILD = r"""
import json, resource, sys, time
from ledger.application import Ledger
from ledger.importer import Importer
from ledger.settings import Settings
url, path, digest = sys.argv[1], sys.argv[2], sys.argv[3] == "digest"
led = Ledger(Settings(database_url=url, run_billing_digest=digest))
t, cpu = time.perf_counter(), time.process_time()
report = Importer(led).run(path)
seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
head = led.chain_head()
led.close()
print(json.dumps({"events": report.events, "seconds": seconds, "cpu": cpu, "batches": report.batches,
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "head": head}))
"""


def pg_url(base: str, schema: str) -> str:
    return f"{base}{'&' if '?' in base else '?'}schema={schema}"


def drop_schema(base: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(base.split("?")[0], autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def one_import(source: Path | None, url: str, history: Path, digest: bool = False) -> dict[str, Any]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if source is not None:
        env["PYTHONPATH"] = str(source)
    done = subprocess.run([sys.executable, "-c", CHILD, url, str(history), "digest" if digest else "-"], env=env, capture_output=True, text=True,
                          cwd=source or ROOT, timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"import failed ({url}):\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="ledger-import-bench-"))
    try:
        measure(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(work: Path) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True, help="git revision to compare against")
    ap.add_argument("--after", help="git revision to measure instead of this checkout")
    ap.add_argument("--factor", default="0.05")
    ap.add_argument("--seed", default="1")
    ap.add_argument("--file", type=Path, help="import this file (e.g. a slice of a national history) instead of "
                    "generating one by --factor and --seed")
    ap.add_argument("--base", type=Path, help="a SQLite store each round starts from (a copy of it and its "
                    "master-key file), so --file can be a later stretch of the history that file continues "
                    "(SQLite only)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--pg", default=os.environ.get("LEDGER_BENCH_PG", "postgresql://root@127.0.0.1/test"))
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--run-digest", action="store_true",
                    help="let every invoice run digest the billing projection (ADR 0021), which `ledger import` "
                         "turns off; without this flag the import is measured as `ledger import` runs it")
    args = ap.parse_args()

    before = work / "before"
    before.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(before)], input=archive.stdout, check=True)
    after: Path | None = None
    if args.after:
        after = work / "after"
        after.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.after], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(after)], input=archive.stdout, check=True)
    history = args.file or work / "history.jsonl"
    if args.file is None:
        subprocess.run([str(Path(sys.executable).parent / "ledger"), "generate", "--factor", args.factor, "--seed",
                        args.seed, "--out", str(history)], cwd=ROOT, check=True, capture_output=True)
    if args.base is not None and args.backends != "sqlite":
        raise SystemExit("--base is a SQLite store: run it with --backends sqlite")
    # Schemas named per person (LEDGER_BENCH_PREFIX, as bench/run.py), so two benches never share one.
    prefix = os.environ.get("LEDGER_BENCH_PREFIX", "bench")

    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for backend in args.backends.split(","):
        for n in range(args.repeat):
            for name, source in (("before", before), ("after", after)):
                if backend == "sqlite":
                    store = work / f"{name}-{n}.db"
                    store.unlink(missing_ok=True)
                    if args.base is not None:
                        shutil.copyfile(args.base, store)
                        key = Path(f"{args.base}.master-key")
                        if key.exists():
                            shutil.copyfile(key, Path(f"{store}.master-key"))
                    url = f"sqlite:///{store}"
                else:
                    schema = f"{prefix}_import_{name}_{n}"
                    drop_schema(args.pg, schema)
                    url = pg_url(args.pg, schema)
                figures = one_import(source, url, history, args.run_digest)
                if backend != "sqlite":
                    drop_schema(args.pg, schema)
                results.setdefault(backend, {}).setdefault(name, []).append(figures)
                print(f"{backend:8} {name:6} round {n + 1}: {figures['events'] / figures['seconds']:,.0f} events/s, "
                      f"{figures['rss_mib']:.0f} MiB", file=sys.stderr)

    what = f"file {args.file}" if args.file else f"generated history factor {args.factor} seed {args.seed}"
    print(f"\n`ledger import`, {what}, median of {args.repeat}, "
          f"before = {args.before}, after = {args.after or 'this checkout'}, "
          f"run digests {'on' if args.run_digest else 'off (as `ledger import`)'}\n")
    print("| backend | version | events | batches | events/s | events per CPU s | peak RSS MiB | chain head |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    table: dict[str, Any] = {}
    for backend, by_version in results.items():
        for name, runs in by_version.items():
            rate = statistics.median(r["events"] / r["seconds"] for r in runs)
            rss = statistics.median(r["rss_mib"] for r in runs)
            per_cpu = statistics.median(r["events"] / r["cpu"] for r in runs)
            heads = {r["head"]["hash"][:12] for r in runs}
            table[f"{backend}/{name}"] = {"events_per_s": rate, "events_per_cpu_s": per_cpu, "rss_mib": rss,
                                         "events": runs[0]["events"],
                                         "batches": runs[0]["batches"], "heads": sorted(heads)}
            print(f"| {backend} | {name} | {runs[0]['events']:,} | {runs[0]['batches']} | {rate:,.0f} | {per_cpu:,.0f} | "
                  f"{rss:.0f} | "
                  f"{', '.join(sorted(heads))} |")
    after_heads = {h for k, v in table.items() if k.endswith("/after") for h in v["heads"]}
    print(f"\nthe after-version's chain heads agree across rounds and backends: {len(after_heads) == 1}")
    if args.json:
        args.json.write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
