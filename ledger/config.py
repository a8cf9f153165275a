"""What reading the configuration needs without pydantic: the variables' prefix, the default store,
`ConfigError`, and the one shortcut a command that needs only the store may take.

`ledger.settings` builds the typed settings object on these; `ledger.db` raises `ConfigError`
for a bad `LEDGER_DATABASE_URL`. Importing this module costs nothing, so `ledger projections
status` can name its store and handle a bad URL without importing pydantic (issue 12).
"""

from __future__ import annotations

from collections.abc import Mapping


class ConfigError(ValueError):
    """The environment holds a setting the ledger cannot use."""


PREFIX = "LEDGER_"
DATABASE_URL = PREFIX + "DATABASE_URL"
DEFAULT_DATABASE_URL = "sqlite:///ledger.db"


def database_url_alone(env: Mapping[str, str]) -> str | None:
    """The store's URL when `LEDGER_DATABASE_URL` is the only ledger variable in `env`, else None.

    Then `Settings.from_env(env)` holds the defaults and this URL and cannot fail (an empty value
    means the default, any other string is a valid URL setting), so a caller that needs only the
    URL may skip building the settings. With any other `LEDGER_…` variable (in any case: the
    settings read names case-insensitively) the answer is None and the caller reads the settings,
    so a bad value is still refused."""
    if any(name != DATABASE_URL and name.upper().startswith(PREFIX) for name in env):
        return None
    return env.get(DATABASE_URL) or DEFAULT_DATABASE_URL
