"""Every request has an id, bound to structlog's context for its whole life and echoed back."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from ledger.api.request_id import RequestId

log = structlog.get_logger("test")


def _call(app: Any, headers: list[tuple[bytes, bytes]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    scope: dict[str, Any] = {"type": "http", "method": "GET", "path": "/", "headers": headers}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(RequestId(app)(scope, receive, send))
    return sent, scope


def _logging_app(seen: dict[str, Any]) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen["context"] = structlog.contextvars.get_contextvars()
        seen["header"] = dict(scope["headers"]).get(b"x-request-id")
        log.info("inside the route")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


def test_a_request_without_an_id_gets_a_new_one_bound_to_every_log_line_and_echoed():
    seen: dict[str, Any] = {}
    with structlog.testing.capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        sent, scope = _call(_logging_app(seen), [])
    request_id = scope["state"]["request_id"]
    assert len(request_id) == 32 and seen["context"] == {"request_id": request_id}
    assert logs == [{"event": "inside the route", "log_level": "info", "request_id": request_id}]
    assert seen["header"] == request_id.encode()  # the gate inside sees the same id
    assert (b"x-request-id", request_id.encode()) in sent[0]["headers"]


def test_a_callers_plain_request_id_is_kept_and_a_strange_one_replaced():
    seen: dict[str, Any] = {}
    _, scope = _call(_logging_app(seen), [(b"x-request-id", b"trace-42.a_b")])
    assert scope["state"]["request_id"] == "trace-42.a_b"
    _, scope = _call(_logging_app(seen), [(b"x-request-id", b"a b\xff; drop table")])
    assert scope["state"]["request_id"] != "a b\xff; drop table" and len(scope["state"]["request_id"]) == 32
    assert [v for k, v in scope["headers"] if k == b"x-request-id"] == [scope["state"]["request_id"].encode()]


def test_the_context_is_cleared_after_the_request_even_when_the_app_fails():
    async def failing(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    try:
        _call(failing, [])
    except RuntimeError:
        pass
    assert structlog.contextvars.get_contextvars() == {}


def test_an_echoed_id_is_not_added_twice():
    async def echoing(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-request-id", b"inner")]})

    sent, _ = _call(echoing, [])
    assert [v for k, v in sent[0]["headers"] if k == b"x-request-id"] == [b"inner"]


def test_a_new_id_is_spelled_as_a_uuid4():
    import uuid

    from ledger.api.request_id import new_request_id

    ids = {new_request_id() for _ in range(2000)}
    assert len(ids) == 2000
    for i in list(ids)[:200]:
        parsed = uuid.UUID(hex=i)
        assert parsed.hex == i and parsed.version == 4 and parsed.variant == uuid.RFC_4122
