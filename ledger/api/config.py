"""The HTTP service's own knobs, read once from the environment beside `ledger.settings.Settings`.

They live here (not in Settings) only because Settings is a core file owned elsewhere; each one
has a safe default and a bound, and a bad value refuses to start like every other setting.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ledger.settings import ConfigError


def _number(env: dict[str, str], key: str, default: float, low: float, high: float) -> float:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{key} must be a number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{key} must be between {low:g} and {high:g}, got {value:g}")
    return value


@dataclass(frozen=True)
class ApiConfig:
    # Requests above this many bytes of body are refused with 413 before anything reads them.
    max_body_bytes: int = 1 << 20
    # How long a query with `min_position` waits for the projections before 503.
    read_wait_seconds: float = 5.0
    # How often the server's background thread applies new events to the projections.
    catch_up_seconds: float = 0.5
    # /ready fails when any projection is further than this many positions behind the log head.
    ready_max_lag: int = 10_000
    # Run the projection catch-up thread in this process (turn off when another process does it).
    follow: bool = True
    # Most commands written in one transaction by the group-commit writer (1: one per transaction).
    max_batch: int = 64
    # Writer threads (groups in flight at once).
    writers: int = 4

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ApiConfig:
        env = dict(os.environ if env is None else env)
        follow = env.get("LEDGER_API_FOLLOW", "1").strip().lower()
        if follow not in ("0", "1", "true", "false", "yes", "no"):
            raise ConfigError(f"LEDGER_API_FOLLOW must be 1 or 0, got {follow!r}")
        return cls(
            max_body_bytes=int(_number(env, "LEDGER_API_MAX_BODY_BYTES", 1 << 20, 1024, 64 << 20)),
            read_wait_seconds=_number(env, "LEDGER_API_READ_WAIT_SECONDS", 5.0, 0.0, 60.0),
            catch_up_seconds=_number(env, "LEDGER_API_CATCH_UP_SECONDS", 0.5, 0.05, 60.0),
            ready_max_lag=int(_number(env, "LEDGER_API_READY_MAX_LAG", 10_000, 0, 10**9)),
            follow=follow in ("1", "true", "yes"),
            max_batch=int(_number(env, "LEDGER_API_MAX_BATCH", 64, 1, 1000)),
            writers=int(_number(env, "LEDGER_API_WRITERS", 4, 1, 32)),
        )
