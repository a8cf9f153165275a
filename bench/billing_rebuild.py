"""Rebuild rate of the billing projection against the raw read + decode rate, in the same run.

    python bench/billing_rebuild.py                          # build a log, measure SQLite and PostgreSQL
    python bench/billing_rebuild.py --citizens 500 --months 6  # smaller and quicker
    python bench/billing_rebuild.py --keep /tmp/billing.db   # keep (or reuse) the built SQLite log
    python bench/billing_rebuild.py --db postgresql://...?schema=demo --backends postgres   # an existing log

The log is made through the application's front door (`Ledger.execute_batch`), so it holds the
events production would hold: three municipalities with their schemes and catalogues (one price
change each January), recipients with grants who buy nothing (re-assessed now and then; by default
4 for each buyer, far more buyers than the trials' < 1 % take-up), buyers with grants and recurring
orders, weekly or fortnightly deliveries
(some klippekort, some missed, some recorded late), monthly invoice runs, payments (most on time,
some over-paid, some never, a few reversed), credit notes for withdrawn deliveries and reminders.
The same stored rows are then copied into a fresh PostgreSQL schema, so both backends read the
same log.

Measured per backend, runs interleaved, medians of --runs:
* raw:     `read_raw`: every stored row into a Python dict (orjson), no projection work;
* events:  `read_events` restricted to the events billing handles (what the rebuild reads);
* rebuild: `Engine.rebuild(["billing"])`: read, apply, write every billing table, build the
           indexes, swap them in.
Rates are log events per second (all stored events / seconds). Peak RSS is the process maximum
(ru_maxrss): after the reads alone, and after the rebuilds (the view's row caches).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ledger.application import Ledger  # noqa: E402
from ledger.application.ledger import Submission  # noqa: E402
from ledger.db import Database  # noqa: E402
from ledger.domain.base import Context  # noqa: E402
from ledger.projections.billing import BillingProjection  # noqa: E402
from ledger.generate.world import band_cost_basis  # noqa: E402
from ledger.projections.engine import Engine  # noqa: E402
from ledger.projections.reader import head_position, read_events, read_raw  # noqa: E402
from ledger.settings import Settings  # noqa: E402

PG_BASE = "postgresql://postgres@127.0.0.1:5432/test"
# (code, minimum, increment, hourly price of extra cleaning in øre)
MUNICIPALITIES = ((657, 30, 30, 35_400), (580, 60, 30, 29_000), (751, 30, 15, 38_000))
BATCH = 400


def _prices(p: int) -> dict[str, int]:
    return {"weekday_day": p, "evening": p * 188 // 100, "weekend": p * 140 // 100}


class LogBuilder:
    """Drives the application month by month; every fact is a real command."""

    def __init__(self, ledger: Ledger, seed: int) -> None:
        self.ledger = ledger
        self.rnd = random.Random(seed)
        self.cache: dict[Any, Any] = {}
        self.pending: list[Submission] = []
        self.commands = 0

    # -- plumbing ---------------------------------------------------------------------------
    def _ctx(self, role: str) -> Context:
        return Context("bench", role, str(uuid.UUID(int=self.rnd.getrandbits(128), version=4)))

    def add(self, command_type: str, payload: dict[str, Any], role: str = "administrator") -> None:
        self.pending.append(Submission(command_type, payload, self._ctx(role)))
        if len(self.pending) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.ledger.execute_batch(self.pending, cache=self.cache)
            self.commands += len(self.pending)
            self.pending = []

    def now(self, command_type: str, payload: dict[str, Any], role: str = "billing_clerk") -> dict[str, Any]:
        """A command that reads the log (invoice run, reminders): everything before it is stored first."""
        self.flush()
        self.commands += 1
        # Through the same aggregate cache as the batches, so no cached aggregate goes stale.
        return self.ledger.execute_batch([Submission(command_type, payload, self._ctx(role))], cache=self.cache)[0].result

    # -- the history ------------------------------------------------------------------------
    def setup(self, citizens: int, start: date) -> list[dict[str, Any]]:
        people = []
        for m, minimum, increment, price in MUNICIPALITIES:
            self.add("establish_scheme", {"municipality": m, "name": f"Tilkøb {m}", "window_start": "2018-06-01",
                                          "window_end": "2021-12-31", "sections": ["83", "85"],
                                          "minimum_minutes": minimum, "increment_minutes": increment})
            for item, p, vat, unit, fsiii in (("extra-cleaning", price, "exempt", "hour", "H1.8"),
                                              ("window-cleaning", price * 82 // 100, "standard", "hour", "H1.8"),
                                              ("escort-day", 270_000, "standard", "day", "H3.2")):
                self.add("add_item", {"municipality": m, "item_id": item, "name": item.replace("-", " "), "unit": unit,
                                      "fsiii": fsiii, "vat_class": vat, "prices": _prices(p),
                                      "cost_basis": band_cost_basis(_prices(p)),
                                      "effective": "2018-06-01",
                                      "cancellation": {"notice_hours": 24, "fee_ore": 25_000}})
            for year in range(start.year + 1, 2022):  # prices adjusted each 1 January
                self.add("change_price", {"municipality": m, "offer_id": "extra-cleaning", "effective": f"{year}-01-01",
                                          "vat_class": "exempt", "prices": _prices(price + 700 * (year - start.year)),
                                          "cost_basis": band_cost_basis(_prices(price + 700 * (year - start.year)))})
        for i in range(citizens):
            m = MUNICIPALITIES[i % len(MUNICIPALITIES)][0]
            cid = str(uuid.UUID(int=self.rnd.getrandbits(128), version=4))
            self.add("register_citizen", {"citizen_id": cid, "municipality": m, "effective": "2018-06-01",
                                          "residence": "own_home"}, "assessor")
            self.add("award_grant", {"citizen_id": cid, "fsiii": "H1.8", "section": "83",
                                     "amount": {"minutes_per_week": self.rnd.choice((30, 45, 60, 90))},
                                     "valid_from": "2018-06-01"}, "assessor")
            offer = "window-cleaning" if self.rnd.random() < 0.15 else "extra-cleaning"
            every = 4 if offer == "window-cleaning" else self.rnd.choice((1, 2, 2))
            oid = str(uuid.UUID(int=self.rnd.getrandbits(128), version=4))
            minutes = self.rnd.choice((30, 45, 60, 90))
            self.add("place_order", {"order_id": oid, "citizen_id": cid, "offer_id": offer, "kind": "recurring",
                                     "start": start.isoformat(), "every_weeks": every, "minutes": minutes}, "assessor")
            people.append({"citizen": cid, "municipality": m, "order": oid, "every": every, "minutes": minutes,
                           "first": start + timedelta(days=self.rnd.randrange(7 * every)), "pays": self._payer()})
        self.flush()
        return people

    def others(self, count: int) -> list[str]:
        """Recipients who buy nothing: their grants (and re-assessments) are in the log too, and
        billing must read past them. Real take-up was under 1 %; any mix here favours billing less."""
        ids = []
        for i in range(count):
            cid = str(uuid.UUID(int=self.rnd.getrandbits(128), version=4))
            self.add("register_citizen", {"citizen_id": cid, "municipality": MUNICIPALITIES[i % 3][0],
                                          "effective": "2018-06-01", "residence": "own_home"}, "assessor")
            self.add("award_grant", {"citizen_id": cid, "grant_id": "g1", "fsiii": "H1.8", "section": "83",
                                     "amount": {"minutes_per_week": self.rnd.choice((30, 45, 60, 90))},
                                     "valid_from": "2018-06-01"}, "assessor")
            ids.append(cid)
        self.flush()
        return ids

    def reassess(self, others: list[str], first: date) -> None:
        """About a third of the non-buyers are re-assessed each month."""
        for cid in others:
            if self.rnd.random() < 0.33:
                self.add("reassess_grant", {"citizen_id": cid, "grant_id": "g1",
                                            "effective": (first + timedelta(days=self.rnd.randrange(28))).isoformat(),
                                            "amount": {"minutes_per_week": self.rnd.choice((0, 30, 45, 60, 90, 120))}},
                         "assessor")

    def _payer(self) -> str:
        r = self.rnd.random()
        return "on_time" if r < 0.85 else ("over" if r < 0.90 else "never")

    def month(self, people: list[dict[str, Any]], first: date, last: date, late: list[dict[str, Any]]) -> list[str]:
        """Record the month's deliveries (some held back to be recorded late); returns delivery ids."""
        rnd = self.rnd
        ids = []
        for p in people:
            day = p["first"]
            while day < first:
                day += timedelta(days=7 * p["every"])
            p["first"] = day
            while day <= last:
                did = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
                r = rnd.random()
                if r < 0.03:
                    self.add("record_missed_visit", {"delivery_id": did, "order_id": p["order"], "date": day.isoformat(),
                                                     "reason": "citizen_absent"}, "provider_staff")
                else:
                    payload = {"delivery_id": did, "order_id": p["order"], "date": day.isoformat(),
                               "band": "weekend" if day.weekday() >= 5 else "weekday_day",
                               "minutes": max(5, p["minutes"] + rnd.randrange(-15, 16)), "staff_id": f"s{rnd.randrange(200)}",
                               "klippekort": r < 0.08}
                    if r > 0.98:
                        late.append(payload)  # recorded after the month was invoiced
                    else:
                        self.add("record_delivery", payload, "provider_staff")
                        ids.append(did)
                day += timedelta(days=7 * p["every"])
        return ids

    def bill(self, month: str, run_day: date, delivered: list[str], people: list[dict[str, Any]],
             late: list[dict[str, Any]]) -> None:
        rnd = self.rnd
        issued = []
        for m, *_ in MUNICIPALITIES:
            issued += self.now("run_invoices", {"municipality": m, "month": month, "run_date": run_day.isoformat()})["invoices"]
        for payload in late:
            self.add("record_delivery", payload, "provider_staff")
        late.clear()
        for did in rnd.sample(delivered, len(delivered) // 100):  # withdrawn after invoicing: credit notes
            kind = "dispute_delivery" if rnd.random() < 0.3 else "cancel_delivery"
            self.add(kind, {"delivery_id": did, "effective": (run_day + timedelta(days=3)).isoformat(),
                            "reason": "not delivered as agreed"}, "billing_clerk")
        pays = {p["citizen"]: p["pays"] for p in people}
        reversed_ = []
        for inv in issued:
            how = pays[inv["citizen_id"]]
            if how == "never":
                continue
            pid = f"p-{inv['number']}"
            amount = inv["gross"] + (20_000 if how == "over" else 0)
            self.add("receive_payment", {"citizen_id": inv["citizen_id"], "payment_id": pid, "amount": amount,
                                         "date": (run_day + timedelta(days=rnd.randrange(3, 20))).isoformat(),
                                         "method": "direct_debit",
                                         "reference": inv["number"] if how == "on_time" else None}, "billing_clerk")
            if rnd.random() < 0.01:
                reversed_.append((inv["citizen_id"], pid))
        for cid, pid in reversed_:
            self.add("reverse_payment", {"citizen_id": cid, "payment_id": pid,
                                         "date": (run_day + timedelta(days=22)).isoformat(), "reason": "bounced"},
                     "billing_clerk")
        for m, *_ in MUNICIPALITIES:
            self.now("issue_reminders", {"municipality": m, "date": (run_day + timedelta(days=25)).isoformat()})


def months(start: date, count: int) -> Iterator[tuple[str, date, date, date]]:
    first = start
    for _ in range(count):
        nxt = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
        yield first.strftime("%Y-%m"), first, nxt - timedelta(days=1), nxt
        first = nxt


def build_log(url: str, citizens: int, month_count: int, seed: int, non_buyers: int = 0) -> int:
    started = time.perf_counter()
    ledger = Ledger(Settings(database_url=url))
    try:
        builder = LogBuilder(ledger, seed)
        start = date(2019, 1, 1)
        people = builder.setup(citizens, start)
        others = builder.others(non_buyers)
        late: list[dict[str, Any]] = []
        for month, first, last, run_day in months(start, month_count):
            builder.reassess(others, first)
            delivered = builder.month(people, first, last, late)
            builder.bill(month, run_day, delivered, people, late)
            builder.flush()
            head = head_position(ledger.db)
            print(f"  {month}: {builder.commands:,} commands, {head:,} events "
                  f"({head / (time.perf_counter() - started):,.0f} events/s)", flush=True)
        builder.flush()
        return head_position(ledger.db)
    finally:
        ledger.close()


def copy_log(source: Database, target_url: str) -> Database:
    """The same stored rows (same ids, versions, topics and state bytes) into a PostgreSQL schema."""
    ledger = Ledger(Settings(database_url=target_url))  # creates the library's tables there
    ledger.close()
    target = Database(target_url)
    with source.connection() as src, target.connection() as conn:
        with conn.transaction(), conn.cursor() as cur, cur.copy(
            "COPY ledger_events (originator_id, originator_version, topic, state) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["uuid", "int8", "text", "bytea"])
            for oid, version, topic, state in src.execute(
                    f"SELECT originator_id, originator_version, topic, state FROM {source.events_table} "
                    f"ORDER BY {source.position_column}"):
                copy.write_row((uuid.UUID(oid), version, topic, state))
        conn.execute("ANALYZE ledger_events")
    return target


# -- measuring ------------------------------------------------------------------------------

def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def drain(batches: Iterator[list[Any]]) -> int:
    return sum(len(b) for b in batches)


def measure(label: str, db: Database, runs: int) -> dict[str, Any]:
    n = head_position(db)  # positions are contiguous in a log we built (checked below)
    assert drain(read_raw(db)) == n, "the log has gaps: rates per position would be wrong"
    engine = Engine(db, [BillingProjection()])
    wanted = frozenset(BillingProjection().handlers())
    handled = drain(read_events(db, names=wanted))
    drain(read_raw(db))
    rss = {"reads": rss_mib()}  # ru_maxrss only grows: the reads' peak, before any rebuild
    out: dict[str, list[float]] = {k: [] for k in ("raw", "billing_read", "rebuild", "raw_cpu", "rebuild_cpu")}
    writer = ""
    for run in range(runs):
        # Interleaved, so drift in the machine's load touches all alike. Wall-clock rates are the
        # result; CPU rates (this process only) are less sensitive to a shared, noisy machine.
        t, c = time.perf_counter(), time.process_time()
        drain(read_raw(db))
        out["raw"].append(n / (time.perf_counter() - t))
        out["raw_cpu"].append(n / (time.process_time() - c))
        t = time.perf_counter()
        drain(read_events(db, names=wanted))
        out["billing_read"].append(n / (time.perf_counter() - t))
        c = time.process_time()
        stats = engine.rebuild(["billing"])
        out["rebuild_cpu"].append(n / (time.process_time() - c))
        out["rebuild"].append(n / stats["seconds"])
        writer = stats.get("writer", "inline")
        rss["rebuild"] = rss_mib()
        print(f"[{label}] run {run + 1}: raw {out['raw'][-1]:,.0f}/s  billing read {out['billing_read'][-1]:,.0f}/s  "
              f"rebuild {out['rebuild'][-1]:,.0f}/s ({stats['seconds']:.2f} s, writer {writer})  "
              f"cpu: raw {out['raw_cpu'][-1]:,.0f}/s rebuild {out['rebuild_cpu'][-1]:,.0f}/s", flush=True)
    rows = {t.name: db.query(f"SELECT count(*) FROM {t.name}")[0][0] for t in BillingProjection.tables}
    print(f"[{label}] {n:,} events, {handled:,} handled by billing; rows: {rows}", flush=True)
    return {"events": n, "handled": handled, "rows": sum(rows.values()), "writer": writer,
            **{k: statistics.median(v) for k, v in out.items()}, "peak_rss_mib": rss}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--citizens", type=int, default=2_000, help="citizens who buy (billing's work)")
    parser.add_argument("--non-buyers", type=int, default=8_000,
                        help="recipients with grants who buy nothing (0: a log of buyers only, billing's worst case)")
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--keep", help="SQLite file to keep the built log in (reused when it exists)")
    parser.add_argument("--db", help="measure an existing log at this URL instead of building one")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--pg", default=PG_BASE, help="PostgreSQL server; a fresh schema is created and dropped")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench_billing_"))
    results: dict[str, Any] = {}
    schema = None
    try:
        if args.db:
            db = Database(args.db)
            results[db.kind] = measure(db.kind, db, args.runs)
            db.close()
        else:
            path = Path(args.keep) if args.keep else folder / "log.db"
            sqlite_url = f"sqlite:///{path.resolve()}"
            if not path.exists():
                print(f"building the log ({args.citizens:,} buyers, {args.non_buyers:,} non-buyers, {args.months} months) "
                      f"in {path}", flush=True)
                t = time.perf_counter()
                n = build_log(sqlite_url, args.citizens, args.months, args.seed, args.non_buyers)
                print(f"built {n:,} events in {time.perf_counter() - t:.0f} s", flush=True)
            source = Database(sqlite_url)
            if "sqlite" in args.backends:
                results["sqlite"] = measure("sqlite", source, args.runs)
            if "postgres" in args.backends:
                schema = "bench_billing_" + uuid.uuid4().hex[:10]
                t = time.perf_counter()
                target = copy_log(source, f"{args.pg}?schema={schema}")
                print(f"copied the log to PostgreSQL schema {schema} in {time.perf_counter() - t:.0f} s", flush=True)
                results["postgres"] = measure("postgres", target, args.runs)
                target.close()
            source.close()
    finally:
        if schema is not None:
            import psycopg

            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        shutil.rmtree(folder, ignore_errors=True)

    print(f"\nmedians of {args.runs} runs; rates are log events per second (wall clock; cpu = this process only)")
    print(f"{'backend':<10}{'events':>9}{'rows':>9}{'raw':>9}{'billing read':>14}{'rebuild':>9}{'rebuild/raw':>13}"
          f"{'cpu raw':>10}{'cpu rebuild':>13}   peak RSS reads / rebuild")
    for backend, r in results.items():
        print(f"{backend:<10}{r['events']:>9,}{r['rows']:>9,}{r['raw']:>9,.0f}{r['billing_read']:>14,.0f}"
              f"{r['rebuild']:>9,.0f}{r['rebuild'] / r['raw']:>12.0%}{r['raw_cpu']:>10,.0f}{r['rebuild_cpu']:>13,.0f}"
              f"{r['peak_rss_mib']['reads']:>9,.0f} / {r['peak_rss_mib']['rebuild']:,.0f} MiB")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))

if __name__ == "__main__":
    main()
