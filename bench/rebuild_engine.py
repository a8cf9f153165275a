"""Rebuild speed of the projection engine against the "raw read + decode" limit, same run.

    python bench/rebuild_engine.py                 # 1,000,000 events, SQLite and PostgreSQL
    python bench/rebuild_engine.py --events 200000 --backends sqlite

Generates a synthetic log (order-like aggregates with ~350 bytes of JSON state, each order's
events close together in time as in real use) into a fresh SQLite file and a fresh PostgreSQL
schema, then measures, 3 runs each, medians reported:

* raw:     `read_raw`: the rows into Python dicts (orjson), no projection work at all -- the
           fastest path we have (PostgreSQL: binary cursor pages; the COPY path is measured too,
           as raw_copy, for comparison);
* events:  `read_events`: the same plus RawEvent construction;
* rebuild: `Engine.rebuild()` of a 3-table projection that handles EVERY event (so it gets no
           advantage from skipping undecoded events), including the writes, the index builds
           and the swap: every event updates its order, about half also a citizen and/or a
           municipality-day row (about 1.7 get+put per event);
* light:   the same with a one-table projection, one get+put per event, to show how much of
           the gap to "raw" is the engine and how much the handlers' own Python.

Each rate is given twice: wall clock, and per CPU-second of this process (time.process_time:
the work the engine itself does on one core; it excludes the writer child and the database
server, and it is much less disturbed when other jobs share the machine).

The baselines run with the cyclic GC paused, as the engine runs, so the ratio is not flattered.
Rates are log events per second. Peak RSS is the process maximum (resource.getrusage): the
generator, the reads and the rebuild (the writer child process is not included; it holds one
flush of rows at a time).
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eventsourcing.application import Application  # noqa: E402

from ledger.db import Database  # noqa: E402
from ledger.projections.engine import Engine, Projection, RawEvent, Table, View  # noqa: E402
from ledger.projections import reader  # noqa: E402
from ledger.projections.reader import read_events, read_raw  # noqa: E402

PG_BASE = "postgresql://postgres@127.0.0.1:5432/test"
TOPIC = "ledger.domain.order:Order.{}"
LIFECYCLE = ["OrderPlaced", "OrderConfirmed", "VisitScheduled", "VisitDelivered", "VisitDelivered",
             "NoteAdded", "InvoiceIssued", "ReminderSent", "PaymentReceived", "OrderClosed"]


# -- the projection measured ----------------------------------------------------------------

ORDERS = Table(
    "bench_orders",
    {"order_id": "TEXT", "citizen_id": "TEXT", "municipality": "INTEGER", "status": "TEXT",
     "amount_ore": "BIGINT", "minutes": "BIGINT", "events": "BIGINT", "last_position": "BIGINT"},
    ("order_id",),
    indexes=(("citizen_id",),),
)
CITIZENS = Table(
    "bench_citizens",
    {"citizen_id": "TEXT", "orders": "BIGINT", "invoiced_ore": "BIGINT", "paid_ore": "BIGINT"},
    ("citizen_id",),
)
DAILY = Table(
    "bench_municipality_daily",
    {"municipality": "INTEGER", "day": "TEXT", "orders": "BIGINT", "delivered_minutes": "BIGINT",
     "invoiced_ore": "BIGINT"},
    ("municipality", "day"),
)


class LightProjection(Projection):
    """One upsert per event: the order row only."""

    name = "bench_light"
    tables = (Table("bench_light_orders", {"order_id": "TEXT", "status": "TEXT", "events": "BIGINT",
                                           "last_position": "BIGINT"}, ("order_id",)),)

    def handle_any(self, event: RawEvent, view: View) -> None:
        row = view.get("bench_light_orders", event.originator_id) or {
            "order_id": event.originator_id, "status": "", "events": 0, "last_position": 0}
        row["status"] = event.name
        row["events"] += 1
        row["last_position"] = event.position
        view.put("bench_light_orders", row)

    on_OrderPlaced = on_OrderConfirmed = on_VisitScheduled = on_VisitDelivered = handle_any
    on_NoteAdded = on_InvoiceIssued = on_ReminderSent = on_PaymentReceived = on_OrderClosed = handle_any


class BenchProjection(Projection):
    """Every event updates its order; some also update the citizen and the municipality-day."""

    name = "bench"
    tables = (ORDERS, CITIZENS, DAILY)

    def _order(self, event: RawEvent, view: View, status: str) -> dict:
        row = view.get(ORDERS, event.originator_id)
        if row is None:
            state = event.state
            row = {"order_id": event.originator_id, "citizen_id": state["citizen_id"],
                   "municipality": state["municipality"], "status": status, "amount_ore": 0,
                   "minutes": 0, "events": 0, "last_position": 0}
        row["status"] = status
        row["events"] += 1
        row["last_position"] = event.position
        view.put(ORDERS, row)
        return row

    def _day(self, view: View, municipality: int, day: str) -> dict:
        return view.get(DAILY, municipality, day) or {
            "municipality": municipality, "day": day, "orders": 0, "delivered_minutes": 0, "invoiced_ore": 0}

    def _citizen(self, view: View, citizen_id: str) -> dict:
        return view.get(CITIZENS, citizen_id) or {
            "citizen_id": citizen_id, "orders": 0, "invoiced_ore": 0, "paid_ore": 0}

    def on_OrderPlaced(self, event: RawEvent, view: View) -> None:
        order = self._order(event, view, "placed")
        citizen = self._citizen(view, order["citizen_id"])
        citizen["orders"] += 1
        view.put(CITIZENS, citizen)
        day = self._day(view, order["municipality"], event.effective)
        day["orders"] += 1
        view.put(DAILY, day)

    def on_OrderConfirmed(self, event: RawEvent, view: View) -> None:
        self._order(event, view, "confirmed")

    def on_VisitScheduled(self, event: RawEvent, view: View) -> None:
        self._order(event, view, "scheduled")

    def on_VisitDelivered(self, event: RawEvent, view: View) -> None:
        order = self._order(event, view, "delivered")
        order["minutes"] += event.state["minutes"]
        day = self._day(view, order["municipality"], event.effective)
        day["delivered_minutes"] += event.state["minutes"]
        view.put(DAILY, day)

    def on_NoteAdded(self, event: RawEvent, view: View) -> None:
        self._order(event, view, "noted")

    def on_InvoiceIssued(self, event: RawEvent, view: View) -> None:
        order = self._order(event, view, "invoiced")
        order["amount_ore"] = event.state["amount_ore"]
        citizen = self._citizen(view, order["citizen_id"])
        citizen["invoiced_ore"] += event.state["amount_ore"]
        view.put(CITIZENS, citizen)
        day = self._day(view, order["municipality"], event.effective)
        day["invoiced_ore"] += event.state["amount_ore"]
        view.put(DAILY, day)

    def on_ReminderSent(self, event: RawEvent, view: View) -> None:
        self._order(event, view, "reminded")

    def on_PaymentReceived(self, event: RawEvent, view: View) -> None:
        order = self._order(event, view, "paid")
        citizen = self._citizen(view, order["citizen_id"])
        citizen["paid_ore"] += event.state["amount_ore"]
        view.put(CITIZENS, citizen)

    def on_OrderClosed(self, event: RawEvent, view: View) -> None:
        self._order(event, view, "closed")


# -- the synthetic log -------------------------------------------------------------------


def synthetic_rows(n: int, seed: int = 7, active: int = 5_000) -> Iterator[tuple[uuid.UUID, int, str, bytes]]:
    """n stored events: `active` orders in flight at a time, each running its lifecycle."""
    rnd = random.Random(seed)
    citizens = [str(uuid.UUID(int=rnd.getrandbits(128), version=4)) for _ in range(100_000)]
    municipalities = rnd.sample(range(101, 861), 98)  # Denmark has 98
    start = time.mktime((2019, 1, 1, 0, 0, 0, 0, 0, 0))
    orders: list[list] = []
    for i in range(n):
        while len(orders) < active:
            orders.append([uuid.UUID(int=rnd.getrandbits(128), version=4), 0, rnd.choice(citizens), rnd.choice(municipalities)])
        slot = rnd.randrange(len(orders))
        order = orders[slot]
        oid, step, citizen, municipality = order
        name = LIFECYCLE[step]
        order[1] += 1
        if order[1] == len(LIFECYCLE):
            orders[slot] = orders[-1]
            orders.pop()
        moment = start + i * 90  # ~90 s apart: 1M events span ~3 years
        micro = i % 7 * 1000
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment))
        stamp += f".{micro:06d}+00:00" if micro else "+00:00"
        state = {
            "timestamp": stamp,
            "originator_topic": "ledger.domain.order:Order",
            "effective": stamp[:10],
            "municipality": municipality,
            "citizen_id": citizen,
            "actor": f"user-{rnd.randrange(5000)}",
            "role": "visitator",
            "command_id": f"{i:016x}",
            "service_code": "SEL-83-" + str(rnd.randrange(10)),
            "minutes": rnd.choice([30, 60, 90]),
            "amount_ore": rnd.randrange(5_000, 250_000),
            "comment": "x" * rnd.randrange(20, 60),
        }
        # Copied: a bytes object from orjson.dumps keeps a ~4 KiB allocation behind it, which
        # would make the bulk-insert chunks (not the engine) dominate peak memory.
        yield oid, step + 1, TOPIC.format(name), bytes(memoryview(orjson.dumps(state)))


class Ledger(Application):
    """Named so the library's PostgreSQL table is `ledger_events`."""


def create_log(url: str, n: int) -> Database:
    db = Database(url)
    db.ensure_schema()
    env = db.eventsourcing_env()
    env.pop("APPLICATION_RECORDER_TOPIC")
    Ledger(env=env).close()  # the library creates its table; we bulk-load rows into it
    rows = synthetic_rows(n)
    chunk = 50_000
    with db.connection() as conn:
        if db.is_postgres:
            with conn.transaction(), conn.cursor() as cur, cur.copy(
                "COPY ledger_events (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["uuid", "int8", "text", "bytea"])
                for row in rows:
                    copy.write_row(row)
            conn.execute("ANALYZE ledger_events")
        else:
            insert = "INSERT INTO stored_events (originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?)"
            while True:
                part = [(oid.hex, v, t, s) for oid, v, t, s in itertools.islice(rows, chunk)]
                if not part:
                    break
                conn.execute("BEGIN")
                conn.executemany(insert, part)
                conn.execute("COMMIT")
    return db


# -- measuring ---------------------------------------------------------------------------


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process)"""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def drain_raw(db: Database) -> int:
    gc.disable()
    try:
        return sum(len(batch) for batch in read_raw(db))
    finally:
        gc.enable()


def drain_raw_copy(db: Database) -> int:
    reader.PG_READ = "copy"
    try:
        return drain_raw(db)
    finally:
        reader.PG_READ = "pages"


def drain_events(db: Database) -> int:
    gc.disable()
    try:
        return sum(len(batch) for batch in read_events(db))
    finally:
        gc.enable()


def bench_backend(label: str, url: str, n: int, runs: int) -> dict:
    t = time.perf_counter()
    db = create_log(url, n)
    setup = time.perf_counter() - t
    state_bytes = db.query(f"SELECT avg(length(state)) FROM {db.events_table}")[0][0]
    print(f"[{label}] generated {n:,} events (avg state {float(state_bytes):.0f} bytes) in {setup:.1f}s", flush=True)
    assert drain_raw(db) == n
    engine = Engine(db, [BenchProjection()])
    light = Engine(db, [LightProjection()])
    measures = {
        "raw": lambda: drain_raw(db),
        "raw_copy": lambda: drain_raw_copy(db),
        "events": lambda: drain_events(db),
        "rebuild": lambda: check(engine.rebuild(), n),
        "light": lambda: check(light.rebuild(), n),
    }
    if not db.is_postgres:
        del measures["raw_copy"]
    result: dict[str, list[tuple[float, float]]] = {k: [] for k in measures}
    for run in range(runs):
        # Interleaved, so drift in the machine's load affects all of them alike.
        for key, fn in measures.items():
            result[key].append(timed(fn))
        line = "  ".join(f"{k} {n / v[-1][0]:,.0f}/s ({n / v[-1][1]:,.0f}/cpu-s)" for k, v in result.items())
        print(f"[{label}] run {run + 1}: {line}  load {os.getloadavg()[0]:.1f}", flush=True)
    counts = {t.name: db.query(f"SELECT count(*) FROM {t.name}")[0][0] for t in BenchProjection.tables}
    print(f"[{label}] table rows: {counts}")
    db.close()
    return {k: (n / statistics.median(w for w, _ in v), n / statistics.median(c for _, c in v)) for k, v in result.items()}


def check(stats: dict, n: int) -> None:
    assert stats["events"] == n, stats
    print(f"    rebuild wrote {stats['projections']} via {stats['writer']} writer", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--pg", default=PG_BASE, help="PostgreSQL URL; a fresh schema is created and dropped")
    args = parser.parse_args()

    results = {}
    for backend in args.backends.split(","):
        if backend == "sqlite":
            folder = Path(tempfile.mkdtemp(prefix="bench_engine_"))
            try:
                results["sqlite"] = bench_backend("sqlite", f"sqlite:///{folder / 'bench.db'}", args.events, args.runs)
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        elif backend == "postgres":
            import psycopg

            schema = "bench_" + uuid.uuid4().hex[:12]  # our own schema: dropped afterwards
            try:
                results["postgres"] = bench_backend("postgres", f"{args.pg}?schema={schema}", args.events, args.runs)
            finally:
                with psycopg.connect(args.pg, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        else:
            raise SystemExit(f"unknown backend {backend!r}")

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nmedians of {args.runs} runs, {args.events:,} events, log events per second: wall clock / per CPU-second")
    cols = ["raw", "raw_copy", "events", "rebuild", "light"]
    print(f"{'backend':<10}" + "".join(f"{c:>22}" for c in cols) + f"{'rebuild/raw':>16}{'light/raw':>14}")
    for backend, r in results.items():
        cells = "".join(f"{f'{r[c][0]:,.0f} / {r[c][1]:,.0f}' if c in r else '-':>22}" for c in cols)
        ratio = f"{r['rebuild'][0] / r['raw'][0]:.0%} / {r['rebuild'][1] / r['raw'][1]:.0%}"
        lratio = f"{r['light'][0] / r['raw'][0]:.0%} / {r['light'][1] / r['raw'][1]:.0%}"
        print(f"{backend:<10}{cells}{ratio:>16}{lratio:>14}")
    print(f"peak RSS {peak_mib:,.0f} MiB (this process)")


if __name__ == "__main__":
    main()
