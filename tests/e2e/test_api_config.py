"""Tokens and start-up: tokens are configured as sha256 hashes (JSON or TOML), a bad file or none at
all refuses to start, `--dev-token` makes a throwaway administrator, and no token is ever logged."""

from __future__ import annotations

import hashlib
import json

import pytest
import structlog
from typer.testing import CliRunner

from ledger.api.auth import load_tokens, token_sha256
from ledger.api.main import create_app
from tests.helpers.api import api_client, auth, test_tokens, token_of
from ledger.cli import app as cli
from ledger.settings import ConfigError, Settings


@pytest.fixture(autouse=True)
def restore_logging():
    # `ledger serve` configures structlog for its own stderr; give later tests theirs back.
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def test_a_tokens_file_in_json_or_toml_maps_hashed_tokens_to_user_role_and_municipalities(tmp_path):
    as_json = tmp_path / "tokens.json"
    as_json.write_text(json.dumps({"tokens": [
        {"user": "anne", "role": "billing_clerk", "municipalities": [657, "Aabenraa"], "token_sha256": _sha("t-anne")},
        {"user": "root", "role": "administrator", "municipalities": "*", "token_sha256": _sha("t-root").upper()},
    ]}))
    as_toml = tmp_path / "tokens.toml"
    as_toml.write_text(f'[[tokens]]\nuser = "anne"\nrole = "billing_clerk"\nmunicipalities = [657, 580]\n'
                       f'token_sha256 = "{_sha("t-anne")}"\n')
    for path in (as_json, as_toml):
        registry = load_tokens(path)
        anne = registry.authenticate("t-anne")
        assert anne is not None and anne.user == "anne" and anne.role == "billing_clerk"
        assert anne.municipalities == frozenset({657, 580})
        assert registry.authenticate("t-ann") is None and registry.authenticate("") is None
    root = load_tokens(as_json).authenticate("t-root")
    assert root is not None and root.municipalities is None and root.may_act_in(101)
    assert "t-anne" not in as_json.read_text()  # only hashes at rest


@pytest.mark.parametrize("content, says", [
    ("{not json", "not valid"),
    ('{"tokens": {}}', "expected a list"),
    ('[{"user": "x", "role": "king", "municipalities": "*", "token_sha256": "' + "a" * 64 + '"}]', "role must be"),
    ('[{"user": "x", "role": "auditor", "municipalities": [999], "token_sha256": "' + "a" * 64 + '"}]', "999"),
    ('[{"user": "x", "role": "auditor", "municipalities": [], "token_sha256": "' + "a" * 64 + '"}]', "non-empty"),
    ('[{"user": "x", "role": "auditor", "municipalities": "*", "token": "plain"}]', "unknown keys"),
    ('[{"user": "x", "role": "auditor", "municipalities": "*", "token_sha256": "plain-token"}]', "64 hex"),
    ('[{"user": "x", "role": "auditor", "municipalities": "*", "token_sha256": "' + "a" * 64 + '"},'
     ' {"user": "y", "role": "auditor", "municipalities": "*", "token_sha256": "' + "a" * 64 + '"}]', "same sha256"),
])
def test_a_bad_tokens_file_refuses_to_start_and_says_why(tmp_path, content, says):
    path = tmp_path / "tokens.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=says):
        load_tokens(path)


@pytest.mark.parametrize("creditors, says", [
    ("657:12345678", "8 digits starting with 8"), ("657:8123", "8 digits"), ("999:81234567", "names no municipality"),
    ("657=81234567", "names no municipality")])
def test_a_malformed_fi_creditor_setting_refuses_to_start_and_says_why(tmp_path, monkeypatch, creditors, says):
    """conventions l.22: the creditor number is 8 digits and starts with 8; style: fail fast."""
    monkeypatch.setenv("LEDGER_FI_CREDITORS", creditors)
    with pytest.raises(ConfigError, match=says):
        create_app(Settings(database_url=f"sqlite:///{tmp_path / 'l.db'}"), tokens=test_tokens())
    monkeypatch.setenv("LEDGER_FI_CREDITORS", "657:81234567, *:87654321")
    create_app(Settings(database_url=f"sqlite:///{tmp_path / 'l.db'}"), tokens=test_tokens())


def test_the_service_refuses_to_start_without_tokens(tmp_path):
    with pytest.raises(ConfigError, match="no API tokens configured"):
        create_app(Settings(database_url=f"sqlite:///{tmp_path / 'l.db'}"))
    runner = CliRunner()
    result = runner.invoke(cli, ["serve"], env={"LEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}",
                                                "LEDGER_TOKENS_FILE": ""})
    assert result.exit_code == 2
    assert "no API tokens configured" in result.output and "--dev-token" in result.output
    result = runner.invoke(cli, ["serve"], env={"LEDGER_TOKENS_FILE": str(tmp_path / "missing.json")})
    assert result.exit_code == 2 and "cannot be read" in result.output
    result = runner.invoke(cli, ["serve", "--port", "0"])
    assert result.exit_code == 2


def test_a_dev_token_is_shown_once_and_only_its_hash_is_kept(tmp_path, monkeypatch):
    import uvicorn

    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: started.update(k, target=a[0]))
    monkeypatch.delenv("LEDGER_API_DEV_TOKEN_SHA256", raising=False)
    result = CliRunner().invoke(cli, ["serve", "--dev-token", "--port", "8123"],
                                env={"LEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}", "LEDGER_TOKENS_FILE": ""})
    assert result.exit_code == 0, result.output
    token = next(w for w in result.output.split() if w.startswith("dev-"))
    import os

    assert os.environ["LEDGER_API_DEV_TOKEN_SHA256"] == token_sha256(token)
    assert started["port"] == 8123 and started["factory"] is True
    monkeypatch.delenv("LEDGER_API_DEV_TOKEN_SHA256")


def test_no_token_is_ever_written_to_the_log(tmp_path):
    with structlog.testing.capture_logs() as logs, api_client(f"sqlite:///{tmp_path / 'l.db'}") as client:
        client.get("/billing/invoices", headers=auth("clerk-657"))
        client.get("/billing/invoices", headers={"Authorization": "Bearer not-a-configured-token"})
        client.post("/schemes", headers=auth("auditor-657"), json={})
    text = repr(logs)
    assert token_of("clerk-657") not in text and "not-a-configured-token" not in text
    assert token_of("auditor-657") not in text
    requests = [e for e in logs if e["event"] == "request"]
    assert [(e["user"], e["status"]) for e in requests] == [("clerk-657", 200), (None, 401), ("auditor-657", 403)]
    assert all(e["request_id"] and e["route"] and "duration_ms" in e for e in requests)
