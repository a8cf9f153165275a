"""Start-up of the `ledger` command (issue 12): a command imports what it needs, when it needs it.

The guard is what gets imported, not a time: `ledger projections status` and `ledger --help` must
not pull pydantic (typer's adapters, the settings), the HTTP stack, PostgreSQL's driver or pyarrow,
and `projections status` not the event-sourced aggregates either (the library's domain module and
the classes built on it cost ~0.1 s; the projections need only the domain's plain values).
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

HEAVY = ("pydantic", "pydantic_core", "pydantic_settings", "typer._adapters", "click", "fastapi", "starlette",
         "uvicorn", "psycopg", "psycopg_pool", "pyarrow", "pandas", "structlog", "ledger.application", "ledger.api",
         "ledger.settings")

SCRIPT = """\
import sys
sys.argv = ['ledger', *sys.argv[1:]]
import ledger.cli
try:
    ledger.cli.main()
except SystemExit as e:
    code = e.code
else:
    code = 0
print(code, sorted(sys.modules), file=sys.stderr)
"""


def imported(tmp_path: Any, *args: str) -> tuple[str, set[str]]:
    """What `ledger ARGS` printed and imported, run as a user would, with only LEDGER_DATABASE_URL set."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("LEDGER_")}
    env["LEDGER_DATABASE_URL"] = f"sqlite:///{tmp_path / 'startup.db'}"
    run = subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, env=env, timeout=60)
    code, modules = run.stderr.strip().splitlines()[-1].split(" ", 1)
    assert code in ("0", "None"), run.stderr
    return run.stdout, set(eval(modules))


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_projections_status_as_json_imports_neither_pydantic_nor_rich(tmp_path):
    out, modules = imported(tmp_path, "projections", "status", "-f", "json")
    assert '"name": "billing"' in out
    assert heavy(modules) == []
    assert not any(m == "rich" or m.startswith("rich.") for m in modules)


def test_projections_status_as_a_table_imports_rich_only_to_draw_it(tmp_path):
    out, modules = imported(tmp_path, "projections", "status")
    assert "Projections" in out and "billing" in out
    assert heavy(modules) == []
    assert "rich.table" in modules and "rich.progress" not in modules


def test_projections_status_imports_no_aggregate(tmp_path):
    _, modules = imported(tmp_path, "projections", "status", "-f", "json")
    aggregates = sorted(m for m in modules if m in ("eventsourcing.domain", "ledger.domain.base", "ledger.store.upcasters"))
    assert aggregates == []


def test_help_imports_no_pydantic(tmp_path):
    out, modules = imported(tmp_path, "--help")
    assert "Usage: ledger" in out
    assert heavy(modules) == []


def _probe() -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def probe(name: str, label: str | None = None, count: int = 1, fmt: str = typer.Option("table", "-f")) -> None:
        typer.echo(repr((name, label, count, fmt)))

    return app


@pytest.mark.parametrize("args, output, code", [
    (["x", "--label", "y", "--count", "3", "-f", "json"], "('x', 'y', 3, 'json')", 0),
    (["x"], "('x', None, 1, 'table')", 0),
    (["", "--label", ""], "('', '', 1, 'table')", 0),
    (["x", "--count", "three"], "Input should be a valid integer", 2),
])
def test_str_parameters_skip_pydantic_and_give_what_typer_gives(args, output, code):
    import ledger.cli  # noqa: F401  (installs the plain-str coercion)

    result = CliRunner().invoke(_probe(), args)
    assert result.exit_code == code, result.output
    assert output in result.output


def test_a_str_parameter_given_something_else_is_coerced_by_typer_itself():
    import typer.core
    from typer._coercion import build_runtime_param, resolve_type_descriptor
    from typer.models import OptionInfo

    import ledger.cli  # noqa: F401

    descriptor = resolve_type_descriptor(str, OptionInfo())
    ours, theirs = typer.core.build_runtime_param(descriptor), build_runtime_param(descriptor)
    assert ours is not theirs and getattr(typer.core.build_runtime_param, "plain_str", False)
    for value in ("a", "", b"bytes", 7):
        assert ours._coerce_value(value, None, None) == theirs._coerce_value(value, None, None)
