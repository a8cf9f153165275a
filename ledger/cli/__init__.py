"""The `ledger` command: a thin door to the application and the projections.

Each area has its own module that registers its commands on `app` (core, projections, billing,
reports, data, serve, identity). Errors a user can fix exit with code 2 and a one-line message; nothing is
stored on a refusal.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="The add-on ledger (tilkøb): an event-sourced ledger.")

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def user_errors(fn: F) -> F:
    """Turn the ledger's own errors into exit code 2 with a clear message (never a traceback)."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ledger.domain.errors import LedgerError
        from ledger.settings import ConfigError

        try:
            return fn(*args, **kwargs)
        except LedgerError as e:
            fail(f"{e.code}: {e.message}")
        except ConfigError as e:
            fail(str(e))

    return wrapper  # type: ignore[return-value]


def open_ledger() -> Any:
    from ledger.application import Ledger
    from ledger.settings import Settings

    return Ledger(Settings.from_env())


def _register() -> None:
    import importlib

    for name in ("core", "projections", "billing", "reports", "data", "serve", "identity"):
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
