"""Load test of the HTTP API: `ledger serve --workers N` on 127.0.0.1 over PostgreSQL, 32 concurrent
clients placing orders and recording deliveries.

    python bench/api_load.py [--clients 32] [--seconds 20] [--rate 300] [--workers 1,2]
                             [--baseline REF] [--phases paced,closed] [--json out.json]

Per server (a fresh PostgreSQL schema each), after a small set-up (a scheme, an item, citizens with
grants and a recurring order each), one or two phases, each after `--warmup` seconds of the same load:
  * paced:  the clients together offer `--rate` commands per second (open loop: a request is sent
            on schedule even if earlier ones are slow, and its latency counts from its scheduled
            time, so queueing shows up in the percentiles instead of being hidden);
  * closed: every client sends its next command as soon as the last one answered: the ceiling.
The clients are coroutines in this process, each with its own keep-alive HTTP/1.1 connection,
written and read with plain asyncio streams (`--client httpx`: over one httpx.AsyncClient, as
before: it costs about as much CPU per request as the server, on a machine the server shares).
Each iteration of a client is one command: alternately a one-off order for its citizen and a
delivery against its recurring order. Reported: served commands/s, p50/p90/p99/max latency, errors
by status, the server's CPU per command (user + system of the server and its worker processes,
from /proc; the system part also apart), the clients' own CPU per command (this process) and the group commit's commands per
transaction (from the workers' logs).
`--workers 1,2` runs each worker count in turn; `--baseline REF` runs REF's server (a detached
checkout, this environment's libraries) before the current one for each, and `--variant
NAME:VAR=VALUE` the current code with other settings, so the table compares them side by side in
one run; `--rounds N` alternates them N times.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import httpx
import orjson

PG = os.environ.get("LEDGER_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_schema() -> str:
    import psycopg

    # LEDGER_BENCH_PREFIX (as bench/run.py's) keeps the schemas of several benchmarks on one server apart.
    schema = f"{os.environ.get('LEDGER_BENCH_PREFIX', 'bench')}_api_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return schema


def drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


class Server:
    """`ledger serve` in a child process, with one administrator token."""

    def __init__(self, url: str, workers: int, workdir: Path, code: Path | None = None,
                 extra_env: dict[str, str] | None = None) -> None:
        import hashlib

        self.token = secrets.token_urlsafe(24)
        tokens = workdir / "tokens.json"
        tokens.write_text(json.dumps([{"user": "bench", "role": "administrator", "municipalities": "*",
                                       "token_sha256": hashlib.sha256(self.token.encode()).hexdigest()}]))
        self.port = free_port()
        self.log = (workdir / "server.log").open("w")
        env = {**os.environ, "LEDGER_DATABASE_URL": url, "LEDGER_TOKENS_FILE": str(tokens),
               "LEDGER_LOG_FORMAT": "json", **(extra_env or {})}
        if code is not None:  # another checkout's package (the baseline), with this environment's libraries
            env["PYTHONPATH"] = str(code)
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

    def pids(self) -> list[int]:
        """The server process and all its descendants (uvicorn's workers)."""
        found, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            found.append(pid)
            try:
                for task in Path(f"/proc/{pid}/task").iterdir():
                    todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
        return found

    def cpu_seconds(self) -> tuple[float, float]:
        """User and system CPU time of the server process and its workers so far."""
        user = system = 0.0
        tick = os.sysconf("SC_CLK_TCK")
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                user += int(fields[11]) / tick
                system += int(fields[12]) / tick
            except (OSError, IndexError, ValueError):
                pass
        return user, system

    def writer_stats(self) -> dict:
        """The group commit's counts, summed over the workers (each logs them when it stops)."""
        out = {"transactions_of_many": 0, "commands_in_them": 0, "commands_alone": 0}
        for line in Path(self.log.name).read_text(errors="replace").splitlines():
            if '"writer stopped"' not in line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            out["transactions_of_many"] += entry.get("batches", 0)
            out["commands_in_them"] += entry.get("batched_commands", 0)
            out["commands_alone"] += entry.get("singles", 0)
        many = out["transactions_of_many"]
        out["commands_per_transaction"] = round(out["commands_in_them"] / many, 1) if many else None
        return out

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
    from ledger.generate.world import band_cost_basis

    cost = band_cost_basis(prices)
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


class RawConnection:
    """One client's keep-alive HTTP/1.1 connection over plain asyncio streams: a request written
    whole, its response read by Content-Length (what the server always sends here). Opened on first
    use and again after a failure. A few dozen microseconds of CPU per request, where an httpx
    request costs about a millisecond: the load generator must not take the CPU it measures."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port = host, port
        self.head = f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, key: str, body: dict) -> tuple[int, str]:
        data = orjson.dumps(body)
        request = (f"POST {path} HTTP/1.1\r\n{self.head}Idempotency-Key: {key}\r\n"
                   f"Content-Length: {len(data)}\r\n\r\n").encode() + data
        try:
            async with asyncio.timeout(30):
                if self.streams is None:
                    self.streams = await asyncio.open_connection(self.host, self.port)
                reader, writer = self.streams
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                status = int(lines[0].split(" ", 2)[1])
                fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
                text = (await reader.readexactly(int(fields["content-length"]))).decode()
                if fields.get("connection", "").lower() == "close":
                    self.close()
                return status, text
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, KeyError, ValueError):
            self.close()
            raise

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


class HttpxConnection:
    """The same interface over a shared httpx.AsyncClient (`--client httpx`, the bench's former client)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def post(self, path: str, key: str, body: dict) -> tuple[int, str]:
        r = await self.http.post(path, headers={"Idempotency-Key": key}, json=body)
        return r.status_code, r.text

    def close(self) -> None:
        pass


FAILURES = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, KeyError, ValueError,
            httpx.HTTPError)


async def _client(n: int, conn: RawConnection | HttpxConnection, citizen: str, order: str, start: float, stop: float,
                  interval: float | None, latencies: list[float], statuses: Counter[int], errors: list[str]) -> None:
    """One of the clients: a command per iteration, alternately a one-off order for its citizen
    and a delivery against its recurring order; paced (open loop) when `interval` is given."""
    i = 0
    # Stagger the paced clients so their schedules interleave instead of arriving in bursts.
    due = start + (interval or 0) * (n / 32)
    while True:
        if interval is not None:
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)
            sent = due
            due += interval
        else:
            sent = time.perf_counter()
        if sent >= stop:
            break
        day = (date(2018, 6, 1) + timedelta(days=(n * 7919 + i) % 1300)).isoformat()
        key = f"c{n}-{i}-{uuid.uuid4().hex[:8]}"
        # Saturdays and Sundays at the weekend band, the rest at weekday daytime: a one-off order's
        # visit and a delivery must be at a band their date allows (band-not-on-day, a 422 otherwise).
        band = "weekend" if date.fromisoformat(day).weekday() >= 5 else "weekday_day"
        try:
            if i % 2 == 0:
                status, text = await conn.post("/orders", key, {
                    "citizen_id": citizen, "offer_id": "clean", "kind": "one_off", "start": day, "minutes": 60,
                    "band": band})
            else:
                status, text = await conn.post("/deliveries", key, {
                    "order_id": order, "date": day, "band": band, "minutes": 60, "staff_id": f"s{n}"})
            statuses[status] += 1
            if status >= 300 and len(errors) < 5:
                errors.append(f"{status} {text[:200]}")
        except FAILURES as e:
            statuses[0] += 1
            if len(errors) < 5:
                errors.append(f"{type(e).__name__}: {e}")
        latencies.append(time.perf_counter() - sent)
        i += 1


async def _phase(base: str, token: str, pairs: list[tuple[str, str]], seconds: float, rate: float | None,
                 warmup: float, client: str) -> tuple[float, float, list[float], Counter[int], list[str]]:
    """(elapsed seconds, this process's CPU seconds, latencies, statuses, error samples) of the counted part."""
    clients = len(pairs)
    interval = None if rate is None else clients / rate
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    url = httpx.URL(base)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30,
                                 limits=limits) as http:
        conns: list[RawConnection | HttpxConnection] = [
            RawConnection(url.host, url.port or 80, token) if client == "raw" else HttpxConnection(http)
            for _ in pairs]
        try:
            if warmup > 0:  # the same load, not counted: connections opened, caches filled
                start = time.perf_counter() + 0.2
                await asyncio.gather(*(_client(n, conns[n], c, o, start, start + warmup, interval, [], Counter(), [])
                                       for n, (c, o) in enumerate(pairs)))
            latencies: list[float] = []
            statuses: Counter[int] = Counter()
            errors: list[str] = []
            cpu = time.process_time()
            start = time.perf_counter() + 0.2
            stop = start + seconds
            await asyncio.gather(*(_client(n, conns[n], c, o, start, stop, interval, latencies, statuses, errors)
                                   for n, (c, o) in enumerate(pairs)))
            return max(stop, time.perf_counter()) - start, time.process_time() - cpu, latencies, statuses, errors
        finally:
            for conn in conns:
                conn.close()


def phase(name: str, base: str, token: str, pairs: list[tuple[str, str]], seconds: float,
          rate: float | None, warmup: float = 0.0, client: str = "raw") -> dict:
    """One phase of 32 (or --clients) async clients, a connection each; latency counts from each
    request's scheduled time (open loop)."""
    clients = len(pairs)
    elapsed, cpu, latencies, statuses, errors = asyncio.run(_phase(base, token, pairs, seconds, rate, warmup, client))
    lat = sorted(latencies)
    good = sum(v for k, v in statuses.items() if 200 <= k < 300)

    def pct(p: float) -> float:
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 1) if lat else float("nan")

    return {"phase": name, "clients": clients, "offered_rate": rate, "seconds": round(elapsed, 1),
            "commands": len(lat), "ok": good, "errors": len(lat) - good, "throughput_per_s": round(good / elapsed, 1),
            "p50_ms": pct(0.50), "p90_ms": pct(0.90), "p99_ms": pct(0.99),
            "max_ms": round(lat[-1] * 1000, 1) if lat else None,
            "mean_ms": round(statistics.fmean(lat) * 1000, 1) if lat else None,
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
            "client": client, "client_cpu_ms_per_command": round(cpu * 1000 / max(1, len(lat)), 2),
            "error_samples": errors[:5]}


def baseline_checkout(ref: str, workdir: Path) -> Path:
    """`ref` of this repository, checked out (detached) into workdir: the code to compare with."""
    root = Path(__file__).resolve().parent.parent
    target = workdir / "baseline"
    subprocess.run(["git", "-C", str(root), "worktree", "add", "--detach", "--force", str(target), ref],
                   check=True, capture_output=True)
    return target


def run_one(label: str, code: Path | None, workers: int, args: argparse.Namespace,
            extra_env: dict[str, str] | None = None) -> list[dict]:
    schema = fresh_schema()
    workdir = Path(tempfile.mkdtemp(prefix="ledger-api-load-"))
    server = Server(f"{PG}?schema={schema}", workers, workdir, code, extra_env)
    results = []
    try:
        pairs = set_up(server.base, server.token, args.clients)
        for name in args.phases.split(","):
            cpu = server.cpu_seconds()
            load = os.getloadavg()[0]
            result = phase(name, server.base, server.token, pairs, args.seconds,
                           args.rate if name == "paced" else None, args.warmup, args.client)
            result = {"code": label, "server_workers": workers, **result}
            user, system = (after - before for after, before in zip(server.cpu_seconds(), cpu))
            result["server_cpu_ms_per_command"] = round((user + system) * 1000 / max(1, result["ok"]), 2)
            result["server_system_cpu_ms_per_command"] = round(system * 1000 / max(1, result["ok"]), 2)
            result["load_average_before"] = round(load, 2)
            result["server_peak_rss_mb"] = server.peak_rss_mb()
            results.append(result)
            print(f"{label:>8} w{workers} {name:>6}: {result['throughput_per_s']:7.1f} commands/s  "
                  f"p50 {result['p50_ms']} ms  p99 {result['p99_ms']} ms  max {result['max_ms']} ms  "
                  f"statuses {result['statuses']}  server CPU {result['server_cpu_ms_per_command']} ms/command "
                  f"(system {result['server_system_cpu_ms_per_command']})  "
                  f"client CPU {result['client_cpu_ms_per_command']} ms/command  "
                  f"load {load:.1f}", flush=True)
            for sample in result["error_samples"]:
                print(f"        error: {sample}", flush=True)
    finally:
        server.stop()
        stats = server.writer_stats()
        for r in results:
            r["group_commit"] = stats
        if not args.keep:
            drop_schema(schema)
    return results


def table(results: list[dict]) -> str:
    lines = ["| code | workers | phase | offered/s | served/s | p50 ms | p99 ms | errors | server CPU ms/command "
             "| client CPU ms/command | commands per group transaction (whole run) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        gc = r.get("group_commit", {})
        lines.append(f"| {r['code']} | {r['server_workers']} | {r['phase']} | {r['offered_rate'] or 'closed'} "
                     f"| {r['throughput_per_s']} | {r['p50_ms']} | {r['p99_ms']} | {r['errors']} "
                     f"| {r['server_cpu_ms_per_command']} | {r['client_cpu_ms_per_command']} "
                     f"| {gc.get('commands_per_transaction')} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=20.0, help="per phase")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of the same load before each phase, not counted")
    ap.add_argument("--rate", type=float, default=300.0, help="commands per second offered in the paced phase")
    ap.add_argument("--workers", default="1", help="uvicorn worker processes; a list (1,2) runs each in turn")
    ap.add_argument("--baseline", help="also run the server of this git ref (e.g. a branch), first, for comparison")
    ap.add_argument("--phases", default="paced,closed")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME:VAR=VALUE[,VAR=VALUE]",
                    help="also run the current code with these settings (repeatable), e.g. "
                         "thread-follower:LEDGER_API_FOLLOWER_PROCESS=0")
    ap.add_argument("--rounds", type=int, default=1, help="run every server this many times, alternated")
    ap.add_argument("--client", choices=("raw", "httpx"), default="raw",
                    help="raw: a keep-alive connection per client over asyncio streams; httpx: one httpx.AsyncClient")
    ap.add_argument("--json", type=Path, help="write the results here too")
    ap.add_argument("--keep", action="store_true", help="keep the PostgreSQL schemas and the server logs")
    args = ap.parse_args()

    codes: list[tuple[str, Path | None, dict[str, str]]] = [("current", None, {})]
    for variant in args.variant:
        name, _, assignments = variant.partition(":")
        codes.append((name, None, dict(a.split("=", 1) for a in assignments.split(",") if a)))
    workdir = Path(tempfile.mkdtemp(prefix="ledger-api-load-"))
    if args.baseline:
        codes.insert(0, (args.baseline, baseline_checkout(args.baseline, workdir), {}))
    results: list[dict] = []
    try:
        for _ in range(args.rounds):
            for workers in [int(w) for w in str(args.workers).split(",")]:
                for label, code, extra in codes:
                    results += run_one(label, code, workers, args, extra)
    finally:
        if args.baseline:
            subprocess.run(["git", "-C", str(Path(__file__).resolve().parent.parent), "worktree", "remove", "--force",
                            str(workdir / "baseline")], capture_output=True)
    print(table(results))
    report = {"runs": results, "table": table(results), "rate": args.rate, "clients": args.clients,
              "seconds": args.seconds}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
