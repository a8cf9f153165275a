"""Read models built from the event log by the projection engine (engine.py).

`all_projections()` lists every projection the ledger maintains; each lives in its own module.
"""

from __future__ import annotations

import importlib
from typing import Any

# (module, class) of every projection; the engine rebuilds them together in one pass over the log.
REGISTRY = (
    ("ledger.projections.billing", "BillingProjection"),
    ("ledger.projections.timeline", "TimelineProjection"),
    ("ledger.projections.audit", "AuditProjection"),
    ("ledger.projections.surveys", "SurveyProjection"),
)


def all_projections() -> list[Any]:
    found = []
    for module, cls in REGISTRY:
        try:
            found.append(getattr(importlib.import_module(module), cls)())
        except ModuleNotFoundError as e:  # not written yet
            if e.name != module:
                raise
    return found
