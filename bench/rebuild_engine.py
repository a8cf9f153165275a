"""Rebuild speed of the projection engine against the "raw read + decode" limit, same run.

    python bench/rebuild_engine.py                 # 1,000,000 events, SQLite and PostgreSQL
    python bench/rebuild_engine.py --events 200000 --backends sqlite

Generates a synthetic log (order-like aggregates with ~350 bytes of JSON state, each order's
events close together in time as in real use) into a fresh SQLite file and a fresh PostgreSQL
schema, then measures, 3 runs each, medians reported:

* raw:     `read_raw`: the rows into Python dicts (orjson), no projection work at all;
* events:  `read_events`: the same plus RawEvent construction;
* rebuild: `Engine.rebuild()` of a 3-table projection that handles EVERY event (so it gets no
           advantage from skipping undecoded events), including the writes and the swap.

Rates are log events per second. Peak RSS is the process maximum (resource.getrusage).
"""

from __future__ import annotations

import argparse
import itertools
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
    start = time.mktime((2019, 1, 1, 0, 0, 0, 0, 0, 0))
    orders: list[list] = []
    for i in range(n):
        while len(orders) < active:
            orders.append([uuid.UUID(int=rnd.getrandbits(128), version=4), 0, rnd.choice(citizens), rnd.randrange(101, 861)])
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
        yield oid, step + 1, TOPIC.format(name), orjson.dumps(state)


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


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def drain_raw(db: Database) -> int:
    return sum(len(batch) for batch in read_raw(db))


def drain_events(db: Database) -> int:
    return sum(len(batch) for batch in read_events(db))


def bench_backend(label: str, url: str, n: int, runs: int) -> dict:
    t = time.perf_counter()
    db = create_log(url, n)
    setup = time.perf_counter() - t
    state_bytes = db.query(f"SELECT avg(length(state)) FROM {db.events_table}")[0][0]
    print(f"[{label}] generated {n:,} events (avg state {float(state_bytes):.0f} bytes) in {setup:.1f}s", flush=True)
    assert drain_raw(db) == n
    engine = Engine(db, [BenchProjection()])
    result: dict = {"raw": [], "events": [], "rebuild": []}
    for run in range(runs):
        # Interleaved, so drift in the machine's load affects all three alike.
        result["raw"].append(n / timed(lambda: drain_raw(db)))
        result["events"].append(n / timed(lambda: drain_events(db)))
        stats = engine.rebuild()
        assert stats["events"] == n
        result["rebuild"].append(n / stats["seconds"])
        print(
            f"[{label}] run {run + 1}: raw {result['raw'][-1]:,.0f}/s  events {result['events'][-1]:,.0f}/s  "
            f"rebuild {result['rebuild'][-1]:,.0f}/s  rows {stats['projections']['bench']}",
            flush=True,
        )
    counts = {t.name: db.query(f"SELECT count(*) FROM {t.name}")[0][0] for t in BenchProjection.tables}
    print(f"[{label}] table rows: {counts}")
    db.close()
    return {k: statistics.median(v) for k, v in result.items()}


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
    print(f"\nmedians of {args.runs} runs, {args.events:,} events, log events per second")
    print(f"{'backend':<10}{'raw read+decode':>18}{'read_events':>14}{'rebuild':>12}{'rebuild/raw':>13}")
    for backend, r in results.items():
        print(f"{backend:<10}{r['raw']:>18,.0f}{r['events']:>14,.0f}{r['rebuild']:>12,.0f}{r['rebuild'] / r['raw']:>12.0%}")
    print(f"peak RSS {peak_mib:,.0f} MiB")


if __name__ == "__main__":
    main()
