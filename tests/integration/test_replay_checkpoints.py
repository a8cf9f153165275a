"""Signed checkpoints (ADR 0014), on both backends: the log must extend every checkpoint in the
directory; a truncation or a forged tail that nothing inside the store can reveal any more is
caught by a checkpoint signed before it, and an edited checkpoint does not verify."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from ledger.application import Ledger
from ledger.db import Database
from ledger.domain.base import Context
from ledger.settings import Settings
from ledger.store.chain import link as store_link
from replay.cli import app
from tests.integration.test_replay_chain import CITIZEN_A, HERNING, event_at, execute, history, position_of, rows

runner = CliRunner()


def replay(*args: str) -> Any:
    result = runner.invoke(app, list(args), env={"LEDGER_DATABASE_URL": ""})
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def store(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("LEDGER_CHECKPOINT_KEY_FILE", str(tmp_path / "signing.pem"))
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    (tmp_path / "signing.pem").write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    url = history(database_url)
    db = Database(url)
    yield url, db, tmp_path / "checkpoints"
    db.close()


def first_problem(result: Any) -> str:
    return next(line for line in result.output.splitlines() if line.startswith("first problem: ")).removeprefix(
        "first problem: ")


def remove_tail(db: Database, count: int) -> int:
    """Delete the last `count` events with their chain rows, command records and projection
    positions: nothing inside the store remembers the end any more."""
    end = int(rows(db, "SELECT max(position) FROM ledger_chain")[0][0]) - count
    nids = [r[0] for r in rows(db, "SELECT notification_id FROM ledger_chain WHERE position > ?", (end,))]
    execute(db, *[(f"DELETE FROM {db.events_table} WHERE {db.position_column} = ?", (n,)) for n in nids],
            ("DELETE FROM ledger_chain WHERE position > ?", (end,)), ("DELETE FROM ledger_commands", ()))
    return end


def test_a_checkpoint_of_a_clean_store_verifies(store: Any) -> None:
    url, db, folder = store
    made = replay("checkpoint", "--db", url, "--out", str(folder))
    assert made.exit_code == 0, made.output
    result = replay("verify", "--db", url, "--skip-projections", "--checkpoints", str(folder))
    assert result.exit_code == 0, result.output
    assert "1 signed checkpoint(s)" in result.output


def test_a_truncation_nothing_in_the_store_remembers_is_caught_by_a_checkpoint(store: Any) -> None:
    url, db, folder = store
    assert replay("checkpoint", "--db", url, "--out", str(folder)).exit_code == 0
    end = remove_tail(db, 3)
    assert replay("verify", "--db", url, "--skip-projections").exit_code == 0  # the store alone cannot tell
    result = replay("verify", "--db", url, "--skip-projections", "--checkpoints", str(folder))
    assert result.exit_code == 1
    assert first_problem(result).startswith(f"truncation after position {end}: the chain ends there, but the head")


def test_a_forged_tail_with_correct_chain_rows_is_caught_by_a_checkpoint(store: Any) -> None:
    url, db, folder = store
    assert replay("checkpoint", "--db", url, "--out", str(folder)).exit_code == 0
    top = int(rows(db, "SELECT max(position) FROM ledger_chain")[0][0])
    end = remove_tail(db, 1)
    # The intruder appends a forged event in its place, with a chain row computed the way the store does.
    _, state = event_at(db, position_of(db, "DeliveryRecorded"))
    forged = state.replace(b'"minutes":55', b'"minutes":555')
    previous = bytes(rows(db, "SELECT hash FROM ledger_chain WHERE position = ?", (end,))[0][0])
    oid = "9e9e9e9e-0000-4000-8000-000000000001"
    topic = "ledger.domain.delivery:Delivery.DeliveryRecorded"
    nid = int(rows(db, f"SELECT max({db.position_column}) FROM {db.events_table}")[0][0]) + 10
    execute(db, (f"INSERT INTO {db.events_table} ({db.position_column}, originator_id, originator_version, topic, "
                 "state) VALUES (?, ?, 1, ?, ?)", (nid, oid if db.is_postgres else oid.replace("-", ""), topic, forged)),
            ("INSERT INTO ledger_chain VALUES (?, ?, ?)", (top, nid, store_link(previous, top, oid, 1, topic, forged))))
    assert replay("verify", "--db", url, "--skip-projections").exit_code == 0  # self-consistent again
    result = replay("verify", "--db", url, "--skip-projections", "--checkpoints", str(folder))
    assert result.exit_code == 1
    assert first_problem(result).startswith(f"position {top}: stored hash")
    assert "rewritten or replaced" in first_problem(result)


def test_an_edited_checkpoint_does_not_verify(store: Any) -> None:
    url, db, folder = store
    assert replay("checkpoint", "--db", url, "--out", str(folder)).exit_code == 0
    path = next(folder.glob("checkpoint-*.json"))
    body = orjson.loads(path.read_bytes())
    body["position"] -= 1  # e.g. to make a truncation by one look covered
    path.write_bytes(orjson.dumps(body))
    result = replay("verify", "--db", url, "--skip-projections", "--checkpoints", str(folder))
    assert result.exit_code == 1
    assert "the signature does not hold" in first_problem(result)


def test_verify_and_export_emit_checkpoints_and_an_invoice_run_does_when_configured(store: Any,
                                                                                    tmp_path: Path) -> None:
    url, db, folder = store
    verified = replay("verify", "--db", url, "--skip-projections", "--emit-checkpoint", str(folder))
    assert verified.exit_code == 0 and "signed checkpoint:" in verified.output
    exported = replay("export", "--db", url, "--out", str(tmp_path / "log.jsonl.gz"), "--checkpoint", str(folder))
    assert exported.exit_code == 0, exported.output
    ledger = Ledger(Settings(database_url=url, checkpoint_dir=str(folder)))
    try:
        ledger.execute("run_invoices", {"municipality": HERNING, "month": "2018-09", "run_date": "2018-10-03"},
                       Context("test", "administrator", "run-sept", datetime(2018, 10, 3, 6, tzinfo=timezone.utc)))
        head = ledger.chain_head()
    finally:
        ledger.close()
    made = sorted(orjson.loads(p.read_bytes())["by"] for p in folder.glob("checkpoint-*.json"))
    assert made == ["export", "invoice run", "verify"]
    newest = max((orjson.loads(p.read_bytes()) for p in folder.glob("checkpoint-*.json")), key=lambda b: b["position"])
    assert (newest["position"], newest["head"]) == (head["position"], head["hash"])
    result = replay("verify", "--db", url, "--skip-projections", "--checkpoints", str(folder))
    assert result.exit_code == 0, result.output
    assert "3 signed checkpoint(s)" in result.output


def test_merkle_proofs_show_an_event_in_a_checkpoint_and_one_checkpoint_extending_another(store: Any) -> None:
    url, db, folder = store
    first = Path(replay("checkpoint", "--db", url, "--out", str(folder)).output.rsplit(": ", 1)[1].strip())
    ledger = Ledger(Settings(database_url=url))
    try:
        ledger.execute("receive_payment", {"payment_id": "p-late", "citizen_id": CITIZEN_A, "amount": 1000,
                                           "date": "2018-10-01", "method": "cash"},
                       Context("test", "administrator", "pay-late", datetime(2018, 10, 1, 6, tzinfo=timezone.utc)))
    finally:
        ledger.close()
    second = Path(replay("checkpoint", "--db", url, "--out", str(folder)).output.rsplit(": ", 1)[1].strip())
    assert orjson.loads(second.read_bytes())["tree_size"] > orjson.loads(first.read_bytes())["tree_size"]
    inclusion = replay("prove", "--db", url, "--checkpoint", str(second), "--position", "5")
    assert inclusion.exit_code == 0, inclusion.output
    assert orjson.loads(inclusion.output)["verified"] is True
    consistency = replay("prove", "--db", url, "--checkpoint", str(second), "--from", str(first))
    assert consistency.exit_code == 0, consistency.output
    assert orjson.loads(consistency.output)["kind"] == "consistency"
    assert replay("verify", "--db", url, "--skip-projections", "--checkpoints", str(folder)).exit_code == 0
    # A log rewritten before the first checkpoint no longer yields its signed tree.
    nid, state = event_at(db, position_of(db, "DeliveryRecorded"))
    execute(db, (f"UPDATE {db.events_table} SET state = ? WHERE {db.position_column} = ?",
                 (state.replace(b'"minutes":55', b'"minutes":54'), nid)))
    assert replay("prove", "--db", url, "--checkpoint", str(second), "--from", str(first)).exit_code == 1
    result = replay("verify", "--db", url, "--skip-projections", "--checkpoints", str(folder))
    assert result.exit_code == 1 and "Merkle tree" in result.output
