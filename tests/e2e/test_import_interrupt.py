"""Ctrl-C during `ledger import` says what is stored and that a re-run resumes; the re-run counts
the lines it skips."""

from __future__ import annotations

import re

from typer.testing import CliRunner

import ledger.cli.data as data
from ledger.cli import app


def test_ctrl_c_says_what_is_stored_and_the_rerun_skips_it(database_url, tmp_path, monkeypatch):
    runner = CliRunner()
    env = {"LEDGER_DATABASE_URL": database_url, "COLUMNS": "200"}
    history = tmp_path / "small.jsonl"
    assert runner.invoke(app, ["generate", "--factor", "0.005", "--out", str(history)]).exit_code == 0
    real = data._rate
    calls = {"n": 0}

    def ctrl_c_at_the_third_progress_report(report):
        calls["n"] += 1
        if calls["n"] == 3:  # as if the user pressed Ctrl-C there (between two batches)
            raise KeyboardInterrupt
        return real(report)

    monkeypatch.setattr(data, "_rate", ctrl_c_at_the_third_progress_report)
    first = runner.invoke(app, ["import", str(history), "--batch", "500"], env=env)
    assert first.exit_code == 130, first.output
    stored = re.search(r"interrupted: the first ([\d,]+) lines are stored", first.output)
    assert stored and int(stored[1].replace(",", "")) > 0, first.output
    assert "Run the same import again to resume" in first.output and "Traceback" not in first.output
    monkeypatch.setattr(data, "_rate", real)
    again = runner.invoke(app, ["import", str(history), "--batch", "500"], env=env)
    assert again.exit_code == 0, again.output
    assert f"{stored[1]} already stored" in again.output
