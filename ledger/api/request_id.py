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
import uuid
from typing import Any

import structlog

HEADER = b"x-request-id"
_VALID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")


def request_id_of(scope: dict[str, Any]) -> str:
    """The caller's id when it is usable, else a new one."""
    for key, value in scope.get("headers", ()):
        if key == HEADER:
            given = value.decode("latin-1")
            if _VALID.match(given):
                return given
    return uuid.uuid4().hex


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
