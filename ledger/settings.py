"""One typed settings object, read once from the environment.

Every knob the ledger has lives here, so a reader can see at a glance what can be configured.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


class ConfigError(ValueError):
    """The environment holds a setting the ledger cannot use."""


def _int(env: dict[str, str], key: str, default: int, *, low: int, high: int) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{key} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{key} must be between {low} and {high}, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///ledger.db"
    # A reminder fee may not exceed 100 DKK (domain.md §2); the setting can only lower it.
    reminder_fee_ore: int = 10_000
    reminder_min_days_apart: int = 10
    reminder_max_count: int = 3
    payment_terms_days: int = 14
    substitution_window_days: int = 90
    tokens_file: str | None = None
    log_format: str = "auto"  # auto | console | json
    # The master key wrapping the citizens' keys, never in the database (ledger.identity.master):
    # the key itself (base64) or a file holding it; neither: a generated file beside the database.
    master_key: str | None = None
    master_key_file: str | None = None
    # A directory (kept away from the database) that every invoice run writes a signed checkpoint to.
    checkpoint_dir: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        return cls(
            database_url=env.get("LEDGER_DATABASE_URL") or "sqlite:///ledger.db",
            reminder_fee_ore=_int(env, "LEDGER_REMINDER_FEE_ORE", 10_000, low=0, high=10_000),
            reminder_min_days_apart=_int(env, "LEDGER_REMINDER_DAYS_APART", 10, low=10, high=365),
            reminder_max_count=_int(env, "LEDGER_REMINDER_MAX", 3, low=0, high=3),
            payment_terms_days=_int(env, "LEDGER_PAYMENT_TERMS_DAYS", 14, low=0, high=90),
            substitution_window_days=_int(env, "LEDGER_SUBSTITUTION_WINDOW_DAYS", 90, low=1, high=730),
            tokens_file=env.get("LEDGER_TOKENS_FILE") or None,
            log_format=env.get("LEDGER_LOG_FORMAT", "auto"),
            master_key=env.get("LEDGER_MASTER_KEY") or None,
            master_key_file=env.get("LEDGER_MASTER_KEY_FILE") or None,
            checkpoint_dir=env.get("LEDGER_CHECKPOINT_DIR") or None,
        )
