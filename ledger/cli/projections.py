"""`ledger projections status|rebuild|catch-up|follow`: the read models' positions, and bringing them up to date.

A rebuild reads the whole log into fresh tables and swaps them in only when complete, so readers
never see half a rebuild. Catch-up applies what is new, in steps, so a long one shows progress.
Follow keeps catching up until stopped: the process `ledger serve` starts for that on PostgreSQL.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer

from ledger.cli import root as app, database_url, fail, settings, user_errors

projections = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Projection positions, catch-up and rebuild.")
app.add_typer(projections, name="projections")

# Positions per catch-up step: small enough for a lively progress bar, large enough to stay fast.
STEP = 50_000

NameArg = Annotated[str | None, typer.Argument(help="one projection (default: all)", show_default=False)]


def _engine() -> tuple[Any, Any]:
    from ledger.db import Database
    from ledger.projections import all_projections
    from ledger.projections.engine import Engine

    db = Database(database_url())
    db.ensure_schema()
    return db, Engine(db, all_projections())


def _names(engine: Any, name: str | None) -> list[str] | None:
    if name is None:
        return None
    if name not in engine.projections:
        fail(f"unknown projection {name!r}; known: {', '.join(sorted(engine.projections))}")
    return [name]


def _progress() -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    transient=False)


@projections.command("status")
@user_errors
def status(fmt: Annotated[str, typer.Option("--format", "-f", help="table or json")] = "table") -> None:
    """Each projection's tracked position, the head of the log, and the lag between them."""
    if fmt not in ("table", "json"):
        fail(f"--format must be table or json, got {fmt!r}")
    db, engine = _engine()
    try:
        rows = engine.status()
    finally:
        db.close()
    if fmt == "json":
        typer.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Projections")
    for column in ("name", "position", "head", "lag", "version", "state"):
        table.add_column(column, justify="right" if column in ("position", "head", "lag") else "left")
    for r in rows:
        state = "needs rebuild" if r["needs_rebuild"] else ("never run" if r["version"] is None else
                                                            ("caught up" if r["lag"] == 0 else "behind"))
        table.add_row(r["name"], str(r["position"]), str(r["head"]), str(r["lag"]), str(r["code_version"]), state)
    Console().print(table)


@projections.command("rebuild")
@user_errors
def rebuild(
    name: NameArg = None,
    jobs: int = typer.Option(0, "--jobs", min=0, help="worker processes (0: one per core on a large log)"),
) -> None:
    """Rebuild from the first event into fresh tables, then swap them in (all at once)."""
    db, engine = _engine()
    try:
        names = _names(engine, name)
        with _progress() as bar:
            task = bar.add_task(f"rebuilding {name or 'all projections'}", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            try:
                result = engine.rebuild(names, progress=progress, jobs=jobs or None)
            except KeyboardInterrupt:
                bar.stop()
                again = f"ledger projections rebuild {name}" if name else "ledger projections rebuild"
                fail("interrupted: a rebuild is swapped in only when complete, so the read models are as they "
                     f"were; run `{again}` again to rebuild", code=130)
    finally:
        db.close()
    typer.echo(f"rebuilt {', '.join(result['projections'])}: {result['events']} events to position "
               f"{result['position']} in {result['seconds']:.1f} s ({result['events_per_second']:,.0f} events/s)")


@projections.command("catch-up")
@user_errors
def catch_up(name: NameArg = None) -> None:
    """Apply every event recorded since each projection's position."""
    from ledger.projections.engine import NeedsRebuild
    from ledger.projections.reader import head_position

    db, engine = _engine()
    try:
        names = _names(engine, name)
        chosen = names or list(engine.projections)
        start = min((r["position"] for r in engine.status() if r["name"] in chosen), default=0)
        head = head_position(db)
        reached: dict[str, int] = {}
        with _progress() as bar:
            task = bar.add_task(f"catching up {name or 'all projections'}", total=max(head - start, 0))
            until = start
            while True:
                until = min(until + STEP, head)
                try:
                    reached = engine.catch_up(names, until=until)
                except NeedsRebuild as e:
                    fail(f"{e}; run: ledger projections rebuild {name or ''}".rstrip())
                except KeyboardInterrupt:
                    bar.stop()
                    done = max(until - STEP, start)  # the last step that finished
                    fail(f"interrupted: {name or 'the projections'} caught up to position {done:,} at least "
                         "(each step is stored whole); `ledger projections catch-up` again resumes from there",
                         code=130)
                bar.update(task, completed=until - start)
                if until >= head:
                    break
    finally:
        db.close()
    typer.echo(", ".join(f"{n} at {p}" for n, p in reached.items()) or "no projections")


# The line `ledger projections follow` prints once it holds the lead, and once when another process
# holds it; `ledger serve` waits for either before its workers start (so they find the lead taken).
LEADING = "leading the projection catch-up"
WATCHING = "another process leads the projection catch-up"


@projections.command("follow")
@user_errors
def follow(
    interval: Annotated[float, typer.Option(min=0.05, max=60.0,
                                            help="seconds between catch-ups (a query that waits asks at once)")] = 0.5,
    nice: Annotated[int, typer.Option(min=0, max=19, help="lower this process's CPU priority by this much")] = 0,
    until_stdin_closes: Annotated[bool, typer.Option(hidden=True)] = False,
) -> None:
    """Keep every projection caught up with the log until stopped (Ctrl-C or SIGTERM).

    On PostgreSQL this is the process `ledger serve` starts for the catch-up; run it yourself (one
    per schema is enough; a second one waits and takes over when the first stops) with
    LEDGER_API_FOLLOWER_PROCESS=0 for the servers."""
    import os
    import signal
    import sys
    import threading

    from ledger.api.logs import configure_logging
    from ledger.projections.follower import Follower

    configure_logging(settings().log_format)
    if nice:
        os.nice(nice)
    db, engine = _engine()
    follower = Follower(db, interval, engine)
    # SIGTERM stops it as Ctrl-C does: the loop may be waiting on PostgreSQL for an interval.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if until_stdin_closes:  # started by `ledger serve`: stop with it, even when it was killed
        def parent_gone() -> None:
            # The raw descriptor, not sys.stdin: a daemon thread inside a buffered read holds its
            # lock, and the interpreter then dies on that lock at exit.
            while os.read(sys.stdin.fileno(), 4096):
                pass  # end of file: the parent closed the pipe, or died
            follower.request_stop()

        threading.Thread(target=parent_gone, name="ledger-follow-parent", daemon=True).start()
    where = db.config.schema if db.is_postgres else database_url()
    if not follower.leads():
        typer.echo(f"{WATCHING} of {where}; this one takes over when it stops")
    try:
        follower.run(on_lead=lambda: typer.echo(f"{LEADING} of {where} (every {interval:g} s)"))
    except KeyboardInterrupt:
        pass
    finally:
        follower.stop()
        db.close()
