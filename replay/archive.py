"""A portable archive of the event log, verifiable with no database at all.

Format (version 1): a gzip file of JSON lines.

* line 1, the header: `{"format": "ledger-archive", "format_version": 1, "source": ...}`;
* one line per joined row of the store, in chain position order, exactly as `replay.chain.join`
  produces them: `{"p": position, "n": notification id, "h": hash hex, "o": originator id,
  "v": version, "t": topic, "s": state}`. `s` is the stored bytes as UTF-8 text (they are JSON);
  bytes that are not UTF-8 go in `s64` (base64) instead, so the stored bytes always come back
  exactly. An event without a chain row has `"p": null, "h": null`; a chain row without an event
  has `"missing": true`. A damaged store is archived as it is: the archive is evidence;
* the last line, the manifest: `{"manifest": {count, first_position, last_position, head_hash,
  created_at, format_version, events_sha256, cut, ...}}`. `events_sha256` covers every row line,
  so an archive edited anywhere (even outside what the chain hashes: notification ids) fails.

Streaming both ways: memory does not grow with the log.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from ledger.projections.reader import recorded_key
from replay.chain import ChainCheck, Claim, Joined, check_heads, join
from replay.errors import UsageError
from replay.store import Store

FORMAT = "ledger-archive"
FORMAT_VERSION = 1
Progress = Callable[[int, int], None]


# -- writing ------------------------------------------------------------------------------


def _uuid_text(oid: bytes | str) -> str:
    if type(oid) is bytes and len(oid) == 16:
        h = oid.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return str(oid)


def encode_row(row: Joined) -> bytes:
    pos, nid, h, ev = row
    line: dict[str, Any] = {"p": pos, "n": nid, "h": None if h is None else h.hex()}
    if ev is None:
        line["missing"] = True
    else:
        _, oid, ver, topic, state = ev
        line["o"], line["v"], line["t"] = _uuid_text(oid), ver, topic
        try:
            line["s"] = None if state is None else state.decode()  # NULL only if written by hand
        except UnicodeDecodeError:
            line["s64"] = base64.b64encode(state).decode()
    return orjson.dumps(line) + b"\n"


@dataclass
class Cut:
    """Where an export stops: a chain position, or the first event recorded after an instant."""

    until_position: int | None = None
    until_recorded: str | None = None

    def describe(self) -> dict[str, Any] | None:
        if self.until_position is None and self.until_recorded is None:
            return None
        return {"until_position": self.until_position, "until_recorded": self.until_recorded}


@dataclass
class ExportResult:
    path: Path
    check: ChainCheck
    count: int = 0
    unchained: int = 0
    missing: int = 0
    manifest: dict[str, Any] = field(default_factory=dict)


def export(store: Store, out: Path, cut: Cut, progress: Progress | None = None, level: int = 1) -> ExportResult:
    """Write the log (up to the cut) to `out`; the chain is checked on the way (same rules as
    verify), and a damaged store is still written out as it is."""
    top, last_nid = store.bounds()
    if cut.until_position is not None:
        top = min(top, cut.until_position)
        row = store.chain_row(top) if top else None
        last_nid = row[1] if row else (last_nid if top else 0)
    cutoff = None if cut.until_recorded is None else recorded_key(cut.until_recorded)
    partial = out.with_name(out.name + ".partial")
    result = ExportResult(out, ChainCheck())
    digest = hashlib.sha256()
    try:
        with gzip.open(partial, "wb", compresslevel=level) as f:
            f.write(orjson.dumps({"format": FORMAT, "format_version": FORMAT_VERSION,
                                  "source": store.describe()}) + b"\n")
            rows = join(store.chain_pages(top), store.event_pages(last_nid), store.event_at)
            try:
                for page in rows:
                    keep, stop = _until(page, cutoff)
                    chunk = b"".join(map(encode_row, keep))
                    f.write(chunk)
                    digest.update(chunk)
                    result.check.feed(keep)
                    for pos, _nid, _h, ev in keep:
                        if pos is None:
                            result.unchained += 1
                        elif ev is None:
                            result.missing += 1
                    if progress is not None:
                        progress(result.check.prev_pos, top)
                    if stop:
                        break
            finally:
                rows.close()
            head_pos, head_hash = result.check.head
            result.count = result.check.checked
            result.manifest = {
                "format": FORMAT, "format_version": FORMAT_VERSION,
                "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "source": store.describe(), "cut": cut.describe(),
                "count": result.count, "unchained": result.unchained, "missing": result.missing,
                "first_position": result.check.first_position, "last_position": head_pos,
                "head_hash": head_hash.hex(), "events_sha256": digest.hexdigest(),
            }
            f.write(orjson.dumps({"manifest": result.manifest}, option=orjson.OPT_SORT_KEYS) + b"\n")
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return result


def _until(page: list[Joined], cutoff: str | None) -> tuple[list[Joined], bool]:
    """The rows before the first chained event recorded after `cutoff` (the export's longest
    prefix of the chain known by then), and whether the cut fell inside this page."""
    if cutoff is None:
        return page, False
    for i, (pos, _nid, _h, ev) in enumerate(page):
        if pos is not None and ev is not None:
            try:
                recorded = recorded_key(orjson.loads(ev[4])["timestamp"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                continue  # unreadable state: the chain check reports the row; keep it in the archive
            if recorded > cutoff:
                return page[:i], True
    return page, False


# -- reading ------------------------------------------------------------------------------


def _decode_row(line: dict[str, Any]) -> Joined:
    h = line["h"]
    hashed = None if h is None else bytes.fromhex(h)
    if line.get("missing"):
        return line["p"], line["n"], hashed, None
    o = line["o"]
    try:  # the 16 bytes the chain hashes; any other text is kept, and the check reports it
        oid: bytes | str = bytes.fromhex(o.replace("-", ""))
        if len(oid) != 16:
            oid = o
    except (ValueError, AttributeError):
        oid = o
    if "s" in line:
        text = line["s"]
        state = None if text is None else text.encode()
    else:
        state = base64.b64decode(line["s64"])
    return line["p"], line["n"], hashed, (line["n"], oid, line["v"], line["t"], state)


class Archive:
    """Reads an archive written by `export`: rows in pages, then the manifest."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise UsageError(f"no archive file {path}")
        self.path = path
        self.header = self._header()
        self.manifest: dict[str, Any] | None = None
        self.sha256 = ""
        self.damage: str | None = None  # a truncated or corrupt file

    def _header(self) -> dict[str, Any]:
        try:
            with gzip.open(self.path, "rb") as f:
                first = orjson.loads(f.readline())
        except (OSError, EOFError, zlib.error, orjson.JSONDecodeError):
            raise UsageError(f"{self.path} is not a ledger archive (not gzip'd JSON lines)") from None
        if not isinstance(first, dict) or first.get("format") != FORMAT:
            raise UsageError(f"{self.path} is not a ledger archive (no '{FORMAT}' header)")
        if first.get("format_version") != FORMAT_VERSION:
            raise UsageError(f"{self.path}: archive format version {first.get('format_version')} is not supported "
                             f"(this tool reads version {FORMAT_VERSION})")
        return first

    def _blocks(self) -> Iterator[list[bytes]]:
        """The file's lines (without their newline), decompressed a mebibyte at a time."""
        with gzip.open(self.path, "rb") as f:
            rest = b""
            while block := f.read(1 << 20):
                lines = (rest + block).split(b"\n")
                rest = lines.pop()
                yield lines
            if rest:
                yield [rest]

    def pages(self) -> Iterator[list[Joined]]:
        """Joined rows, page by page; afterwards `manifest`, `sha256` and `damage` are set."""
        digest = hashlib.sha256()
        self.manifest, self.damage = None, None
        loads = orjson.loads
        number = 0
        try:
            for lines in self._blocks():
                page: list[Joined] = []
                rows: list[bytes] = []
                for raw in lines:
                    number += 1
                    if number == 1:
                        continue  # the header, read on opening
                    if self.manifest is not None:
                        self.damage = f"line {number}: data after the manifest"
                        break
                    try:
                        line = loads(raw)
                        if "manifest" in line:
                            self.manifest = line["manifest"]
                            continue
                        page.append(_decode_row(line))
                    except orjson.JSONDecodeError:
                        self.damage = f"line {number} is not JSON (archive edited or corrupt)"
                        break
                    except (KeyError, TypeError, ValueError, AttributeError) as e:
                        self.damage = f"line {number} is not an archive row ({type(e).__name__}: {e})"
                        break
                    rows.append(raw)
                if rows:
                    digest.update(b"\n".join(rows) + b"\n")
                if page:
                    yield page
                if self.damage:
                    break
        except (OSError, EOFError, zlib.error) as e:
            self.damage = f"archive truncated or corrupt ({e})"
        self.sha256 = digest.hexdigest()


def verify_archive(archive: Archive, expect: list[Claim], progress: Progress | None = None) -> ChainCheck:
    """The chain, the manifest and the published heads of an archive, in one pass over the file.

    Heads are published after the positions they name, so every (position, hash) is spooled to a
    temporary file (40 bytes a row, not memory) and the claimed positions are looked up there."""
    check = ChainCheck()
    total = 0
    record = struct.Struct(">q32s")
    with tempfile.TemporaryFile() as spool:
        for page in archive.pages():
            check.feed(page)
            spool.write(b"".join([record.pack(pos, h) for pos, _nid, h, _ev in page
                                  if pos is not None and h is not None and len(h) == 32]))
            if progress is not None:
                total = max(total, check.prev_pos)
                progress(check.prev_pos, total)
        _check_manifest(archive, check)
        claims = [*check.claims.values(), *expect]
        if claims and archive.damage is None:
            wanted = {c.position for c in claims if c.position > 0}
            stored: dict[int, bytes] = {}
            spool.seek(0)
            while block := spool.read(record.size * 25_000):
                for pos, h in record.iter_unpack(block):
                    if pos in wanted and pos not in stored:
                        stored[pos] = h
            check_heads(check, stored, claims)
    return check


def _check_manifest(archive: Archive, check: ChainCheck) -> None:
    end = check.prev_pos
    if archive.damage:
        check.problem(end, "archive", archive.damage)
        return
    m = archive.manifest
    if m is None:
        check.problem(end, "archive", f"no manifest: the archive ends after position {end} (truncated?)")
        return
    expected = {"count": check.checked, "last_position": end, "head_hash": check.head[1].hex(),
                "events_sha256": archive.sha256, "first_position": check.first_position}
    for key, value in expected.items():
        if m.get(key) != value:
            check.problem(end, "manifest", f"manifest {key} is {m.get(key)!r}, the archive holds {value!r}")
