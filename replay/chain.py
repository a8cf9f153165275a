"""Checking the tamper-evidence chain over a stream of stored rows (see ADR 0007).

The store writes, in the same transaction as each event, a chain row `(position, notification id,
hash)` with hash = link(previous hash, position, the event's stored bytes) (ledger.store.chain).
This module walks chain rows in position order joined to event rows in notification order and
reports every way the two can disagree:

* the chain does not start at 1, or has a gap, or repeats a position;
* a chain row names a notification that has no event (an event was deleted);
* an event has no chain row (an event was inserted past the chain);
* the chain's order is not the notification order (rows were reordered);
* a link does not recompute (a stored event, or a hash, was altered).

Each link is checked against the *stored* previous hash, so one altered event is reported at its
own position and not at every position after it. When every link holds, the chain recomputes from
GENESIS to the stored head: the two formulations agree on a clean store.

Rows are plain tuples for speed (this runs once per stored event):
event row  `(notification_id, originator_id_16_bytes, version, topic, state)`;
joined row `(position | None, notification_id, hash | None, event row | None)`.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from ledger.store.chain import GENESIS

Joined = tuple[Any, int, Any, Any]

_sha256 = hashlib.sha256
_pack_qq = struct.Struct(">QQ").pack
_pack_i = struct.Struct(">I").pack
_topic_parts: dict[str, bytes] = {}

# Events that publish the chain head they were computed at (ledger.domain.account/invoice_series).
CLAIMING_EVENTS = ("InvoiceIssued", "InvoiceRunCompleted")


def link(previous: bytes, position: int, version: int, originator_id: bytes, topic: str, state: bytes) -> bytes:
    """ledger.store.chain.link, computed as one buffer (the same bytes in the same order; a
    property test holds the two equal). The originator id is the UUID's 16 bytes."""
    part = _topic_parts.get(topic)
    if part is None:
        encoded = topic.encode()
        part = _topic_parts[topic] = _pack_i(len(encoded)) + encoded
    return _sha256(b"".join((previous, _pack_qq(position, version), originator_id, part, _pack_i(len(state)),
                             state))).digest()


def join(chain_pages: Iterable[list[tuple]], event_pages: Iterable[list[tuple]],
         lookup: Callable[[int], tuple | None]) -> Generator[list[Joined], None, None]:
    """Merge chain rows (position order) with event rows (notification order) into joined rows.

    In a sound store both orders agree, so this is a plain merge. An event the chain skips comes
    out unchained; a chain row whose notification is not after the previous one (reordered) gets
    its event by `lookup`, since the merge has already passed it.
    """
    events = (row for page in event_pages for row in page)
    ev = next(events, None)
    last = 0
    for page in chain_pages:
        out: list[Joined] = []
        append = out.append
        for pos, nid, h in page:
            if nid > last:
                while ev is not None and ev[0] < nid:
                    append((None, ev[0], None, ev))
                    ev = next(events, None)
                if ev is not None and ev[0] == nid:
                    append((pos, nid, h, ev))
                    ev = next(events, None)
                else:
                    append((pos, nid, h, None))
                last = nid
            else:
                append((pos, nid, h, lookup(nid)))
        yield out
    tail: list[Joined] = []
    while ev is not None:
        tail.append((None, ev[0], None, ev))
        if len(tail) == 10_000:
            yield tail
            tail = []
        ev = next(events, None)
    if tail:
        yield tail


@dataclass(frozen=True, order=True)
class Problem:
    """One finding. `position` is the chain position it concerns (or follows), for ordering."""

    position: int
    seq: int
    kind: str = field(compare=False)
    message: str = field(compare=False)


@dataclass(frozen=True)
class Claim:
    """A chain head recorded inside an event, and who recorded it."""

    position: int
    hash: str
    by: str  # e.g. "InvoiceIssued 657-000001 at position 29"
    at: int  # the claiming event's chain position


class ChainCheck:
    """Feed joined rows in order; read `problems`, `head`, `checked` and `claims` afterwards."""

    def __init__(self, keep: int = 50) -> None:
        self.keep = keep  # problems kept in full; the rest are only counted
        self.problems: list[Problem] = []
        self.problem_count = 0
        self.prev_pos = 0
        self.prev_hash = GENESIS
        self.last_nid = 0  # highest notification id chained so far
        self.first_position: int | None = None
        self.checked = 0  # chain rows checked
        self.events = 0  # event rows seen (chained or not)
        self.claims: dict[tuple[int, str], Claim] = {}
        self._claim_topics: dict[str, str | None] = {}

    @property
    def head(self) -> tuple[int, bytes]:
        return self.prev_pos, self.prev_hash

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def problem(self, position: int, kind: str, message: str) -> None:
        self.problem_count += 1
        if len(self.problems) < self.keep:
            self.problems.append(Problem(position, self.problem_count, kind, message))

    def feed(self, rows: list[Joined]) -> None:
        if self.first_position is None:
            self.first_position = next((r[0] for r in rows if r[0] is not None), None)
        prev_pos, prev_hash, last_nid = self.prev_pos, self.prev_hash, self.last_nid
        claim_name = self._claim_topics
        checked = events = 0
        for pos, nid, h, ev in rows:
            if ev is not None:
                events += 1
            if pos is None:
                self.problem(prev_pos, "unchained",
                             f"event without chain row at notification {nid} (after position {prev_pos})")
                continue
            checked += 1
            linked = True
            if pos != prev_pos + 1:
                if pos <= prev_pos:
                    what = "duplicate chain position" if pos == prev_pos else f"out of order after position {prev_pos}"
                    self.problem(pos, "position", f"position {pos}: {what}")
                    continue
                linked = False  # the previous hash is missing: this link cannot be checked
                if prev_pos == 0:
                    self.problem(0, "gap", f"chain does not start at position 1 (the first is {pos})")
                else:
                    self.problem(prev_pos, "gap", f"gap after position {prev_pos} (the next is {pos})")
            if nid <= last_nid:
                self.problem(pos, "order", f"position {pos}: notification {nid} is not after notification "
                                           f"{last_nid} (chain out of notification order)")
            else:
                last_nid = nid
            if ev is None:
                self.problem(pos, "missing",
                             f"position {pos}: chain row names notification {nid}, which has no stored event "
                             "(event deleted?)")
            else:
                _nid, oid, ver, topic, state = ev
                try:
                    if type(oid) is not bytes or len(oid) != 16:
                        self.problem(pos, "originator", f"position {pos}: originator id {oid!r} is not a UUID "
                                                        "(stored row altered?)")
                    elif linked and link(prev_hash, pos, ver, oid, topic, state) != h:
                        self.problem(pos, "hash", f"position {pos}: hash mismatch (stored state altered?)")
                    name = claim_name.get(topic, "")
                    if name == "":
                        short = topic.rpartition(".")[2]
                        name = claim_name[topic] = short if short in CLAIMING_EVENTS else None
                except (TypeError, AttributeError, struct.error):  # NULLs or wrong types: written by hand
                    self.problem(pos, "row", f"position {pos}: the stored event row has missing or malformed "
                                             "fields (stored row altered?)")
                    name = None
                if name is not None:
                    self._claim(name, pos, state)
            prev_pos, prev_hash = pos, h
        self.prev_pos, self.prev_hash, self.last_nid = prev_pos, prev_hash, last_nid
        self.checked += checked
        self.events += events

    def _claim(self, name: str, pos: int, state: bytes) -> None:
        try:
            body = orjson.loads(state)
            head = body["chain_head"]
            key = (int(head["position"]), str(head["hash"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            self.problem(pos, "claim", f"position {pos}: {name} has no readable chain_head")
            return
        if key not in self.claims:
            label = body.get("number") or body.get("month") or ""
            self.claims[key] = Claim(key[0], key[1], f"{name} {label} at position {pos}".replace("  ", " "), pos)


def check_heads(check: ChainCheck, stored: dict[int, bytes], expected: list[Claim], top: int | None = None) -> None:
    """Compare published heads (claims in events, --expect-head) with the chain's stored hashes.
    A head published beyond the chain's end (`top`) means the chain lost its end: truncation."""
    for claim in expected:
        if claim.at and claim.position >= claim.at:
            check.problem(claim.position, "head", f"{claim.by} names chain position {claim.position}, "
                                                  "which is not before it")
            continue
        have = GENESIS if claim.position == 0 else stored.get(claim.position)
        if have is None and top is not None and claim.position > top:
            check.problem(top, "truncation", f"truncation after position {top}: the chain ends there, but "
                                             f"{claim.by} published the head {claim.position}:{claim.hash}")
        elif have is None:
            check.problem(claim.position, "head", f"position {claim.position}: no chain row, but {claim.by} "
                                                  f"published the head {claim.hash[:16]}…")
        elif have.hex() != claim.hash.lower():
            check.problem(claim.position, "head", f"position {claim.position}: stored hash {have.hex()[:16]}… differs "
                                                  f"from the head {claim.hash[:16]}… published by {claim.by}")
