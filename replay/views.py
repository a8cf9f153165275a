"""The readers' views written by `rebuild --known-at`: the query modules' answers as of a date.

The query modules (ledger/projections/*_queries.py) read the projections' tables by their live
names, so `rebuild` builds the projections in a scratch SQLite database of their own (see
snapshot.py) and asks the query modules there, unchanged. Each view is a plain function of
(scratch database, as-of date) returning JSON-ready data; a projection without one (or whose
query module is not installed) is written as a table dump only.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from ledger.db import Database
from ledger.settings import Settings

View = Callable[[Database, "str | None", str, Settings], Any]


def _module(name: str) -> Any | None:
    try:
        return importlib.import_module(f"ledger.projections.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"ledger.projections.{name}":
            raise
        return None


def _municipalities(db: Database, table: str) -> list[int]:
    return [int(m) for (m,) in db.query(f"SELECT DISTINCT municipality FROM {table} ORDER BY municipality")]


def billing_view(db: Database, as_of: str | None, known_at: str, settings: Settings) -> Any:
    """Per municipality: invoices, credit notes, payments, balances, revenue, runs, and the
    ageing of what is open on the as-of date (every figure from billing_queries)."""
    q = _module("billing_queries")
    if q is None:
        return None
    out: dict[str, Any] = {}
    for m in _municipalities(db, "billing_accounts"):
        view = {
            "invoices": q.invoices(db, m),
            "credit_notes": q.credit_notes(db, m),
            "payments": q.payments(db, m),
            "balances": q.balances(db, m),
            "revenue": q.revenue(db, m),
            "runs": q.runs(db, m),
        }
        if as_of is not None:
            view["ageing"] = q.ageing(db, m, as_of)
        out[str(m)] = view
    return out


def timeline_view(db: Database, as_of: str | None, known_at: str, settings: Settings) -> Any:
    """The network's timeline on the as-of date, and each municipality's month series."""
    q = _module("timeline_queries")
    if q is None:
        return None
    view: dict[str, Any] = {"series": {str(m): q.series(db, m) for m in q.scheme_municipalities(db)}}
    if as_of is not None:
        view["timeline"] = q.timeline(db, None, as_of)
    return view


def audit_view(db: Database, as_of: str | None, known_at: str, settings: Settings) -> Any:
    """Per municipality with a scheme: the audit (substitution signals, overlap, full cost,
    completeness, evaluation) of the facts dated up to the as-of date. Completeness is judged on
    the as-of date, or on K's date without one (never on "today": the output must not depend on
    when it is made). The substitution window is the ledger's setting, and the view names it."""
    q = _module("audit_queries")
    if q is None:
        return None
    window = settings.substitution_window_days
    judged_on = as_of or known_at[:10]
    return {str(m): q.audit(db, m, date_to=as_of, as_of=judged_on, window_days=window)
            for m in _municipalities(db, "au_schemes")}


# projection name -> its view; a projection not listed here is written as a table dump only.
VIEWS: dict[str, View] = {"billing": billing_view, "timeline": timeline_view, "audit": audit_view}


def view_for(projection_name: str) -> View | None:
    return VIEWS.get(projection_name)
