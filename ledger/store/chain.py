"""The tamper-evidence chain over the event log.

Each stored event gets a chain row: a contiguous position (1, 2, 3, ...), the library's
notification id, and a SHA-256 hash over the previous hash, the position, and the event's stored
bytes (originator id, version, topic and state). Altering, removing, inserting or reordering any
stored event breaks the chain from that position on.
"""

from __future__ import annotations

import hashlib
import struct
from uuid import UUID

GENESIS = b"\x00" * 32


def link(previous: bytes, position: int, originator_id: UUID | str, originator_version: int, topic: str,
         state: bytes) -> bytes:
    oid = originator_id.bytes if isinstance(originator_id, UUID) else UUID(str(originator_id)).bytes
    h = hashlib.sha256(previous)
    h.update(struct.pack(">QQ", position, originator_version))
    h.update(oid)
    topic_bytes = topic.encode()
    h.update(struct.pack(">I", len(topic_bytes)))
    h.update(topic_bytes)
    h.update(struct.pack(">I", len(state)))
    h.update(state)
    return h.digest()
