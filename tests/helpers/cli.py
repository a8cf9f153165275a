"""Run `ledger` in-process against one store, as a user would: exit code checked, never a traceback."""

from __future__ import annotations

from typer.testing import CliRunner

from ledger.cli import app


def invoke(database_url: str, *args: str, code: int = 0, columns: int = 200) -> str:
    """The command's output; fails the test on another exit code or a traceback."""
    result = CliRunner().invoke(app, list(args), env={"LEDGER_DATABASE_URL": database_url, "COLUMNS": str(columns)})
    assert result.exit_code == code, (result.output, result.exception)
    assert "Traceback" not in result.output
    return result.output
