"""`invoice NUMBER`: reproduce an issued invoice from the log alone, line by line.

The `InvoiceIssued` event holds the invoice as issued. Every aggregate a line depends on
(delivery, order, the municipality's catalogue and scheme, the citizen's assessment and account)
is loaded in memory from the events stored *before* that event (the run saw nothing later), and
each line is computed again with the domain's own `delivery_line` / `fee_line` and its
`grant_ref`, which the invoice run uses too. The result is compared field by field with the stored line, including its
provenance (so the price version, order, delivery and grant it names are checked too).

No application, projection or write is involved: this works on a read-only copy of the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, TypeVar
from uuid import UUID

import orjson
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

from ledger.domain.account import Account
from ledger.domain.assessment import Assessment, assessment_id, grant_ref
from ledger.domain.catalogue import Catalogue, catalogue_id
from ledger.domain.delivery import Delivery
from ledger.domain.errors import NotFound
from ledger.domain.order import Order
from ledger.domain.pricing import delivery_line, fee_line
from ledger.domain.scheme import Scheme, scheme_id
from ledger.domain.values import parse_month
from ledger.store.transcoder import OrjsonTranscoder
from replay.errors import UsageError
from replay.store import Store

A = TypeVar("A")
INVOICE_TOPIC = get_topic(Account.InvoiceIssued)
MONEY = ("net", "vat", "gross")


class Repository:
    """Aggregates rebuilt in memory from the events stored before one notification id.

    Shaped like the application's unit of work (`get`), so the invoice run's own helpers can be
    called on it unchanged.
    """

    def __init__(self, store: Store, before: int) -> None:
        self.store = store
        self.before = before
        self.mapper: Mapper[UUID] = Mapper(transcoder=OrjsonTranscoder())
        self.loaded: dict[UUID, Any] = {}

    def events(self, aggregate_id: UUID) -> list[tuple[int, str, bytes]]:
        return self.store.aggregate_events(aggregate_id, self.before)

    def find(self, cls: type[A], aggregate_id: UUID) -> A | None:
        if aggregate_id not in self.loaded:
            agg = None
            for version, topic, state in self.events(aggregate_id):
                stored = StoredEvent(originator_id=aggregate_id, originator_version=version, topic=topic, state=state)
                agg = self.mapper.to_domain_event(stored).mutate(agg)  # type: ignore[attr-defined]
            self.loaded[aggregate_id] = agg
        agg = self.loaded[aggregate_id]
        return agg if isinstance(agg, cls) else None

    def get(self, cls: type[A], aggregate_id: UUID, what: str | None = None) -> A:
        agg = self.find(cls, aggregate_id)
        if agg is None:
            raise NotFound(f"no {what or cls.__name__.lower()} {aggregate_id} before the invoice")
        return agg


@dataclass
class LineResult:
    line_no: int | None  # as stored (None if the stored line lacks it)
    kind: str | None
    stored: dict[str, Any]
    recomputed: dict[str, Any] | None
    differences: list[tuple[str, Any, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences and not self.problems


@dataclass
class Reproduction:
    number: str
    municipality: int
    notification_id: int
    account_id: str
    state: dict[str, Any]
    lines: list[LineResult] = field(default_factory=list)
    citizen_id: str | None = None  # whose document it is (the account's citizen), for the access log
    totals: list[tuple[str, Any, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(line.ok for line in self.lines) and not self.totals


def find_invoice(store: Store, number: str, municipality: int) -> tuple[int, str, int, dict[str, Any]]:
    """(notification id, account id, version, state) of the invoice's InvoiceIssued event."""
    needle = orjson.dumps(number)
    for page in store.events_with_topics([INVOICE_TOPIC]):
        for nid, oid, ver, _topic, raw in page:
            if needle not in raw:  # cheap pre-filter before decoding
                continue
            state = orjson.loads(raw)
            if state.get("number") == number and state.get("municipality") == municipality:
                return nid, oid, ver, state
    raise UsageError(f"no invoice {number} of municipality {municipality} in {store.describe()}")


def reproduce(store: Store, number: str, municipality: int) -> Reproduction:
    nid, account_id, _version, state = find_invoice(store, number, municipality)
    repo = Repository(store, nid)
    result = Reproduction(number, municipality, nid, account_id, state)
    account = repo.find(Account, UUID(account_id))
    result.citizen_id = getattr(account, "citizen_id", None)
    for stored in state.get("lines", []):
        result.lines.append(_line(repo, municipality, state, account, stored))
    recomputed = [line.recomputed or {} for line in result.lines]
    for key in MONEY:
        total = sum(line.get(key, 0) for line in recomputed)
        if state.get(key) != total:
            result.totals.append((key, state.get(key), total))
    return result


def _line(repo: Repository, m: int, invoice: dict[str, Any], account: Account | None,
          stored: dict[str, Any]) -> LineResult:
    line_no, kind = stored.get("line_no"), stored.get("kind")
    result = LineResult(line_no, kind, stored, None)
    key = stored.get("billing_key")
    if account is not None and key is not None and account.line_for(key) is not None:
        result.problems.append(f"{key} was already billed on invoice {account.line_for(key)[0]}")  # type: ignore[index]
    try:
        if kind == "delivery":
            result.recomputed = _delivery_line(repo, m, invoice, stored, result.problems)
        elif kind == "late_cancellation":
            result.recomputed = _fee_line(repo, m, stored, result.problems)
        elif kind == "interest":
            result.recomputed = _interest_line(repo, m, invoice, account, stored)
        else:
            result.problems.append(f"unknown line kind {kind!r}")
    except (NotFound, KeyError, ValueError) as e:
        result.problems.append(f"cannot recompute: {getattr(e, 'message', None) or e}")
    if result.recomputed is not None:
        result.differences = differences(stored, result.recomputed)
    return result


def _delivery_line(repo: Repository, m: int, invoice: dict[str, Any], stored: dict[str, Any],
                   problems: list[str]) -> dict[str, Any]:
    d = repo.get(Delivery, UUID(stored.get("delivery_id") or stored["billing_key"]), "delivery")
    o = repo.get(Order, UUID(d.order_id), "order")
    if d.municipality != m:
        problems.append(f"delivery {d.id} belongs to municipality {d.municipality}")
    if not d.billable:
        why = "a missed visit" if not d.delivered else ("klippekort" if d.klippekort else d.withdrawn)
        problems.append(f"delivery {d.id} was not billable when invoiced ({why})")
    if d.date > parse_month(invoice["month"])[1].isoformat():
        problems.append(f"delivery {d.id} on {d.date} is after the month billed ({invoice['month']})")
    scheme = repo.get(Scheme, scheme_id(m), "scheme")
    offer = repo.get(Catalogue, catalogue_id(m), "catalogue").offer(o.offer_id)
    rules = scheme.rules_on(date.fromisoformat(d.date))
    assessment = repo.get(Assessment, assessment_id(o.citizen_id), "assessment")
    grant = grant_ref(assessment, o.eligibility, d.date, rules["sections"])
    return delivery_line(stored["line_no"], d, o, offer, rules, grant).to_payload()


def _fee_line(repo: Repository, m: int, stored: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    o = repo.get(Order, UUID(stored["order_id"]), "order")
    ref = stored["provenance"]["cancellation"]
    oid, _, ver = ref.rpartition(":")
    cancelled = next((orjson.loads(s) for v, t, s in repo.events(UUID(oid))
                      if v == int(ver) and t == get_topic(Order.OrderCancelled)), None)
    if UUID(oid) != o.id or cancelled is None:
        raise NotFound(f"the cancellation {ref} is not an OrderCancelled event of order {o.id} before the invoice")
    if not (cancelled.get("late") and cancelled.get("fee_ore", 0) > 0):
        problems.append(f"the cancellation {ref} was not late or carried no fee")
    offer = repo.get(Catalogue, catalogue_id(m), "catalogue").offer(o.offer_id)
    return fee_line(stored["line_no"], o, offer, cancelled["effective"], cancelled["fee_ore"], ref,
                    o.quoted["vat_class"]).to_payload()


def _interest_line(repo: Repository, m: int, invoice: dict[str, Any], account: Account | None,
                   stored: dict[str, Any]) -> dict[str, Any]:
    """Default interest again, from the account and the rate table as they stood before the invoice."""
    from ledger.domain.interest import ReferenceRates, rates_id

    if account is None:
        raise NotFound("the account did not exist before the invoice")
    rates = repo.get(ReferenceRates, rates_id(m), "reference rate table")
    document = stored["interest"]["document"]
    # Lines issued before round 7 counted from the day after the due date (docs/adr/0028): a
    # document's first line that starts then can only be of that count (the rule now starts it
    # on the due date itself), so it is reproduced by that count.
    doc = account.invoices.get(document) or account.debit_notes.get(document)
    day_after = doc is not None and document not in account.interest_to and stored["interest"]["from"] == (
        date.fromisoformat(doc["due_on"]) + timedelta(days=1)).isoformat()
    for line in account.interest_due(rates, date.fromisoformat(invoice["effective"]), from_due_date=not day_after):
        if line.interest is not None and line.interest.document == document:
            return line.numbered(stored["line_no"]).to_payload()
    raise NotFound(f"no interest was due on {document} when the invoice was issued")


def differences(stored: dict[str, Any], recomputed: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(field, stored, recomputed) for every field that differs; nested dicts by dotted name."""
    a, b = _flat(stored), _flat(recomputed)
    missing = object()
    return [(k, a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys())
            if a.get(k, missing) != b.get(k, missing)]


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


# -- debit and credit notes ----------------------------------------------------------------------
NOTE_TOPICS = (get_topic(Account.DebitNoteIssued), get_topic(Account.CreditNoteIssued))


def find_note(store: Store, number: str, municipality: int) -> tuple[int, str, dict[str, Any]]:
    """(notification id, account id, state) of the note's DebitNoteIssued or CreditNoteIssued event."""
    needle = orjson.dumps(number)
    for page in store.events_with_topics(list(NOTE_TOPICS)):
        for nid, oid, _ver, _topic, raw in page:
            if needle not in raw:
                continue
            state = orjson.loads(raw)
            if state.get("number") == number and state.get("municipality") == municipality:
                return nid, oid, state
    raise UsageError(f"no debit or credit note {number} of municipality {municipality} in {store.describe()}")


def reproduce_note(store: Store, number: str, municipality: int) -> Reproduction:
    """Reproduce a debit or credit note from the log alone.

    A re-rating line (it names `caused_by`) is computed again with the invoice run's own
    `rerating.difference` over the aggregates as they stood just before the note: the amounts, the
    invoice line it adjusts and the events named as causes must all be the same. A credit note for
    a withdrawn delivery must credit exactly what was still charged for it, and the delivery must be
    withdrawn by then."""
    from ledger.application.commands.rerating import difference

    nid, account_id, state = find_note(store, number, municipality)
    repo = Repository(store, nid)
    result = Reproduction(number, municipality, nid, account_id, state)
    account = repo.find(Account, UUID(account_id))
    result.citizen_id = getattr(account, "citizen_id", None)
    sign = 1 if "due_on" in state else -1  # a debit note adds, a credit note takes away
    for stored in state.get("lines", []):
        line = LineResult(stored.get("line_no", 0), "rerating" if "caused_by" in stored else "withdrawal", stored, None)
        result.lines.append(line)
        key = stored.get("billing_key")
        try:
            if account is None or key not in account.issued:
                line.problems.append(f"{key} was never billed on this account before the note")
                continue
            if "caused_by" in stored:
                scheme = repo.get(Scheme, scheme_id(municipality), "scheme")
                cat = repo.get(Catalogue, catalogue_id(municipality), "catalogue")
                diff = difference(repo, scheme, cat, account, key)
                if diff is None:
                    line.problems.append(f"{key} owed what was charged before the note: nothing to adjust")
                    continue
                line.recomputed = {"invoice_line_no": diff["invoice_line_no"], "billing_key": key,
                                   **{k: sign * diff["delta"][k] for k in MONEY}, "caused_by": diff["caused_by"]}
                if state.get("invoice_number") != diff["invoice_number"]:
                    line.problems.append(f"{key} was billed on {diff['invoice_number']}, not {state.get('invoice_number')}")
            else:
                d = repo.get(Delivery, UUID(key), "delivery")
                if d.withdrawn is None:
                    line.problems.append(f"delivery {key} was not withdrawn before the credit note")
                line.recomputed = {"invoice_line_no": account.issued[key]["line_no"], "billing_key": key,
                                   **account.still_charged(key)}
            line.differences = differences({k: stored.get(k) for k in line.recomputed}, line.recomputed)
        except (NotFound, KeyError, ValueError) as e:
            line.problems.append(f"cannot recompute: {getattr(e, 'message', None) or e}")
    for key in MONEY:
        total = sum((line.recomputed or {}).get(key, 0) for line in result.lines)
        if state.get(key) != total:
            result.totals.append((key, state.get(key), total))
    return result
