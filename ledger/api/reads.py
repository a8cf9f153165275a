"""Reads: what the API serves straight from the event store (one record's history, one citizen's
current state), and the steps every projection query shares (which municipality, the checks, the
access log). Everything that spans records comes from the projections."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ledger.api.access_log import citizens_shown
from ledger.api.deps import Caller, in_municipality
from ledger.api.problems import ApiProblem
from ledger.api.services import Services
from ledger.api.tenancy import code_of
from ledger.domain.assessment import assessment_id
from ledger.domain.errors import NotFound


def history(svc: Services, who: Caller, aggregate_id: UUID, kind: str, what: str, logged: str | None) -> dict[str, Any]:
    """Every event of one record of `kind`, after the municipality check; `logged` names the kind
    of data for the access log (None: not personal or financial, not logged)."""
    record = svc.records.get(aggregate_id, kind, what)
    in_municipality(svc, who, record.municipality, logged or what, record.citizen_id)
    events = svc.ledger.history(aggregate_id)
    if logged:
        shown = citizens_shown(events)  # an invoice series' events name every citizen invoiced
        svc.access.record(who.access(logged, record.citizen_id, record.municipality),
                          list(dict.fromkeys([record.citizen_id, *shown])) if record.citizen_id else shown)
    return {"aggregate_id": str(aggregate_id), "kind": kind, "version": events[-1]["version"] if events else 0,
            "events": events}


def _dated(pairs: list[Any]) -> list[dict[str, Any]]:
    return [{"effective": eff, "value": value} for eff, value in pairs]


def citizen(svc: Services, who: Caller, citizen_id: UUID, with_identity: bool) -> dict[str, Any]:
    record = svc.records.get(citizen_id, "Citizen", "citizen")
    in_municipality(svc, who, record.municipality, "citizen", str(citizen_id))
    repo = svc.ledger.repository
    person = repo.get(citizen_id)
    try:
        grants = repo.get(assessment_id(citizen_id)).grants
    except Exception as e:  # every citizen has an assessment from registration on
        raise NotFound(f"citizen {citizen_id} has no assessment") from e
    view: dict[str, Any] = {
        "citizen_id": str(citizen_id),
        "municipality": person.municipality,
        "registered_on": person.registered_on,
        "version": person.version,
        "erased": person.erased,
        "providers": _dated(person.providers),
        "residences": _dated(person.residences),
        "grants": [{"grant_id": gid, "fsiii": g["fsiii"], "section": g["section"], "valid_from": g["valid_from"],
                    "valid_to": g["valid_to"], "awarded_ref": g["awarded_ref"],
                    "changes": [{"effective": eff, "amount": amt, "ref": ref} for eff, amt, ref in g["changes"]]}
                   for gid, g in sorted(grants.items())],
    }
    if with_identity and not person.erased:
        view["identity"] = svc.ledger.identity.get(str(citizen_id))
    svc.access.record(who.access("citizen+identity" if "identity" in view else "citizen", str(citizen_id),
                                 record.municipality))
    return view


def scope(svc: Services, who: Caller, municipality: str | None, what: str, citizen_id: str | None = None) -> int:
    """The municipality a query reads (the caller's only one when not given), after the check."""
    if municipality is None:
        mine = who.principal.municipalities
        if mine is None or len(mine) != 1:
            raise ApiProblem("bad-request", "give the municipality (code or name): you may read more than one")
        (code,) = mine
    else:
        code = code_of(municipality)
    in_municipality(svc, who, code, what, citizen_id)
    return code


def logged_read(svc: Services, who: Caller, what: str, municipality: str | None, citizen_id: UUID | None,
                query: Any) -> dict[str, Any]:
    """Run `query(code)` for one municipality of the caller and record the read in the access log."""
    cid = str(citizen_id) if citizen_id is not None else None
    code = scope(svc, who, municipality, what, cid)
    if citizen_id is not None:  # the citizen must be of that municipality too (and exist)
        record = svc.records.get(citizen_id, "Citizen", "citizen")
        in_municipality(svc, who, record.municipality, what, cid)
    out = query(code)
    # The citizens the answer shows, not only the one asked for: a list of invoices shows many.
    svc.access.record(who.access(what, cid, code), citizens_shown(out))
    return out
