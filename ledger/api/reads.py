"""Reads: what the API serves straight from the event store (one record's history, one citizen's
current state), and the steps every projection query shares (which municipality, the checks, the
cut it reads, the access log). Everything that spans records comes from the projections.

Every answer states the log position P it reflects (`log_position`), and a caller may ask for an
exact P (`at_position`) so that several answers of one report provably read one state
(docs/adr/0020-read-shapes-and-one-cut.md):

* a projection read (`at_cut`) catches the projections it reads up to P and reads them while their
  tracked positions stand still (ledger.projections.cut); a P the live tables have passed cannot
  be read live (409 position-passed);
* a read of one record from the store (`history`, `citizen`) is exact at any P up to the head: the
  record is loaded at the last version it had at P.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

from ledger.access_log import citizens_shown
from ledger.api.deps import Caller, in_municipality
from ledger.api.problems import ApiProblem
from ledger.api.services import Services
from ledger.api.tenancy import code_of
from ledger.domain.assessment import assessment_id
from ledger.domain.errors import NotFound
from ledger.projections import cut

T = TypeVar("T")

# The projections each kind of read depends on: its answer is of a cut only if all of them are.
BILLING = ("billing",)
TIMELINE = ("timeline", "surveys")  # the timeline carries the survey answers (ADR 0021)
AUDIT = ("audit", "billing")  # the audit's `ineligible` section reads the billing tables
EVALUATION = ("audit",)


def at_cut(svc: Services, reads: Sequence[str], at_position: int | None, read: Callable[[], T]) -> tuple[T, int]:
    """(the answer of `read()`, the log position P it reflects), reading the projections `reads`
    at P: the head by default, exactly `at_position` when given."""
    try:
        return cut.read_at(svc.ledger.db, cut.projections(reads), lambda _position: read(), at_position)
    except cut.PositionError as e:
        raise _problem(e) from None


def _problem(e: cut.PositionError) -> ApiProblem:
    headers = {"Retry-After": "1"} if e.code == "not-caught-up" else None
    return ApiProblem(e.code, e.message, headers=headers, **e.extra)


def store_position(svc: Services, at_position: int | None) -> int:
    """The position a read of the store answers at: the head, or `at_position` (not beyond it)."""
    try:
        return cut.store_position(svc.ledger.db, at_position)
    except cut.PositionError as e:
        raise _problem(e) from None


def history(svc: Services, who: Caller, aggregate_id: UUID, kind: str, what: str, logged: str | None,
            at_position: int | None = None) -> dict[str, Any]:
    """Every event of one record of `kind` up to the log position read at, after the municipality
    check; `logged` names the kind of data for the access log (None: not personal or financial)."""
    record = svc.records.get(aggregate_id, kind, what)
    in_municipality(svc, who, record.municipality, logged or what, record.citizen_id)
    position = store_position(svc, at_position)
    version = cut.version_at(svc.ledger.db, aggregate_id, position)
    events = [{"ref": f"{aggregate_id}:{e['version']}", **e} for e in svc.ledger.history(aggregate_id)
              if e["version"] <= version]
    if logged:
        shown = citizens_shown(events)  # an invoice series' events name every citizen invoiced
        svc.access.record(who.access(logged, record.citizen_id, record.municipality),
                          list(dict.fromkeys([record.citizen_id, *shown])) if record.citizen_id else shown)
    return {"aggregate_id": str(aggregate_id), "kind": kind, "version": version,
            "ref": f"{aggregate_id}:{version}" if version else None, "events": events, "log_position": position}


def _dated(pairs: list[Any]) -> list[dict[str, Any]]:
    return [{"effective": eff, "value": value} for eff, value in pairs]


def citizen(svc: Services, who: Caller, citizen_id: UUID, with_identity: bool,
            at_position: int | None = None) -> dict[str, Any]:
    """The citizen's record and grants at the log position read at (the head by default)."""
    record = svc.records.get(citizen_id, "Citizen", "citizen")
    in_municipality(svc, who, record.municipality, "citizen", str(citizen_id))
    position = store_position(svc, at_position)
    db, repo = svc.ledger.db, svc.ledger.repository
    version = cut.version_at(db, citizen_id, position)
    if version == 0:
        raise NotFound(f"citizen {citizen_id} was not registered by position {position}")
    person = repo.get(citizen_id, version=version)
    assessment = assessment_id(citizen_id)
    grants: dict[str, Any] = {}
    if (assessed := cut.version_at(db, assessment, position)) > 0:
        grants = repo.get(assessment, version=assessed).grants
    elif at_position is None:  # every citizen has an assessment from registration on
        raise NotFound(f"citizen {citizen_id} has no assessment")
    view: dict[str, Any] = {
        "citizen_id": str(citizen_id),
        "municipality": person.municipality,
        "registered_on": person.registered_on,
        "version": person.version,
        "ref": f"{citizen_id}:{person.version}",
        "erased": person.erased,
        "providers": _dated(person.providers),
        "residences": _dated(person.residences),
        "grants": [{"grant_id": gid, "fsiii": g["fsiii"], "section": g["section"], "valid_from": g["valid_from"],
                    "valid_to": g["valid_to"], "awarded_ref": g["awarded_ref"],
                    "changes": [{"effective": eff, "amount": amt, "ref": ref} for eff, amt, ref in g["changes"]]}
                   for gid, g in sorted(grants.items())],
        "log_position": position,
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
                query: Callable[[int], Any], reads: Sequence[str] | None = BILLING,
                at_position: int | None = None) -> Any:
    """Run `query(code)` for one municipality of the caller, on the projections `reads` at one cut,
    and record the read in the access log. An answer object gains the `log_position` it reflects
    (reads=None: the query reads the store and states its position itself)."""
    cid = str(citizen_id) if citizen_id is not None else None
    code = scope(svc, who, municipality, what, cid)
    if citizen_id is not None:  # the citizen must be of that municipality too (and exist)
        record = svc.records.get(citizen_id, "Citizen", "citizen")
        in_municipality(svc, who, record.municipality, what, cid)
    if reads is None:
        out = query(code)
    else:
        answer, position = at_cut(svc, reads, at_position, lambda: query(code))
        # An answer object gains its position; a bare list (the web pages' own reads) stays as it is.
        out = {**answer, "log_position": position} if isinstance(answer, dict) else answer
    # The citizens the answer shows, not only the one asked for: a list of invoices shows many.
    svc.access.record(who.access(what, cid, code), citizens_shown(out))
    return out


def etag(response: Any, data: dict[str, Any], version_key: str = "version") -> dict[str, Any]:
    """The answer, with the record's version as the response's ETag (what If-Match later compares)."""
    response.headers["ETag"] = f'"{data[version_key]}"'
    return data
