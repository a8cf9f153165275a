"""The reference pages name every command and every error code the code has."""

from pathlib import Path

from ledger.application.commands import by_name

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_command_is_documented():
    text = (DOCS / "commands.md").read_text(encoding="utf-8")
    missing = [name for name in by_name() if f"`{name}`" not in text]
    assert not missing
