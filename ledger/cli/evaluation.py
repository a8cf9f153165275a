"""`ledger export evaluation` (the evaluators' export as of (D, K)) and `ledger citizen as-of`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ledger.cli import fail, user_errors
from ledger.cli import root as app
from ledger.cli.reports import CatchUpOpt, MunicipalityOpt, _database, _date, _municipalities, export

citizen_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="One citizen's history as of a date and as known at an instant.")
app.add_typer(citizen_app, name="citizen")


def _instant(value: str | None) -> str | None:
    """--known-at: an ISO instant (a bare date means the end of that day, UTC)."""
    if value is None:
        return None
    from datetime import datetime, timezone

    from ledger.domain.values import plausible_date

    text = value.strip()
    try:
        if len(text) == 10:
            day = datetime.fromisoformat(text)
            plausible_date(day.date(), "known_at")
            return day.replace(hour=23, minute=59, second=59, tzinfo=timezone.utc).isoformat()
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--known-at must be an ISO date or instant like 2019-07-15T00:00:00Z, got {value!r}")
    plausible_date(parsed.date(), "known_at")  # as written, like the API's known_at
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).isoformat()


@export.command("evaluation")
@user_errors
def export_evaluation(
    municipality: MunicipalityOpt,
    out: Annotated[str, typer.Option("--out", help="directory for the files (created if missing)")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="effective date D (default: the whole trial)")] = None,
    known_at: Annotated[str | None, typer.Option("--known-at", help="as the records showed at K (default: now)")]
    = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet")] = "csv",
    at_position: Annotated[int | None, typer.Option("--at-position", min=0, help="export the live read models "
                                                    "at exactly this log position (refused once they are past it)")]
    = None,
    catch_up: CatchUpOpt = True,
) -> None:
    """Write reach, items, offers, buyers and granted_services plus manifest.json (docs/evaluation-export.md)."""
    from ledger.projections.audit import AuditProjection
    from ledger.projections.cut import PositionError
    from ledger.projections.evaluation_export import export as write

    if fmt not in ("csv", "parquet"):
        fail(f"--format must be csv or parquet, got {fmt!r}")
    target = Path(out)
    if target.exists() and not target.is_dir():
        fail(f"--out {out} exists and is not a directory")
    d, k = _date(as_of, "as_of"), _instant(known_at)
    db = _database(AuditProjection(), catch_up and at_position is None)
    try:
        known = [int(r[0]) for r in db.query("SELECT municipality FROM au_schemes ORDER BY municipality")]
        ms = _municipalities(municipality, known)
        try:
            manifest = write(db, ms, target, d, k, fmt, at_position)
        except (ValueError, PositionError) as e:
            fail(f"{getattr(e, 'code', 'invalid-input')}: {e}")
        except OSError as e:
            fail(f"cannot write to {out}: {e.strerror or e}")
    finally:
        db.close()
    for filename, info in manifest["files"].items():
        typer.echo(f"{target / filename}: {info['rows']} rows")
    typer.echo(f"{target / 'manifest.json'}: as of {d or 'the whole trial'}, known at {k or 'now'}, "
               f"log position {manifest['log_position']}")


@citizen_app.command("as-of")
@user_errors
def citizen_as_of(
    citizen_id: Annotated[str, typer.Argument(help="the citizen's pseudonymous id")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="effective date D (YYYY-MM-DD), as `ledger timeline "
                                                              "--as-of`", show_default=False)] = None,
    known_at: Annotated[str | None, typer.Option("--known-at", help="as the records showed at K (default: now)")]
    = None,
    date_: Annotated[str | None, typer.Option("--date", hidden=True, help="the earlier name of --as-of")] = None,
) -> None:
    """The citizen's grants, provider, orders, deliveries and balance on D as known at K (JSON)."""
    from ledger.application import Ledger
    from ledger.projections.audit import AuditProjection
    from ledger.projections.citizen_asof import citizen_as_of as read
    from ledger.settings import Settings

    if as_of is not None and date_ is not None and as_of != date_:
        fail(f"--as-of {as_of} and --date {date_} (its earlier name) differ: give one")
    if as_of is None and date_ is None:
        fail("give the effective date: --as-of YYYY-MM-DD")
    d, k = _date(as_of if as_of is not None else date_, "as_of"), _instant(known_at)
    assert d is not None
    _database(AuditProjection(), True).close()  # which orders and deliveries are the citizen's
    ledger = Ledger(Settings.from_env())
    try:
        answer = read(ledger, citizen_id, d, k)
        from ledger.cli.access import log_read

        log_read(ledger.db, "ledger citizen as-of", "citizen-as-of", citizen_id=answer["citizen_id"],
                 municipality=answer["municipality"])
    finally:
        ledger.close()
    typer.echo(json.dumps(answer, indent=2, ensure_ascii=False, sort_keys=True))
