"""One citizen as effective on D and as known at K: grants, provider, orders, deliveries, balance.

No projection of its own: the citizen's aggregates are loaded from the store with only their
events recorded by K (recorded time never runs backwards within an aggregate, so that is a prefix
of each stream), and the domain's own queries are asked about D. Money and delivery events are
folded with their own `apply` methods, keeping those effective by D. Which orders and deliveries
belong to the citizen is looked up in the audit projection's tables (known now, a superset of
what was known at K); anything with no event recorded by K is left out.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any, TypeVar
from uuid import UUID

from ledger.domain.account import Account, account_id
from ledger.domain.delivery import Delivery
from ledger.domain.order import Order
from ledger.domain.allocation import allocate
from ledger.domain.assessment import assessment_id
from ledger.domain.errors import InvalidInput, NotFound


def _instant(known_at: str | None) -> datetime | None:
    if known_at is None:
        return None
    try:
        k = datetime.fromisoformat(known_at.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"known_at must be an ISO instant, got {known_at!r}", field="known_at") from None
    return k if k.tzinfo else k.replace(tzinfo=timezone.utc)


def _events(repo: Any, uid: UUID, k: datetime | None) -> list[Any]:
    out = []
    for e in repo.event_store.get(uid):
        if k is not None and e.timestamp > k:
            break  # a prefix: later events of the same aggregate are recorded later still
        out.append(e)
    return out


A = TypeVar("A")


def _fold(cls: type[A], events: list[Any], on: str) -> A | None:
    """The aggregate's state from its creation and the events effective by `on` (each event's own
    `apply`, on a bare instance of the aggregate class: the library's constructor is not run)."""
    if not events:
        return None
    state: A = object.__new__(cls)
    state.__dict__["_id"] = events[0].originator_id
    for n, e in enumerate(events):
        if n == 0 or (e.effective or "") <= on:
            e.apply(state)
    return state


def _ids(db: Any, table: str, column: str, citizen: str) -> list[str]:
    try:
        return [r[0] for r in db.query(f"SELECT {column} FROM {table} WHERE citizen_id = ? ORDER BY {column}",
                                       [citizen])]
    except Exception:  # the audit projection not built yet: no orders known
        return []


def citizen_as_of(ledger: Any, citizen_id: str, on: str, known_at: str | None = None) -> dict[str, Any]:
    """The read; raises NotFound when the citizen was not recorded by K."""
    try:
        cid = UUID(str(citizen_id))
    except ValueError:
        raise InvalidInput(f"citizen id must be a UUID, got {citizen_id!r}", field="citizen_id") from None
    from ledger.projections.reader import head_position

    d = date.fromisoformat(on)
    k = _instant(known_at)
    # The head of the log when the read starts. As known "now" means as recorded by this instant,
    # so a command stored while the read runs cannot leak half into the answer.
    position = head_position(ledger.db)
    if k is None:
        k = datetime.now(timezone.utc)
    repo = ledger.repository
    person_events = _events(repo, cid, k)
    if not person_events:
        raise NotFound(f"citizen {cid} is not recorded" + (f" by {known_at}" if known_at else ""))
    person = repo.get(cid, version=person_events[-1].originator_version)
    assessment_events = _events(repo, assessment_id(cid), k)
    grants = []
    if assessment_events:
        assessment = repo.get(assessment_id(cid), version=assessment_events[-1].originator_version)
        grants = assessment.active_on(d)
    orders = []
    for oid in _ids(ledger.db, "au_orders", "order_id", str(cid)):
        o = _fold(Order, _events(repo, UUID(oid), k), on)
        if o is None or o.start > on:
            continue
        status = "cancelled" if o.cancelled_from is not None and o.cancelled_from <= on else (
            "ended" if o.end is not None and o.end < on else "active")
        orders.append({"order_id": oid, "offer_id": o.offer_id, "kind": o.kind, "start": o.start, "end": o.end,
                       "every_weeks": o.every_weeks, "minutes": o.minutes, "band": o.band,
                       "cancelled_from": o.cancelled_from, "status": status, "quoted": o.quoted})
    deliveries = []
    for did in _ids(ledger.db, "au_deliveries", "delivery_id", str(cid)):
        events = _events(repo, UUID(did), k)
        if not events or events[0].effective > on:
            continue
        x = _fold(Delivery, events, on)
        assert x is not None
        deliveries.append({"delivery_id": did, "order_id": events[0].order_id, "date": events[0].effective,
                           "delivered": type(events[0]).__name__ == "DeliveryRecorded", "minutes": x.minutes,
                           "band": x.band, "klippekort": x.klippekort,
                           "after_granted_visit": bool(getattr(events[0], "after_granted_visit", False)),
                           "withdrawn": getattr(x, "withdrawn", None)})
    account = _fold(Account, _events(repo, account_id(cid), k), on)
    balance = allocate(account.money).balance if account is not None else 0
    invoices = sorted(account.invoices) if account is not None else []
    heads = [e[-1].originator_version for e in (person_events, assessment_events) if e]
    return {
        "citizen_id": str(cid), "municipality": person.municipality, "as_of": on, "known_at": known_at,
        "provider": person.provider_on(d), "residence": person.residence_on(d),
        "grants": grants, "orders": orders, "deliveries": sorted(deliveries, key=lambda x: (x["date"], x["delivery_id"])),
        "invoices": invoices, "balance": balance, "log_position": position, "versions": {"citizen": heads[0],
                                                               "assessment": heads[1] if len(heads) > 1 else 0},
    }
