"""The compose stack starts from a fresh clone (checked without a Docker engine: by parsing the
file, and by running its tokens step here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from ledger.api.auth import load_tokens

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.yaml"


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_no_service_bind_mounts_a_file_a_fresh_clone_does_not_have():
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):  # a bind mount: it must exist in the repository
                assert (COMPOSE.parent / source).exists(), (name, volume)


def test_the_service_waits_for_postgres_and_the_tokens_step_and_reads_its_file():
    spec = compose()
    ledger, tokens = spec["services"]["ledger"], spec["services"]["tokens"]
    assert ledger["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                    "tokens": {"condition": "service_completed_successfully"}}
    path = ledger["environment"]["LEDGER_TOKENS_FILE"]
    assert tokens["command"][-1] == path
    shared = {v.split(":")[0] for v in tokens["volumes"]} & {v.split(":")[0] for v in ledger["volumes"]}
    assert shared and all(name in spec["volumes"] for name in shared)
    assert path.startswith(next(v.split(":")[1] for v in ledger["volumes"] if v.split(":")[0] in shared))
    assert ledger["image"] == tokens["image"] and ledger["build"] == tokens["build"]
    assert "schema=ledger" in ledger["environment"]["LEDGER_DATABASE_URL"]


def test_the_image_holds_the_tokens_step():
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text(encoding="utf-8")
    script = compose()["services"]["tokens"]["command"][1]
    assert f"COPY docker/init_tokens.py .{script.removeprefix('/app')}" in dockerfile


def test_the_tokens_step_writes_a_file_the_service_accepts_and_keeps_it_on_the_next_run(tmp_path):
    target = tmp_path / "run" / "tokens.json"
    first = subprocess.run([sys.executable, str(ROOT / "docker" / "init_tokens.py"), str(target)],
                           capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    token = first.stdout.splitlines()[1].strip()
    principal = load_tokens(target).authenticate(token)
    assert principal is not None and principal.role == "administrator" and principal.municipalities is None
    assert token not in target.read_text()
    again = subprocess.run([sys.executable, str(ROOT / "docker" / "init_tokens.py"), str(target)],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "keeping" in again.stdout
    assert load_tokens(target).authenticate(token) is not None
