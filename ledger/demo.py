"""`ledger demo`: the two trial networks' history in a fresh embedded store, the read models built,
a short tour of where to look, then the API.

Steps: generate the `network` scale (1 in 20 recipients) to a temporary file → import it through
the application's rules (the invoice and reminder runs are part of the history) → rebuild every
projection → tour → serve. The tour calls the query modules that exist and says so when one does
not, so the demo works while parts of the ledger are still being written.

The store is LEDGER_DATABASE_URL (or `--db`; default `sqlite:///ledger.db`). A store the demo
built is marked as the demo's (SQLite: the file's application id; PostgreSQL: a comment on the
schema), so the next demo replaces it without leaving copies behind; any other store is left
alone unless `--fresh` is given. Every command and API path the tour prints is one that answers
on the demo's data (tests/e2e/test_readme_examples.py runs them).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from ledger.cli.tables import kr, render
from ledger.db import Database, parse_database_url

# The timeline is shown as effective on this date (every trial municipality is in its window by
# then, the last ones from 2018-06-01, and some sold in the month at every demo scale) …
TOUR_DATE = "2019-05-31"
TOUR_KNOWN = "2019-06-15T00:00:00Z"  # … both as known now and as the records showed then

# The municipality and month the README's examples use. Take-up follows the trial documents (about
# 1 % a year), so most municipality-months have no sale at the demo's scales; København has invoices
# in April 2018 (with three lines or more) both at the smallest scale the examples are checked on
# and at the default (--factor 0.05), and its substitution signal, back-dated grant end and price
# correction (ledger/demo_corrections.py) are there at both too.
EXAMPLE_MUNICIPALITY = "København"
EXAMPLE_MUNICIPALITY_CODE = 101
EXAMPLE_MONTH = "2018-04"
# The smallest scale the examples are checked on (and the tests use): at 0.005 the whole trial holds
# three invoices, one line each, and no substitution signal, too little for the examples to answer.
SMALLEST_FACTOR = 0.01

# SQLite's application id (a 32-bit number in the file's header) marks a store the demo built: "LDEM".
DEMO_APPLICATION_ID = 0x4C44454D
DEMO_SCHEMA_COMMENT = "ledger demo (ledger demo replaces it on its next run)"


class DemoError(Exception):
    """The demo cannot start (e.g. the database already holds something it must not overwrite)."""


def prepare(url: str, fresh: bool, out: Console) -> None:
    """Make sure the demo starts from an empty store. An earlier demo's store is replaced (deleted
    before the new one is built: no copies are left behind); a store the demo did not build is
    deleted only with `fresh`, else the demo stops and says what to do."""
    cfg = parse_database_url(url)
    if cfg.kind == "sqlite":
        path = Path(cfg.path)
        companions = [path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal")]
        if path.exists():
            earlier = _sqlite_is_demo(path)
            if not (earlier or fresh):
                raise DemoError(f"{path} holds a store the demo did not build; pass --fresh to delete it, or "
                                "build the demo elsewhere (--db sqlite:///demo.db or LEDGER_DATABASE_URL)")
            path.unlink()
            out.print(f"replaced the earlier demo store {path}" if earlier else f"deleted {path} (--fresh)")
        for c in companions:
            c.unlink(missing_ok=True)
        return
    import psycopg

    with psycopg.connect(cfg.conninfo, autocommit=True) as conn:
        found = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
                             (cfg.schema,)).fetchone()
        if found and found[0]:
            comment = conn.execute("SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s",
                                   (cfg.schema,)).fetchone()
            earlier = bool(comment and comment[0] == DEMO_SCHEMA_COMMENT)
            if not (earlier or fresh):
                raise DemoError(f"schema {cfg.schema} already holds {found[0]} tables the demo did not build; "
                                "pass --fresh to drop it, or name an empty schema (?schema=demo)")
            if cfg.schema == "public":
                raise DemoError("the demo will not drop the public schema; name a schema of its own (?schema=demo)")
            conn.execute(f'DROP SCHEMA "{cfg.schema}" CASCADE')
            out.print(f"replaced the earlier demo schema {cfg.schema}" if earlier
                      else f"dropped the schema {cfg.schema} (--fresh)")


def _sqlite_is_demo(path: Path) -> bool:
    import sqlite3

    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            return conn.execute("PRAGMA application_id").fetchone()[0] == DEMO_APPLICATION_ID
    except sqlite3.DatabaseError:  # not a SQLite file at all: certainly not the demo's
        return False


def mark(url: str) -> None:
    """Mark the store as the demo's, so the next `ledger demo` may replace it."""
    cfg = parse_database_url(url)
    if cfg.kind == "sqlite":
        import sqlite3

        with sqlite3.connect(cfg.path) as conn:
            conn.execute(f"PRAGMA application_id = {DEMO_APPLICATION_ID}")
        return
    if cfg.schema == "public":
        return  # never claimed: a later demo must not drop the public schema
    import psycopg

    with psycopg.connect(cfg.conninfo, autocommit=True) as conn:
        conn.execute(f"COMMENT ON SCHEMA \"{cfg.schema}\" IS '{DEMO_SCHEMA_COMMENT}'")


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
        mark(url)  # before the import: an interrupted demo's store is still the demo's to replace
        try:
            report = run_import(ledger, path, 2_000, resumable=False)
            # The demo's back-dated corrections (ledger/demo_corrections.py) join here, on the open `ledger`
            # with the generator's `summary` at hand, before the read models are built.
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


def _cmd(out: Console, line: str) -> None:
    """A command or API path, printed whole on one line (never wrapped) so it can be copied."""
    out.print(line, soft_wrap=True, markup=False, highlight=False)


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
        from ledger.demo_corrections import plant_and_show  # issue 11: a correction reaches the money
        _step(out, "Corrections reach the money: re-rating and reconciliation", lambda: plant_and_show(url, summary, out))
        _step(out, "Where the corrections show", lambda: _corrections(db, summary, out))
        _step(out, "Verify: the chain over every stored event", lambda: _verify(db, out))
        _step(out, "Try next (the README's examples, on this data)", lambda: _next(out))
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
    rows = []
    for e in now["municipalities"]:
        t = then_by.get(e["municipality"], e)
        rows.append({
            "municipality": f"{e['name']} ({e['municipality']})", "in_window": "yes" if e["scheme"]["window"] else "no",
            "covered_grants": f"{e['citizens_with_covered_grants']:,} ({t['citizens_with_covered_grants']:,})",
            "buyers": f"{e['buyers']} ({t['buyers']})" if not isinstance(e["buyers"], dict) else str(e["buyers"]),
            "deliveries_in_month": f"{e['month']['deliveries']} ({t['month']['deliveries']})",
            "revenue": e["month"]["revenue"]["gross"]})
    render(out, f"effective {TOUR_DATE}: as known now (and as the records showed on {TOUR_KNOWN[:10]})",
           ("municipality", "in_window", "covered_grants", "buyers", "deliveries_in_month", "revenue"), rows,
           money=("revenue",))
    _cmd(out, f"  $ ledger timeline --municipality all --as-of {TOUR_DATE} --known-at {TOUR_KNOWN}")
    _cmd(out, f"  API: GET /timeline?as_of={TOUR_DATE}&known_at={TOUR_KNOWN}")


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
              f"{kr(inv['gross'])}, issued {inv['issued_on']}, due {inv['due_on']}, "
              f"chain head {inv['chain_position']} ({inv['chain_hash']})")
    for line in inv["lines"][:4]:
        p = line["provenance"]
        out.print(f"  line {line['line_no']}: {line['offer_name']} {line['service_date']} {line['billed_minutes']} min "
                  f"× {kr(line['unit_price'])} → {kr(line['gross'])}; from order {p.get('order')}, "
                  f"delivery {p.get('delivery')}, price {p.get('price')}, grant {p.get('grant')}")
    for cn in inv["credit_notes"]:
        out.print(f"  credit note {cn['number']} ({cn['reason']}): {kr(cn['gross'])}")
    _cmd(out, f"  $ ledger billing invoice {inv['number']} --municipality {chosen[0]}")
    _cmd(out, f"  $ ledger-replay invoice {inv['number']}    # recomputes it from the log")
    _cmd(out, f"  API: GET /billing/invoices/{inv['number']}")


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
    # Prices off full cost (either way), as the audit finds them: none is planted, so often none.
    # Both directions, as `ledger audit --section full-cost` reports them (below: a cross-subsidy;
    # above: profit), within the configured rounding tolerance.
    from ledger.settings import Settings

    tolerance = Settings.from_env().full_cost_tolerance_bp
    priced = [(m, r) for m in summary["trial_municipalities"]
              for r in q.full_cost(db, m, direction="both", tolerance_bp=tolerance)]
    if priced:
        out.print(f"  {len(priced)} price versions are off full cost; the first:")
    for m, r in priced[:3]:
        out.print(f"  off full cost ({r['direction']}): {r['offer_id']} in {m} from {r['in_force_from']} to "
                  f"{r['in_force_to']}: prices {', '.join(kr(p) for p in r['prices'].values())} vs cost "
                  f"{', '.join('not stated' if c is None else kr(c) for c in r['costs'].values())}")
    if not priced:
        out.print("  every price equals its full cost, within rounding (the audit's full-cost section is empty)")
    if found:  # only what answers: at a small scale there may be no signal at all
        _cmd(out, "  $ ledger audit --municipality all --section substitution")
        _cmd(out, f"  API: GET /audit?municipality={found[0][0]}&section=substitution")
    for m, _r in priced[:1]:
        _cmd(out, f"  $ ledger audit --municipality {m} --section full-cost")
        _cmd(out, f"  API: GET /audit?municipality={m}&section=full_cost")


def _corrections(db: Database, summary: dict[str, Any], out: Console) -> None:
    """The commands and paths that show the planted corrections, for the municipality they landed in
    (the one whose debit notes, ineligible deliveries or both the audit and billing now hold)."""
    bq, aq = _optional("ledger.projections.billing_queries"), _optional("ledger.projections.audit_queries")
    if bq is None or aq is None:
        out.print("[yellow]the billing or audit queries are not written yet")
        return
    shown = False
    for m in summary["trial_municipalities"]:
        debit, ineligible = bq.debit_notes(db, m), aq.ineligible(db, m)
        if not (debit or ineligible):
            continue
        shown = True
        out.print(f"municipality {m}: {len(debit)} debit notes, {len(ineligible)} deliveries no longer eligible")
        _cmd(out, f"  $ ledger billing reconcile --municipality {m}")
        _cmd(out, f"  API: GET /billing/reconciliation?municipality={m}")
        if debit:
            _cmd(out, f"  $ ledger billing debit-notes --municipality {m}")
        if ineligible:
            _cmd(out, f"  $ ledger audit --municipality {m} --section ineligible")
            _cmd(out, f"  API: GET /audit?municipality={m}&section=ineligible")
        break
    if not shown:
        out.print("no correction reached an issued document")


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
              + "; the full check rebuilds every projection and compares:")
    _cmd(out, "  $ ledger-replay verify")


def example_commands() -> list[str]:
    """The README's examples (README.md, "What you can run"), on the municipality and month where
    the demo has data at every scale."""
    m, month = EXAMPLE_MUNICIPALITY, EXAMPLE_MONTH
    month_end = _month_end(month)
    return [
        f"ledger billing invoices --municipality {m} --month {month}",
        f"ledger billing export --municipality {m} --month {month} --out koebenhavn-{month}.csv",
        f"ledger timeline --municipality {m} --as-of {month_end} --known-at {month_end}T23:59:59Z",
        "ledger audit --municipality all --section substitution",
        f"ledger billing reconcile --municipality {m}",
        "ledger projections status",
    ]


def _month_end(month: str) -> str:
    import calendar

    year, mon = (int(x) for x in month.split("-"))
    return f"{month}-{calendar.monthrange(year, mon)[1]:02d}"


def _next(out: Console) -> None:
    for command in example_commands():
        _cmd(out, f"  $ {command}")
    out.print("  (tables show money in kroner; add -f csv or -f json for integer øre)")


def port_free(host: str, port: int) -> bool:
    from ledger.cli.serve import port_free as free

    return free(host, port)


def serve(url: str, host: str, port: int, out: Console) -> None:
    import os

    serve_module = _optional("ledger.cli.serve")
    if _optional("ledger.api.main") is None or serve_module is None:
        out.print("[yellow]the API is not written yet; nothing to serve")
        return
    if not port_free(host, port):
        from ledger.cli import fail

        fail(f"port {port} on {host} was taken meanwhile, so the demo does not serve; its store is ready: "
             f"`ledger serve --dev-token --port {port + 1}` serves it")
    os.environ["LEDGER_DATABASE_URL"] = url
    out.rule("[bold]Serving the API")
    out.print(f"serving the API on http://{host}:{port} (docs: http://{host}:{port}/docs); it runs until you press "
              f"Ctrl-C. Port {port} is taken meanwhile (--port N for another, --no-serve to skip serving).")
    serve_module.serve(host=host, port=port, dev_token=True, workers=1, log_format="")
    out.print(f"stopped serving; the demo's store stays in {url} (`ledger serve --dev-token` serves it again)")


def run_demo(url: str, *, fresh: bool = False, seed: int = 1, serve_api: bool = True, host: str = "127.0.0.1",
             port: int = 8000, factor: float | None = None) -> dict[str, Any]:
    out = Console()
    started = time.perf_counter()
    if serve_api and not port_free(host, port):  # say so now, not after the build
        from ledger.cli import fail

        fail(f"port {port} on {host} is in use (another `ledger serve` or `ledger demo`?); "
             f"pass --port {port + 1}, or --no-serve to build the demo without serving it")
    try:
        prepare(url, fresh, out)
    except DemoError as e:
        from ledger.cli import fail

        fail(str(e))
    try:
        summary = build(url, seed, factor, out)
    except KeyboardInterrupt:
        from ledger.cli import fail

        fail(f"interrupted: the demo's store {url} is incomplete; run `ledger demo` again (it replaces its own "
             "store)", code=130)
    summary["timings"]["setup"] = time.perf_counter() - started
    tour(url, summary, out)
    out.rule()
    out.print(f"set up in {summary['timings']['setup']:.1f} s "
              f"(generate {summary['timings']['generate']:.1f}, import {summary['timings']['import']:.1f}, "
              f"read models {summary['timings']['rebuild']:.1f}); the store: {url}")
    if url != "sqlite:///ledger.db":
        out.print(f"the other commands read it with --db {url} (or LEDGER_DATABASE_URL={url})")
    if serve_api:
        serve(url, host, port, out)
    return summary
