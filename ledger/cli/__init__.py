"""The `ledger` command: a thin door to the application and the projections.

Each area has its own module that registers its commands on `app` (core, projections, billing,
reports, data, serve). Errors a user can fix exit with code 2 and a one-line message; nothing is
stored on a refusal.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Annotated, Any, TypeVar

import typer

app = typer.Typer(name="ledger", no_args_is_help=True, add_completion=False, help="The add-on ledger (tilkøb): an event-sourced ledger.")

F = TypeVar("F", bound=Callable[..., Any])

DB_OPTION = Annotated[str | None, typer.Option(
    "--db", help="database URL, e.g. sqlite:///ledger.db or postgresql://user@host/db?schema=ledger "
                 "(default: LEDGER_DATABASE_URL, else sqlite:///ledger.db)", show_default=False)]


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("addon-ledger")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"ledger {version()}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                               help="print the version and exit")] = False,
) -> None:
    """The add-on ledger (tilkøb): an event-sourced ledger."""


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def user_errors(fn: F | None = None, *, store: bool = True) -> Any:
    """Turn the ledger's own errors into exit code 2 with a clear message (never a traceback).

    A command that opens the store (`store`, the default) also gets `--db URL`, which stands in for
    LEDGER_DATABASE_URL for that run, so every such command takes the same option; a command that
    already has a `db` parameter handles it itself."""
    if fn is None:
        return lambda f: user_errors(f, store=store)
    signature = inspect.signature(fn, eval_str=True)
    add_db = store and "db" not in signature.parameters

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ledger.domain.errors import LedgerError
        from ledger.settings import ConfigError

        if add_db:
            url = kwargs.pop("db", None)
            if url:
                os.environ["LEDGER_DATABASE_URL"] = url
        try:
            return fn(*args, **kwargs)
        except LedgerError as e:
            fail(f"{e.code}: {e.message}")
        except ConfigError as e:
            fail(str(e))

    if add_db:
        db = inspect.Parameter("db", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=DB_OPTION)
        params = list(signature.parameters.values())
        tail = [p for p in params if p.kind is inspect.Parameter.VAR_KEYWORD]
        wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[p for p in params if p not in tail] + [db] + tail)
        wrapper.__annotations__ = {**fn.__annotations__, "db": DB_OPTION}
    return wrapper


def open_ledger() -> Any:
    from ledger.application import Ledger
    from ledger.settings import Settings

    return Ledger(Settings.from_env())


def _register() -> None:
    import importlib

    for name in ("core", "projections", "billing", "reports", "data", "serve"):
        try:
            importlib.import_module(f"ledger.cli.{name}")
        except ModuleNotFoundError as e:  # a module not written yet must not break the others
            if e.name != f"ledger.cli.{name}":
                raise


_register()


def main() -> None:
    app(prog_name="ledger")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
