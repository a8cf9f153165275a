"""Ctrl-C during `ledger import` says what is stored and that a re-run resumes; the re-run counts
the lines it skips."""

from __future__ import annotations

from typer.testing import CliRunner

from ledger.cli import app
from ledger.importer import Importer


def test_ctrl_c_says_what_is_stored_and_the_rerun_skips_it(database_url, tmp_path, monkeypatch):
    runner = CliRunner()
    env = {"LEDGER_DATABASE_URL": database_url, "COLUMNS": "200"}
    history = tmp_path / "small.jsonl"
    assert runner.invoke(app, ["generate", "--factor", "0.005", "--out", str(history)]).exit_code == 0
    real = Importer._execute
    calls = {"n": 0}

    def interrupted_on_the_third_batch(self, batch, numbers):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, batch, numbers)

    monkeypatch.setattr(Importer, "_execute", interrupted_on_the_third_batch)
    first = runner.invoke(app, ["import", str(history), "--batch", "500"], env=env)
    assert first.exit_code == 130, first.output
    assert "interrupted: the first 1,000 lines are stored" in first.output
    assert "Run the same import again to resume" in first.output and "Traceback" not in first.output
    monkeypatch.setattr(Importer, "_execute", real)
    again = runner.invoke(app, ["import", str(history), "--batch", "500"], env=env)
    assert again.exit_code == 0, again.output
    assert "1,000 already stored" in again.output
