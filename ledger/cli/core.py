"""`ledger command TYPE PAYLOAD` and `ledger history ID`: any command, and any aggregate's events."""

from __future__ import annotations

import uuid
from typing import Annotated

import orjson
import typer

from ledger.cli import root as app, fail, open_ledger, user_errors


@app.command("command")
@user_errors
def command(
    command_type: Annotated[str, typer.Argument(help="e.g. place_order (see docs/commands.md)")],
    payload: Annotated[str, typer.Argument(help="the payload as JSON")],
    command_id: Annotated[str | None, typer.Option(help="idempotency key; a retry with the same id records nothing")] = None,
    actor: Annotated[str, typer.Option(help="who is acting")] = "cli",
    role: Annotated[str, typer.Option(help="the acting role")] = "administrator",
) -> None:
    """Execute one command through the application's rules (JSON in and out; money in integer øre)."""
    from ledger.domain.base import Context

    from ledger import strict_json

    try:
        body = strict_json.loads(payload)
    except strict_json.RepeatedKey as e:
        fail(f"payload: {e}")
    except ValueError as e:
        fail(f"payload is not valid JSON: {e}")
    if not isinstance(body, dict):
        fail("payload must be a JSON object")
    ledger = open_ledger()
    outcome = ledger.execute(command_type, body, Context(actor, role, command_id or str(uuid.uuid4())))
    typer.echo(orjson.dumps({"command_id": outcome.command_id, "position": outcome.position,
                             "replayed": outcome.replayed, "result": outcome.result}, option=orjson.OPT_INDENT_2).decode())


@app.command("history")
@user_errors
def history(aggregate_id: Annotated[str, typer.Argument(help="an aggregate id (uuid)")]) -> None:
    """Print every stored event of one aggregate, oldest first (JSON lines; money in integer øre)."""
    try:
        agg = uuid.UUID(aggregate_id)
    except ValueError:
        fail(f"{aggregate_id!r} is not a uuid")
    from ledger.cli.access import log_read

    ledger = open_ledger()
    try:
        events = ledger.history(agg)
        # An aggregate's events may be a citizen's or billing data: logged like the API's history reads.
        citizen = str(agg) if events and events[0]["event"] == "CitizenRegistered" else None
        log_read(ledger.db, "ledger history", "citizen-events" if citizen else "events", citizen_id=citizen,
                 municipality=events[0].get("municipality") if events else None, answer=events)
    finally:
        ledger.close()
    for event in events:
        typer.echo(orjson.dumps(event).decode())
