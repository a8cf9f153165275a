"""docs/settings.md names every setting, with its default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ledger.settings import PREFIX, ApiSettings, Settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "settings.md"
# Names that look like a variable and are not one: the uuid namespace constant, the API's prefix.
NOT_VARIABLES = {"LEDGER_NAMESPACE", "LEDGER_API_"}


def _variables() -> list[tuple[str, object]]:
    found = []
    for model, prefix in ((Settings, PREFIX), (ApiSettings, PREFIX + "API_")):
        for name, f in model.model_fields.items():
            if name in ("api", "extra"):
                continue
            alias = f.validation_alias if isinstance(f.validation_alias, str) else prefix + name.upper()
            found.append((alias, f.get_default(call_default_factory=True)))
    return found


@pytest.mark.parametrize("variable, default", _variables())
def test_every_setting_is_documented_with_its_default(variable, default):
    row = next((line for line in DOCS.read_text(encoding="utf-8").splitlines() if line.startswith(f"| `{variable}` |")),
               None)
    assert row is not None, f"{variable} is not in docs/settings.md"
    shown = row.split("|")[2].strip().strip("`")
    expected = {None: "–", True: "1", False: "0"}.get(default, default) if not isinstance(default, float) else default
    assert shown == (f"{expected:g}" if isinstance(expected, float) else str(expected))


def test_every_ledger_variable_the_code_mentions_is_documented():
    """A variable read outside Settings (os.environ.get("LEDGER_…")) is documented all the same."""
    mentioned = {name for folder in ("ledger", "replay") for path in (ROOT / folder).rglob("*.py")
                 for name in re.findall(r"LEDGER_[A-Z0-9_]+", path.read_text(encoding="utf-8"))}
    documented = set(re.findall(r"`(LEDGER_[A-Z0-9_]+)`", DOCS.read_text(encoding="utf-8")))
    assert "LEDGER_FI_CREDITORS" in mentioned  # the search finds what it should
    assert sorted(mentioned - NOT_VARIABLES - documented) == []
