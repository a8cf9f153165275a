"""`ledger generate`, `ledger import` and `ledger demo`: trial history in, through the front door."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ledger.cli import root as app, fail, user_errors


def progress_bar(*, rate: bool = False) -> Any:
    """A rich progress bar; with `rate`, a column of events per second (fields.rate)."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns: list[Any] = [TextColumn("[bold]{task.description}"), BarColumn(), TaskProgressColumn()]
    if rate:
        columns.append(TextColumn("{task.fields[rate]}"))
    columns += [TimeElapsedColumn(), TimeRemainingColumn()]
    return Progress(*columns, transient=False)


def settings_for(db: str | None) -> Any:
    from ledger.cli import settings

    loaded = settings()
    return loaded.replace(database_url=db) if db else loaded


def run_generate(scale_name: str, seed: int, take_up: float | None, out: Path, factor: float | None = None,
                 quiet: bool = False, rates: list[str] | None = None) -> dict[str, Any]:
    """Generate with a progress bar; returns the summary."""
    from ledger.generate import SCALES, generate
    from ledger.generate.behaviour import parse_rates

    if scale_name not in SCALES:
        fail(f"--scale must be one of {', '.join(SCALES)}, got {scale_name!r}")
    behaviour = parse_rates(rates or [])
    if take_up is not None and not 0 <= take_up <= 1:
        fail(f"--take-up is a share of recipients a year between 0 and 1, got {take_up}")
    scale = SCALES[scale_name]
    if factor is not None:
        if not 0 < factor <= 1:
            fail(f"--factor must be above 0 and at most 1, got {factor}")
        scale = dataclasses.replace(scale, factor=factor, name=f"{scale_name}-x{factor:g}")
    if not out.parent.exists():
        fail(f"the folder {out.parent} does not exist")
    with progress_bar() as bar:
        tasks: dict[str, Any] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if quiet:
                return
            label = {"citizens": "citizens' lives", "writing": "lines in recorded order"}[phase]
            if phase not in tasks:
                tasks[phase] = bar.add_task(label, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        summary = generate(scale, seed, out, take_up=take_up, progress=progress, behaviour=behaviour)
    return summary


def print_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console

    out = Console()
    out.print(f"[bold]{summary['lines']:,}[/] commands for [bold]{summary['citizens']:,}[/] citizens "
              f"in {summary['municipalities']} municipalities ({summary['scale']}, seed {summary['seed']}, "
              f"take-up {summary['take_up']:.2%} a year), {summary['seconds']} s")
    if summary["recipients_factor"] != 1:
        out.print(f"recipients scaled by {summary['recipients_factor']:g}: {summary['recipients_at_start']:,} "
                  "at the start instead of the real number (2.65 % of the population)")
    out.print(f"buyers {summary['buyers']:,}, orders {summary['orders']:,}, deliveries {summary['deliveries']:,}, "
              f"invoices about {summary['invoices_expected']:,}")
    out.print(f"the simulation's ground truth ({summary['truth']}): {summary['cleaning_cuts']:,} cuts in granted "
              f"cleaning, {len(summary['true_substitutions'])} bought back, "
              f"{len(summary['true_vat_mismatches'])} sales under a VAT class that does not fit the grants")


@app.command("generate")
@user_errors(store=False)
def generate_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="the file to write (JSON lines)")],
    scale: Annotated[str, typer.Option(help="network (the two trial networks) or national (98 municipalities)")]
    = "network",
    seed: Annotated[int, typer.Option(help="same seed, same file, byte for byte")] = 1,
    take_up: Annotated[float | None, typer.Option("--take-up", help="first purchases per eligible recipient "
                                                     "a year (default: tuned to the published 0.5 %)")] = None,
    rate: Annotated[list[str] | None, typer.Option("--rate", help="a behaviour rate, NAME=VALUE (repeatable; "
                                                   "see ledger/generate/behaviour.py)")] = None,
    factor: Annotated[float | None, typer.Option(help="recipients as a share of the real number "
                                                     "(network: 0.05, national: 1)")] = None,
    summary_file: Annotated[Path | None, typer.Option("--summary", help="also write the summary as JSON")] = None,
) -> None:
    """Write a seeded, realistic trial history as an import file (see docs/import-format.md)."""
    if str(out) == "-":
        fail("--out names the import file to write (the summary goes to standard output)")
    summary = run_generate(scale, seed, take_up, out, factor, rates=rate)
    print_summary(summary)
    if summary_file is not None:
        summary_file.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    typer.echo(f"wrote {out}")


def _rate(report: Any) -> str:
    """What the import is doing: a resumed run first skips what is stored, which records no events,
    so the skipped lines are counted (and a lines-per-second rate shown) instead of 0 events/s."""
    seconds = max(report.seconds, 1e-9)
    done = report.applied + report.replayed
    text = f"{done:,} lines ({report.replayed:,} already stored) · {done / seconds:,.0f} lines/s"
    return text + (f" · {report.events_per_second:,.0f} events/s" if report.applied else "")


def run_import(ledger: Any, path: Path, batch: int, quiet: bool = False, resumable: bool = True) -> Any:
    """Import with a progress bar (bytes read, lines done and skipped); exits 2 on a bad line and
    130 on Ctrl-C, each time saying what is stored and that running it again resumes."""
    from ledger.importer import Importer, LineRejected

    importer = Importer(ledger, batch_size=batch)
    with progress_bar(rate=True) as bar:
        task = bar.add_task("importing", total=path.stat().st_size, rate="", visible=not quiet)

        def progress(done: int, total: int, report: Any) -> None:
            bar.update(task, completed=done, rate=_rate(report))

        try:
            report = importer.run(path, progress)
        except LineRejected as e:
            bar.stop()
            stored = importer.report.applied
            fail(f"{path}:{e.line_no}: {e.reason}\nnothing of that line's batch was stored"
                 + (f"; the {stored:,} commands before it are stored, and running the import again skips them"
                    if stored else ""))
        except KeyboardInterrupt:
            bar.stop()
            if not resumable:  # the caller says what an interruption means for it
                raise
            r = importer.report
            done = r.applied + r.replayed
            fail(f"interrupted: the first {done:,} lines are stored ({r.applied:,} commands applied now, "
                 f"{r.replayed:,} were already stored); a batch is stored whole or not at all, so nothing is "
                 f"half-written. Run the same import again to resume: it skips the stored lines.", code=130)
    return report


@app.command("import")
@user_errors
def import_command(
    file: Annotated[Path, typer.Argument(help="JSON lines, one command a line (docs/import-format.md)")],
    batch: Annotated[int, typer.Option(help="commands stored together in one transaction")] = 2_000,
    db: Annotated[str | None, typer.Option(help="database URL (default: LEDGER_DATABASE_URL)")] = None,
) -> None:
    """Apply a file of commands through the ledger's rules, in batches; a re-run skips what is stored."""
    from ledger.application import Ledger

    if not file.is_file():
        fail(f"no such file: {file}")
    if batch < 1 or batch > 20_000:
        fail(f"--batch must be between 1 and 20000, got {batch}")
    # A migration's runs publish what they read of the log, not the billing digest (each would
    # digest the whole billing tables): `ledger-replay verify-runs` recomputes it (ADR 0021).
    ledger = Ledger(settings_for(db).replace(run_billing_digest=False))
    try:
        report = run_import(ledger, file, batch)
    finally:
        ledger.close()
    typer.echo(f"{report.lines:,} lines: {report.applied:,} commands applied, {report.replayed:,} already stored; "
               f"{report.events:,} events in {report.seconds:.1f} s ({report.events_per_second:,.0f} events/s)")


@app.command("demo")
@user_errors
def demo_command(
    serve: Annotated[bool, typer.Option("--serve/--no-serve", help="serve the API after the tour")] = True,
    db: Annotated[str | None, typer.Option(
        help="where to build the demo (default: LEDGER_DATABASE_URL, else sqlite:///ledger.db)",
        show_default=False)] = None,
    fresh: Annotated[bool, typer.Option(help="delete a store the demo did not build (an earlier demo's store is "
                                             "always replaced)")] = False,
    seed: Annotated[int, typer.Option(help="seed of the generated trial")] = 1,
    host: Annotated[str, typer.Option(help="address to serve on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to serve on (checked before building)")] = 8000,
    factor: Annotated[float | None, typer.Option(help="recipients as a share of the real number (default 0.05)")]
    = None,
) -> None:
    """Generate the trial networks' history, import it, build the read models, show where to look, serve."""
    from ledger.demo import run_demo

    run_demo(settings_for(db).database_url, fresh=fresh, seed=seed, serve_api=serve, host=host, port=port, factor=factor)
