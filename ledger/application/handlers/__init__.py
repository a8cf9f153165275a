"""Moved: the handlers now live beside their commands in `ledger.application.commands.<resource>`
(ADR 0019). These names stay importable for one release, for code outside the application that
still imports `ledger.application.handlers.billing` or `.rerating` (replay/invoice.py)."""

from __future__ import annotations

import sys

from ledger.application.commands import billing, rerating

sys.modules[f"{__name__}.billing"] = billing
sys.modules[f"{__name__}.rerating"] = rerating
