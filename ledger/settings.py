"""One typed settings object, read once from the environment at the edge of the process.

Every knob the ledger has lives here (the HTTP service's under `api`), so a reader can see at a
glance what can be configured, its default and its bounds. The edges read it once and pass it down:
the `ledger` command (`ledger.cli.settings()`), the API's app factory (`ledger.api.main.app_from_env`)
and `ledger-replay`. Nothing below them reads the environment.

`Settings(...)` holds exactly what it is given (defaults for the rest): it never reads the
environment, so a test's `Settings(database_url=...)` cannot pick up a developer's exported
variables. `Settings.from_env()` is the one reader; a bad value raises `ConfigError` naming the
variable, and the edges turn that into exit code 2 before anything starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

from ledger.config import DEFAULT_DATABASE_URL, PREFIX, ConfigError


class ApiSettings(BaseModel):
    """The HTTP service's knobs (`LEDGER_API_<NAME>`); each has a safe default and a bound."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    # Requests above this many bytes of body are refused with 413 before anything reads them.
    max_body_bytes: int = Field(1 << 20, ge=1024, le=64 << 20)
    # How long a query with `min_position` waits for the projections before 503.
    read_wait_seconds: float = Field(5.0, ge=0.0, le=60.0)
    # How often the server's background thread applies new events to the projections.
    catch_up_seconds: float = Field(0.5, ge=0.05, le=60.0)
    # /ready fails when any projection is further than this many positions behind the log head.
    ready_max_lag: int = Field(10_000, ge=0, le=10**9)
    # Run the projection catch-up thread in this process (turn off when another process does it).
    follow: bool = True
    # PostgreSQL: `ledger serve` runs the projection catch-up in a process of its own (`ledger
    # projections follow`), so its steps never hold a server process's GIL (ADR 0031); off: one
    # server process's thread leads it, as before.
    follower_process: bool = True
    # Most commands written in one transaction by the group-commit writer (1: one per transaction).
    max_batch: int = Field(64, ge=1, le=1000)
    # Writer threads (groups in flight at once). One: with the writers' aggregate cache a group loads
    # little, so a second thread mostly splits the queue into smaller groups (ADR 0025).
    writers: int = Field(1, ge=1, le=32)
    # The sha256 of the throwaway administrator token `ledger serve --dev-token` made for this run
    # (set by `ledger serve` for its worker processes; never the token itself).
    dev_token_sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ApiSettings:
        """Compatibility: the `api` part of `Settings.from_env(env)`."""
        return Settings.from_env(env).api


class Settings(BaseSettings):
    # Variable names are the field names upper-cased after LEDGER_ (LEDGER_API_<NAME> for `api`),
    # except the two whose historical names differ (their aliases). Empty means "not set".
    model_config = SettingsConfigDict(env_prefix=PREFIX, env_nested_delimiter="_", env_nested_max_split=1,
                                      env_ignore_empty=True, case_sensitive=False, frozen=True,
                                      populate_by_name=True, extra="forbid")

    database_url: str = Field(DEFAULT_DATABASE_URL, min_length=1)
    # A reminder fee may not exceed 100 DKK (domain.md §2); the setting can only lower it.
    reminder_fee_ore: int = Field(10_000, ge=0, le=10_000)
    reminder_min_days_apart: int = Field(10, ge=10, le=365, validation_alias="LEDGER_REMINDER_DAYS_APART")
    reminder_max_count: int = Field(3, ge=0, le=3, validation_alias="LEDGER_REMINDER_MAX")
    payment_terms_days: int = Field(14, ge=0, le=90)
    substitution_window_days: int = Field(90, ge=1, le=730)
    # How far back a run may bill (months of service before the run's date), first-time lines and
    # re-rating differences alike; older ones are reported, not billed. 36: forældelsesloven § 3.
    rerate_months: int = Field(36, ge=0, le=36)  # a municipality may choose shorter, never longer
    # The audit flags a price more than this far from full cost, either way (basis points of the
    # cost total: 200 = 2 %); 0 flags any difference.
    full_cost_tolerance_bp: int = Field(0, ge=0, le=5_000)
    # Default interest (renteloven § 5: reference rate + 8 % a year) on overdue invoices and debit
    # notes, billed by the next invoice run. Off by default: many municipalities charge none.
    default_interest: bool = False
    # Each invoice run also publishes the billing projection's digest at its chain head (ADR 0021):
    # a digest of the whole billing tables, so its cost grows with them. `ledger import` turns it
    # off (a migration's runs are checked after by `ledger-replay verify-runs`, which rebuilds it).
    run_billing_digest: bool = True
    tokens_file: str | None = None
    log_format: Literal["auto", "console", "json"] = "auto"
    # The master key wrapping the citizens' keys, never in the database (ledger.identity.master):
    # the key itself (base64) or a file holding it; neither: a generated file beside the database.
    master_key: str | None = Field(None, repr=False)
    master_key_file: str | None = None
    # A directory (kept away from the database) that every invoice run writes a signed checkpoint to.
    checkpoint_dir: str | None = None
    api: ApiSettings = Field(default_factory=ApiSettings)
    extra: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Construction takes only what it is given; `from_env` is the one reader of the environment.
        return (init_settings,)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings from the environment (or from `env`, for tests); ConfigError on a bad value."""
        source = _Environment(cls, env)
        try:
            return cls(**source())
        except ValidationError as e:
            raise ConfigError(config_message(e)) from None

    def replace(self, **changes: Any) -> Settings:
        """A copy with some values changed, validated like the original."""
        try:
            return type(self)(**{**self.model_dump(), **changes})
        except ValidationError as e:
            raise ConfigError(config_message(e)) from None


class _Environment(EnvSettingsSource):
    """The library's environment source, over `os.environ` or over a mapping given for a test."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str] | None) -> None:
        self._given = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        if self._given is None:
            return super()._load_env_vars()
        return parse_env_vars(self._given, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


def variable(loc: tuple[Any, ...]) -> str:
    """The environment variable behind a validation error's location."""
    parts = [str(p) for p in loc]
    if parts and parts[0].startswith(PREFIX):
        return parts[0]
    if parts and parts[0] in Settings.model_fields:
        alias = Settings.model_fields[parts[0]].validation_alias
        if isinstance(alias, str):
            return alias
    return PREFIX + "_".join(p.upper() for p in parts[:2])


def config_message(e: ValidationError) -> str:
    """One line per bad value: the variable, what is wrong, what was given."""
    lines = []
    for err in e.errors():
        given = err.get("input")
        shown = "" if isinstance(given, dict) else f", got {given!r}"
        lines.append(f"{variable(err['loc'])}: {err['msg'].lower()}{shown}")
    return "; ".join(lines)
