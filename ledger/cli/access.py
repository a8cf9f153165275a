"""The access log from the command line (domain.md §4: reads of personal or financial data are
logged: who, when, what).

The `ledger` reads that show a citizen's data or billing data write the log the API writes
(ledger/access_log.py), the actor being the OS user as `cli:<user>` and the route the command
(`ledger billing invoices`); `ledger access-log` reads it, and that read is logged too, as the
API's is. The CLI has no roles: whoever may open the store may read it, so only "who" is known.
"""

from __future__ import annotations

import getpass
import os
import uuid
from typing import Annotated, Any

import orjson
import typer

from ledger.cli import fail, root as app, settings, user_errors

ROLE = "cli"  # the API records the caller's role; the command line has none, only the OS user


def cli_user() -> str:
    """`cli:<the OS user>` (the uid where the system names no user, as in some containers)."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = str(os.getuid())
    return f"cli:{name}"


def log_read(db: Any, route: str, what: str, *, citizen_id: str | None = None, municipality: int | None = None,
             answer: Any = None) -> None:
    """Record one read by the command `route` (`ledger billing invoices`): `what` is named as the
    API names it (`billing:invoices`); with `answer`, one entry per citizen it shows."""
    from ledger.access_log import Access, AccessLog, citizens_shown

    log = AccessLog(db)
    log.ensure_table_if_missing()
    shown = citizens_shown(answer) if answer is not None else None
    if citizen_id is not None and shown:
        shown = list(dict.fromkeys([citizen_id, *shown]))
    log.record(Access(str(uuid.uuid4()), cli_user(), ROLE, "CLI", route, route, what, citizen_id, municipality),
               shown)


COLUMNS = ("id", "at", "request_id", "user_id", "role", "method", "route", "path", "what", "citizen_id",
           "municipality", "outcome")
SHOWN = ("id", "at", "user_id", "route", "what", "citizen_id", "municipality", "outcome")  # a table that fits


@app.command("access-log")
@user_errors
def access_log(
    user: Annotated[str | None, typer.Option("--user", help="only this user (`cli:<name>` for the command line)",
                                             show_default=False)] = None,
    citizen: Annotated[str | None, typer.Option("--citizen", help="only reads that showed this citizen (pseudonym)",
                                                show_default=False)] = None,
    municipality: Annotated[str | None, typer.Option("--municipality", "-m", help="code or name",
                                                     show_default=False)] = None,
    since: Annotated[str | None, typer.Option("--since", help="from this instant or date, inclusive (UTC)",
                                              show_default=False)] = None,
    until: Annotated[str | None, typer.Option("--until", help="before this instant or date, exclusive (UTC)",
                                              show_default=False)] = None,
    after_id: Annotated[int, typer.Option("--after-id", min=0, max=2**53 - 1, help="entries after this id")] = 0,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="at most this many entries")] = 100,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json or csv")] = "table",
) -> None:
    """Who read which citizen's or billing data, when, through which route or command (oldest first)."""
    from ledger.access_log import AccessLog, bounds
    from ledger.db import Database
    from ledger.domain.municipalities import municipality_code

    if fmt not in ("table", "json", "csv"):
        fail(f"--format must be table, json or csv, got {fmt!r}")
    if citizen is not None:
        try:
            citizen = str(uuid.UUID(citizen))
        except ValueError:
            fail(f"--citizen must be a citizen's pseudonymous id (a uuid), got {citizen!r}")
    code = municipality_code(municipality) if municipality is not None else None
    low, high = bounds(since, until)
    db = Database(settings().database_url)
    try:
        db.ensure_schema()
        log = AccessLog(db)
        log.ensure_table_if_missing()
        entries = log.entries(municipalities=None, user=user, citizen_id=citizen, municipality=code, since=low,
                              until=high, after_id=after_id, limit=limit)
        log_read(db, "ledger access-log", "access-log", citizen_id=citizen, municipality=code)
    finally:
        db.close()
    if fmt == "json":
        typer.echo(orjson.dumps({"entries": entries, "next_after_id": entries[-1]["id"] if len(entries) == limit
                                 else None}, option=orjson.OPT_INDENT_2).decode())
        return
    if fmt == "csv":
        from ledger.cli.csvout import write_rows

        write_rows("-", COLUMNS, entries, frozenset(), "plain")
        return
    from rich.console import Console

    from ledger.cli.tables import render

    console = Console()
    if not entries:
        console.print("no entries")
        return
    render(console, "Access log", SHOWN, entries, frozenset())
