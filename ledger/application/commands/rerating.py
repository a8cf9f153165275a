"""Re-rating: what each billed delivery is owed as the facts are known *now*, compared with what the
issued documents charged for it, and the debit and credit notes that settle the difference.

One function decides what a delivery is owed now (`owed_now`); the invoice run, the price
correction's preview and the reconciliation all call it, so they can never disagree. Issued
documents are never edited: a difference becomes a new document whose every line names the
invoice line it adjusts and the events that caused the difference (docs/adr/0011).
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from typing import Any
from uuid import UUID

from ledger.application.commands.orders import eligibility
from ledger.domain.account import Account, account_id
from ledger.domain.assessment import Assessment, assessment_id
from ledger.domain.assessment import grant_ref as eligible_grant_ref
from ledger.domain.citizen import Citizen
from ledger.domain.delivery import Delivery
from ledger.domain.errors import RuleViolated
from ledger.domain.order import Order
from ledger.domain.pricing import InvoiceLine, delivery_line
from ledger.domain.values import add_months, line_amounts

MONEY = ("net", "vat", "gross")
ZERO = {"net": 0, "vat": 0, "gross": 0}

# Facts that can change what an already billed delivery is owed. Catalogue and scheme facts reach
# every citizen of the municipality; the others reach one citizen.
MUNICIPAL_TRIGGERS = ("PriceChanged", "PriceVersionCorrected", "SchemeRulesChanged", "SchemeWindowChanged",
                      "SchemeWindowOpened")
CITIZEN_TRIGGERS = ("GrantEnded", "GrantCorrected", "GrantReassessed", "GrantAwarded", "ProviderChosen",
                    "DeliveryCancelled", "DeliveryDisputed")


def grant_ref(uow: Any, order: Order, on: str, sections: list[str]) -> str:
    """The grant that makes the delivery eligible (provenance); the order's own if none now."""
    return eligible_grant_ref(uow.get(Assessment, assessment_id(order.citizen_id)), order.eligibility, on, sections)


def _amounts(line: InvoiceLine | None) -> dict[str, int]:
    return line.amounts.as_dict() if line else dict(ZERO)


def _why_ineligible(uow: Any, scheme: Any, person: Citizen, day: date, refusal: RuleViolated) -> list[str]:
    """The events behind a lost eligibility: the grant's end, the provider change, the window change."""
    if refusal.rule == "no-active-grant":
        lost: list[str] = uow.get(Assessment, assessment_id(person.id)).lost_on(day, scheme.rules_on(day)["sections"])
        return lost
    if refusal.rule == "provider-not-municipal":
        ref = person.provider_ref_on(day)
        return [ref] if ref else []
    if refusal.rule == "outside-window":
        return [scheme.window_ref_before(day)]
    return []


def owed_now(uow: Any, scheme: Any, cat: Any, delivery_id: str) -> tuple[InvoiceLine | None, list[str], str | None]:
    """(the invoice line the delivery would get now or None, the events behind a refusal, why not).

    A delivery is owed nothing when it is withdrawn, klippekort, or no longer eligible on its date
    as the facts now stand (a back-dated grant end, provider change or window change)."""
    d = uow.get(Delivery, UUID(delivery_id), "delivery")
    if not d.billable:
        why = "missed" if not d.delivered else ("klippekort" if d.klippekort else d.withdrawn)
        return None, [d.withdrawn_ref] if d.withdrawn_ref else [], why
    o = uow.get(Order, UUID(d.order_id), "order")
    person = uow.get(Citizen, UUID(o.citizen_id), "citizen")
    day = date.fromisoformat(d.date)
    try:
        eligibility(uow, person, day)
    except RuleViolated as refusal:
        return None, _why_ineligible(uow, scheme, person, day, refusal), refusal.rule
    rules = scheme.rules_on(day)
    line = delivery_line(0, d, o, cat.offer(o.offer_id), rules, grant_ref(uow, o, d.date, rules["sections"]))
    return line, [], None


def fee_owed(uow: Any, item: dict[str, Any]) -> dict[str, int]:
    """A late-cancellation fee as recorded (fees are not re-rated: the terms were the order's)."""
    o = uow.get(Order, UUID(item["id"]), "order")
    net, vat, gross = line_amounts(item["fee"], o.quoted["vat_class"])
    return {"net": net, "vat": vat, "gross": gross}


def _causes(scheme: Any, original: dict[str, Any], now: InvoiceLine, charged: dict[str, int]) -> tuple[list[str], str]:
    """Which events made an eligible delivery's amount differ from what was charged."""
    causes, why = [], []
    if now.price_ref != original["provenance"]["price"]:
        causes.append(now.price_ref)
        why.append("price")
    if now.billed_minutes != original["billed_minutes"]:
        causes.append(scheme.rules_ref_on(date.fromisoformat(now.date)))
        why.append("rules")
    if charged["gross"] == 0:
        causes.append(now.grant_ref)
        why.append("eligible-again")
    if not causes:
        causes.append(now.price_ref)
        why.append("price")
    return causes, "+".join(why)


def difference(uow: Any, scheme: Any, cat: Any, account: Account, key: str) -> dict[str, Any] | None:
    """The difference for one billed delivery between what it is owed now and what was charged."""
    entry = account.issued[key]
    charged = account.still_charged(key)
    now, refusal_causes, why = owed_now(uow, scheme, cat, key)
    owed = _amounts(now)
    delta = {k: owed[k] - charged[k] for k in MONEY}
    if delta == ZERO:
        return None
    original = account.invoices[entry["invoice"]]["lines"][entry["line_no"] - 1]
    if now is None:
        causes, why = refusal_causes, why or "not-billable"
    else:
        causes, why = _causes(scheme, original, now, charged)
    return {"billing_key": key, "invoice_number": entry["invoice"], "invoice_line_no": entry["line_no"],
            "date": entry["date"], "month": entry["date"][:7], "offer_id": original["offer_id"],
            "vat_class": now.vat_class if now else original["vat_class"], "charged": charged, "owed": owed,
            "delta": delta, "caused_by": causes, "why": why,
            "price": now.price_ref if now else None}


def barred_before(run_date: date | str, months_back: int) -> str:
    """The first month of service a run dated `run_date` may still bill (forældelsesloven § 3: 3
    years). A month's service can be claimed once the month is over, so it is barred when
    `months_back` months have passed since its end. Counted from the run's own date (a value of
    the run, so a replay reaches the same answer), not from the month it bills: a late run of an
    old month bills nothing the law has barred (ADR 0011, round-9 amendment)."""
    return add_months(str(run_date)[:7], -months_back)


def rerate(uow: Any, ctx: Any, svc: Any, series: Any, scheme: Any, cat: Any, month: str, run_date: date,
           citizens: dict[str, str]) -> dict[str, Any]:
    """Issue the debit and credit notes that bring each named citizen's billed deliveries dated on
    or after the given date to what they are owed now. Returns the notes and what was barred."""
    first_billable = barred_before(run_date, svc.settings.rerate_months)
    result: dict[str, Any] = {"debit_notes": [], "credit_notes": [], "barred": []}
    for citizen_id in sorted(citizens):
        account = uow.find(Account, account_id(citizen_id))
        if account is None:
            continue
        since = citizens[citizen_id]
        groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
        # Only the billed deliveries in reach are sorted: an account's history grows run after run.
        reached = [kv for kv in account.issued.items() if kv[1]["kind"] == "delivery" and kv[1]["date"] >= since]
        for key, entry in sorted(reached, key=lambda kv: (kv[1]["date"], kv[0])):
            diff = difference(uow, scheme, cat, account, key)
            if diff is None:
                continue
            if diff["month"] < first_billable:
                result["barred"].append({"citizen_id": citizen_id, **diff})
                continue
            sign = 1 if diff["delta"]["net"] > 0 or (diff["delta"]["net"] == 0 and diff["delta"]["gross"] > 0) else -1
            groups.setdefault((diff["invoice_number"], sign), []).append(diff)
        for (invoice_number, sign), diffs in sorted(groups.items()):
            lines = [{"line_no": i, "invoice_line_no": x["invoice_line_no"], "billing_key": x["billing_key"],
                      "date": x["date"], "month": x["month"], "offer_id": x["offer_id"], "vat_class": x["vat_class"],
                      **{k: sign * x["delta"][k] for k in MONEY}, "caused_by": x["caused_by"], "why": x["why"],
                      "price": x["price"], "charged_before": x["charged"], "owed_now": x["owed"]}
                     for i, x in enumerate(diffs, start=1)]
            reason = "re-rating: " + ", ".join(sorted({x["why"] for x in diffs}))
            on = series.note_date("debit" if sign > 0 else "credit", run_date,
                                  account.invoices[invoice_number]["issued_on"])
            if sign > 0:
                number = series.take_debit_note_number(ctx, invoice_number, on)
            else:
                number = series.take_credit_note_number(ctx, invoice_number, on)
            account.issue_adjustment(ctx, number, invoice_number, lines, on,
                                     on + timedelta(days=svc.settings.payment_terms_days), reason)
            kind = "debit_notes" if sign > 0 else "credit_notes"
            result[kind].append({"number": number, "citizen_id": citizen_id, "invoice_number": invoice_number,
                                 "gross": sum(x["gross"] for x in lines), "lines": len(lines),
                                 "caused_by": sorted({c for x in lines for c in x["caused_by"]})})
    return result


# A run's scan names the same aggregates run after run (an import's runs: every month's): parse each id once.
_uuid_of = lru_cache(maxsize=200_000)(UUID)


@lru_cache(maxsize=64)
def _assessments_of(invoiced: frozenset[str]) -> frozenset[str]:
    """The assessment ids (as the scan spells originator ids) of these citizens; the same set run
    after run of one municipality until it bills someone new."""
    return frozenset(str(assessment_id(c)) for c in invoiced)


def affected(uow: Any, scanned: list[tuple[str, str, dict[str, Any]]], invoiced: set[str],
             last_billed: str | None) -> dict[str, str]:
    """citizen → the first service date a re-rating must look at, from the facts seen since the
    last run: a catalogue or scheme fact reaches every invoiced citizen, the others one."""
    out: dict[str, str] = {}
    if not invoiced:
        return out  # nothing billed yet (a municipality's first run): nothing to re-rate

    def reach(citizen_id: str, since: str) -> None:
        if citizen_id in invoiced and (citizen_id not in out or since < out[citizen_id]):
            out[citizen_id] = since

    # An assessment's id is made from its citizen's (assessment_id), so a grant fact of a citizen
    # never invoiced is passed over without loading the assessment: most of a municipality's grant
    # facts are of citizens who never buy (national: 1,209 buyers among 247,662 citizens).
    billed = _assessments_of(frozenset(invoiced))
    scanned = [x for x in scanned if not x[0].startswith("Grant") or x[1] in billed]
    # The grants' assessments and the deliveries, each found below: loaded in one query where the
    # unit of work can (an import's first run of a municipality scans its whole history).
    uow.preload({_uuid_of(oid) for name, oid, _st in scanned
                 if name.startswith("Grant") or name in ("DeliveryCancelled", "DeliveryDisputed")})
    everyone: str | None = None  # the earliest date a municipal fact reaches back to, for every invoiced citizen
    for name, oid, st in scanned:
        # A window change is dated by its new end, but it reaches back to wherever the old end was:
        # take the window's start (conservative; the window is what it changes).
        since = st["window_start"] if name in ("SchemeWindowChanged", "SchemeWindowOpened") else st["effective"]
        if name in MUNICIPAL_TRIGGERS:
            if last_billed is None or since > last_billed:
                continue  # it takes effect after everything billed so far: nothing to re-rate
            everyone = since if everyone is None else min(everyone, since)
        elif name.startswith("Grant"):
            assessment = uow.find(Assessment, _uuid_of(oid))
            if assessment is not None:
                # From the grant's own start: a later end moved the end forward (eligible again),
                # and that reaches back to wherever the earlier end was.
                grant = assessment.grants.get(st["grant_id"], {})
                reach(assessment.citizen_id, min(grant.get("valid_from", since), since))
        elif name == "ProviderChosen":
            reach(oid, since)
        elif name in ("DeliveryCancelled", "DeliveryDisputed"):
            d = uow.find(Delivery, _uuid_of(oid))
            if d is not None:
                reach(d.citizen_id, d.date)
    if everyone is not None:
        # Once per run, not once per fact: a month's catalogue and scheme facts × every citizen billed so far.
        for c in invoiced:
            reach(c, everyone)
    return out


def preview(uow: Any, svc: Any, cat: Any, offer_id: str, effective: str) -> dict[str, Any]:
    """For a price correction: the issued lines priced by the corrected version, and the sum the
    next run's re-rating will bill for them (debit positive, credit negative), by month."""
    from ledger.domain.invoice_series import InvoiceSeries, series_id
    from ledger.domain.scheme import Scheme, scheme_id

    m = cat.municipality
    later = [v["effective"] for v in cat.offer(offer_id)["versions"] if v["effective"] > effective]
    until = min(later) if later else "9999-12-31"  # the corrected version is in force [effective, until)
    s = uow.find(InvoiceSeries, series_id(m))
    scheme = uow.find(Scheme, scheme_id(m))
    out: dict[str, Any] = {"affected_lines": 0, "rerating": dict(ZERO), "months": {}}
    if s is None or scheme is None:
        return out
    for citizen_id in sorted(s.invoiced_citizens):
        account = uow.find(Account, account_id(citizen_id))
        if account is None:
            continue
        for key, entry in account.issued.items():
            if entry["kind"] != "delivery":
                continue
            line = account.invoices[entry["invoice"]]["lines"][entry["line_no"] - 1]
            if line["offer_id"] != offer_id or not effective <= line["date"] < until:
                continue
            diff = difference(uow, scheme, cat, account, key)
            if diff is None:
                continue
            out["affected_lines"] += 1
            for k in MONEY:
                out["rerating"][k] += diff["delta"][k]
            out["months"][diff["month"]] = out["months"].get(diff["month"], 0) + diff["delta"]["gross"]
    return out
