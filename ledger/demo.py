"""`ledger demo`: the two trial networks' history in a fresh embedded store, the read models built,
a short tour of where to look, then the API.

Steps: generate the `network` scale (1 in 20 recipients) to a temporary file → import it through
the application's rules (the invoice and reminder runs are part of the history) → rebuild every
projection → tour → serve. The tour calls the query modules that exist and says so when one does
not, so the demo works while parts of the ledger are still being written.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ledger.db import Database, parse_database_url

TOUR_DATE = "2019-06-30"  # the timeline is shown as effective on this date …
TOUR_KNOWN = "2019-07-15T00:00:00Z"  # … both as known now and as the records showed then


class DemoError(Exception):
    """The demo cannot start (e.g. the database already holds something it must not overwrite)."""


def prepare(url: str, fresh: bool, out: Console) -> None:
    """Make sure the demo starts from an empty store: an earlier SQLite demo file is moved aside
    (or deleted with `fresh`); a PostgreSQL schema is dropped only with `fresh`."""
    cfg = parse_database_url(url)
    if cfg.kind == "sqlite":
        path = Path(cfg.path)
        companions = [path.with_name(path.name + s) for s in ("-wal", "-shm")]
        if not path.exists():
            for c in companions:
                c.unlink(missing_ok=True)
            return
        if fresh:
            for p in (path, *companions):
                p.unlink(missing_ok=True)
            out.print(f"deleted the earlier demo database {path}")
            return
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        aside = path.with_name(f"{path.name}.{stamp}.bak")
        for p in (path, *companions):
            if p.exists():
                shutil.move(p, p.with_name(p.name.replace(path.name, aside.name, 1)))
        out.print(f"moved the earlier {path} aside to {aside} (use --fresh to delete it instead)")
        return
    import psycopg

    with psycopg.connect(cfg.conninfo, autocommit=True) as conn:
        found = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
                             (cfg.schema,)).fetchone()
        if found and found[0]:
            if not fresh:
                raise DemoError(f"schema {cfg.schema} already holds {found[0]} tables; "
                                "pass --fresh to drop it, or name an empty schema (?schema=...)")
            if cfg.schema == "public":
                raise DemoError("the demo will not drop the public schema; name a schema of its own (?schema=demo)")
            conn.execute(f'DROP SCHEMA "{cfg.schema}" CASCADE')
            out.print(f"dropped the earlier schema {cfg.schema}")


def _optional(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name != module:
            raise
        return None


def build(url: str, seed: int, factor: float | None, out: Console) -> dict[str, Any]:
    """Generate, import and rebuild; returns the generator's summary with the step timings added."""
    from ledger.application import Ledger
    from ledger.cli.data import print_summary, progress_bar, run_generate, run_import, settings_for

    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="ledger-demo-") as tmp:
        path = Path(tmp) / "network.jsonl"
        started = time.perf_counter()
        summary = run_generate("network", seed, None, path, factor)
        timings["generate"] = time.perf_counter() - started
        print_summary(summary)
        started = time.perf_counter()
        ledger = Ledger(settings_for(url))
        try:
            report = run_import(ledger, path, 2_000)
        finally:
            ledger.close()
        timings["import"] = time.perf_counter() - started
        out.print(f"imported {report.events:,} events in {report.seconds:.1f} s "
                  f"({report.events_per_second:,.0f} events/s)")
    from ledger.projections import all_projections
    from ledger.projections.engine import Engine

    db = Database(url)
    try:
        projections = all_projections()
        started = time.perf_counter()
        with progress_bar() as bar:
            task = bar.add_task(f"building {len(projections)} read models", total=1)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=max(total, 1))

            result = Engine(db, projections).rebuild(progress=progress)
        timings["rebuild"] = time.perf_counter() - started
        out.print(f"built {', '.join(p.name for p in projections) or 'no projections (none written yet)'} "
                  f"from {result['events']:,} events ({result['events_per_second']:,.0f} events/s)")
    finally:
        db.close()
    summary["timings"] = timings
    return summary


def _step(out: Console, title: str, fn: Callable[[], None]) -> None:
    out.rule(f"[bold]{title}")
    try:
        fn()
    except Exception as e:  # the tour shows what is there; a part still being written must not stop it
        out.print(f"[yellow]not available yet: {type(e).__name__}: {e}")


def tour(url: str, summary: dict[str, Any], out: Console) -> None:
    db = Database(url)
    try:
        _step(out, f"The timeline: the trial on {TOUR_DATE}", lambda: _timeline(db, out))
        _step(out, "An invoice and where every line comes from", lambda: _invoice(db, summary, out))
        _step(out, "The audit: signals it must find", lambda: _audit(db, summary, out))
        _step(out, "Verify: the chain over every stored event", lambda: _verify(db, out))
    finally:
        db.close()


def _timeline(db: Database, out: Console) -> None:
    q = _optional("ledger.projections.timeline_queries")
    if q is None:
        out.print("[yellow]the timeline queries are not written yet")
        return
    now = q.timeline(db, None, TOUR_DATE)
    then = q.timeline(db, None, TOUR_DATE, TOUR_KNOWN)
    then_by = {e["municipality"]: e for e in then["municipalities"]}
    table = Table(title=f"effective {TOUR_DATE}: as known now (and as the records showed on {TOUR_KNOWN[:10]})")
    for col in ("municipality", "in window", "covered grants", "buyers", "deliveries in month", "revenue (DKK)"):
        table.add_column(col, justify="left" if col == "municipality" else "right")
    for e in now["municipalities"]:
        t = then_by.get(e["municipality"], e)
        table.add_row(f"{e['name']} ({e['municipality']})", "yes" if e["scheme"]["window"] else "no",
                      f"{e['citizens_with_covered_grants']:,} ({t['citizens_with_covered_grants']:,})",
                      f"{e['buyers']} ({t['buyers']})" if not isinstance(e["buyers"], dict) else str(e["buyers"]),
                      f"{e['month']['deliveries']} ({t['month']['deliveries']})",
                      f"{e['month']['revenue']['gross'] / 100:,.2f}")
    out.print(table)
    out.print(f"API: GET /timeline?as_of={TOUR_DATE}&known_at={TOUR_KNOWN}")


def _invoice(db: Database, summary: dict[str, Any], out: Console) -> None:
    q = _optional("ledger.projections.billing_queries")
    if q is None:
        out.print("[yellow]the billing queries are not written yet")
        return
    chosen = None
    for m in summary["trial_municipalities"]:
        for inv in q.invoices(db, m):
            if inv["line_count"] >= 2 and (chosen is None or inv["credited"]):
                chosen = (m, inv["number"])
                if inv["credited"]:
                    break
        if chosen and chosen[0] == m:
            break
    if chosen is None:
        out.print("no invoices yet")
        return
    inv = q.invoice(db, *chosen)
    out.print(f"invoice [bold]{inv['number']}[/] for {inv['month']} to citizen {inv['citizen_id']}: gross "
              f"{inv['gross'] / 100:,.2f} DKK, issued {inv['issued_on']}, due {inv['due_on']}, "
              f"chain head {inv['chain_position']} ({str(inv['chain_hash'])[:12]}…)")
    for line in inv["lines"][:4]:
        p = line["provenance"]
        out.print(f"  line {line['line_no']}: {line['offer_name']} {line['service_date']} {line['billed_minutes']} min "
                  f"× {line['unit_price'] / 100:,.2f} → {line['gross'] / 100:,.2f} DKK; from order {p.get('order')}, "
                  f"delivery {p.get('delivery')}, price {p.get('price')}, grant {p.get('grant')}")
    for cn in inv["credit_notes"]:
        out.print(f"  credit note {cn['number']} ({cn['reason']}): {cn['gross'] / 100:,.2f} DKK")
    out.print(f"API: GET /municipalities/{chosen[0]}/invoices/{inv['number']}  ·  "
              f"recompute it from the log: ledger-replay invoice {inv['number']}")


def _audit(db: Database, summary: dict[str, Any], out: Console) -> None:
    q = _optional("ledger.projections.audit_queries")
    if q is None:
        out.print("[yellow]the audit queries are not written yet")
        return
    true = {c["order_id"] for c in summary["true_substitutions"]}
    found = []
    for m in summary["trial_municipalities"]:
        found += [(m, s) for s in q.substitution(db, m, 90)]
    hits = {o["order_id"] for _, s in found for o in s["orders"]}
    out.print(f"substitution signals (a cut in granted cleaning within 90 days of a cleaning order): "
              f"{len(found)}; the simulation bought back {len(true)} cuts, the signals name {len(true & hits)} of them")
    for m, s in found[:6]:
        o = s["orders"][0]
        out.print(f"  {m}: citizen {s['citizen_id']} {s['fsiii']} cut on {s['cut_on']} "
                  f"({s['minutes_before']} → {s['minutes_after']} min/week), order {o['offer_id']} from {o['start']} "
                  f"({o['days_after_cut']:+d} days)")
    out.print("API: GET /municipalities/{m}/audit")


def _verify(db: Database, out: Console) -> None:
    verify, store = _optional("replay.verify"), _optional("replay.store")
    if verify is None or store is None:
        out.print("[yellow]the replay tool is not written yet")
        return
    s = store.Store(db)
    check, steps = verify.check_chain(s, [])
    seconds = sum(step.seconds for step in steps) if steps and hasattr(steps[0], "seconds") else None
    state = "[green]intact[/]" if check.ok else f"[red]{check.problem_count} problems[/]"
    out.print(f"chain {state}: {check.checked:,} events checked"
              + (f" in {seconds:.1f} s" if seconds is not None else "")
              + "; the full check (every projection rebuilt and compared): ledger-replay verify")


def serve(url: str, host: str, port: int, out: Console) -> None:
    import os

    serve_module = _optional("ledger.cli.serve")
    if _optional("ledger.api.main") is None or serve_module is None:
        out.print("[yellow]the API is not written yet; nothing to serve")
        return
    os.environ["LEDGER_DATABASE_URL"] = url
    out.print(f"API docs: http://{host}:{port}/docs   (Ctrl-C to stop)")
    serve_module.serve(host=host, port=port, dev_token=True, workers=1, log_format="")


def run_demo(url: str, *, fresh: bool = False, seed: int = 1, serve_api: bool = True, host: str = "127.0.0.1",
             port: int = 8000, factor: float | None = None) -> dict[str, Any]:
    out = Console()
    started = time.perf_counter()
    try:
        prepare(url, fresh, out)
    except DemoError as e:
        from ledger.cli import fail

        fail(str(e))
    summary = build(url, seed, factor, out)
    summary["timings"]["setup"] = time.perf_counter() - started
    tour(url, summary, out)
    out.rule()
    out.print(f"set up in {summary['timings']['setup']:.1f} s "
              f"(generate {summary['timings']['generate']:.1f}, import {summary['timings']['import']:.1f}, "
              f"read models {summary['timings']['rebuild']:.1f}); the store: {url}")
    if serve_api:
        serve(url, host, port, out)
    return summary
