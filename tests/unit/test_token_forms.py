"""Token files take the forms the docs show: "*" and ["*"] for every municipality, or a list."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ledger.api.auth import load_tokens, token_sha256
from ledger.settings import ConfigError


def _file(tmp_path, municipalities):
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps([{"user": "ada", "role": "administrator", "municipalities": municipalities,
                                 "token_sha256": token_sha256("secret")}]))
    return path


@pytest.mark.parametrize("form", ["*", ["*"]])
def test_every_municipality_as_a_star_or_a_list_of_one_star(tmp_path, form):
    principal = load_tokens(_file(tmp_path, form)).authenticate("secret")
    assert principal is not None and principal.municipalities is None and principal.may_act_in(657)


def test_a_list_of_codes_and_names(tmp_path):
    principal = load_tokens(_file(tmp_path, [657, "Aabenraa"])).authenticate("secret")
    assert principal is not None and principal.municipalities == frozenset({657, 580})


@pytest.mark.parametrize("form", [["*", 657], [], "all", None])
def test_ambiguous_forms_are_refused_with_the_forms_named(tmp_path, form):
    with pytest.raises(ConfigError, match=r'"\*"'):
        load_tokens(_file(tmp_path, form))


def test_ledger_replay_invoice_reads_the_municipality_from_the_number():
    from replay.cli import app

    result = CliRunner().invoke(app, ["invoice", "X-1", "--db", "sqlite:///nowhere.db"])
    assert result.exit_code == 2 and "pass --municipality" in result.output
