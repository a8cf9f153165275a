"""The `ledger` command's surface: --version, and --db on every command that opens the store."""

from __future__ import annotations

from typing import Any

import typer
from typer.testing import CliRunner

from ledger.cli import MODULES, app, version

NO_STORE = {"generate"}  # writes a file; opens no store


def leaves(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    if hasattr(command, "commands"):  # a group (typer vendors its own click)
        return [leaf for name, sub in command.commands.items() for leaf in leaves(sub, (*path, name))]
    return [(path, command)]


def test_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"ledger {version()}"


def test_every_command_that_opens_the_store_takes_db():
    commands = leaves(typer.main.get_command(app))
    assert len(commands) > 20
    missing = [" ".join(path) for path, command in commands
               if path[-1] not in NO_STORE and not any("--db" in p.opts for p in command.params)]
    assert not missing


def test_db_chooses_the_store(tmp_path):
    target = tmp_path / "chosen.db"
    result = CliRunner().invoke(app, ["projections", "status", "-f", "json", "--db", f"sqlite:///{target}"],
                                env={"LEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'other.db'}"})
    assert result.exit_code == 0, result.output
    assert target.exists() and not (tmp_path / "other.db").exists()


def test_a_command_imports_only_its_own_module_and_help_imports_all():
    import subprocess
    import sys

    script = ("import sys; sys.argv = ['ledger', *sys.argv[1:]]\nimport ledger.cli as c\ntry:\n    c.main()\n"
              "except SystemExit:\n    pass\nprint(sorted(m for m in sys.modules if m.startswith('ledger.cli.')"
              " and m.removeprefix('ledger.cli.') in c.MODULES), file=sys.stderr)")  # command modules, not helpers

    def loaded(*args: str) -> str:
        run = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=60)
        return run.stderr.strip().splitlines()[-1]

    assert loaded("billing", "--help") == "['ledger.cli.billing']"
    assert loaded("timeline", "--help") == "['ledger.cli.reports']"
    assert loaded("--help").count("ledger.cli.") == len(MODULES)
