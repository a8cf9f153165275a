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
    """Per municipality: invoices, debit and credit notes, payments, refunds, balances, revenue, runs (every
    figure from billing_queries). With an as-of date D the view is the billing on D: the documents
    issued (payments made, runs held) on or before D, each account's balance from its money dated up
    to D (allocated again as `ageing` does, so the same as `ledger citizen as-of --date D` shows), and
    the ageing of what is open on D. Revenue is per month billed and stays whole (it has no date)."""
    q = _module("billing_queries")
    if q is None:
        return None
    out: dict[str, Any] = {}
    for m in _municipalities(db, "billing_accounts"):
        view = {
            "invoices": q.invoices(db, m),
            "debit_notes": q.debit_notes(db, m),
            "credit_notes": q.credit_notes(db, m),
            "payments": q.payments(db, m),
            "refunds": q.refunds(db, m),
            "balances": q.balances(db, m),
            "revenue": q.revenue(db, m),
            "runs": q.runs(db, m),
        }
        if as_of is not None:
            for name in ("invoices", "debit_notes", "credit_notes"):
                view[name] = [d for d in view[name] if d["issued_on"] <= as_of]
            view["payments"] = [_payment_on(p, as_of) for p in view["payments"] if p["paid_on"] <= as_of]
            view["refunds"] = [r for r in view["refunds"] if r["refunded_on"] <= as_of]
            view["runs"] = [r for r in view["runs"] if r["run_date"] <= as_of]
            view["balances"] = _balances_on(db, q, m, as_of)
            view["ageing"] = q.ageing(db, m, as_of)
        out[str(m)] = view
    return out


def _payment_on(payment: dict[str, Any], day: str) -> dict[str, Any]:
    """A payment as it stood on `day`: a reversal made later had not happened yet."""
    if payment["reversed"] and (payment["reversed_on"] or "") > day:
        return {**payment, "reversed": False, "reversed_on": None, "reversal_reason": None}
    return payment


def _balances_on(db: Database, q: Any, municipality: int, day: str) -> list[dict[str, Any]]:
    """`billing_queries.balances` on `day`: the same totals as the billing projection keeps, of the
    account's money events dated up to `day` (ledger.projections.billing, the account's totals)."""
    import orjson

    from ledger.domain.allocation import allocate
    from ledger.projections.billing import money_events

    out = []
    money = {r["citizen_id"]: r["money"] for r in q.rows(
        db, "SELECT citizen_id, money FROM billing_account_state WHERE municipality = ?", (municipality,))}
    for acct in q.rows(db, "SELECT citizen_id FROM billing_accounts WHERE municipality = ? AND opened_on <= ? "
                           "ORDER BY citizen_id", (municipality, day)):
        stored = money.get(acct["citizen_id"])
        events = [e for e in money_events(orjson.loads(stored)) if e.on <= day] if stored else []
        state = allocate(events, as_of=day)
        totals = {"invoiced": 0, "fees": 0, "credited": 0, "paid": 0, "refunded": 0}
        for e in events:
            if e.kind in ("invoice", "debit_note"):
                totals["invoiced"] += e.amount
            elif e.kind == "payment":
                if e.reversed_on is None or e.reversed_on > day:
                    totals["paid"] += e.amount
            elif e.kind == "reminder":
                totals["fees"] += e.amount
            elif e.kind == "refund":
                totals["refunded"] += e.amount
            elif e.kind == "claim":
                pass  # what a bounced payment left refunded sits in `owed`; no total of its own (ADR 0029)
            else:
                totals["credited"] += e.amount
        out.append({"citizen_id": acct["citizen_id"], **totals, "owed": sum(state.owed.values()),
                    "credit": state.credit, "balance": state.balance,
                    "open_invoices": sum(1 for v in state.owed.values() if v > 0)})
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
