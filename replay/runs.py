"""`verify-runs`: every invoice run's published digest against a replay of the log (ADR 0021).

For each `InvoiceRunCompleted` that records what it read (`read`, class version 2), and each run
that stored no event (it changed nothing) but whose command record names what it read:
1. the chain hash at `read.to` is the one the run recorded (the log up to there is unchanged);
2. the log slice (from, to] of the run's municipality and event names is read again, exactly as
   the run read it, and its digest recomputed (`ledger.application.published.slice_digest`).

For each run whose command record carries the billing projection's digests at its chain head:
3. the billing projection is rebuilt from zero in a scratch SQLite file from the events up to that
   head (copied as stored, with their notification ids), and its table digests (`Engine.digest`,
   the digest `ledger-replay verify` compares) must equal the recorded ones. One scratch build
   serves every run: it is caught up from one run's head to the next.

The store is only read; the scratch file is deleted afterwards.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ledger.application.ledger import Ledger
from ledger.application.published import slice_digest
from ledger.db import Database
from ledger.store.decoding import decode_state
from ledger.store.recorders import COMMANDS_TABLE
from replay.store import Store, _table_exists

_EVENTS_DDL = ("CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, topic TEXT, state BLOB, "
               "PRIMARY KEY (originator_id, originator_version))")


@dataclass
class RunCheck:
    municipality: int
    month: str
    position: int  # the chain head the run read up to
    log: str  # "equal" | "differs" | "not recorded"
    billing: str  # "equal" | "differs" | "not recorded"
    source: str = "run event"  # or "command record": a run that stored no event
    problems: list[str] = field(default_factory=list)


@dataclass
class RunsReport:
    runs: list[RunCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.log != "differs" and r.billing != "differs" for r in self.runs)


class _Log:
    """The application's own log scan (Ledger.scan_chain) over a store, without an application."""

    def __init__(self, db: Database) -> None:
        self.db = db

    scan = Ledger.scan
    scan_chain = Ledger.scan_chain
    notification_id_at = Ledger.notification_id_at


def _runs(store: Store) -> list[dict[str, Any]]:
    from eventsourcing.utils import get_topic

    from ledger.domain.invoice_series import InvoiceSeries

    topic = get_topic(InvoiceSeries.InvoiceRunCompleted)
    found = []
    for page in store.events_with_topics([topic]):
        for nid, _oid, _ver, t, state in page:
            st = decode_state(t, state)
            found.append({"nid": nid, "municipality": int(st["municipality"]), "month": st["month"],
                          "chain_head": st["chain_head"], "read": st.get("read")})
    return found


def _recorded_answers(store: Store) -> dict[tuple[int, str, int], dict[str, Any]]:
    """(municipality, month, chain position) -> what a run's command record says it published."""
    if not _table_exists(store, COMMANDS_TABLE):
        return {}
    out = {}
    for (result,) in store.query(f"SELECT result FROM {COMMANDS_TABLE} WHERE command_type = ?", ("run_invoices",)):
        r = orjson.loads(result)
        published = r.get("published")
        if published and published.get("read"):
            out[(int(r["municipality"]), r["month"], int(published["read"]["to"]))] = published
    return out


def _check_log(log: _Log, hashes: dict[int, bytes], municipality: int, read: dict[str, Any], check: RunCheck) -> None:
    stored = hashes.get(int(read["to"]))
    if stored is None or stored.hex() != read["hash"]:
        check.problems.append(f"chain hash at position {read['to']} is not the one the run recorded")
    entries = [(n, o, v, s) for _p, n, o, v, s in
               log.scan_chain(read["names"], int(read["from"]), int(read["to"]),  # type: ignore[misc]
                              municipality)]
    events, digest = slice_digest(entries)
    if (events, digest) != (read["events"], read["digest"]):
        check.problems.append(f"the log slice ({read['from']}, {read['to']}] now gives {events} events, digest "
                              f"{digest[:12]}; the run recorded {read['events']}, {read['digest'][:12]}")
    check.log = "differs" if check.problems else "equal"


def check_runs(store: Store) -> RunsReport:
    """Every run with an InvoiceRunCompleted event, then every run whose command record names a
    read but which stored no event (it issued and changed nothing)."""
    report = RunsReport()
    log = _Log(store.db)
    answers = _recorded_answers(store)
    runs = _runs(store)
    reads = [r["read"] for r in runs if r["read"]] + [a["read"] for a in answers.values()]
    hashes = store.chain_hashes(int(r["to"]) for r in reads)
    wanted: dict[int, dict[str, Any]] = {}
    seen = set()
    for run in runs:
        check = RunCheck(run["municipality"], run["month"], int(run["chain_head"]["position"]), "not recorded",
                         "not recorded")
        report.runs.append(check)
        key = (check.municipality, check.month, check.position)
        seen.add(key)
        if run["read"]:
            _check_log(log, hashes, check.municipality, run["read"], check)
        answer = answers.get(key)
        if answer is not None and answer["billing"].get("digests"):
            wanted[id(check)] = answer["billing"]
    for key, answer in sorted(answers.items()):
        if key in seen:
            continue
        check = RunCheck(key[0], key[1], key[2], "not recorded", "not recorded", source="command record")
        report.runs.append(check)
        _check_log(log, hashes, check.municipality, answer["read"], check)
        if answer["billing"].get("digests"):
            wanted[id(check)] = answer["billing"]
    if wanted:
        _check_billing(store, [r for r in report.runs if id(r) in wanted], wanted)
    return report


def _check_billing(store: Store, runs: list[RunCheck], wanted: dict[int, dict[str, Any]]) -> None:
    from ledger.projections.billing import BillingProjection
    from ledger.projections.engine import Engine

    projection = BillingProjection()
    with tempfile.TemporaryDirectory(prefix="ledger-replay-runs-") as tmp:
        scratch = Database(f"sqlite:///{Path(tmp) / 'scratch.db'}")
        try:
            with scratch.transaction() as cur:
                cur.execute(_EVENTS_DDL)
            engine: Engine | None = None
            copied = 0
            for run in sorted(runs, key=lambda r: wanted[id(r)]["notification"]):
                recorded = wanted[id(run)]
                upto = int(recorded["notification"])
                if upto > copied:
                    with scratch.transaction() as cur:
                        for page in store.event_pages(upto, copied):
                            cur.executemany("INSERT INTO stored_events (rowid, originator_id, originator_version, "
                                            "topic, state) VALUES (?, ?, ?, ?, ?)",
                                            [(n, o.hex() if type(o) is bytes else o, v, t, s) for n, o, v, t, s in page])
                    copied = upto
                if engine is None:
                    engine = Engine(scratch, [projection])
                    engine.rebuild(["billing"])
                else:
                    engine.catch_up(["billing"], until=upto)
                now = {t.name: engine.digest(t.name) for t in projection.tables}
                if now == recorded["digests"]:
                    run.billing = "equal"
                else:
                    run.billing = "differs"
                    bad = sorted(t for t in now if now[t] != recorded["digests"].get(t))
                    run.problems.append(f"the billing projection replayed to position {run.position} differs from "
                                        f"what the run recorded in {', '.join(bad)}")
        finally:
            scratch.close()


def render(report: RunsReport) -> list[str]:
    """One line per run, then the verdict."""
    lines = []
    for r in report.runs:
        lines.append(f"run {r.municipality} {r.month} at chain position {r.position}: log slice {r.log}, "
                     f"billing projection {r.billing}" + (" (no run event: from its command record)"
                                                          if r.source != "run event" else ""))
        lines.extend(f"  {p}" for p in r.problems)
    recorded = sum(1 for r in report.runs if r.log != "not recorded")
    lines.append(f"{len(report.runs)} invoice run(s), {recorded} with a published digest: "
                 + ("every published digest is what the replay gives" if report.ok else "DIGESTS DIFFER"))
    return lines
