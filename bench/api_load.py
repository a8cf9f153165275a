"""Load test of the HTTP API: uvicorn on 127.0.0.1 over PostgreSQL, 32 concurrent clients placing
orders and recording deliveries.

    python bench/api_load.py [--clients 32] [--seconds 20] [--rate 300] [--workers 1] [--json out.json]

Two phases after a small set-up (schemes, an item, citizens with grants and a recurring order each):
  * paced:  the clients together offer `--rate` commands per second (open loop: a request is sent
            on schedule even if earlier ones are slow, and its latency counts from its scheduled
            time, so queueing shows up in the percentiles instead of being hidden);
  * closed: every client sends its next command as soon as the last one answered: the ceiling.
Each iteration of a client is one command: alternately place a one-off order for its citizen and
record a delivery against its recurring order. Reported: throughput, p50/p90/p99/max latency and
errors by status. The server runs in its own process; its log goes to a file, not the terminal.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import httpx

PG = os.environ.get("LEDGER_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_schema() -> str:
    import psycopg

    schema = "bench_api_" + uuid.uuid4().hex[:10]
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return schema


def drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


class Server:
    """`ledger serve` in a child process, with one administrator token."""

    def __init__(self, url: str, workers: int, workdir: Path) -> None:
        import hashlib

        self.token = secrets.token_urlsafe(24)
        tokens = workdir / "tokens.json"
        tokens.write_text(json.dumps([{"user": "bench", "role": "administrator", "municipalities": "*",
                                       "token_sha256": hashlib.sha256(self.token.encode()).hexdigest()}]))
        self.port = free_port()
        self.log = (workdir / "server.log").open("w")
        env = {**os.environ, "LEDGER_DATABASE_URL": url, "LEDGER_TOKENS_FILE": str(tokens),
               "LEDGER_LOG_FORMAT": "json"}
        ledger = Path(sys.executable).with_name("ledger")
        command = [str(ledger), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)]
        if os.environ.get("LEDGER_BENCH_SERVER"):  # e.g. a profiling wrapper: "python wrapper.py {port}"
            command = os.environ["LEDGER_BENCH_SERVER"].format(port=self.port).split()
        self.proc = subprocess.Popen(command, env=env, stdout=self.log, stderr=self.log)
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.base + "/ready", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited ({self.proc.returncode}); see {self.log.name}")
            time.sleep(0.3)
        raise SystemExit("the server did not become ready within 60 s")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process (and its workers) so far."""
        total = 0.0
        pids = [self.proc.pid]
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
            pids += [int(c) for c in children]
        except OSError:
            pass
        tick = os.sysconf("SC_CLK_TCK")
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / tick
            except (OSError, IndexError, ValueError):
                pass
        return total

    def peak_rss_mb(self) -> float:
        """Peak resident memory (VmHWM) of the server process, in MiB."""
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
        except OSError:
            pass
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def ok(r: httpx.Response) -> dict:
    if r.status_code not in (200, 201):
        raise SystemExit(f"set-up failed: {r.request.method} {r.request.url} -> {r.status_code} {r.text}")
    return r.json()


def set_up(base: str, token: str, citizens: int) -> list[tuple[str, str]]:
    """(citizen id, recurring order id) per client."""
    h = {"Authorization": f"Bearer {token}"}
    prices = {"weekday_day": 35400, "evening": 66500, "weekend": 49600}
    cost = {"wage": 25000, "overhead": 5000, "transport": 3000, "capital": 2400}
    with httpx.Client(base_url=base, headers=h, timeout=30) as c:
        ok(c.post("/schemes", json={"municipality": 657, "name": "Herning", "window_start": "2018-06-01",
                                    "window_end": "2021-12-31", "sections": ["83"], "minimum_minutes": 30,
                                    "increment_minutes": 30}))
        ok(c.post("/catalogue/items", json={"municipality": 657, "item_id": "clean", "name": "Extra cleaning",
                                            "unit": "hour", "fsiii": "H1.8", "vat_class": "exempt", "prices": prices,
                                            "cost_basis": cost, "effective": "2018-06-01"}))
        out = []
        for _ in range(citizens):
            cid = ok(c.post("/citizens", json={"municipality": 657, "effective": "2018-01-01",
                                               "residence": "own_home"}))["result"]["citizen_id"]
            ok(c.post("/grants", json={"citizen_id": cid, "fsiii": "H1.8", "section": "83",
                                       "amount": {"minutes_per_week": 30}, "valid_from": "2018-01-01"}))
            oid = ok(c.post("/orders", json={"citizen_id": cid, "offer_id": "clean", "kind": "recurring",
                                             "start": "2018-06-01", "every_weeks": 1, "minutes": 60}))
            out.append((cid, oid["result"]["order_id"]))
        return out


class Client(threading.Thread):
    def __init__(self, n: int, base: str, token: str, citizen: str, order: str, start: float, stop: float,
                 interval: float | None) -> None:
        super().__init__(daemon=True)
        self.n, self.citizen, self.order = n, citizen, order
        self.http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        self.start_at, self.stop_at, self.interval = start, stop, interval
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.errors: list[str] = []

    def command(self, i: int) -> httpx.Response:
        day = (date(2018, 6, 1) + timedelta(days=(self.n * 7919 + i) % 1300)).isoformat()
        key = f"c{self.n}-{i}-{uuid.uuid4().hex[:8]}"
        if i % 2 == 0:
            return self.http.post("/orders", headers={"Idempotency-Key": key}, json={
                "citizen_id": self.citizen, "offer_id": "clean", "kind": "one_off", "start": day, "minutes": 60})
        return self.http.post("/deliveries", headers={"Idempotency-Key": key}, json={
            "order_id": self.order, "date": day, "band": "weekday_day", "minutes": 60, "staff_id": f"s{self.n}"})

    def run(self) -> None:
        i = 0
        # Stagger the paced clients so their schedules interleave instead of arriving in bursts.
        due = self.start_at + (self.interval or 0) * (self.n / 32)
        while True:
            if self.interval is not None:
                now = time.perf_counter()
                if due > now:
                    time.sleep(due - now)
                sent = due
                due += self.interval
            else:
                sent = time.perf_counter()
            if sent >= self.stop_at:
                break
            try:
                r = self.command(i)
                self.statuses[r.status_code] += 1
                if r.status_code >= 300 and len(self.errors) < 5:
                    self.errors.append(f"{r.status_code} {r.text[:200]}")
            except httpx.HTTPError as e:
                self.statuses[0] += 1
                if len(self.errors) < 5:
                    self.errors.append(f"{type(e).__name__}: {e}")
            self.latencies.append(time.perf_counter() - sent)
            i += 1
        self.http.close()


def phase(name: str, base: str, token: str, pairs: list[tuple[str, str]], seconds: float,
          rate: float | None) -> dict:
    clients = len(pairs)
    start = time.perf_counter() + 0.5
    stop = start + seconds
    interval = None if rate is None else clients / rate
    workers = [Client(n, base, token, c, o, start, stop, interval) for n, (c, o) in enumerate(pairs)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = max(stop, time.perf_counter()) - start
    lat = sorted(x for w in workers for x in w.latencies)
    statuses = sum((w.statuses for w in workers), Counter())
    good = sum(v for k, v in statuses.items() if 200 <= k < 300)

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1) if lat else float("nan")

    return {"phase": name, "clients": clients, "offered_rate": rate, "seconds": round(elapsed, 1),
            "commands": len(lat), "ok": good, "throughput_per_s": round(good / elapsed, 1),
            "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99),
            "max_ms": round(lat[-1] * 1000, 1) if lat else None,
            "mean_ms": round(statistics.fmean(lat) * 1000, 1) if lat else None,
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "error_samples": [e for w in workers for e in w.errors][:5]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=20.0, help="per phase")
    ap.add_argument("--rate", type=float, default=300.0, help="commands per second offered in the paced phase")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    ap.add_argument("--phases", default="paced,closed")
    ap.add_argument("--json", type=Path, help="write the results here too")
    ap.add_argument("--keep", action="store_true", help="keep the PostgreSQL schema and the server log")
    args = ap.parse_args()

    schema = fresh_schema()
    workdir = Path(tempfile.mkdtemp(prefix="ledger-api-load-"))
    server = Server(f"{PG}?schema={schema}", args.workers, workdir)
    results = []
    try:
        pairs = set_up(server.base, server.token, args.clients)
        for name in args.phases.split(","):
            cpu = server.cpu_seconds()
            result = phase(name, server.base, server.token, pairs, args.seconds,
                           args.rate if name == "paced" else None)
            result["server_workers"] = args.workers
            result["server_cpu_ms_per_command"] = round((server.cpu_seconds() - cpu) * 1000 / max(1, result["ok"]), 2)
            result["load_average"] = os.getloadavg()[0]
            result["server_peak_rss_mb"] = server.peak_rss_mb()
            results.append(result)
            print(f"{name:>6}: {result['throughput_per_s']:7.1f} commands/s  p50 {result['p50_ms']} ms  "
                  f"p90 {result['p90_ms']} ms  p99 {result['p99_ms']} ms  max {result['max_ms']} ms  "
                  f"statuses {result['statuses']}  server CPU {result['server_cpu_ms_per_command']} ms/command  "
                  f"load {result['load_average']:.1f}  peak RSS {result['server_peak_rss_mb']} MiB", flush=True)
            for sample in result["error_samples"]:
                print(f"        error: {sample}")
    finally:
        server.stop()
        if not args.keep:
            drop_schema(schema)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
