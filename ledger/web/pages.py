"""The pages: billing (clerks), audit (auditors), evaluation (evaluators), and one record's events.

Reads go through ledger.api.reads (municipality check + access log) with the same `what` names the
API's routes log, and the same query functions; commands go through ledger.api.commanding.Runner.
"""

from __future__ import annotations

import io
import tempfile
import uuid
import zipfile
from datetime import date, datetime, timezone
from typing import Annotated, Any, cast
from urllib.parse import quote
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, Form, Query
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from ledger.api.deps import refuse, wait_for
from ledger.api.documents import served
from ledger.api.problems import ApiProblem, from_ledger_error
from ledger.api.reads import history, logged_read, scope
from ledger.domain.errors import InvalidInput, LedgerError, NotFound
from ledger.domain.document_numbers import municipality_of
from ledger.domain.values import MONTH_PATTERN, REFUND_METHODS, plausible_date
from ledger.projections import billing_queries as bq
from ledger.web.app import Page, check_csrf, page
from ledger.web.fmt import parse_kr

router = APIRouter()
P = Annotated[Page, Depends(page)]
# Bounded as the API's query types are (1900-2199); a form's empty field means not given.
Month = Annotated[str | None, Query(pattern=f"^({MONTH_PATTERN[1:-1]})?$")]
Muni = Annotated[str | None, Query(max_length=40)]
Day = Annotated[str | None, Query(max_length=10, description="YYYY-MM-DD; empty means not given")]


def _day(value: str | None, field: str) -> date | None:
    """A form's date field: empty is 'not given' (a browser sends empty fields), else ISO."""
    if not value:
        return None
    try:
        return plausible_date(date.fromisoformat(value), field)
    except ValueError:
        raise ApiProblem("bad-request", f"{field} must be a date (YYYY-MM-DD), got {value!r}") from None
    except InvalidInput as e:  # outside 1900-2199, as every date the API takes
        raise ApiProblem("bad-request", e.message) from None


def _uuid(value: str | None, field: str) -> UUID | None:
    if not value:
        return None
    try:
        return UUID(value)
    except ValueError:
        raise ApiProblem("bad-request", f"{field} must be a citizen's pseudonym (a UUID)") from None


@router.get("/")
def home(p: P) -> Response:
    return p.render("home.html")


# -- billing ------------------------------------------------------------------------------------

@router.get("/billing")
def invoices(p: P, municipality: Muni = None, month: Month = None, citizen_id: str | None = None) -> Response:
    p.require("billing")
    cid = _uuid(citizen_id, "citizen_id")
    m = p.municipality(municipality)
    got = logged_read(p.svc, p.who, "billing:invoices", m, cid, lambda code: {
        "municipality": code, "invoices": bq.invoices(p.db, code, month or None, str(cid) if cid else None)})
    rows = got["invoices"]
    totals = {k: sum(r[k] for r in rows) for k in ("net", "vat", "gross", "fees", "credited", "open_amount")}
    months = sorted({r[0] for r in p.db.query("SELECT DISTINCT month FROM billing_invoices WHERE municipality = ?",
                                                  [got["municipality"]])}, reverse=True)
    return p.render("invoices.html", municipality=got["municipality"], month=month or "", citizen_id=citizen_id or "",
                    invoices=rows, totals=totals, months=months)


def _invoice(svc: Any, who: Any, number: str, what: str, fallback: str | None = None,
             debit_note: bool = False) -> dict[str, Any]:
    # Invoice numbers start with the municipality code (657-000001), as the API reads them.
    named = municipality_of(number)
    m = str(named) if named is not None else fallback

    def one(code: int) -> dict[str, Any]:
        # A debit note (657-D00001) is owed like an invoice, on its own due date: its own letter.
        found = bq.debit_note(svc.ledger.db, code, number) if debit_note else bq.invoice(svc.ledger.db, code, number)
        if found is None:
            raise NotFound(f"municipality {code} has no {'debit note' if debit_note else 'invoice'} {number}",
                           field="number")
        return found

    return logged_read(svc, who, what, m, None, one)


@router.get("/billing/invoices/{number}.pdf")
def invoice_pdf(p: P, number: str) -> Response:
    p.require("billing")
    p.require("identity")  # the letter names the citizen
    return letter_response(p.svc, p.who, number, p.municipality(None), web=True)


@router.get("/billing/debit-notes/{number}.pdf")
def debit_note_pdf(p: P, number: str) -> Response:
    p.require("billing")
    p.require("identity")
    return letter_response(p.svc, p.who, number, p.municipality(None), debit_note=True, web=True)


def letter_of(number: str, debit_note: bool, web: bool) -> None:
    """The letter routes' check of a number's series (ledger/api/documents.py, shared with the
    invoice's JSON route and page): a number of another series is a 404 naming where it is."""
    served(number, "debit_note" if debit_note else "invoice", letter=True, web=web)


def letter_response(svc: Any, who: Any, number: str, fallback: str | None = None,
                    debit_note: bool = False, web: bool = False) -> Response:
    """The letter of an invoice or a debit note, after the billing read and an identity read are
    logged (shared with the API routes GET /billing/invoices/{number}.pdf and
    GET /billing/debit-notes/{number}.pdf). `debit_note`: the caller asked for a debit note's
    letter, else an invoice's; a number of another series is refused by `letter_of`. `web`: the
    refusal names the workplace's routes rather than the API's."""
    from ledger.web.letter import render

    letter_of(number, debit_note, web)
    inv = _invoice(svc, who, number, "billing:letter", fallback, debit_note=debit_note)
    person = svc.ledger.repository.get(UUID(inv["citizen_id"]))
    identity = None if person.erased else svc.ledger.identity.get(inv["citizen_id"])
    svc.access.record(who.access("identity", inv["citizen_id"], inv["municipality"]))
    kind = "debetnota" if debit_note else "faktura"
    return Response(render(inv, identity, person.erased), media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{kind}-{number}.pdf"', "Cache-Control": "no-store"})


@router.get("/billing/invoices/{number}")
def invoice(p: P, number: str) -> Response:
    p.require("billing")
    served(number, "invoice", letter=False, web=True)  # a debit note's, credit note's, refund's or claim's: 404
    inv = _invoice(p.svc, p.who, number, "billing:invoice", p.municipality(None))
    return p.render("invoice.html", invoice=inv, municipality=inv["municipality"])


@router.get("/billing/accounts")
def accounts(p: P, municipality: Muni = None, citizen_id: str | None = None, as_of: Day = None) -> Response:
    p.require("billing")
    cid = _uuid(citizen_id, "citizen_id")
    m = p.municipality(municipality)
    day = _day(as_of, "as_of") or date.today()
    got = logged_read(p.svc, p.who, "billing:balances", m, cid, lambda code: {
        "municipality": code, "balances": bq.balances(p.db, code, str(cid) if cid else None),
        "open_items": bq.open_items(p.db, code, str(cid) if cid else None)})
    code = got["municipality"]
    # logged_read answers what its query answers (here a list; its annotation says dict).
    ageing = cast("list[dict[str, Any]]",
                  logged_read(p.svc, p.who, "billing:ageing", str(code), None, lambda c: bq.ageing(p.db, c, day)))
    if cid is not None:
        ageing = [a for a in ageing if a["citizen_id"] == str(cid)]
    buckets = ("not_due", "days_1_30", "days_31_60", "days_61_90", "days_over_90", "open", "credit", "balance")
    ageing_totals = {k: sum(a[k] for a in ageing) for k in buckets}
    return p.render("accounts.html", municipality=code, citizen_id=citizen_id or "", as_of=day.isoformat(),
                    balances=got["balances"], open_items=got["open_items"], ageing=ageing, buckets=buckets,
                    ageing_totals=ageing_totals)


@router.get("/billing/payments")
def payments(p: P, municipality: Muni = None, citizen_id: str | None = None) -> Response:
    p.require("billing")
    return _payments_page(p, municipality, citizen_id)


def _payments_page(p: Page, municipality: str | None, citizen_id: str | None, status: int = 200,
                   **context: Any) -> Response:
    """Payments, refunds and claims of a municipality (or one citizen), and the refund form for those
    who may give refund_credit; each list is read and logged as the API's route reads it."""
    cid = _uuid(citizen_id, "citizen_id")
    got = logged_read(p.svc, p.who, "billing:payments", p.municipality(municipality), cid, lambda code: {
        "municipality": code, "payments": bq.payments(p.db, code, str(cid) if cid else None)})
    code = str(got["municipality"])
    refunds = logged_read(p.svc, p.who, "billing:refunds", code, cid, lambda c: {
        "refunds": bq.refunds(p.db, c, str(cid) if cid else None)})["refunds"]
    claims = logged_read(p.svc, p.who, "billing:claims", code, cid, lambda c: {
        "claims": bq.claims(p.db, c, str(cid) if cid else None)})["claims"]
    context.setdefault("form", {"citizen_id": citizen_id or "", "date": date.today().isoformat(),
                                "method": "nemkonto"})
    return p.render("payments.html", status, municipality=got["municipality"], citizen_id=citizen_id or "",
                    payments=got["payments"], total=sum(x["amount"] for x in got["payments"] if not x["reversed"]),
                    refunds=refunds, refunds_total=sum(r["amount"] for r in refunds),
                    claims=claims, claims_open=sum(c["open_amount"] for c in claims),
                    may_refund=p.principal.may_command("refund_credit"), command_id=str(uuid.uuid4()),
                    methods=REFUND_METHODS, **context)


@router.get("/billing/refunds")
def refunds(p: P, municipality: Muni = None) -> Response:
    """The refunds are listed on the payments page (the language switch after the form comes back here)."""
    from starlette.responses import RedirectResponse

    target = "/web/billing/payments" + (f"?municipality={quote(municipality, safe='')}" if municipality else "")
    return RedirectResponse(target, status_code=303)


@router.post("/billing/refunds")
def refund_credit(p: P, municipality: Annotated[str, Form(max_length=40)],
                  command_id: Annotated[str, Form(pattern=r"^[0-9a-f\-]{36}$")],
                  citizen_id: Annotated[str, Form(max_length=40)] = "", amount: Annotated[str, Form(max_length=24)] = "",
                  on: Annotated[str, Form(max_length=10)] = "", method: Annotated[str, Form(max_length=20)] = "",
                  reason: Annotated[str, Form(max_length=200)] = "", reference: Annotated[str, Form(max_length=64)] = "",
                  shown_citizen: Annotated[str, Form(max_length=40)] = "",
                  csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    """Pay credit on a citizen's account out to them: the API's refund_credit (POST /payments/refunds),
    run through the same command path as the runs' forms. A refusal (more than the account's credit,
    a date out of order, a bad amount) stores nothing and shows the form again with its message;
    the form's command id makes a second submit of the same form a replay, not a second refund."""
    from ledger.api.commanding import Runner
    from ledger.application.commands import lookup

    check_csrf(p, csrf)
    p.require("billing")
    if not p.principal.may_command("refund_credit"):
        raise refuse(p.svc, p.who, f"the role {p.who.role} may not give the command refund_credit", "command",
                     record=False)
    # The page the form was on (its municipality, its citizen filter) is checked before anything
    # runs, so the answer can always show that page again, whatever the command answers.
    scope(p.svc, p.who, municipality, "billing:refunds")
    filtered = _uuid(shown_citizen, "shown_citizen")
    shown = str(filtered) if filtered else None
    form = {"citizen_id": citizen_id, "amount": amount, "date": on, "method": method, "reason": reason,
            "reference": reference}
    body_type = lookup("refund_credit").body
    assert body_type is not None  # refund_credit takes everything from its body
    try:
        body = body_type.model_validate({"citizen_id": citizen_id, "amount": parse_kr(amount), "date": on,
                                         "method": method, "reason": reason, "reference": reference or None})
    except ValueError as e:  # the amount as typed, or the body's schema (pydantic's ValidationError is one)
        detail = ("; ".join(f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors()[:5])
                  if isinstance(e, ValidationError) else str(e))
        return _payments_page(p, municipality, shown, 400, form=form,
                              refusal={"code": "invalid-request", "message": detail})
    try:
        response = Runner(p.svc, p.who, "refund_credit", f"{p.who.user}:web-{command_id}", None)(body)
    except LedgerError as e:  # refused by a rule (refund-exceeds-credit, ...): nothing was stored
        code, status, extra = from_ledger_error(e)
        return _payments_page(p, municipality, shown, status, form=form,
                              refusal={"code": extra.get("rule", code), "message": e.message})
    answer = orjson.loads(response.body)
    if answer.get("position"):  # read your own write: the list below shows the new refund
        try:
            wait_for(p.svc, answer["position"])
        except ApiProblem:
            pass  # the read models lag: the number above is the command's own answer all the same
    return _payments_page(p, municipality, shown, answer=answer, refunded=answer["result"],
                          replayed=response.headers.get("Idempotent-Replayed") == "true",
                          refund_amount=body.model_dump()["amount"])


@router.get("/billing/runs")
def runs(p: P, municipality: Muni = None) -> Response:
    p.require("billing")
    got = logged_read(p.svc, p.who, "billing:runs", p.municipality(municipality), None, lambda code: {
        "municipality": code, "runs": bq.runs(p.db, code)})
    return p.render("runs.html", municipality=got["municipality"], runs=got["runs"],
                    may_run=p.principal.may_command("run_invoices"),
                    may_remind=p.principal.may_command("issue_reminders"), today=date.today().isoformat())


RUNS = {"invoices": "run_invoices", "reminders": "issue_reminders"}


def _may_run(p: Page, kind: str) -> str:
    command = RUNS.get(kind)
    if command is None:
        raise NotFound(f"no kind of run {kind!r}: invoices or reminders")
    if not p.principal.may_command(command):
        raise refuse(p.svc, p.who, f"the role {p.who.role} may not give the command {command}", "command",
                     record=False)
    return command


def _payload(kind: str, municipality: str, month: str | None, on: str | None) -> BaseModel:
    from ledger.api import bodies as b

    try:
        if kind == "invoices":
            body = b.RunInvoicesBody.model_validate({"municipality": municipality, "month": month or "",
                                                     "run_date": on or None})
        else:
            body = b.IssueRemindersBody.model_validate({"municipality": municipality, "date": on or ""})
    except ValidationError as e:
        detail = "; ".join(f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in e.errors()[:5])
        raise ApiProblem("invalid-request", detail) from None
    return body


@router.get("/billing/runs/{kind}/confirm")
def confirm_run(p: P, kind: str, municipality: Annotated[str, Query(max_length=40)],
                month: Month = None, on: Day = None) -> Response:
    """What the run will look at, before it runs: nothing is recorded until the form is sent."""
    p.require("billing")
    day_on = _day(on, "on")
    _may_run(p, kind)
    body = _payload(kind, municipality, month, day_on.isoformat() if day_on else None)
    if kind == "invoices":
        got = logged_read(p.svc, p.who, "billing:unbilled", municipality, None, lambda code: {
            "municipality": code, "rows": bq.unbilled_deliveries(p.db, code, month)})
    else:
        day = day_on.isoformat() if day_on else ""
        got = logged_read(p.svc, p.who, "billing:open-items", municipality, None, lambda code: {
            "municipality": code, "rows": [r for r in bq.open_items(p.db, code) if r["due_on"] < day
                                           and r["reminder_count"] < 3]})
    return p.render("run_confirm.html", kind=kind, municipality=got["municipality"], month=month or "",
                    on=day_on.isoformat() if day_on else "", rows=got["rows"], command_id=str(uuid.uuid4()),
                    body=body.model_dump(mode="json"))


@router.post("/billing/runs/{kind}")
def start_run(p: P, kind: str, municipality: Annotated[str, Form(max_length=40)],
              command_id: Annotated[str, Form(pattern=r"^[0-9a-f\-]{36}$")],
              month: Annotated[str, Form(max_length=7)] = "", on: Annotated[str, Form(max_length=10)] = "",
              csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    """Run it: the command id from the confirmation page makes a second submit a replay."""
    from ledger.api.commanding import Runner

    check_csrf(p, csrf)
    command = _may_run(p, kind)
    body = _payload(kind, municipality, month or None, on or None)
    response = Runner(p.svc, p.who, command, f"{p.who.user}:web-{command_id}", None)(body)
    answer = orjson.loads(response.body)
    return p.render("run_done.html", kind=kind, answer=answer, result=answer["result"],
                    replayed=response.headers.get("Idempotent-Replayed") == "true",
                    municipality=answer["result"].get("municipality", municipality))


# -- one record's events (the provenance links) ------------------------------------------------

_LOGGED = {"Citizen": "citizen", "Assessment": "citizen", "Order": "citizen", "Delivery": "citizen",
           "Account": "billing", "InvoiceSeries": "billing"}


@router.get("/events/{aggregate_id}")
def events(p: P, aggregate_id: UUID) -> Response:
    record = p.svc.records.find(aggregate_id)
    if record is None:
        raise NotFound(f"no record {aggregate_id}")
    kind = _LOGGED.get(record.kind, "catalogue")
    p.require(kind)
    got = history(p.svc, p.who, aggregate_id, record.kind, record.kind.lower(), kind if kind != "catalogue" else None)
    return p.render("events.html", record=record, history=got, municipality=record.municipality)


# -- audit ----------------------------------------------------------------------------------------

@router.get("/audit")
def audit(p: P, municipality: Muni = None) -> Response:
    p.require("audit")
    from replay.store import Store

    from ledger.web import verify_log

    code = scope(p.svc, p.who, p.municipality(municipality), "audit")
    store = Store(p.db)
    top, _ = store.bounds()
    head = store.chain_hashes([top]).get(top) if top else None
    runs = bq.runs(p.db, code)
    stored = store.chain_hashes([r["chain_position"] for r in runs if r["chain_position"]])
    for r in runs:
        h = stored.get(r["chain_position"])
        r["matches"] = h is not None and h.hex() == r["chain_hash"]
    p.svc.access.record(p.who.access("audit:chain", None, code))
    return p.render("audit.html", municipality=code, length=top or 0, head=head.hex() if head else "",
                    runs=runs, last=verify_log.last(p.db))


@router.post("/audit/verify")
def verify(p: P, csrf: Annotated[str, Form(max_length=100)] = "",
           municipality: Annotated[str, Form(pattern=r"^\d{0,3}$")] = "") -> Response:
    """`ledger-replay verify --skip-projections` on the live store: the chain and the recorded heads."""
    p.require("audit")
    check_csrf(p, csrf)
    import time

    from replay.store import Store
    from replay.verify import verify_store

    started = time.perf_counter()
    report = verify_store(Store(p.db), [], None)
    check = report.check
    from ledger.web import verify_log

    verify_log.record(p.db, {
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "by": p.who.user, "ok": report.ok,
        "checked": check.checked, "events": check.events, "head_position": check.head[0],
        "head_hash": check.head[1].hex(), "claims": len(check.claims), "problem_count": check.problem_count,
        "problems": [f"{x.position}: {x.kind}: {x.message}" for x in check.problems[:20]],
        "seconds": round(time.perf_counter() - started, 3), "source": report.source})
    p.svc.access.record(p.who.access("audit:verify"))
    from starlette.responses import RedirectResponse

    return RedirectResponse(f"/web/audit?municipality={municipality}" if municipality else "/web/audit",
                            status_code=303)


@router.get("/audit/invoices/{number}")
def reproduction(p: P, number: str) -> Response:
    p.require("audit")
    from replay.errors import UsageError
    from replay.invoice import reproduce
    from replay.store import Store

    code = scope(p.svc, p.who, number[:3] if number[:3].isdigit() else p.municipality(None), "billing:reproduce")
    try:
        result = reproduce(Store(p.db), number, code)
    except UsageError as e:
        raise NotFound(str(e)) from None
    p.svc.access.record(p.who.access("billing:reproduce", None, code))
    return p.render("reproduction.html", number=number, municipality=code, r=result)


@router.get("/audit/access-log")
def access_log(p: P, user: Annotated[str | None, Query(max_length=64)] = None, citizen_id: str | None = None,
               since: Day = None, until: Day = None, after_id: Annotated[int, Query(ge=0, le=2**53 - 1)] = 0) -> Response:
    p.require("audit")
    cid = _uuid(citizen_id, "citizen_id")
    first, last = _day(since, "since"), _day(until, "until")
    if first and last and first > last:  # as the API refuses it
        raise ApiProblem("bad-request", f"since ({first}) is after until ({last})")
    limit = 200
    entries = p.svc.access.entries(
        municipalities=p.principal.municipalities, user=user or None, citizen_id=str(cid) if cid else None,
        since=first.isoformat() if first else None,
        until=date.fromordinal(last.toordinal() + 1).isoformat() if last else None, after_id=after_id,
        limit=limit)
    p.svc.access.record(p.who.access("access-log", str(cid) if cid else None))
    return p.render("access_log.html", entries=entries, user=user or "", citizen_id=citizen_id or "",
                    since=first.isoformat() if first else "", until=last.isoformat() if last else "",
                    next_after=entries[-1]["id"] if len(entries) == limit else None)


# -- evaluation -------------------------------------------------------------------------------------

@router.get("/evaluation")
def evaluation(p: P, municipality: Muni = None, as_of: Day = None,
               known_at: Annotated[str | None, Query(max_length=40)] = None) -> Response:
    p.require("timeline")
    from ledger.projections import evaluation_export as ev
    from ledger.projections import timeline_queries as tq

    d = _day(as_of, "as_of") or date.today()
    k = known_at or None
    network = municipality == "network"
    if network:
        if p.principal.municipalities is not None:
            raise refuse(p.svc, p.who, f"{p.who.user} may not read the whole network", "timeline", record=False)
        timeline = tq.timeline(p.db, None, d, k)
        code = None
    else:
        code = scope(p.svc, p.who, p.municipality(municipality), "timeline")
        timeline = tq.timeline(p.db, code, d, k)
    offers = ev.offers(p.db, code) if code is not None else []
    signals = [o for o in offers if o.get("below_cost")]
    audit_signals = None
    if code is not None and p.may("audit"):
        from ledger.projections import audit_queries as aq

        audit_signals = aq.audit(p.db, code, sections=("full_cost", "substitution", "completeness"))
    return p.render("evaluation.html", municipality=code, network=network, as_of=d.isoformat(), known_at=k or "",
                    timeline=timeline, signals=signals, audit_signals=audit_signals,
                    options=p.municipalities(), all_municipalities=p.principal.municipalities is None)


@router.get("/evaluation/export.zip")
def evaluation_export(p: P, municipality: Muni = None) -> Response:
    """The evaluators' extract (the four CSV files of `ledger` evaluation export), zipped."""
    p.require("timeline")
    from ledger.projections.evaluation_export import write_evaluation

    code = scope(p.svc, p.who, p.municipality(municipality), "evaluation")
    out = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp:
        counts = write_evaluation(p.db, [code], tmp)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for name in counts:
                z.write(f"{tmp}/{name}", name)
    return Response(out.getvalue(), media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="evaluation-{code}.zip"'})
