"""How long `ledger-replay verify` takes, step by step, on a store of a given size.

    python bench/verify.py --db postgresql://postgres@127.0.0.1:5432/test?schema=bench_verify
    python bench/verify.py --synthesize 1000000 --db sqlite:////tmp/bench_verify.db
    python bench/verify.py --synthesize 1000000 --db postgresql://...?schema=bench_verify --runs 3

`--synthesize N` first builds a store of about N events quickly: real domain events (made by the
aggregates' own methods and encoded by the application's mapper, so every projection sees the
shapes production writes) for a few municipalities' schemes, catalogues and citizens with grants
that are re-assessed now and then; one citizen in ten buys weekly extra cleaning, so the log also
holds orders, deliveries, monthly invoice runs (with the true chain head in each) and payments,
bulk-inserted with their chain rows (computed here with `ledger.store.chain.link`) instead of
going through the application's one-transaction-per-command path. The live projections are then
built (`Engine.rebuild`), so verify has something to compare. The store is replaced if it exists.

Measured, `--runs` times (medians reported), each as events per second:
* read:        the chain and event streams joined, no hashing (the limit for the chain step);
* chain:       `check_chain` (read + every link recomputed + published heads);
* projections: `compare_projections` (rebuild every projection into scratch tables, digests);
* verify:      the whole of `verify_store`, as the CLI runs it.
Peak RSS is the measuring process's maximum (VmHWM), in a process of its own.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eventsourcing.persistence import Mapper  # noqa: E402

from ledger.db import Database  # noqa: E402
from ledger.domain.account import Account  # noqa: E402
from ledger.domain.assessment import Assessment, amount  # noqa: E402
from ledger.domain.base import Context  # noqa: E402
from ledger.domain.catalogue import Catalogue  # noqa: E402
from ledger.domain.citizen import Citizen  # noqa: E402
from ledger.domain.delivery import Delivery  # noqa: E402
from ledger.domain.invoice_series import InvoiceSeries  # noqa: E402
from ledger.domain.order import Order  # noqa: E402
from ledger.domain.pricing import delivery_line  # noqa: E402
from ledger.domain.scheme import Scheme  # noqa: E402
from ledger.projections import all_projections  # noqa: E402
from ledger.generate.world import band_cost_basis  # noqa: E402
from ledger.projections.engine import Engine  # noqa: E402
from ledger.store.chain import GENESIS, link  # noqa: E402
from ledger.store.transcoder import OrjsonTranscoder  # noqa: E402
from replay.chain import join  # noqa: E402
from replay.projections import compare_projections  # noqa: E402
from replay.store import open_store  # noqa: E402
from replay.verify import check_chain, verify_store  # noqa: E402

NS = uuid.UUID("6f2b9c1e-0d7a-4c55-9a43-3b1f1a0e7c21")
MUNICIPALITIES = (657, 580, 101, 751, 461, 851, 730, 740)
FIRST_MONTH, MONTHS = date(2018, 6, 1), 42  # June 2018 to November 2021: the trial years
BUYER_EVERY = 10  # one citizen in ten buys (take-up in the trials was far lower; billing is the heavy part)
REASSESS_EVERY = 33  # about one re-assessment per citizen every 33 months
# A buyer: 4 deliveries, an invoice and a payment a month; everyone: registration, assessment,
# grant (and for buyers the order) once, and the occasional re-assessment.
EVENTS_PER_CITIZEN = 3.5 + MONTHS * (6 / BUYER_EVERY + 1 / REASSESS_EVERY)


# -- a synthetic log ------------------------------------------------------------------------


class Sink:
    """Numbers, chains and bulk-inserts stored events in the order they are emitted."""

    def __init__(self, db: Database, flush_every: int = 50_000) -> None:
        self.db = db
        self.mapper = Mapper(transcoder=OrjsonTranscoder())
        self.position = 0
        self.head = GENESIS
        self.events: list[tuple] = []
        self.chain: list[tuple] = []
        self.flush_every = flush_every

    def emit(self, *aggregates: Any) -> None:
        for agg in aggregates:
            for event in agg.collect_events():
                s = self.mapper.to_stored_event(event)
                self.position += 1
                self.head = link(self.head, self.position, s.originator_id, s.originator_version, s.topic, s.state)
                self.events.append((self.position, s.originator_id, s.originator_version, s.topic, s.state))
                self.chain.append((self.position, self.position, self.head))
        if len(self.events) >= self.flush_every:
            self.flush()

    def chain_head(self) -> dict[str, Any]:
        return {"position": self.position, "hash": self.head.hex()}

    def flush(self) -> None:
        if not self.events:
            return
        with self.db.connection() as conn:
            if self.db.is_postgres:
                with conn.transaction(), conn.cursor() as cur:
                    with cur.copy("COPY ledger_events (notification_id, originator_id, originator_version, topic, "
                                  "state) FROM STDIN (FORMAT BINARY)") as copy:
                        copy.set_types(["int8", "uuid", "int8", "text", "bytea"])
                        for row in self.events:
                            copy.write_row(row)
                    with cur.copy("COPY ledger_chain (position, notification_id, hash) FROM STDIN (FORMAT BINARY)") as copy:
                        copy.set_types(["int8", "int8", "bytea"])
                        for row in self.chain:
                            copy.write_row(row)
            else:
                conn.execute("BEGIN")
                conn.executemany("INSERT INTO stored_events (rowid, originator_id, originator_version, topic, state) "
                                 "VALUES (?, ?, ?, ?, ?)", [(p, o.hex, v, t, s) for p, o, v, t, s in self.events])
                conn.executemany("INSERT INTO ledger_chain VALUES (?, ?, ?)", self.chain)
                conn.execute("COMMIT")
        self.events, self.chain = [], []

    def finish(self) -> None:
        self.flush()
        if self.db.is_postgres:
            with self.db.connection() as conn:
                conn.execute("SELECT setval(pg_get_serial_sequence('ledger_events', 'notification_id'), %s)",
                             (max(self.position, 1),))
                conn.execute("ANALYZE ledger_events")
                conn.execute("ANALYZE ledger_chain")


def _month(i: int) -> date:
    y, m = divmod(FIRST_MONTH.month - 1 + i, 12)
    return date(FIRST_MONTH.year + y, m + 1, 1)


def _at(d: date, hour: int = 9) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=timezone.utc)


class World:
    def __init__(self, sink: Sink, citizens: int) -> None:
        self.sink = sink
        self.seq = 0
        self.citizens_per_m = max(1, citizens // len(MUNICIPALITIES))
        self.m: dict[int, dict[str, Any]] = {}
        self.people: list[dict[str, Any]] = []

    def ctx(self, when: datetime) -> Context:
        self.seq += 1
        return Context("bench", "administrator", f"bench-{self.seq}", when)

    def uid(self, *parts: object) -> uuid.UUID:
        return uuid.uuid5(NS, "/".join(map(str, parts)))

    def open_municipality(self, m: int) -> None:
        start = FIRST_MONTH
        c = self.ctx(_at(start, 8))
        scheme = Scheme.establish(c, m, f"Tilkøb {m}", start, date(2021, 12, 31), ["83", "85"], 30, 30, True)
        cat = Catalogue.open(c, m, start)
        cat.add_item(c, "extra-cleaning", "Ekstra rengøring", "hour", "H1.8", "exempt",
                     {"weekday_day": 35400, "evening": 66500, "weekend": 49600},
                     band_cost_basis({"weekday_day": 35400, "evening": 66500, "weekend": 49600}), start)
        cat.add_item(c, "window-cleaning", "Vinduespudsning", "visit", "H1.8", "standard",
                     {"weekday_day": 45000, "evening": 45000, "weekend": 45000},
                     band_cost_basis({"weekday_day": 45000, "evening": 45000, "weekend": 45000}), start)
        series = InvoiceSeries.open(c, m, start)
        self.sink.emit(scheme, cat, series)
        self.m[m] = {"scheme": scheme, "catalogue": cat, "series": series}
        for i in range(self.citizens_per_m):
            self.register(m, i)

    def register(self, m: int, i: int) -> None:
        start = FIRST_MONTH
        c = self.ctx(_at(start, 10))
        cid = self.uid("citizen", m, i)
        person = Citizen.register(c, cid, m, date(2018, 1, 1), "own_home", "municipal")
        assessment = Assessment.open(c, cid, m, date(2018, 1, 1))
        assessment.award(c, "g1", "H1.8", "83", amount(minutes_per_week=30 + 15 * (i % 3)), date(2018, 1, 1), None)
        cat = self.m[m]["catalogue"]
        price = cat.price_on("extra-cleaning", start)
        quoted = {"price_ore": price["prices"]["weekday_day"], "vat_class": price["vat_class"], "unit": "hour",
                  "price_ref": price["ref"]}
        grant = assessment.active_on(start)[0]
        order = None
        if i % BUYER_EVERY == 0:
            order = Order.place(c, self.uid("order", m, i), m, str(cid), cat.offer("extra-cleaning"),
                                "extra-cleaning", "recurring", start, date(2021, 12, 31), 1, 60, "weekday_day",
                                quoted, grant["ref"])
        self.sink.emit(person, assessment, *([order] if order else []))
        self.people.append({"m": m, "i": i, "id": cid, "order": order, "assessment": assessment, "account": None,
                            "deliveries": [], "owed": 0})

    def month(self, k: int) -> None:
        first = _month(k)
        if first.month == 1:  # prices are adjusted every 1 January
            for m, w in self.m.items():
                cat = w["catalogue"]
                old = cat.price_on("extra-cleaning", first)["prices"]
                new = {b: p * 103 // 100 for b, p in old.items()}
                cat.change_price(self.ctx(_at(first, 7)), "extra-cleaning", first, "exempt", new,
                                 band_cost_basis(new))
                self.sink.emit(cat)
        mondays = [first + timedelta(days=d) for d in range(28) if (first + timedelta(days=d)).weekday() == 0][:4]
        for p in self.people:
            if (p["i"] * 31 + k * 17) % REASSESS_EVERY == 0:
                p["assessment"].reassess(self.ctx(_at(first + timedelta(days=12), 13)), "g1", first + timedelta(days=14),
                                         amount(minutes_per_week=30 + 15 * ((p["i"] + k) % 4)))
                self.sink.emit(p["assessment"])
            if p["order"] is None:
                continue
            paid = p["owed"]
            if paid and p["account"] is not None:
                p["account"].receive_payment(self.ctx(_at(first + timedelta(days=9), 11)), f"pay-{k}", paid,
                                             first + timedelta(days=9), "direct_debit", None)
                self.sink.emit(p["account"])
                p["owed"] = 0
            for j, day in enumerate(mondays):
                d = Delivery.record(self.ctx(_at(day, 15)), self.uid("delivery", p["id"], k, j), p["m"],
                                    str(p["order"].id), str(p["id"]), "extra-cleaning", "hour", day, "weekday_day",
                                    40 + (j * 7 + k) % 45, 1, f"s{j}", False, False, None)
                self.sink.emit(d)
                p["deliveries"].append(d)
        self.invoice_run(first)

    def invoice_run(self, first: date) -> None:
        run_date = (first + timedelta(days=40)).replace(day=3)
        when = _at(run_date, 6)
        for m, w in self.m.items():
            c = self.ctx(when)
            head = self.sink.chain_head()  # the run reads the head first, as the application does
            series, issued, billed = w["series"], 0, []
            changed = [series]
            for p in (p for p in self.people if p["m"] == m and p["deliveries"]):
                if p["account"] is None:
                    p["account"] = Account.open(c, p["id"], m, run_date)
                rules = w["scheme"].rules_on(first)
                lines = [delivery_line(i + 1, d, p["order"], w["catalogue"].offer("extra-cleaning"), rules,
                                       p["order"].eligibility) for i, d in enumerate(p["deliveries"])]
                issued += 1
                p["account"].issue_invoice(c, series.invoice_number(issued), first.isoformat()[:7], run_date,
                                           run_date + timedelta(days=14), lines, head)
                p["owed"] = sum(line["gross"] for line in lines)
                p["deliveries"] = []
                billed.append(str(p["id"]))
                changed.append(p["account"])
            series.complete_run(c, first.isoformat()[:7], run_date, issued, head, head["position"], [], billed)
            self.sink.emit(*changed)


def synthesize(url: str, n: int, live: bool = True) -> Database:
    """Replace the store at `url` with about `n` synthetic chained events (and live projections)."""
    from ledger.application import Ledger
    from ledger.settings import Settings

    db = Database(url)
    _drop(db)
    Ledger(Settings(database_url=url)).close()  # the application creates its tables, as in production
    sink = Sink(db)
    world = World(sink, max(len(MUNICIPALITIES), int(n / EVENTS_PER_CITIZEN)))
    started = time.perf_counter()
    for m in MUNICIPALITIES:
        world.open_municipality(m)
    for k in range(MONTHS):
        world.month(k)
        if sink.position >= n:
            break
    sink.finish()
    print(f"synthesized {sink.position:,} events ({len(world.people):,} citizens) in "
          f"{time.perf_counter() - started:.1f}s", flush=True)
    if live:
        started = time.perf_counter()
        Engine(db, all_projections()).rebuild()
        print(f"built the live projections in {time.perf_counter() - started:.1f}s", flush=True)
    return db


def _drop(db: Database) -> None:
    if db.is_postgres:
        import psycopg

        with psycopg.connect(db.config.conninfo, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{db.config.schema}" CASCADE')
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(db.config.path + suffix).unlink(missing_ok=True)


# -- measuring ------------------------------------------------------------------------------


def read_only(url: str) -> int:
    store = open_store(url)
    try:
        top, last = store.bounds()
        return sum(len(page) for page in join(store.chain_pages(top), store.event_pages(last), store.event_at))
    finally:
        store.close()


def chain_only(url: str) -> int:
    store = open_store(url)
    try:
        check, _ = check_chain(store, [])
        assert check.ok, [p.message for p in check.problems[:3]]
        return check.events
    finally:
        store.close()


def projections_only(url: str) -> int:
    store = open_store(url)
    try:
        comparison = compare_projections(store.db, all_projections())
        assert comparison.ok and comparison.compared, [(r.name, r.status, r.reason) for r in comparison.results]
        return comparison.events
    finally:
        store.close()


def full_verify(url: str) -> int:
    store = open_store(url)
    try:
        report = verify_store(store, [], all_projections())
        assert report.ok
        return report.check.events
    finally:
        store.close()


STEPS = {"read": read_only, "chain": chain_only, "projections": projections_only, "verify": full_verify}


def peak_rss_mib() -> float:
    """This process's peak RSS. Linux's VmHWM, because getrusage's ru_maxrss survives fork and exec
    and would report the synthesizer's peak in the process measuring."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(url: str, runs: int, names: list[str]) -> dict[str, list[float]]:
    steps = {name: STEPS[name] for name in names}
    seconds: dict[str, list[float]] = {name: [] for name in steps}
    events = 0
    for run in range(runs):
        for name, fn in steps.items():  # interleaved, so drift in the machine's load hits every step alike
            started = time.perf_counter()
            count = fn(url)
            seconds[name].append(time.perf_counter() - started)
            events = max(events, count)
        print(f"run {run + 1}: " + ", ".join(f"{k} {v[-1]:.1f}s" for k, v in seconds.items()), flush=True)
    print(f"\n{events:,} events; medians of {runs} run(s):")
    for name, values in seconds.items():
        median = statistics.median(values)
        print(f"  {name:<12} {median:7.1f} s  {events / median:>10,.0f} events/s")
    print(f"peak RSS {peak_rss_mib():,.0f} MiB")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, help="database URL of the store to verify")
    parser.add_argument("--synthesize", type=int, metavar="N", help="first replace the store with ~N synthetic events")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--steps", default=",".join(STEPS), help=f"comma-separated, of: {', '.join(STEPS)}")
    args = parser.parse_args()
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        parser.error(f"unknown steps {unknown}")
    if args.synthesize:
        synthesize(args.db, args.synthesize, live=bool({"projections", "verify"} & set(steps))).close()
        # Measure in a fresh process, so its peak RSS is verify's and not the synthesizer's.
        sys.exit(subprocess.call([sys.executable, __file__, "--db", args.db, "--runs", str(args.runs),
                                  "--steps", ",".join(steps)]))
    measure(args.db, args.runs, steps)


if __name__ == "__main__":
    main()
