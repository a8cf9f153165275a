"""The gate every request passes, as one plain ASGI middleware (cheap: no per-request task).

In order: give the request an id; refuse bodies over the limit (413) and NUL bytes in the URL
(400); authenticate the bearer token (401) except on the public routes; read the body and note
(`state["body_refusal"]`) whether it is anything but UTF-8 JSON without duplicate keys (the
command dependency gives that refusal, 415 or 422, in its place in the order of precedence,
after the role check); run the app; turn any
unexpected exception into a 500 problem (last resort: it is a bug, logged with its traceback);
log one line with request id, user, route, status and duration. The token is never logged.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

import structlog

from ledger import strict_json
from ledger.api.auth import Principal, TokenRegistry
from ledger.api.problems import problem
from ledger.api.request_id import new_request_id

if TYPE_CHECKING:
    from ledger.api.lane import CommandLane

log = structlog.get_logger("ledger.api")

PUBLIC = frozenset({"/health", "/ready", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Scope = dict[str, Any]


class _BodyTooLarge(Exception):
    pass


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class Gate:
    def __init__(self, app: Any, tokens: TokenRegistry, max_body_bytes: int, lane: CommandLane | None = None) -> None:
        self.app = app
        self.tokens = tokens
        self.max_body = max_body_bytes
        self.lane = lane  # answers well-formed commands without the app's routing (ledger.api.lane)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = _header(scope, b"x-request-id")
        request_id = given if given and _REQUEST_ID.match(given) else new_request_id()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = [0]

        async def send_logged(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            refusal = await self._refusal(scope, state)
            if refusal is not None:
                await refusal(scope, receive, send_logged)
            else:
                buffered = await self._buffered(scope, receive, state)
                if buffered is None:
                    await self._respond(scope, send_logged, "payload-too-large",
                                        f"the body is larger than {self.max_body} bytes")
                elif self.lane is None or not await self.lane.answer(scope, buffered[0], send_logged, buffered[1]):
                    await self.app(scope, buffered[0], send_logged)
        except Exception:
            log.exception("unhandled error", request_id=request_id, path=scope.get("path"))
            if status[0] == 0:
                await self._respond(scope, send_logged, "internal-error",
                                    f"an unexpected error occurred; quote request id {request_id}")
        finally:
            principal: Principal | None = state.get("principal")
            route = scope.get("route")
            log.info("request", request_id=request_id, method=scope.get("method"),
                     route=getattr(route, "path", None) or "-", path=scope.get("path"), status=status[0],
                     duration_ms=round((time.perf_counter() - started) * 1000, 2),
                     user=principal.user if principal else None, role=principal.role if principal else None)

    async def _refusal(self, scope: Scope, state: dict[str, Any]) -> Any:
        """A response that ends the request before the app sees it, or None to go on."""
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            return self._responder("payload-too-large", f"the body has {length} bytes; the limit is {self.max_body}")
        query, raw_path = scope.get("query_string", b""), scope.get("raw_path") or b""
        if b"\x00" in query or b"%00" in query or b"%00" in raw_path or "\x00" in scope.get("path", ""):
            return self._responder("bad-request", "the URL contains a NUL byte")
        if scope.get("path") in PUBLIC:
            return None
        header = _header(scope, b"authorization")
        if not header:
            log.warning("authentication refused", request_id=state["request_id"], path=scope.get("path"),
                        reason="no Authorization header")
            return self._responder("unauthorized", "send the header 'Authorization: Bearer <token>'",
                                   {"WWW-Authenticate": 'Bearer realm="ledger"'})
        scheme, _, token = header.partition(" ")
        principal = self.tokens.authenticate(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if principal is None:
            log.warning("authentication refused", request_id=state["request_id"], path=scope.get("path"),
                        reason="unknown token")
            return self._responder("unauthorized", "the bearer token is not valid",
                                   {"WWW-Authenticate": 'Bearer realm="ledger", error="invalid_token"'})
        state["principal"] = principal
        return None

    def _responder(self, code: str, detail: str, headers: dict[str, str] | None = None) -> Any:
        async def respond(scope: Scope, receive: Any, send: Any) -> None:
            await self._respond(scope, send, code, detail, headers)

        return respond

    async def _respond(self, scope: Scope, send: Any, code: str, detail: str,
                       headers: dict[str, str] | None = None) -> None:
        response = problem(code, detail, instance=scope.get("path", ""), request_id=scope["state"]["request_id"],
                           headers=headers)
        await response(scope, _no_receive, send)

    async def _buffered(self, scope: Scope, receive: Any, state: dict[str, Any] | None = None) -> tuple[Any, bytes] | None:
        """Read the whole body (at most the limit) before the app, so an oversized chunked body is a
        clean 413 rather than a half-read request. Returns a receive that replays it and the body,
        or None."""
        if scope.get("method") not in _BODY_METHODS:
            return receive, b""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return receive, b""
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_body:
                return None
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole = b"".join(chunks)
        if state is not None and whole:
            refusal, doc = _strict_body(_header(scope, b"content-type"), whole)
            if refusal is not None:
                state["body_refusal"] = refusal
            elif doc is not NOT_JSON:
                state["body_json"] = doc  # the command lane reads it, rather than parsing it again
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()

        return replay, whole


NOT_JSON = object()  # `_strict_body`'s document when the body is not JSON at all


def body_refusal(content_type: str | None, body: bytes) -> tuple[str, str] | None:
    """(problem code, detail) when a body is not strict JSON, else None.

    JSON parsers differ on a repeated key (most keep the last, some the first) and on encodings
    (Python's reads UTF-16 and UTF-32 too): a body that two systems may read differently is refused
    rather than guessed at, as the import refuses it (RFC 8259: JSON exchanged between systems is
    UTF-8; names within an object should be unique). Malformed JSON is left to the app (400)."""
    return _strict_body(content_type, body)[0]


def _strict_body(content_type: str | None, body: bytes) -> tuple[tuple[str, str] | None, Any]:
    """`body_refusal`'s answer and the document it parsed (NOT_JSON when there is none)."""
    media, _, params = (content_type or "").partition(";")
    media = media.strip().lower()
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        return ("unsupported-media-type",
                f"send the body as application/json, not {content_type or 'no content type'}"), NOT_JSON
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            return ("unsupported-media-type", f"send the body as UTF-8 JSON, not charset {value.strip()}"), NOT_JSON
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return ("unsupported-media-type", "the body is not UTF-8: send JSON encoded as UTF-8"), NOT_JSON
    try:
        doc = strict_json.loads(text)
    except strict_json.RepeatedKey as e:
        return ("invalid-request", f"the key {e.key!r} appears twice in one object of the body; send it once"), NOT_JSON
    except ValueError:
        return None, NOT_JSON  # not JSON at all: the app answers 400 with the parser's reason
    return None, doc


async def _no_receive() -> dict[str, Any]:  # pragma: no cover - responses never read the body
    return {"type": "http.disconnect"}
