"""The one settings object: read from the environment once, at the edge; bad values refuse to start."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ledger.api.config import ApiConfig
from ledger.cli import app as cli
from ledger.config import database_url_alone
from ledger.settings import ConfigError, Settings


def test_settings_read_from_the_environment_use_the_documented_variable_names():
    s = Settings.from_env({"LEDGER_DATABASE_URL": "sqlite:///x.db", "LEDGER_REMINDER_DAYS_APART": "14",
                           "LEDGER_REMINDER_MAX": "2", "LEDGER_PAYMENT_TERMS_DAYS": "30",
                           "LEDGER_SUBSTITUTION_WINDOW_DAYS": "60", "LEDGER_TOKENS_FILE": "t.toml",
                           "LEDGER_LOG_FORMAT": "json", "LEDGER_API_FOLLOW": "0", "LEDGER_API_MAX_BATCH": "1",
                           "LEDGER_API_READ_WAIT_SECONDS": "2.5", "LEDGER_TEST_PG": "not a setting"})
    assert (s.database_url, s.reminder_min_days_apart, s.reminder_max_count, s.payment_terms_days) == \
        ("sqlite:///x.db", 14, 2, 30)
    assert (s.substitution_window_days, s.tokens_file, s.log_format) == (60, "t.toml", "json")
    assert (s.api.follow, s.api.max_batch, s.api.read_wait_seconds) == (False, 1, 2.5)


def test_an_empty_variable_means_the_default():
    assert Settings.from_env({"LEDGER_DATABASE_URL": "", "LEDGER_API_WRITERS": ""}) == Settings()


def test_constructing_settings_never_reads_the_environment(monkeypatch):
    monkeypatch.setenv("LEDGER_TOKENS_FILE", "exported.json")
    monkeypatch.setenv("LEDGER_API_FOLLOW", "0")
    s = Settings(database_url="sqlite:///given.db")
    assert s.tokens_file is None and s.api.follow is True
    assert Settings.from_env().tokens_file == "exported.json"


@pytest.mark.parametrize("variable, value, says", [
    ("LEDGER_REMINDER_FEE_ORE", "10001", "LEDGER_REMINDER_FEE_ORE: input should be less than or equal to 10000"),
    ("LEDGER_REMINDER_FEE_ORE", "ten", "LEDGER_REMINDER_FEE_ORE: input should be a valid integer"),
    ("LEDGER_REMINDER_DAYS_APART", "3", "LEDGER_REMINDER_DAYS_APART: input should be greater than or equal to 10"),
    ("LEDGER_API_FOLLOW", "maybe", "LEDGER_API_FOLLOW: input should be a valid boolean"),
    ("LEDGER_API_MAX_BODY_BYTES", "12", "LEDGER_API_MAX_BODY_BYTES: input should be greater than or equal to 1024"),
    ("LEDGER_LOG_FORMAT", "xml", "LEDGER_LOG_FORMAT: input should be 'auto', 'console' or 'json'"),
])
def test_a_bad_value_is_refused_with_the_variable_named(variable, value, says):
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({variable: value})
    assert says in str(refused.value) and repr(value) in str(refused.value)


def test_the_command_line_refuses_to_start_on_a_bad_setting_with_exit_code_2(tmp_path):
    result = CliRunner().invoke(cli, ["history", "00000000-0000-0000-0000-000000000000"],
                                env={"LEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}",
                                     "LEDGER_PAYMENT_TERMS_DAYS": "365"})
    assert result.exit_code == 2
    assert "LEDGER_PAYMENT_TERMS_DAYS: input should be less than or equal to 90" in result.output


def test_projections_status_refuses_a_bad_setting_too_though_it_reads_only_the_url(tmp_path):
    result = CliRunner().invoke(cli, ["projections", "status"],
                                env={"LEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}",
                                     "LEDGER_PAYMENT_TERMS_DAYS": "365"})
    assert result.exit_code == 2
    assert "LEDGER_PAYMENT_TERMS_DAYS: input should be less than or equal to 90" in result.output


@pytest.mark.parametrize("env", [{}, {"LEDGER_DATABASE_URL": ""}, {"LEDGER_DATABASE_URL": "sqlite:///x.db"},
                                 {"LEDGER_DATABASE_URL": " "}, {"HOME": "/root", "LEDGERX": "1"}])
def test_the_url_alone_is_the_url_the_settings_would_hold(env):
    assert database_url_alone(env) == Settings.from_env(env).database_url


@pytest.mark.parametrize("other", [{"LEDGER_PAYMENT_TERMS_DAYS": "365"}, {"ledger_database_url": "sqlite:///y.db"},
                                   {"Ledger_Api_Writers": "99"}, {"LEDGER_TEST_PG": "postgresql://elsewhere"}])
def test_with_any_other_ledger_variable_the_url_alone_defers_to_the_settings(other):
    assert database_url_alone({"LEDGER_DATABASE_URL": "sqlite:///x.db", **other}) is None


def test_the_api_knobs_live_in_the_settings_and_keep_their_old_name():
    assert ApiConfig is type(Settings().api)
    assert ApiConfig(follow=False).follow is False
    assert Settings().replace(api=ApiConfig(max_batch=1)).api.max_batch == 1
    with pytest.raises(ConfigError, match="LEDGER_API_WRITERS"):
        Settings().replace(api={"writers": 0})


def test_the_server_and_the_replay_tool_refuse_to_start_on_a_bad_setting_with_exit_code_2(tmp_path):
    from replay.cli import app as replay_cli

    bad = {"LEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}", "LEDGER_API_WRITERS": "99"}
    served = CliRunner().invoke(cli, ["serve", "--dev-token"], env=bad)
    assert served.exit_code == 2 and "LEDGER_API_WRITERS: input should be less than or equal to 32" in served.output
    replayed = CliRunner().invoke(replay_cli, ["verify"], env={**bad, "LEDGER_API_WRITERS": "", "LEDGER_REMINDER_MAX": "4"})
    assert replayed.exit_code == 2 and "LEDGER_REMINDER_MAX" in replayed.output


def test_a_misspelt_setting_given_in_code_is_refused_while_unknown_variables_are_left_alone():
    with pytest.raises(ValueError, match="databse_url"):
        Settings(databse_url="sqlite:///x.db")  # type: ignore[call-arg]
    assert Settings.from_env({"LEDGER_TEST_PG": "postgresql://elsewhere"}) == Settings()
