"""The benchmark harness: import, rebuild, queries and verify on the generated trial history.

    python bench/run.py                                   # network scale, SQLite and PostgreSQL, every step
    python bench/run.py --scales network,national --steps import,rebuild,peer
    python bench/run.py --scales national --backends postgres --steps timeline,audit --queries 500

Steps (each runs in a subprocess of its own, so its peak RSS is its own; see bench/README.md):

  generate    `ledger generate` of the scale (cached in --data by scale and seed)
  import      the file through `ledger.importer` into a fresh store: events/s
  rebuild     every projection rebuilt (Engine.rebuild, swapped in), and in the same process the raw
              read + decode of the same log (reader.read_raw) and read_events: log events/s, medians
  peer        the eventsourcing library's own way over the same log: its mapper to domain events and
              one tracking write per event (PostgreSQL: eventsourcing.projection.ProjectionRunner;
              SQLite, which has no subscription: NotificationLogReader + SQLiteTrackingRecorder)
  timeline    timeline query latency at random (D, K) (bench/timeline_latency.py)
  timeline4x  the same at 1x and 4x history on synthetic stores (bench/timeline_latency.py --synthetic)
  audit       audit query latency (audit_queries.audit) for random municipality and period
  verify      ledger-replay verify: the chain, and the full check (bench/verify.py)
  api         the HTTP API under load (bench/api_load.py; PostgreSQL, independent of scale)

Results go to bench/results/results.json (merged with earlier runs, keyed by backend, scale and
step) and bench/results/results.md; bench/plot.py draws bench/results/scaling.png.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results"
PG_BASE = os.environ.get("LEDGER_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
STEPS = ("generate", "import", "rebuild", "peer", "timeline", "timeline4x", "audit", "verify", "startup", "api")
DEFAULT_STEPS = ("generate", "import", "rebuild", "peer", "timeline", "audit", "verify", "startup")
TARGETS = {  # issue 12
    "import_pg_events_per_second": 20_000,
    "rebuild_events_per_second": 100_000,
    "rebuild_share_of_raw": 0.5,
    "rebuild_over_library": 50.0,
    "rows_written_per_event": 2.0,
    "timeline_p95_ms_national": 50.0,
    "peak_rss_mib": 1024.0,
    "verify_seconds_national": 120.0,
    "startup_seconds": 0.3,
}


# -- small helpers ------------------------------------------------------------------------------

def peak_rss_mib() -> float:
    """This process's peak RSS (VmHWM: getrusage's ru_maxrss can carry a parent's peak over exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _proc_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _descendants(root: int) -> list[int]:
    """Every live process below `root` (from /proc/*/stat parent ids)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        for child_pid in children.get(todo.pop(), ()):
            out.append(child_pid)
            todo.append(child_pid)
    return out


class SummedRss:
    """The peak, over time, of the RSS of this process and all its descendants added up (rebuild
    workers, verify's chain process, writer children), sampled every `interval` seconds in a
    thread: what one job of the ledger holds in memory at once."""

    def __init__(self, interval: float = 0.1) -> None:
        import threading

        self.interval = interval
        self.peak_kib = 0
        self.processes = 1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            pids = [me, *_descendants(me)]
            total = sum(_proc_rss_kib(pid) for pid in pids)
            if total > self.peak_kib:
                self.peak_kib, self.processes = total, len(pids)
            self._stop.wait(self.interval)

    def __enter__(self) -> SummedRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mib(self) -> float:
        return round(self.peak_kib / 1024, 1)


def percentiles(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)

    def at(p: float) -> float:
        if not ms:
            return float("nan")
        k = (len(ms) - 1) * p / 100
        lo, hi = int(k), min(int(k) + 1, len(ms) - 1)
        return ms[lo] + (ms[hi] - ms[lo]) * (k - lo)

    return {"n": len(ms), "p50_ms": round(at(50), 2), "p95_ms": round(at(95), 2), "max_ms": round(ms[-1], 2)}


def load_module(name: str) -> Any:
    """A script of bench/ as a module (they are scripts, not a package)."""
    path = ROOT / "bench" / f"{name}.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def store_url(backend: str, scale: str, seed: int, data: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{data / f'{scale}-s{seed}.db'}"
    # LEDGER_BENCH_PREFIX keeps benchmarks of several checkouts on one server apart.
    return f"{PG_BASE}?schema={os.environ.get('LEDGER_BENCH_PREFIX', 'bench')}_{scale}_s{seed}"


def fresh_store(url: str) -> None:
    """Delete the SQLite file or drop and recreate the PostgreSQL schema."""
    from ledger.db import parse_database_url

    cfg = parse_database_url(url)
    if cfg.kind == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(cfg.path + suffix).unlink(missing_ok=True)
        return
    import psycopg

    with psycopg.connect(cfg.conninfo, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{cfg.schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{cfg.schema}"')


def log_size(url: str) -> int:
    from ledger.db import Database
    from ledger.projections.reader import head_position

    db = Database(url)
    try:
        return int(db.query("SELECT count(*) FROM ledger_chain")[0][0]) if head_position(db) else 0
    finally:
        db.close()


def ensure_current(url: str) -> list[str]:
    """Rebuild the projections whose tables were built by another version of their code (the code
    moves while benchmarks run; a query step must not measure, or fail on, stale tables)."""
    from ledger.db import Database
    from ledger.projections import all_projections
    from ledger.projections.engine import Engine

    db = Database(url)
    try:
        engine = Engine(db, all_projections())
        stale = [s["name"] for s in engine.status() if s["needs_rebuild"] or s["version"] is None]
        if stale:
            engine.rebuild(stale)
        return stale
    finally:
        db.close()


# -- the steps (each runs in a child process) ----------------------------------------------------

def step_generate(p: dict[str, Any]) -> dict[str, Any]:
    from ledger.generate import SCALES, generate

    started = time.process_time()
    summary = generate(SCALES[p["scale"]], p["seed"], p["file"])
    return {"lines": summary["lines"], "citizens": summary["citizens"], "buyers": summary["buyers"],
            "seconds": summary["seconds"], "cpu_seconds": round(time.process_time() - started, 1),
            "lines_per_second": round(summary["lines"] / summary["seconds"]),
            "file_mib": round(Path(p["file"]).stat().st_size / 2**20, 1)}


def step_import(p: dict[str, Any]) -> dict[str, Any]:
    from ledger.application import Ledger
    from ledger.importer import Importer
    from ledger.settings import Settings

    fresh_store(p["url"])
    ledger = Ledger(Settings(database_url=p["url"]))
    try:
        cpu = time.process_time()
        report = Importer(ledger, batch_size=p["batch"]).run(p["file"])
        cpu = time.process_time() - cpu
    finally:
        ledger.close()
    return {"lines": report.lines, "events": report.events, "batches": report.batches,
            "seconds": round(report.seconds, 1), "cpu_seconds": round(cpu, 1),
            "events_per_second": round(report.events_per_second),
            "events_per_cpu_second": round(report.events / cpu) if cpu else None, "batch": p["batch"]}


def step_rebuild(p: dict[str, Any]) -> dict[str, Any]:
    """Side by side in one process and run: raw read + decode, read_events, the full rebuild as
    the engine chooses it (`jobs=None`: one worker below 50,000 positions, one per core above),
    with one worker and with `--jobs` workers (each swapped in), and each projection alone."""
    import gc

    from ledger.db import Database
    from ledger.projections import all_projections
    from ledger.projections.engine import Engine
    from ledger.projections.reader import read_events, read_raw

    db = Database(p["url"])
    jobs = p.get("jobs") or os.cpu_count() or 1
    try:
        events = log_size(p["url"])
        raw, decoded, auto, rebuild, parallel, alone = [], [], [], [], [], {}
        projections = all_projections()
        rows: dict[str, int] = {}
        workers_rss = 0.0
        auto_jobs = 1
        for _ in range(p["repeat"]):
            # The baselines run with the cyclic GC paused, as the engine runs its batches.
            gc.disable()
            try:
                started = time.perf_counter()
                n = sum(len(batch) for batch in read_raw(db))
                raw.append(time.perf_counter() - started)
                started = time.perf_counter()
                sum(len(batch) for batch in read_events(db))
                decoded.append(time.perf_counter() - started)
            finally:
                gc.enable()
            assert n == events, (n, events)
            started = time.perf_counter()
            chosen = Engine(db, projections).rebuild(jobs=None)
            auto.append(time.perf_counter() - started)
            auto_jobs = chosen["jobs"]
            started = time.perf_counter()
            one = Engine(db, projections).rebuild(jobs=1)
            rebuild.append(time.perf_counter() - started)
            rows = {name: s["inserted"] + s["upserted"] + s["deleted"] for name, s in one["projections"].items()}
            started = time.perf_counter()
            many = Engine(db, projections).rebuild(jobs=jobs)
            parallel.append(time.perf_counter() - started)
            workers_rss = max(workers_rss, sum(many.get("worker_peak_rss_mib", [])))
        for projection in projections:
            started = time.perf_counter()
            Engine(db, projections).rebuild([projection.name], jobs=1)
            alone[projection.name] = round(events / (time.perf_counter() - started))
    finally:
        db.close()
    raw_s, dec_s, auto_s, reb_s, par_s = (statistics.median(x) for x in (raw, decoded, auto, rebuild, parallel))
    best = min(auto_s, reb_s, par_s)
    return {"events": events, "runs": p["repeat"], "projections": [pr.name for pr in projections],
            "raw_seconds": round(raw_s, 3), "raw_events_per_second": round(events / raw_s),
            "read_events_per_second": round(events / dec_s),
            "rebuild_auto_jobs": auto_jobs, "rebuild_auto_seconds": round(auto_s, 2),
            "rebuild_auto_events_per_second": round(events / auto_s),
            "rebuild_jobs1_seconds": round(reb_s, 2), "rebuild_jobs1_events_per_second": round(events / reb_s),
            "jobs": jobs, "rebuild_jobsN_seconds": round(par_s, 2), "rebuild_jobsN_events_per_second": round(events / par_s),
            # the headline: the fastest of the three ways (the engine's default is usually it)
            "rebuild_seconds": round(best, 2), "rebuild_events_per_second": round(events / best),
            "rebuild_share_of_raw": round(raw_s / best, 3), "rebuild_jobs1_share_of_raw": round(raw_s / reb_s, 3),
            "rows_written": sum(rows.values()), "rows_written_by_projection": rows,
            "rows_written_per_event": round(sum(rows.values()) / events, 2), "alone_events_per_second": alone,
            "workers_peak_rss_mib": workers_rss}


def step_startup(p: dict[str, Any]) -> dict[str, Any]:
    """Wall time of `ledger --help` and `ledger projections status` (median of 5 each, after one
    warm-up run).

    As a user's installed copy runs: with its bytecode cached. This workplace exports
    PYTHONDONTWRITEBYTECODE=1, under which every start compiles each imported module of the
    editable checkout from source again (~0.3 s of `projections status`'s 0.6 s in round 7)."""
    env = dict(os.environ, LEDGER_DATABASE_URL=p["url"])
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out: dict[str, Any] = {}
    for label, args in (("help", ["--help"]), ("status", ["projections", "status"])):
        times = []
        for run in range(6):
            started = time.perf_counter()
            subprocess.run([str(Path(sys.executable).parent / "ledger"), *args], env=env, capture_output=True,
                           check=False)
            if run:  # the first run writes the bytecode cache
                times.append(time.perf_counter() - started)
        out[f"{label}_seconds"] = round(statistics.median(times), 3)
    return out


def _peer_env(url: str) -> dict[str, str]:
    from ledger.db import Database

    env = Database(url).eventsourcing_env()
    env.pop("APPLICATION_RECORDER_TOPIC", None)  # the library's own recorder reads the same table
    env["TRANSCODER_TOPIC"] = "ledger.store.transcoder:OrjsonTranscoder"
    env["CREATE_TABLE"] = "y"
    return env


def step_peer(p: dict[str, Any]) -> dict[str, Any]:
    """The library's standard projection path over the same log: stored event → domain event (its
    mapper) → process_event → a tracking record written per event (exactly-once, its own way)."""
    from eventsourcing.application import Application
    from eventsourcing.persistence import Tracking
    from eventsourcing.projection import Projection

    from ledger.db import Database

    limit = p["limit"]
    env = _peer_env(p["url"])
    db = Database(p["url"])
    ids = [r[0] for r in db.query(f"SELECT {db.position_column} FROM {db.events_table} "
                                  f"ORDER BY {db.position_column} LIMIT ?", (limit,))]
    db.close()
    target = ids[-1]

    class PeerLedger(Application):  # the same stored log, read the library's way
        name = "Ledger"
        log_section_size = 1_000

    processed = [0]

    if db.is_postgres:
        from eventsourcing.postgres import PostgresTrackingRecorder
        from eventsourcing.projection import ProjectionRunner

        class TrackOnly(Projection[PostgresTrackingRecorder]):
            name = "bench_peer"

            def process_event(self, domain_event: Any, tracking: Tracking) -> None:
                self.view.insert_tracking(tracking)
                processed[0] += 1

        from ledger.db import parse_database_url

        schema = parse_database_url(p["url"]).schema
        import psycopg

        with psycopg.connect(parse_database_url(p["url"]).conninfo, autocommit=True) as conn:
            conn.execute(f'DROP TABLE IF EXISTS "{schema}".bench_peer_tracking')
        started = time.perf_counter()
        with ProjectionRunner(application_class=PeerLedger, projection_class=TrackOnly,
                              view_class=PostgresTrackingRecorder, env=env) as runner:
            runner.wait(target, timeout=p["timeout"])
            seconds = time.perf_counter() - started
        how = "eventsourcing.projection.ProjectionRunner + PostgresTrackingRecorder.insert_tracking per event"
    else:
        from eventsourcing.sqlite import SQLiteFactory
        from eventsourcing.system import NotificationLogReader
        from eventsourcing.utils import Environment

        app = PeerLedger(env=env)
        with app.recorder.datastore.transaction(commit=True) as cur:  # the library's table; ours are apart
            cur.execute("DROP TABLE IF EXISTS tracking")
        view = SQLiteFactory(Environment("bench_peer", {**os.environ, **env})).tracking_recorder()
        reader = NotificationLogReader(app.notification_log, section_size=1_000)
        started = time.perf_counter()
        for notifications in reader.select(start=1, stop=target):
            for n in notifications:
                app.mapper.to_domain_event(n)
                view.insert_tracking(Tracking(app.name, n.id))
                processed[0] += 1
        seconds = time.perf_counter() - started
        app.close()
        how = "eventsourcing NotificationLogReader + mapper + SQLiteTrackingRecorder.insert_tracking per event"
    return {"events": processed[0], "seconds": round(seconds, 1),
            "events_per_second": round(processed[0] / seconds), "how": how}


def step_timeline(p: dict[str, Any]) -> dict[str, Any]:
    module = load_module("timeline_latency")
    if module is None:
        return {"skipped": "bench/timeline_latency.py is not there"}
    rebuilt = ensure_current(p["url"])
    args = argparse.Namespace(queries=p["queries"], seed=7, network_share=0.2, now_share=0.3, series_share=0.0, rebuild=False)
    result = module.run_database(p["url"], args)
    return {"events": log_size(p["url"]), "rebuilt_first": rebuilt, **{k: v for k, v in result.items() if k != "url"}}


def step_timeline4x(p: dict[str, Any]) -> dict[str, Any]:
    path = ROOT / "bench" / "timeline_latency.py"
    if not path.exists():
        return {"skipped": "bench/timeline_latency.py is not there"}
    out = subprocess.run([sys.executable, str(path), "--synthetic", str(p["citizens"]), "--factor", "4",
                          "--backend", p["backend"], "--queries", str(p["queries"])],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def step_audit(p: dict[str, Any]) -> dict[str, Any]:
    from ledger.db import Database
    from ledger.projections import audit_queries

    rebuilt = ensure_current(p["url"])
    db = Database(p["url"])
    rnd = random.Random(7)
    try:
        ms = [int(r[0]) for r in db.query("SELECT DISTINCT municipality FROM au_schemes ORDER BY 1")]
        samples: list[float] = []
        for i in range(20 + p["queries"]):
            m = rnd.choice(ms)
            year = rnd.randrange(2018, 2022)
            date_from, date_to = (f"{year}-01-01", f"{year}-12-31") if rnd.random() < 0.7 else (None, None)
            started = time.perf_counter()
            audit_queries.audit(db, m, date_from=date_from, date_to=date_to)
            if i >= 20:  # warm-up
                samples.append(time.perf_counter() - started)
    finally:
        db.close()
    return {"events": log_size(p["url"]), "rebuilt_first": rebuilt, "municipalities": len(ms), **percentiles(samples)}


def step_verify(p: dict[str, Any]) -> dict[str, Any]:
    module = load_module("verify")
    if module is None:
        return {"skipped": "bench/verify.py is not there"}
    events = log_size(p["url"])
    out: dict[str, Any] = {"events": events, "rebuilt_first": ensure_current(p["url"])}
    for name in ("chain", "verify"):
        started = time.perf_counter()
        try:
            {"chain": module.chain_only, "verify": module.full_verify}[name](p["url"])
            out[f"{name}_ok"] = True
        except AssertionError:  # bench/verify.py asserts the report is ok: a finding, not a crash
            out[f"{name}_ok"] = False
        seconds = time.perf_counter() - started
        out[f"{name}_seconds"] = round(seconds, 1)
        out[f"{name}_events_per_second"] = round(events / seconds)
    return out


def step_api(p: dict[str, Any]) -> dict[str, Any]:
    path = ROOT / "bench" / "api_load.py"
    if not path.exists():
        return {"skipped": "bench/api_load.py is not there"}
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "api.json"
        subprocess.run([sys.executable, str(path), "--seconds", str(p["seconds"]), "--json", str(result)],
                       check=True, capture_output=True, text=True)
        return json.loads(result.read_text())


CHILD = {name: globals()[f"step_{name}"] for name in STEPS}


def child(step: str, params_json: str, result_path: str) -> None:
    params = json.loads(params_json)
    load = [round(x, 2) for x in os.getloadavg()]  # the machine is shared: how busy it was
    started = time.perf_counter()
    with SummedRss() as summed:
        result = CHILD[step](params)
    result["load_average_at_start"] = load
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    result["peak_rss_mib"] = peak_rss_mib()
    result["peak_rss_summed_mib"] = summed.peak_mib  # this process and its children, added up
    result["peak_rss_summed_processes"] = summed.processes
    Path(result_path).write_text(json.dumps(result, indent=1))


def run_child(step: str, params: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        code = subprocess.call([sys.executable, __file__, "--child", step, "--params", json.dumps(params),
                                "--result", str(out)])
        if code != 0:
            return {"error": f"exit code {code}"}
        return json.loads(out.read_text())


# -- the report -----------------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                            "platform": platform.platform()}
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    try:
        import psycopg

        with psycopg.connect(PG_BASE, connect_timeout=3) as conn:
            info["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
    except Exception:  # noqa: BLE001 - only for the report
        info["postgresql"] = None
    import sqlite3

    info["sqlite"] = sqlite3.sqlite_version
    return info


def load_results() -> dict[str, Any]:
    path = RESULTS / "results.json"
    if path.exists():
        return json.loads(path.read_text())
    return {"runs": {}}


def _get(results: dict[str, Any], backend: str, scale: str, step: str, key: str) -> Any:
    return results["runs"].get(f"{backend}/{scale}/{step}", {}).get(key)


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and value < 10:
        return f"{value:.2f}{unit}"
    if isinstance(value, (int, float)):
        return f"{value:,.0f}{unit}"
    return str(value)


def _met(value: Any, goal: float, higher: bool) -> str:
    if value is None:
        return "–"
    return "met" if (value >= goal if higher else value < goal) else "**not met**"


def side_by_side(results: dict[str, Any]) -> list[str]:
    """The read side against issue 12's targets, per backend and scale, from one run each."""
    runs = results["runs"]
    # Only stores whose rebuild step this version of the harness measured (older entries of
    # results.json lack the per-projection row counts and measured other code).
    pairs = sorted({(b, s) for b, s, *_ in (k.split("/") for k in runs)
                    if b in ("sqlite", "postgres") and s not in ("-", "synthetic")
                    and "rows_written_by_projection" in runs.get(f"{b}/{s}/rebuild", {})},
                   key=lambda p: (p[1] != "network", p[0] != "sqlite"))
    lines = ["## The read side, side by side (issue 12)", "",
             "Each row is one `bench/run.py` run of the steps `rebuild`, `peer` and `verify` on one backend and "
             "scale. Rates are events of the log per second (wall clock); peak RSS is summed over every process "
             "of the step (sampled every 0.1 s); load average is the machine's (2 cores, shared) at the start "
             "of the rebuild step.", "",
             "| backend | scale | events | raw read+decode ev/s | full rebuild ev/s (jobs auto / 1 / N) "
             "| rebuild / raw | each projection alone ev/s | library runner ev/s | rebuild / library "
             "| verify s | rows written / event | peak RSS summed MiB (rebuild / verify) | load avg |",
             "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|"]
    targets = ["", "| target | where | measured | |", "|---|---|---:|---|"]
    for backend, scale in pairs:
        def g(step: str, key: str) -> Any:
            return _get(results, backend, scale, step, key)

        where = f"{backend}, {scale}"
        events = g("rebuild", "events")
        reb, peer = g("rebuild", "rebuild_events_per_second"), g("peer", "events_per_second")
        share = g("rebuild", "rebuild_share_of_raw")
        over = reb / peer if reb and peer else None
        rows = g("rebuild", "rows_written_per_event")
        rss = [v for v in (g("rebuild", "peak_rss_summed_mib"), g("verify", "peak_rss_summed_mib")) if v]
        alone = g("rebuild", "alone_events_per_second") or {}
        lines.append(
            f"| {backend} | {scale} | {_fmt(events)} | {_fmt(g('rebuild', 'raw_events_per_second'))} "
            f"| {_fmt(reb)} ({_fmt(g('rebuild', 'rebuild_auto_events_per_second'))} / "
            f"{_fmt(g('rebuild', 'rebuild_jobs1_events_per_second'))} / "
            f"{_fmt(g('rebuild', 'rebuild_jobsN_events_per_second'))}) "
            f"| {_fmt(None if share is None else share * 100, ' %')} "
            f"| {', '.join(f'{k} {v:,}' for k, v in alone.items()) or '–'} | {_fmt(peer)} | {_fmt(over, '×')} "
            f"| {_fmt(g('verify', 'verify_seconds'))}{'' if g('verify', 'verify_ok') in (None, True) else ' NOT VERIFIED'} "
            f"| {_fmt(rows)} | {_fmt(g('rebuild', 'peak_rss_summed_mib'))} / {_fmt(g('verify', 'peak_rss_summed_mib'))} "
            f"| {g('rebuild', 'load_average_at_start') or '–'} |")
        for name, value, goal, higher, unit in (
                ("rebuild ≥ 50 % of raw read+decode", None if share is None else share * 100,
                 TARGETS["rebuild_share_of_raw"] * 100, True, " %"),
                ("rows written per event < 2", rows, TARGETS["rows_written_per_event"], False, ""),
                ("rebuild ≥ 50× the library's runner", over, TARGETS["rebuild_over_library"], True, "×"),
                ("verify < 2 min" + ("" if scale == "national" else " (the target is national's)"),
                 g("verify", "verify_seconds"), TARGETS["verify_seconds_national"], False, " s"),
                ("peak RSS summed over processes < 1 GiB", max(rss) if rss else None, TARGETS["peak_rss_mib"],
                 False, " MiB")):
            targets.append(f"| {name} | {where} | {_fmt(value, unit)} | {_met(value, goal, higher)} |")
    return lines + targets + [""]


def markdown(results: dict[str, Any]) -> str:
    runs = results["runs"]
    pairs = sorted({(b, s) for b, s, *_ in (k.split("/") for k in runs)
                    if b in ("sqlite", "postgres") and s in ("network", "national")},
                   key=lambda p: (p[1] != "network", p[0] != "sqlite"))
    lines = ["# Benchmark results", "",
             f"Written by `bench/run.py` on {results.get('updated', '?')}; machine: "
             f"{json.dumps(results.get('machine', {}))}. Rates are events of the log per second, wall clock, "
             "on a shared 2-core machine (noisy: compare within a run). Peak RSS is each step's own process.", "",
             *side_by_side(results), "## Every step", "",
             "| backend | scale | events | import ev/s (CPU-bound ev/s) | rebuild ev/s (jobs=1) | raw read+decode ev/s "
             "| rebuild/raw (jobs=1) | rows written/event | each projection alone ev/s "
             "| library runner ev/s | rebuild/library | timeline p50/p95 ms | audit p50/p95 ms | verify s (chain s) "
             "| peak RSS MiB (step; rebuild workers summed) | start-up s (--help / status) | rebuild measured |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for backend, scale in pairs:
        def g(step: str, key: str) -> Any:
            return _get(results, backend, scale, step, key)

        events = g("import", "events") or g("rebuild", "events")
        share1 = g("rebuild", "rebuild_jobs1_share_of_raw")
        alone = g("rebuild", "alone_events_per_second") or {}
        reb, peer = g("rebuild", "rebuild_events_per_second"), g("peer", "events_per_second")
        rss = [(runs[k].get("peak_rss_mib") or 0, k.split("/")[2]) for k in runs if k.startswith(f"{backend}/{scale}/")]
        top = max(rss) if rss else None
        lines.append(
            f"| {backend} | {scale} | {_fmt(events)} "
            f"| {_fmt(g('import', 'events_per_second'))} ({_fmt(g('import', 'events_per_cpu_second'))}) "
            f"| {_fmt(reb)} ({_fmt(g('rebuild', 'rebuild_jobs1_events_per_second'))}) "
            f"| {_fmt(g('rebuild', 'raw_events_per_second'))} "
            f"| {_fmt(None if g('rebuild', 'rebuild_share_of_raw') is None else g('rebuild', 'rebuild_share_of_raw') * 100, ' %')}"
            f" ({_fmt(None if share1 is None else share1 * 100, ' %')}) "
            f"| {_fmt(g('rebuild', 'rows_written_per_event'))} "
            f"| {', '.join(f'{k} {v:,}' for k, v in alone.items()) or '–'} | {_fmt(peer)} "
            f"| {_fmt(reb / peer if reb and peer else None)}× "
            f"| {_fmt((g('timeline', 'all') or {}).get('p50_ms'))} / {_fmt((g('timeline', 'all') or {}).get('p95_ms'))} "
            f"| {_fmt(g('audit', 'p50_ms'))} / {_fmt(g('audit', 'p95_ms'))} "
            f"| {_fmt(g('verify', 'verify_seconds'))}{'' if g('verify', 'verify_ok') in (None, True) else ' NOT VERIFIED'}"
            f" ({_fmt(g('verify', 'chain_seconds'))}) "
            f"| {_fmt(top[0]) + ' (' + top[1] + ')' if top else '–'}; {_fmt(g('rebuild', 'workers_peak_rss_mib'))} "
            f"| {_fmt(g('startup', 'help_seconds'))} / {_fmt(g('startup', 'status_seconds'))} "
            f"| {(g('rebuild', 'measured') or '–')[:16]} |")
    lines += ["", "## Against the targets", "", "| target | where | measured | met |", "|---|---|---:|:-:|"]

    def target(name: str, where: str, value: Any, goal: float, higher: bool = True, unit: str = "") -> None:
        met = "–" if value is None else ("yes" if (value >= goal if higher else value < goal) else "**no**")
        lines.append(f"| {name} | {where} | {_fmt(value, unit)} | {met} |")

    for backend, scale in pairs:
        where = f"{backend}, {scale}"
        if backend == "postgres":
            target("import ≥ 20,000 events/s", where, _get(results, backend, scale, "import", "events_per_second"),
                   TARGETS["import_pg_events_per_second"])
        reb = _get(results, backend, scale, "rebuild", "rebuild_events_per_second")
        target("rebuild ≥ 100,000 events/s", where, reb, TARGETS["rebuild_events_per_second"])
        share = _get(results, backend, scale, "rebuild", "rebuild_share_of_raw")
        target("rebuild ≥ 50 % of raw read+decode", where, None if share is None else round(share * 100, 1),
               TARGETS["rebuild_share_of_raw"] * 100, unit=" %")
        peer = _get(results, backend, scale, "peer", "events_per_second")
        target("rebuild ≥ 50× the library's runner", where, reb / peer if reb and peer else None,
               TARGETS["rebuild_over_library"], unit="×")
        if scale == "national":
            tl = _get(results, backend, scale, "timeline", "all") or {}
            target("timeline p95 < 50 ms", where, tl.get("p95_ms"), TARGETS["timeline_p95_ms_national"], higher=False)
        if scale == "national":
            target("verify < 2 min", where, _get(results, backend, scale, "verify", "verify_seconds"),
                   TARGETS["verify_seconds_national"], higher=False, unit=" s")
        for label in ("help", "status"):
            target(f"start-up of `ledger {'--help' if label == 'help' else 'projections status'}` < 0.3 s", where,
                   _get(results, backend, scale, "startup", f"{label}_seconds"), TARGETS["startup_seconds"],
                   higher=False, unit=" s")
        rss = [runs[k].get("peak_rss_mib") for k in runs if k.startswith(f"{backend}/{scale}/")]
        workers = _get(results, backend, scale, "rebuild", "workers_peak_rss_mib")
        if workers:
            rss.append(workers)
        target("peak RSS < 1 GiB (every step)", where, max((r for r in rss if r), default=None),
               TARGETS["peak_rss_mib"], higher=False, unit=" MiB")
    four = {k: v for k, v in runs.items() if k.endswith("/timeline4x")}
    if four:
        lines += ["", "## Timeline latency at 1x and 4x history (synthetic stores, bench/timeline_latency.py)", ""]
        for k, v in sorted(four.items()):
            syn = v.get("synthetic", {})
            lines.append(f"* {k.split('/')[0]}: {syn.get('citizens')} citizens: p95 ratio 4x/1x "
                         f"{json.dumps(v.get('ratio_p95'))}; 1x all p95 {syn.get('x1', {}).get('all', {}).get('p95_ms')} ms, "
                         f"4x all p95 {syn.get('x4', {}).get('all', {}).get('p95_ms')} ms")
    api = {k: v for k, v in runs.items() if k.endswith("/api")}
    for k, v in api.items():
        lines += ["", "## API load (bench/api_load.py)", "", "```", json.dumps(v, indent=1)[:3000], "```"]
    lines += ["", "## Steps in detail", "", "```json", json.dumps(runs, indent=1, sort_keys=True)[:20000], "```", ""]
    return "\n".join(lines)


def write_report(results: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "results.json").write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    (RESULTS / "results.md").write_text(markdown(results))
    plot = load_module("plot")
    if plot is not None:
        try:
            plot.plot(RESULTS / "results.json", RESULTS / "scaling.png")
        except Exception as e:  # noqa: BLE001 - the numbers matter more than the picture
            print(f"plot failed: {e}", file=sys.stderr)


# -- main ---------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--scales", default="network", help="network, national or both (comma-separated)")
    ap.add_argument("--steps", default=",".join(DEFAULT_STEPS), help=f"of: {', '.join(STEPS)}")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "ledger-bench",
                    help="where generated files and SQLite stores live")
    ap.add_argument("--batch", type=int, default=2_000, help="import batch size")
    ap.add_argument("--repeat", type=int, default=0, help="rebuild runs (default: 3 network, 1 national)")
    ap.add_argument("--jobs", type=int, default=0, help="rebuild workers of the parallel rebuild (default: one per core)")
    ap.add_argument("--peer-limit", type=int, default=100_000, help="events the library's runner processes")
    ap.add_argument("--queries", type=int, default=300, help="timeline and audit queries")
    ap.add_argument("--synthetic-citizens", type=int, default=1_000, help="timeline4x: citizens at any time")
    ap.add_argument("--regenerate", action="store_true", help="generate the file again even if it is there")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--params", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.params, args.result)
        return
    steps = [s for s in args.steps.split(",") if s]
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        ap.error(f"unknown steps {unknown}; known: {', '.join(STEPS)}")
    args.data.mkdir(parents=True, exist_ok=True)
    results = load_results()
    results["machine"] = machine()
    backends = [b for b in args.backends.split(",") if b]
    for scale in [s for s in args.scales.split(",") if s]:
        file = args.data / f"{scale}-s{args.seed}.jsonl"
        plan: list[tuple[str, str, dict[str, Any]]] = []
        if "generate" in steps and (args.regenerate or not file.exists()):
            plan.append(("-", "generate", {"scale": scale, "seed": args.seed, "file": str(file)}))
        for backend in backends:
            url = store_url(backend, scale, args.seed, args.data)
            repeat = args.repeat or (3 if scale == "network" else 1)
            for step in steps:
                params: dict[str, Any] = {"url": url, "backend": backend}
                if step in ("generate", "api", "timeline4x"):
                    continue
                if step == "import":
                    params.update(file=str(file), batch=args.batch)
                elif step == "rebuild":
                    params.update(repeat=repeat, jobs=args.jobs)
                elif step == "peer":
                    params.update(limit=args.peer_limit, timeout=3_600)
                elif step in ("timeline", "audit"):
                    params.update(queries=args.queries)
                plan.append((backend, step, params))
            if "timeline4x" in steps:
                plan.append((backend, "timeline4x", {"backend": backend, "citizens": args.synthetic_citizens,
                                                     "queries": args.queries}))
        for backend, step, params in plan:
            key = f"{backend if backend != '-' else 'any'}/{scale if step not in ('timeline4x',) else 'synthetic'}/{step}"
            print(f"[{datetime.now():%H:%M:%S}] {key} …", flush=True)
            result = run_child(step, params)
            print(f"   {json.dumps(result)[:400]}", flush=True)
            results["runs"][key] = {**result, "measured": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            results["updated"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            write_report(results)
    if "api" in steps:
        print(f"[{datetime.now():%H:%M:%S}] postgres/-/api …", flush=True)
        results["runs"]["postgres/-/api"] = run_child("api", {"seconds": 10})
        write_report(results)
    write_report(results)
    print(f"wrote {RESULTS / 'results.json'} and {RESULTS / 'results.md'}")


if __name__ == "__main__":
    main()
