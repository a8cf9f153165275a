"""The `ledger` command: a thin door to the application and the projections.

Each area has its own module that registers its commands on `root` (core, projections, billing,
reports, evaluation, data, serve, identity). The modules are imported lazily: `ledger billing …` imports only the billing
module (COMMAND_MODULES says which module holds a command; a name not listed loads them all), and
`ledger.cli.app` (what tests and tools import) is `root` with every module registered. Errors a user
can fix exit with code 2 and a one-line message; nothing is stored on a refusal.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from ledger.cli import plain_str

plain_str.install()  # before any command is parsed: `str` options without pydantic

root = typer.Typer(name="ledger", no_args_is_help=True, rich_markup_mode=None, add_completion=False, help="The add-on ledger (tilkøb): an event-sourced ledger.")

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


@root.callback()
def _root(
    show_version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                               help="print the version and exit")] = False,
) -> None:
    """The add-on ledger (tilkøb): an event-sourced ledger."""


def fail(message: str, code: int = 2) -> NoReturn:
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
        from ledger.config import ConfigError
        from ledger.domain.errors import LedgerError

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


def settings() -> Any:
    """The settings of this invocation, read from the environment; a bad value is a ConfigError,
    which `user_errors` turns into exit 2.

    They are read at each call. (This once kept them on click's context after the first read, but
    typer vendors its own click, so `click.get_current_context()` never found the command's context
    and every call read the environment; importing click for that lookup only cost start-up.)"""
    from ledger.settings import Settings

    return Settings.from_env()


def database_url() -> str:
    """The store's URL, for a command that needs nothing else of the settings (`ledger projections …`).

    When `LEDGER_DATABASE_URL` is the only ledger variable set, the settings would hold the defaults
    and that URL and could not fail, so the URL is taken as it is: building the settings means
    importing pydantic, which was about a third of `ledger projections status`'s start-up (issue 12).
    With any other ledger variable the settings are read, so a bad value still exits 2."""
    from ledger.config import database_url_alone

    url = database_url_alone(os.environ)
    return settings().database_url if url is None else url


def open_ledger() -> Any:
    from ledger.application import Ledger

    return Ledger(settings())


MODULES = ("core", "projections", "billing", "reports", "evaluation", "data", "serve", "identity", "access")
# Which modules register each top-level command (a command missing here still works: it loads all).
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "command": ("core",), "history": ("core",), "projections": ("projections",), "billing": ("billing",),
    "timeline": ("reports",), "audit": ("reports",), "export": ("reports", "evaluation"),
    "citizen": ("evaluation",), "generate": ("data",), "import": ("data",), "demo": ("data",),
    "serve": ("serve",), "identity": ("identity",), "access-log": ("access",)}
_registered = False


def _load(name: str) -> None:
    import importlib

    try:
        importlib.import_module(f"ledger.cli.{name}")
    except ModuleNotFoundError as e:  # a module not written yet must not break the others
        if e.name != f"ledger.cli.{name}":
            raise


def _register() -> None:
    global _registered
    if not _registered:
        _registered = True
        for name in MODULES:
            _load(name)


def __getattr__(name: str) -> Any:
    if name == "app":  # the whole command, every module registered
        _register()
        return root
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    args = sys.argv[1:]
    first = next((a for a in args if not a.startswith("-")), None)
    if first in COMMAND_MODULES and "--help" not in args[:args.index(first)]:
        for name in COMMAND_MODULES[first]:
            _load(name)
    else:  # `ledger`, `ledger --help`, or a name this table does not know: every command
        _register()
    root(prog_name="ledger")


if __name__ == "__main__":  # pragma: no cover
    main()
