"""An external merge sort of generated lines by recorded instant, in bounded memory.

Lives are generated one after another, but the file must be in recorded order. Lines are buffered
with a fixed-width key (the recorded instant as text, then a running number that breaks ties in the
order lines were made, which is deterministic), spilled to sorted temporary files when the buffer
is full, and merged at the end. Memory is one buffer, whatever the size of the history.
"""

from __future__ import annotations

import heapq
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from ledger.generate.clock import iso_instant

KEY_WIDTH = 20 + 12 + 1  # "YYYY-MM-DDTHH:MM:SSZ" + 12-digit sequence + tab


class ExternalSorter:
    def __init__(self, directory: str | Path | None = None, buffer_lines: int = 150_000) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="ledger-generate-", dir=directory)
        self.buffer_lines = buffer_lines
        self._buffer: list[bytes] = []
        self._chunks: list[Path] = []
        self.count = 0

    def add(self, instant: int, line: bytes) -> None:
        self._buffer.append(b"%s%012d\t%s\n" % (iso_instant(instant).encode(), self.count, line))
        self.count += 1
        if len(self._buffer) >= self.buffer_lines:
            self._spill()

    def _spill(self) -> None:
        self._buffer.sort()
        path = Path(self._dir.name) / f"chunk-{len(self._chunks):05d}"
        with open(path, "wb") as f:
            f.writelines(self._buffer)
        self._chunks.append(path)
        self._buffer = []

    def lines(self) -> Iterator[bytes]:
        """Every line (without its key, with its newline), in recorded order."""
        self._buffer.sort()
        files: list[IO[bytes]] = [open(p, "rb", buffering=1 << 20) for p in self._chunks]
        try:
            for line in heapq.merge(*files, self._buffer):
                yield line[KEY_WIDTH:]
        finally:
            for f in files:
                f.close()

    def close(self) -> None:
        self._dir.cleanup()
