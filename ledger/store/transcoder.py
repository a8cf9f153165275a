"""Stored event state as plain JSON, encoded and decoded with orjson.

Our events hold only JSON-native values, except the library's `timestamp` (the recorded instant),
which is written as an ISO-8601 string and turned back into an aware datetime on decode. Anything
else that is not JSON-native is a programming error and fails loudly at write time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from eventsourcing.persistence import Transcoder


class OrjsonTranscoder(Transcoder):
    def encode(self, obj: Any) -> bytes:
        # OPT_NON_STR_KEYS is not set: a non-string key is a bug, not something to coerce.
        return orjson.dumps(obj)

    def decode(self, data: bytes) -> Any:
        d = orjson.loads(data)
        ts = d.get("timestamp") if isinstance(d, dict) else None
        if isinstance(ts, str):
            d["timestamp"] = datetime.fromisoformat(ts)
        return d
