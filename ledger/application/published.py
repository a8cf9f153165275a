"""What an invoice run publishes about what it read, so an auditor can prove its figures (ADR 0021).

An invoice run reads the log, not projection tables (ADR 0006): the billable facts and the
re-rating triggers of one municipality between two chain positions. `run_read` describes that
read: the chain position the run read from and up to, the chain hash there, the event names it
asked for, how many events it read and the sha256 of exactly those events (`slice_digest`). It
is stored on the run's `InvoiceRunCompleted` event; `ledger-replay verify-runs` reads the same
slice again and recomputes it.

`billing_at` is the billing projection's digest (the one `ledger-replay verify` compares) with
the projection at exactly the run's chain head. It goes into the run's answer and command record,
not the event: its tables carry notification ids (`billing_invoices.log_position`), and run events
carry nothing taken from the id sequence (issue 13; tests/integration/test_run_determinism.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

SLICE_DIGEST = "sha256 of 'ledger-run-read-v1\\n' then, per event read in log order, JSON [name, id, version, state] (keys sorted) + '\\n'"


def slice_digest(entries: Iterable[tuple[str, str, int, dict[str, Any]]]) -> tuple[int, str]:
    """(events, hex digest) of (name, originator id, version, stored state) in log order."""
    h = hashlib.sha256(b"ledger-run-read-v1\n")
    n = 0
    for name, oid, ver, st in entries:
        h.update(orjson.dumps([name, oid, ver, st], option=orjson.OPT_SORT_KEYS) + b"\n")
        n += 1
    return n, h.hexdigest()


def run_read(scanned_from: int, chain_head: dict[str, Any], names: Sequence[str],
             scanned: Sequence[tuple[str, str, int, dict[str, Any]]]) -> dict[str, Any]:
    """The `read` field of InvoiceRunCompleted: the log slice (from, to] the run read and its digest."""
    events, digest = slice_digest(scanned)
    return {"from": scanned_from, "to": chain_head["position"], "hash": chain_head["hash"],
            "names": sorted(set(names)), "events": events, "digest": digest}


def billing_at(svc: Any, position: int) -> dict[str, Any]:
    """The billing projection's table digests with the projection at exactly chain position
    `position` (caught up to it if behind). When another writer's events were applied past it
    meanwhile the live tables cannot go back, and tables built by another version of the code are
not rebuilt inside a run: then `digests` is None and `why` says so (`position-passed`,
`needs-rebuild`). The run itself never fails for want of its digest."""
    from ledger.projections import cut
    from ledger.projections.billing import BillingProjection
    from ledger.projections.engine import Engine, NeedsRebuild

    projection = BillingProjection()
    nid = svc.notification_id_at(position)
    engine = Engine(svc.db, [projection])
    try:
        digests, _ = cut.read_at(svc.db, [projection],
                                 lambda _p: {t.name: engine.digest(t.name) for t in projection.tables}, nid)
    except cut.PositionError as e:
        return {"position": position, "notification": nid, "digests": None, "why": e.code}
    except NeedsRebuild:  # built by another version of the code: the run goes on without the digest
        return {"position": position, "notification": nid, "digests": None, "why": "needs-rebuild"}
    return {"position": position, "notification": nid, "digests": digests}


def published(svc: Any, read: dict[str, Any]) -> dict[str, Any]:
    """The run's answer: what it read, and the billing projection's digest at that position."""
    return {"read": read, "billing": billing_at(svc, int(read["to"]))}


def lines(answer: dict[str, Any]) -> list[str]:
    """The run's published digest as `ledger billing run` prints it."""
    p = answer.get("published")
    if not p:
        return []
    read, billing = p["read"], p["billing"]
    out = [f"read the log ({read['from']}, {read['to']}] (chain hash {read['hash'][:16]}…): {read['events']} events, "
           f"digest {read['digest']}"]
    if billing.get("digests"):
        out.extend(f"billing projection at position {billing['position']}: {name} {digest}"
                   for name, digest in sorted(billing["digests"].items()))
    else:
        out.append(f"billing projection digest not taken at position {billing['position']} ({billing.get('why')})")
    out.append("check with: ledger-replay verify-runs")
    return out
