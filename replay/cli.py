"""`ledger-replay`: the auditors' tool. Works on a copy of the store, without the API.

Exit codes (every command): 0 everything checked holds; 1 something does not (the report names the
first bad position or line); 2 bad usage (unusable URL, missing file, unknown invoice, bad option).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from replay.errors import UsageError

app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  help="Replay and check the add-on ledger's event log: tamper evidence, rebuilds, exact invoices.")
F = TypeVar("F", bound=Callable[..., Any])

DbOption = Annotated[str | None, typer.Option("--db", help="database URL (default: LEDGER_DATABASE_URL or sqlite:///ledger.db)")]


def console() -> Console:
    out = Console(highlight=False, soft_wrap=True)
    # Off a terminal rich assumes 80 columns and would squeeze the tables; reports go to files.
    return out if out.is_terminal else Console(highlight=False, soft_wrap=True, width=140)


def usage_errors(fn: F) -> F:
    """Anything the user can fix exits with 2 and one line on stderr, never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ledger.domain.errors import LedgerError
        from ledger.settings import ConfigError

        try:
            return fn(*args, **kwargs)
        except UsageError as e:
            message = str(e)
        except ConfigError as e:
            message = str(e)
        except LedgerError as e:
            message = f"{e.code}: {e.message}"
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(2)

    return wrapper  # type: ignore[return-value]


def _settings() -> Any:
    """The ledger's settings, read once per command here at the edge (ConfigError: exit 2)."""
    from ledger.settings import Settings

    return Settings.from_env()


def findings_not_crashes(fn: F) -> F:
    """For the checking commands: an exception nobody foresaw is itself a finding, reported as
    "could not verify: …" with exit 1 (the store could not be shown to hold), never a traceback.
    Usage errors (exit 2) and the command's own exit pass through."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ledger.domain.errors import LedgerError
        from ledger.settings import ConfigError

        try:
            return fn(*args, **kwargs)
        except (UsageError, ConfigError, LedgerError, typer.Exit, typer.Abort, KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:
            text = str(e).strip().splitlines()[0] if str(e).strip() else ""
            notes = "; ".join(getattr(e, "__notes__", ()))
            typer.echo(f"could not verify: {type(e).__name__}" + (f": {text}" if text else "")
                       + (f" ({notes})" if notes else ""), err=True)
            typer.echo("NOT VERIFIED")
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _url(db: str | None) -> str:
    return db or _settings().database_url


def _bars() -> Any:
    """Progress bars go to stderr, and only when it is a terminal."""
    from replay.progress import Bars

    return Bars(Console(stderr=True)).step


def _projections() -> list[Any]:
    from ledger.projections import all_projections

    return all_projections()


# -- verify ---------------------------------------------------------------------------------


@app.command()
@usage_errors
@findings_not_crashes
def verify(
    db: DbOption = None,
    archive: Annotated[Path | None, typer.Option("--archive", help="verify an archive written by `export` instead (no database)")] = None,
    skip_projections: Annotated[bool, typer.Option("--skip-projections", help="check the chain only")] = False,
    expect_head: Annotated[list[str] | None, typer.Option("--expect-head", help="POSITION:HASH published elsewhere; repeatable")] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", min=1, help="processes (default: one per CPU, at most 4, on a large log)")] = None,
    checkpoints: Annotated[Path | None, typer.Option("--checkpoints", help="a directory of signed checkpoints: the log must extend every one")] = None,
    emit_checkpoint: Annotated[Path | None, typer.Option("--emit-checkpoint", help="when everything verifies, write a signed checkpoint of the head into this directory")] = None,
) -> None:
    """Check the whole log against its hash chain and published heads, then rebuild every projection
    into scratch tables and compare it with the live one."""
    from replay.verify import parse_expect_head

    out = console()
    expected = [parse_expect_head(text) for text in expect_head or []]
    if archive is not None:
        if db is not None:
            raise UsageError("give --db or --archive, not both")
        if checkpoints is not None or emit_checkpoint is not None:
            raise UsageError("--checkpoints and --emit-checkpoint check a database; --archive takes neither")
        _verify_archive(out, archive, expected)
        return
    from replay.store import open_store
    from replay.verify import verify_store

    if checkpoints is not None and not checkpoints.is_dir():
        raise UsageError(f"--checkpoints {checkpoints}: no such directory")
    store = open_store(_url(db))
    try:
        report = verify_store(store, expected, None if skip_projections else _projections(), _bars(), jobs)
        if checkpoints is not None:
            from replay.checkpoints import check_checkpoints

            count = check_checkpoints(store, checkpoints, report.check)
            report.notes.append(f"{count} signed checkpoint(s) in {checkpoints} checked")
        written = None
        if emit_checkpoint is not None and report.ok:
            from replay.checkpoints import emit, load_signing_key

            from replay.checkpoints import signed_tree_root

            position, head = report.check.head
            written = emit(emit_checkpoint, position, head.hex(), store.describe(), "verify",
                           load_signing_key(_url(db)), tree_root=signed_tree_root(store, position))
    finally:
        store.close()
    from replay.render import render_verify

    render_verify(out, report)
    if written is not None:
        out.print(f"signed checkpoint: {written}")
    raise typer.Exit(0 if report.ok else 1)


def _verify_archive(out: Console, path: Path, expected: list[Any]) -> None:
    import time

    from replay.archive import Archive, verify_archive
    from replay.render import render_verify
    from replay.verify import Step, VerifyReport

    archive = Archive(path)
    started = time.perf_counter()
    with _bars()("archive") as progress:
        check = verify_archive(archive, expected, progress)
    report = VerifyReport(f"archive {path}", check, [Step("chain", time.perf_counter() - started, check.events)])
    report.notes.append("projections are not compared for an archive (it holds the log only)")
    render_verify(out, report)
    raise typer.Exit(0 if report.ok else 1)


# -- rebuild --------------------------------------------------------------------------------


@app.command()
@usage_errors
def rebuild(
    known_at: Annotated[str, typer.Option("--known-at", help="recorded instant K (or a date: the end of that day, UTC)")],
    out_dir: Annotated[Path, typer.Option("--out", help="directory for the JSON files")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="effective date D for the readers' views")] = None,
    db: DbOption = None,
) -> None:
    """Rebuild the projections from the events recorded by K and write them (and the views as of D)
    to files; two runs give byte-identical files."""
    from replay.snapshot import parse_as_of, parse_known_at, rebuild_known_at
    from replay.store import open_store

    out = console()
    k, d = parse_known_at(known_at), parse_as_of(as_of)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} exists and is not a directory")
    settings = _settings()
    store = open_store(db or settings.database_url)
    try:
        manifest = rebuild_known_at(store, _projections(), k, d, out_dir, _bars(), settings=settings)
    finally:
        store.close()
    out.print(f"Rebuilt as known at {k}" + (f", views as of {d}" if d else "") + f": {manifest['log']['events_known']} "
              f"events known, {manifest['events_applied']} applied")
    for name, digest in sorted(manifest["files"].items()):
        out.print(f"  {out_dir / name}  sha256 {digest[:16]}…")


@app.command("verify-runs")
@usage_errors
@findings_not_crashes
def verify_runs(db: DbOption = None) -> None:
    """Check every invoice run's published digest (what it read of the log, and the billing
    projection at its chain head) against a replay of the log (ADR 0021). Exit 1 if any differs."""
    from replay.runs import check_runs, render
    from replay.store import open_store

    out = console()
    store = open_store(_url(db))
    try:
        report = check_runs(store)
    finally:
        store.close()
    for line in render(report):
        out.print(line, markup=False, highlight=False)
    raise typer.Exit(0 if report.ok else 1)


# -- invoice --------------------------------------------------------------------------------


@app.command()
@usage_errors
def invoice(
    number: Annotated[str, typer.Argument(help="the invoice number, e.g. 657-000001 (or a debit/credit note, "
                                               "657-D00001 / 657-K00001)")],
    municipality: Annotated[str | None, typer.Option(
        "--municipality", help="municipality code or name (default: the number's first three digits)")] = None,
    db: DbOption = None,
) -> None:
    """Reproduce an issued invoice (or debit or credit note) from the events recorded before it, line by line."""
    from ledger.domain.municipalities import municipality_code
    from replay.invoice import reproduce, reproduce_note
    from replay.render import render_invoice
    from replay.store import open_store

    out = console()
    if municipality is None:  # invoice numbers start with the municipality code (657-000001)
        head = number.strip()[:4]
        if not (head[:3].isdigit() and head[3:] == "-"):
            raise UsageError(f"{number!r} does not start with a municipality code; pass --municipality")
        municipality = head[:3]
    m = municipality_code(municipality)
    store = open_store(_url(db))
    try:
        number = number.strip()
        note = number.partition("-")[2][:1] in ("D", "K")
        result = reproduce_note(store, number, m) if note else reproduce(store, number, m)
        _log_read(store, "ledger-replay invoice", "billing:invoice", municipality=m, citizen_id=result.citizen_id)
    finally:
        store.close()
    render_invoice(out, result)
    raise typer.Exit(0 if result.ok else 1)


def _log_read(store: Any, route: str, what: str, *, municipality: int | None = None,
              citizen_id: str | None = None) -> None:
    """Reads of personal or financial data are logged (domain.md: who, when, what), by this tool as
    by `ledger`'s own reads: into the store's access log, the OS user as `cli:<user>`. The tool
    needs only read access to a copy of the store, so where it may not write, it says so and
    goes on: the copy's holder answers for its reads."""
    from ledger.cli.access import log_read

    try:
        log_read(store.db, route, what, citizen_id=citizen_id, municipality=municipality)
    except Exception as e:  # a read-only copy: sqlite3's "readonly database", PostgreSQL's privileges
        typer.echo(f"note: this read is not in the store's access log (no write access: {type(e).__name__})",
                   err=True)


# -- export ---------------------------------------------------------------------------------


@app.command()
@usage_errors
def export(
    out_file: Annotated[Path, typer.Option("--out", help="the archive file to write (gzip'd JSON lines)")],
    until_recorded: Annotated[str | None, typer.Option("--until-recorded", help="stop before the first event recorded after K")] = None,
    until_position: Annotated[int | None, typer.Option("--until-position", min=0, help="stop after this chain position")] = None,
    checkpoint: Annotated[Path | None, typer.Option("--checkpoint", help="also write a signed checkpoint of the archive's head into this directory")] = None,
    db: DbOption = None,
) -> None:
    """Write the log, as stored, with its chain, to a portable archive (`verify --archive` reads it)."""
    from replay.archive import Cut
    from replay.archive import export as write_archive
    from replay.snapshot import parse_known_at
    from replay.store import open_store

    out = console()
    if out_file.is_dir():
        raise UsageError(f"--out {out_file} is a directory; give a file name")
    if not out_file.parent.is_dir():
        raise UsageError(f"--out {out_file}: no directory {out_file.parent}")
    cut = Cut(until_position, parse_known_at(until_recorded) if until_recorded else None)
    store = open_store(_url(db))
    try:
        with _bars()("export") as progress:
            result = write_archive(store, out_file, cut, progress)
        _log_read(store, "ledger-replay export", "events:export")  # the whole log: every citizen's facts
    finally:
        store.close()
    m = result.manifest
    out.print(f"Wrote {out_file}: {m['count']} chained events, positions {m['first_position']}–{m['last_position']}, "
              f"head {m['last_position']}:{m['head_hash']}")
    if checkpoint is not None and result.check.ok:
        from replay.checkpoints import emit, load_signing_key

        written = emit(checkpoint, int(m["last_position"] or 0), m["head_hash"], store.describe(), "export",
                       load_signing_key(_url(db)))
        out.print(f"signed checkpoint: {written}")
    if not result.check.ok:
        from replay.render import render_problems

        out.print("[red]The store's chain does not verify; the archive holds it as it is:[/]")
        render_problems(out, result.check)
        raise typer.Exit(1)


# -- checkpoint -----------------------------------------------------------------------------


@app.command()
@usage_errors
def checkpoint(
    out_dir: Annotated[Path, typer.Option("--out", help="the checkpoint directory (kept away from the database)")],
    db: DbOption = None,
) -> None:
    """Write a signed checkpoint (position, head, time) of the log's head as stored now."""
    from replay.checkpoints import emit, load_signing_key
    from replay.store import open_store

    store = open_store(_url(db))
    try:
        row = store.query("SELECT position, hash FROM ledger_chain ORDER BY position DESC LIMIT 1")
        position, head = (int(row[0][0]), bytes(row[0][1]).hex()) if row else (0, "0" * 64)
        from replay.checkpoints import signed_tree_root

        written = emit(out_dir, position, head, store.describe(), "checkpoint", load_signing_key(_url(db)),
                       tree_root=signed_tree_root(store, position))
    finally:
        store.close()
    console().print(f"signed checkpoint of head {position}:{head}: {written}")


# -- prove ----------------------------------------------------------------------------------


@app.command()
@usage_errors
def prove(
    checkpoint_file: Annotated[Path, typer.Option("--checkpoint", help="a signed checkpoint with a tree root")],
    position: Annotated[int | None, typer.Option("--position", min=1, help="prove this event is in the checkpoint's tree")] = None,
    earlier: Annotated[Path | None, typer.Option("--from", help="prove the checkpoint's tree extends this earlier checkpoint's")] = None,
    db: DbOption = None,
) -> None:
    """Print a Merkle proof (RFC 9162) as JSON: that an event is in a checkpoint's tree (inclusion),
    or that a checkpoint's tree extends an earlier one's (consistency). The proof is checked
    against the signed roots before it is printed."""
    import orjson

    from replay import merkle
    from replay.store import open_store

    later = _checkpoint_tree(checkpoint_file)
    if (position is None) == (earlier is None):
        raise UsageError("give --position (inclusion) or --from (consistency)")
    store = open_store(_url(db))
    try:
        leaves = [h for _, h in merkle.log_leaf_hashes(store, later[0])]
    finally:
        store.close()
    if len(leaves) != later[0]:
        raise UsageError(f"the log holds {len(leaves)} sound positions, fewer than the checkpoint's {later[0]}")
    if position is not None:
        if position > later[0]:
            raise UsageError(f"position {position} is beyond the checkpoint's tree of {later[0]}")
        proof = merkle.inclusion_proof(position - 1, leaves)
        ok = merkle.verify_inclusion(leaves[position - 1], position - 1, later[0], proof, bytes.fromhex(later[1]))
        body = {"kind": "inclusion", "position": position, "leaf_hash": leaves[position - 1].hex(),
                "tree_size": later[0], "tree_root": later[1], "path": [p.hex() for p in proof]}
    else:
        assert earlier is not None
        first = _checkpoint_tree(earlier)
        if first[0] > later[0] or first[0] < 1:
            raise UsageError(f"--from names a tree of {first[0]}, not between 1 and {later[0]}")
        proof = merkle.consistency_proof(first[0], leaves)
        ok = merkle.verify_consistency(first[0], later[0], bytes.fromhex(first[1]), bytes.fromhex(later[1]), proof)
        body = {"kind": "consistency", "first_size": first[0], "first_root": first[1], "second_size": later[0],
                "second_root": later[1], "path": [p.hex() for p in proof]}
    typer.echo(orjson.dumps({**body, "verified": ok}, option=orjson.OPT_INDENT_2).decode())
    raise typer.Exit(0 if ok else 1)


def _checkpoint_tree(path: Path) -> tuple[int, str]:
    """(tree size, tree root) of a checkpoint whose signature holds (keys/ beside it)."""
    import orjson

    from replay.chain import ChainCheck
    from replay.checkpoints import load_checkpoints

    if not path.is_file():
        raise UsageError(f"no checkpoint file {path}")
    check = ChainCheck()
    if not any(c.path.resolve() == path.resolve() for c in load_checkpoints(path.parent, check)):
        reasons = [p.message for p in check.problems if path.name in p.message]
        raise UsageError(reasons[0] if reasons else f"{path} is not a signed checkpoint")
    try:
        body = orjson.loads(path.read_bytes())
        return int(body["tree_size"]), str(body["tree_root"])
    except FileNotFoundError:
        raise UsageError(f"no checkpoint file {path}") from None
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise UsageError(f"{path} is not a checkpoint with a tree root (tree_size, tree_root)") from None


def main() -> None:
    app(prog_name="ledger-replay")


if __name__ == "__main__":  # pragma: no cover
    main()
