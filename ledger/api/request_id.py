"""A request id per request, bound to structlog's context so every log line of the request carries it.

The outermost middleware: it takes the caller's `X-Request-ID` when it is a plain token (letters,
digits and `._-`, at most 64), or makes one, and writes it back into the request's headers so the
gate (middleware.py) and everything inside it see the same id. Every line logged while the request
runs, in this task or in the thread-pool worker that runs a route (contextvars are copied there),
carries `request_id`; the response echoes it as `X-Request-ID`. The context is cleared afterwards,
so nothing leaks into the next request served by the same task.
"""

from __future__ import annotations

import re
from random import getrandbits
from typing import Any

import structlog

HEADER = b"x-request-id"
_VALID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")


# uuid4's fixed bits: version 4 and the RFC 4122 variant.
_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_V4 = (0x4000 << 64) | (0x8000 << 48)


def new_request_id() -> str:
    """A fresh id spelled as `uuid.uuid4().hex` is (32 hex digits, version 4), drawn from the random
    module's generator (seeded from the system, and again in each forked child) rather than from
    os.urandom: a request id must be unique, not secret, and os.urandom's system call gives up the
    GIL on every request, so the writer thread takes it and the event loop waits to get it back
    (ADR 0030)."""
    return f"{getrandbits(128) & _CLEAR | _V4:032x}"


def request_id_of(scope: dict[str, Any]) -> str:
    """The caller's id when it is usable, else a new one."""
    for key, value in scope.get("headers", ()):
        if key == HEADER:
            given = value.decode("latin-1")
            if _VALID.match(given):
                return given
    return new_request_id()


class RequestId:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        raw = request_id.encode()
        scope["headers"] = [(k, v) for k, v in scope.get("headers", ()) if k != HEADER] + [(HEADER, raw)]
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if not any(k.lower() == HEADER for k, _ in headers):
                    headers.append((HEADER, raw))
                message["headers"] = headers
            await send(message)

        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)
