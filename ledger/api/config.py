"""The HTTP service's knobs. They live in the one settings object (`ledger.settings.Settings.api`,
variables `LEDGER_API_<NAME>`); this module keeps the name the API's code and tests use."""

from __future__ import annotations

from ledger.settings import ApiSettings as ApiConfig

__all__ = ["ApiConfig"]
