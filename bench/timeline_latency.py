"""Latency of the timeline query at random (D, K): p50 / p95 / p99, per municipality and network.

Two modes:

  # an existing ledger database (e.g. the network or national data sets); the timeline
  # projection is caught up first
  python bench/timeline_latency.py --db postgresql://postgres@127.0.0.1:5432/test?schema=national

  # self-contained: build synthetic histories through the application (Ledger.execute_batch),
  # one at the chosen size and one with `--factor` times the history (same population at any
  # time, a `factor` times longer record: more citizens coming and going, more re-assessments,
  # corrections, orders and deliveries), then measure both and print the ratio
  python bench/timeline_latency.py --synthetic 1000 --factor 4 --backend postgres

  # two existing databases measured interleaved (so machine load falls on both alike)
  python bench/timeline_latency.py --db URL1 --compare URL2

Each query is `timeline_queries.timeline(db, M, D, K)` (a municipality drawn from those with a
scheme, or the whole network with --network-share), with D uniform over the schemes' windows and
K uniform over the recorded instants in the log, or "now" (--now-share); with --series-share, some
reads are `series(db, M, K)` instead (reported apart). Output is one JSON object.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson  # noqa: E402

from ledger.db import Database  # noqa: E402
from ledger.projections.engine import Engine  # noqa: E402
from ledger.generate.world import band_cost_basis  # noqa: E402
from ledger.projections.timeline import TimelineProjection  # noqa: E402
from ledger.projections.timeline_queries import scheme_municipalities, series, timeline  # noqa: E402

# The two trial networks (domain.md §1), weighted by population for the synthetic citizens.
NETWORK = {710: 49, 657: 89, 661: 59, 730: 98, 740: 95, 779: 46, 580: 59, 561: 116, 101: 638, 461: 205, 751: 352}


# -- measuring ----------------------------------------------------------------------------


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    i = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[i]


def _summary(samples: list[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in samples]
    return {"n": len(ms), "p50_ms": round(_percentile(ms, 50), 2), "p95_ms": round(_percentile(ms, 95), 2),
            "p99_ms": round(_percentile(ms, 99), 2), "max_ms": round(max(ms), 2) if ms else None,
            "mean_ms": round(statistics.fmean(ms), 2) if ms else None}


def _analyze(db: Database) -> None:
    """Planner statistics and visibility maps (index-only scans), as autovacuum gives after a bulk
    load; measured on the state a running system is in, not the minutes right after a rebuild."""
    if db.is_postgres:
        with db.connection() as conn:
            for t in TimelineProjection.tables:
                conn.execute(f'VACUUM ANALYZE "{t.name}"')
    else:
        with db.connection() as conn:
            conn.execute("ANALYZE")


def _ranges(db: Database) -> tuple[str, str, str, str]:
    d0, d1 = db.query("SELECT MIN(window_start), MAX(window_end) FROM tl_scheme_windows")[0]
    k0, k1 = db.query("SELECT MIN(recorded_from), MAX(recorded_from) FROM tl_grants")[0]
    return d0, d1, k0, k1


def plan(db: Database, queries: int, seed: int, network_share: float, now_share: float, series_share: float = 0.0
         ) -> tuple[dict[str, Any], list[tuple[str, int | None, str, str | None]]]:
    """The database's ranges and a list of (class, municipality or None, D, K or None) to run; a
    class "series" reads one municipality's monthly series at K (its D is not used)."""
    ms = scheme_municipalities(db)
    if not ms:
        raise SystemExit("no municipality has a scheme in this database")
    d0, d1, k0, k1 = _ranges(db)
    rnd = random.Random(seed)
    first, span = date.fromisoformat(d0), (date.fromisoformat(d1) - date.fromisoformat(d0)).days
    k_first = datetime.fromisoformat(k0).replace(tzinfo=timezone.utc)
    k_span = (datetime.fromisoformat(k1).replace(tzinfo=timezone.utc) - k_first).total_seconds()
    todo = []
    for _ in range(queries):
        d = (first + timedelta(days=rnd.randint(0, span))).isoformat()
        now = rnd.random() < now_share
        k = None if now else (k_first + timedelta(seconds=rnd.uniform(0, k_span))).isoformat()
        network = rnd.random() < network_share
        # (drawn only when asked for, so the other reads are those of a run without series)
        kind = "series" if series_share and rnd.random() < series_share else "network" if network else "municipality"
        todo.append((kind + ("_now" if now else ""), None if network and kind != "series" else rnd.choice(ms), d, k))
    rows = {t.name: db.query(f"SELECT COUNT(*) FROM {t.name}")[0][0] for t in TimelineProjection.tables}
    return {"municipalities": len(ms), "d_range": [d0, d1], "k_range": [k0, k1], "rows": rows}, todo


def _read(db: Database, cls: str, m: int | None, d: str, k: str | None) -> None:
    if cls.startswith("series"):
        assert m is not None
        series(db, m, k)
    else:
        timeline(db, m, d, k)


def run_queries(dbs: list[Database], todos: list[list[tuple]], warmup: int = 20) -> list[dict[str, list[float]]]:
    """Run each database's queries, interleaved one by one across the databases, so a load that
    comes and goes on a shared machine falls on all of them alike."""
    samples: list[dict[str, list[float]]] = [{} for _ in dbs]
    for db, todo in zip(dbs, todos):
        for cls, m, d, k in todo[:warmup]:
            _read(db, cls, m, d, k)
    for i in range(max(len(t) for t in todos)):
        for n, (db, todo) in enumerate(zip(dbs, todos)):
            if i < len(todo):
                cls, m, d, k = todo[i]
                started = time.perf_counter()
                _read(db, cls, m, d, k)
                samples[n].setdefault(cls, []).append(time.perf_counter() - started)
    return samples


def summarize(samples: dict[str, list[float]]) -> dict[str, Any]:
    """Per class, and "all" the timeline reads (series apart)."""
    return {**{name: _summary(s) for name, s in sorted(samples.items())},
            "all": _summary([x for name, s in samples.items() if not name.startswith("series") for x in s])}


def measure(db: Database, queries: int, seed: int, network_share: float, now_share: float, series_share: float = 0.0
            ) -> dict[str, Any]:
    info, todo = plan(db, queries, seed, network_share, now_share, series_share)
    return {**info, **summarize(run_queries([db], [todo])[0])}


# -- synthetic histories through the application ------------------------------------------


def _at(day: date, seconds: int = 36_000) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc) + timedelta(seconds=seconds)


def synthetic_commands(citizens: int, factor: int, seed: int) -> list[tuple[datetime, str, dict[str, Any]]]:
    """(recorded instant, command type, payload) for a history of `factor` × 4 years in which about
    `citizens` citizens hold grants at any time, in recorded order."""
    rnd = random.Random(seed)
    start = date(2022 - 4 * factor, 1, 1)
    end = date(2021, 12, 31)
    span = (end - start).days
    out: list[tuple[datetime, str, dict[str, Any]]] = []
    weights = list(NETWORK.values())
    for m in NETWORK:
        out.append((_at(start - timedelta(days=60)), "establish_scheme", {
            "municipality": m, "name": f"Tilkøb {m}", "window_start": start.isoformat(),
            "window_end": end.isoformat(), "sections": ["83", "85"], "minimum_minutes": 30, "increment_minutes": 30}))
        for i, (item, unit, fsiii, vat, price) in enumerate((
                ("extra-cleaning", "hour", "H1.8", "exempt", 35_400), ("extra-laundry", "hour", "H1.9", "exempt", 35_400),
                ("window-cleaning", "visit", "H1.8", "standard", 45_000))):
            out.append((_at(start - timedelta(days=50), i), "add_item", {
                "municipality": m, "item_id": item, "name": item, "unit": unit, "fsiii": fsiii, "vat_class": vat,
                "prices": {"weekday_day": price, "evening": price + 5_000, "weekend": price + 10_000},
                "cost_basis": band_cost_basis({"weekday_day": price, "evening": price + 5_000,
                                               "weekend": price + 10_000}), "effective": start.isoformat()}))
            for year in range(start.year + 1, end.year + 1):  # prices adjusted each 1 January
                price = price * 103 // 100
                out.append((_at(date(year - 1, 12, 1), i), "change_price", {
                    "municipality": m, "offer_id": item, "effective": f"{year}-01-01", "vat_class": vat,
                    "prices": {"weekday_day": price, "evening": price + 5_000, "weekend": price + 10_000},
                    "cost_basis": band_cost_basis({"weekday_day": price, "evening": price + 5_000,
                                                   "weekend": price + 10_000})}))
    # Stays of 1-4 years; enough of them that about `citizens` overlap any date.
    stays = int(citizens * span / (2.5 * 365)) + citizens
    for _ in range(stays):
        cid = str(uuid.uuid4())
        m = rnd.choices(list(NETWORK), weights)[0]
        begin = start + timedelta(days=rnd.randint(-365, span))
        length = rnd.randint(365, 4 * 365)
        stop = begin + timedelta(days=length)
        rec = max(begin, start - timedelta(days=30))
        out.append((_at(rec, rnd.randint(0, 3600)), "register_citizen", {
            "citizen_id": cid, "municipality": m, "effective": begin.isoformat(), "residence": "own_home"}))
        grants = [("cleaning", "H1.8")] + ([("laundry", "H1.9")] if rnd.random() < 0.5 else [])
        for gid, code in grants:
            weekly = rnd.choice([30, 45, 60, 90, 120, 180, 240])
            out.append((_at(rec, 4000 + rnd.randint(0, 3600)), "award_grant", {
                "citizen_id": cid, "grant_id": gid, "fsiii": code, "section": "83",
                "amount": {"minutes_per_week": weekly}, "valid_from": begin.isoformat()}))
            day = begin + timedelta(days=rnd.randint(120, 240))
            n = 3
            while day < min(stop, end):
                weekly = max(15, weekly + rnd.choice([-30, -15, 15, 30]))
                out.append((_at(max(day, rec), 8000 + n), "reassess_grant", {
                    "citizen_id": cid, "grant_id": gid, "effective": day.isoformat(),
                    "amount": {"minutes_per_week": weekly}}))
                if rnd.random() < 0.1:  # a back-dated correction, recorded 2-6 months later
                    out.append((_at(max(day, rec) + timedelta(days=rnd.randint(60, 180)), 9000 + n), "correct_grant", {
                        "citizen_id": cid, "grant_id": gid, "effective": day.isoformat(),
                        "amount": {"minutes_per_week": max(15, weekly - 15)}, "corrects": "re-assessment"}))
                n += 1
                day += timedelta(days=rnd.randint(120, 240))
            if stop <= end:
                out.append((_at(max(stop, rec), 20_000), "end_grant", {
                    "citizen_id": cid, "grant_id": gid, "last_day": stop.isoformat()}))
        # 1.5 % of stays (about 0.6 % of recipients a year; domain.md: about 0.5 %) buy a recurring
        # fortnightly cleaning for 2-8 months, delivered each time.
        if rnd.random() < 0.015:
            first = max(begin, start) + timedelta(days=rnd.randint(30, 200))
            last = min(first + timedelta(days=rnd.randint(60, 240)), stop - timedelta(days=1), end)
            if first < last:
                oid = str(uuid.uuid4())
                out.append((_at(first - timedelta(days=7), 30_000), "place_order", {
                    "order_id": oid, "citizen_id": cid, "offer_id": "extra-cleaning", "kind": "recurring",
                    "start": first.isoformat(), "end": last.isoformat(), "every_weeks": 2, "minutes": 60}))
                visit = first
                while visit <= last:
                    out.append((_at(visit, 50_000), "record_delivery", {
                        "order_id": oid, "date": visit.isoformat(), "band": "weekday_day",
                        "minutes": rnd.choice([45, 60, 75]), "staff_id": "s-1"}))
                    visit += timedelta(days=14)
    out.sort(key=lambda c: c[0])
    return out


def build(url: str, commands: list[tuple[datetime, str, dict[str, Any]]], batch: int = 500) -> dict[str, Any]:
    from ledger.application import Ledger
    from ledger.application.ledger import Submission
    from ledger.domain.base import Context
    from ledger.domain.errors import LedgerError
    from ledger.settings import Settings

    app = Ledger(Settings(database_url=url))
    cache: dict[Any, Any] = {}
    started = time.perf_counter()
    refused = 0
    try:
        for i in range(0, len(commands), batch):
            chunk = [Submission(t, p, Context("bench", "administrator", f"bench-{i + j}", at))
                     for j, (at, t, p) in enumerate(commands[i:i + batch])]
            try:
                app.execute_batch(chunk, cache=cache)
            except LedgerError:
                # One refused command refuses its batch: run that batch one by one instead.
                cache.clear()
                for sub in chunk:
                    try:
                        app.execute_batch([sub], cache=cache)
                    except LedgerError:
                        refused += 1
                        cache.clear()
        seconds = time.perf_counter() - started
        events = app.head_position()
    finally:
        app.close()
    return {"commands": len(commands), "refused": refused, "events_head": events, "build_seconds": round(seconds, 1)}


def _fresh_url(backend: str, label: str) -> str:
    if backend == "sqlite":
        folder = Path("/tmp/timeline-bench")
        folder.mkdir(exist_ok=True)
        path = folder / f"{label}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    import psycopg

    base = "postgresql://postgres@127.0.0.1:5432/test"
    schema = f"tlbench_{label}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{base}?schema={schema}"


def prepare(url: str, rebuild: bool) -> tuple[Database, dict[str, Any]]:
    """Open the database, (re)build and catch up the timeline projection, vacuum and analyze."""
    db = Database(url)
    engine = Engine(db, [TimelineProjection()])
    started = time.perf_counter()
    built: dict[str, Any] = {}
    if rebuild:
        done = engine.rebuild(["timeline"])
        built = {"rebuild_events": done["events"], "rebuild_seconds": round(done["seconds"], 1),
                 "rebuild_events_per_second": round(done["events_per_second"])}
    engine.catch_up()
    _analyze(db)
    return db, {"url": url.split("@")[-1], **built, "catch_up_seconds": round(time.perf_counter() - started, 1)}


def run_database(url: str, args: argparse.Namespace) -> dict[str, Any]:
    db, info = prepare(url, getattr(args, "rebuild", False))
    try:
        return {**info, **measure(db, args.queries, args.seed, args.network_share, args.now_share, args.series_share)}
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", help="measure an existing ledger database (LEDGER_DATABASE_URL form)")
    parser.add_argument("--synthetic", type=int, metavar="CITIZENS",
                        help="build synthetic histories with about this many citizens at any time")
    parser.add_argument("--factor", type=int, default=4, help="history multiple for the second synthetic build")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--network-share", type=float, default=0.2, help="share of queries for the whole network")
    parser.add_argument("--now-share", type=float, default=0.3, help="share of queries with K = now")
    parser.add_argument("--series-share", type=float, default=0.0,
                        help="share of reads that are one municipality's monthly series at K (not in 'all')")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the synthetic databases")
    parser.add_argument("--rebuild", action="store_true", help="with --db: rebuild the timeline projection first")
    parser.add_argument("--compare", metavar="URL", help="with --db: a second database (e.g. 4x the history) measured "
                        "interleaved with the first; prints both and the ratio")
    args = parser.parse_args()
    if bool(args.db) == bool(args.synthetic):
        parser.error("give exactly one of --db URL or --synthetic CITIZENS")
    report: dict[str, Any] = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    if args.db and args.compare:
        pairs = [prepare(url, args.rebuild) for url in (args.db, args.compare)]
        plans = [plan(db, args.queries, args.seed, args.network_share, args.now_share, args.series_share)
                 for db, _ in pairs]
        try:
            results = run_queries([db for db, _ in pairs], [todo for _, todo in plans])
        finally:
            for db, _ in pairs:
                db.close()
        first, second = ({**info, **stats, **summarize(s)} for (_, info), (stats, _), s in zip(pairs, plans, results))
        report["database"], report["compare"] = first, second
        report["ratio_p95"] = {k: round(second[k]["p95_ms"] / first[k]["p95_ms"], 2)
                               for k in first if isinstance(first[k], dict) and "p95_ms" in first[k] and k in second}
    elif args.db:
        report["database"] = run_database(args.db, args)
    else:
        runs: dict[str, dict[str, Any]] = {}
        dbs, todos, labels = [], [], []
        for factor in dict.fromkeys((1, args.factor)):  # --factor 1: one store only
            label = f"x{factor}"
            url = _fresh_url(args.backend, f"{label}_{args.synthetic}")
            built = build(url, synthetic_commands(args.synthetic, factor, args.seed))
            db, info = prepare(url, False)
            stats, todo = plan(db, args.queries, args.seed, args.network_share, args.now_share)
            runs[label] = {**built, **info, **stats}
            dbs.append(db)
            todos.append(todo)
            labels.append(label)
            print(orjson.dumps({label: runs[label]}).decode(), file=sys.stderr)
        try:
            for label, samples in zip(labels, run_queries(dbs, todos)):
                runs[label].update(summarize(samples))
        finally:
            for db in dbs:
                url = db.url
                db.close()
                if not args.keep and args.backend == "postgres":
                    _drop(url)
        report["synthetic"] = {"citizens": args.synthetic, "backend": args.backend, **runs}
        one, many = runs["x1"], runs[f"x{args.factor}"]
        if args.factor == 1:
            one = {}
        report["ratio_p95"] = {k: round(many[k]["p95_ms"] / one[k]["p95_ms"], 2)
                               for k in one if isinstance(one[k], dict) and "p95_ms" in one[k] and k in many}
        report["ratio_p50"] = {k: round(many[k]["p50_ms"] / one[k]["p50_ms"], 2)
                               for k in one if isinstance(one[k], dict) and "p50_ms" in one[k] and k in many}
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())


def _drop(url: str) -> None:
    import psycopg

    schema = url.rsplit("schema=", 1)[1]
    with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    main()
