"""The app factory: `create_app(settings)` builds the FastAPI service over one Ledger per process.

Everything HTTP-specific is wired here once: the gate middleware (request id, size limit, bearer
authentication, catch-all, one log line per request), the routers, the exception handlers that
turn every error into problem+json through the one table in problems.py, and the OpenAPI document.
"""

from __future__ import annotations

import inspect
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from ledger.api.auth import TokenRegistry, load_tokens
from ledger.api.config import ApiConfig
from ledger.api.problems import MEDIA_TYPE, ApiProblem, from_ledger_error, problem
from ledger.api.request_id import RequestId
from ledger.api.services import Services
from ledger.domain.errors import LedgerError
from ledger.settings import ConfigError, Settings

log = structlog.get_logger("ledger.api")

DESCRIPTION = """\
The add-on ledger's HTTP door: commands that record what happened (schemes, citizens, grants, catalogue,
orders, deliveries, payments, billing runs) and queries that read it back (event histories, billing, the
timeline, the audit).

* **Authentication**: `Authorization: Bearer <token>`; each token is one user with one role and a set of
  municipalities. A role gives only its own commands; every read and command is limited to the caller's
  municipalities.
* **Idempotency**: send `Idempotency-Key` with every command; a retry with the same key and body returns the
  first response and records nothing (header `Idempotent-Replayed: true`).
* **Concurrency**: responses carry the record's version as `ETag`; send it back as `If-Match` to refuse a
  stale change (412). A lost race is 409 and nothing of it is stored.
* **Read your writes**: a command answers with the log `position` it wrote; pass it as `min_position` to a
  query and the query waits (at most a few seconds) until the read models have it.
* **Errors** are `application/problem+json` (RFC 9457) with a stable `type` per error; see docs/api-errors.md.
"""


def _tokens(settings: Settings, tokens: TokenRegistry | None) -> TokenRegistry:
    if tokens is None:
        if not settings.tokens_file:
            raise ConfigError("no API tokens configured: set LEDGER_TOKENS_FILE (see docs/api.md), "
                              "or run `ledger serve --dev-token` for a throwaway administrator token")
        tokens = load_tokens(settings.tokens_file)
    if len(tokens) == 0:
        raise ConfigError("the tokens file holds no tokens; the service would refuse every request")
    return tokens


def create_app(settings: Settings | None = None, *, tokens: TokenRegistry | None = None,
               config: ApiConfig | None = None) -> FastAPI:
    """Build the service. Refuses (ConfigError) without tokens; opens the store on startup."""
    settings = settings if settings is not None else Settings.from_env()
    config = config if config is not None else settings.api
    tokens = _tokens(settings, tokens)
    from ledger.web.letter import creditors

    creditors()  # a malformed LEDGER_FI_CREDITORS refuses the start, not the first letter

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Services given before startup (tests that drive the app from outside) belong to the giver.
        owned = getattr(app.state, "services", None) is None
        if owned:
            app.state.services = Services.open(settings, config)
        log.info("ledger api started", database=settings.database_url.split("@")[-1], tokens=len(tokens),
                 follow=config.follow)
        try:
            yield
        finally:
            if owned:
                app.state.services.close()
                app.state.services = None

    # /docs and /redoc are served by ledger.web from vendored assets (offline), not from a CDN.
    app = FastAPI(title="The add-on ledger", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None, **_NO_TELEMETRY)
    from ledger.web import WebGate, install

    install(app, tokens)  # the web workplace at /web and the invoice letter PDF, before the API's routes
    _routes(app)
    _handlers(app)
    from ledger.api.lane import CommandLane

    app.add_middleware(WebGate, tokens=tokens, max_body_bytes=config.max_body_bytes,  # Gate + web session
                       lane=CommandLane(app, _routers()))
    app.add_middleware(RequestId)  # added last, so outermost: the id is bound before the gate runs
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


# FastAPI (0.16x) asks OpenTelemetry's global providers on every request whether to trace it; the
# service logs with structlog and configures no OpenTelemetry, so it is switched off once here
# (ADR 0030: the look-ups were about 5 % of the event loop's CPU per command). Older FastAPI
# versions have no such option.
_NO_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters else {})


def _routers() -> list[Any]:
    from ledger.api.routes import (audit, billing, catalogue, citizens, deliveries, evaluation, grants, health, orders,
                                   payments, schemes, timeline)

    return [m.router for m in (health, schemes, citizens, grants, catalogue, orders, deliveries, payments, billing,
                               timeline, evaluation, audit)]


def _routes(app: FastAPI) -> None:
    for router in _routers():
        app.include_router(router)


def _instance(request: Request) -> dict[str, Any]:
    return {"instance": request.url.path, "request_id": getattr(request.state, "request_id", None)}


def refusal(e: Exception, instance: dict[str, Any]) -> Response | None:
    """The problem+json answer to an error a command or a read raised (a domain refusal, an HTTP
    refusal, a store that did not answer), or None when it is none of those (a bug: the gate's
    catch-all answers 500). The one mapping, for the app's handlers and the command lane."""
    if isinstance(e, LedgerError):
        code, status, extra = from_ledger_error(e)
        return problem(code, e.message, status=status, **instance, **extra)
    if isinstance(e, ApiProblem):
        return problem(e.code, e.detail, headers=e.headers, **instance, **e.extra)
    if isinstance(e, sqlite3.OperationalError):
        if "locked" not in str(e) and "busy" not in str(e):
            return None
        return problem("store-unavailable", "the database was busy for longer than its timeout; nothing was stored",
                       headers={"Retry-After": "1"}, **instance)
    if isinstance(e, _STORE_DOWN):
        log.error("store unavailable", error=f"{type(e).__name__}: {e}")
        return problem("store-unavailable", "the database did not answer; nothing was stored",
                       headers={"Retry-After": "1"}, **instance)
    return None


try:
    import psycopg
    import psycopg_pool

    _STORE_DOWN: tuple[type[Exception], ...] = (psycopg.OperationalError, psycopg_pool.PoolTimeout)
except ImportError:  # pragma: no cover - psycopg is a dependency
    _STORE_DOWN = ()


def _handlers(app: FastAPI) -> None:
    async def refused(request: Request, e: Exception) -> Response:
        response = refusal(e, _instance(request))
        if response is None:
            raise e
        return response

    for kind in (LedgerError, ApiProblem, sqlite3.OperationalError, *_STORE_DOWN):
        app.add_exception_handler(kind, refused)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, e: RequestValidationError) -> Response:
        errors = e.errors()
        if any(err.get("type") == "json_invalid" for err in errors):
            reason = next(err for err in errors if err.get("type") == "json_invalid").get("ctx", {}).get("error", "")
            return problem("bad-request", f"the body is not valid JSON: {reason}".rstrip(": "), **_instance(request))
        content_type = request.headers.get("content-type", "")
        if any(err.get("loc", ("",))[0] == "body" for err in errors) and content_type \
                and "json" not in content_type.lower():
            return problem("unsupported-media-type", f"send the body as application/json, not {content_type}",
                           **_instance(request))
        listed = [{"location": ".".join(str(p) for p in err.get("loc", ())), "message": err.get("msg", ""),
                   "type": err.get("type", "")} for err in errors[:20]]
        detail = "; ".join(f"{x['location']}: {x['message']}" for x in listed[:5])
        return problem("invalid-request", detail or "the request does not match the schema", errors=listed,
                       **_instance(request))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> Response:
        code = {404: "route-not-found", 405: "method-not-allowed", 413: "payload-too-large"}.get(e.status_code,
                                                                                                 "bad-request")
        detail = e.detail if isinstance(e.detail, str) else str(e.detail)
        if code == "route-not-found":
            detail = f"no route {request.method} {request.url.path}"
        return problem(code, detail, status=e.status_code if e.status_code >= 400 else 400,
                       headers=dict(e.headers or {}), **_instance(request))


def _who_may(doc: dict[str, Any]) -> None:
    """Name, on each operation, the command it gives and the roles that may call it (from the one
    policy: the commands' specs and policy.READERS), so the document cannot drift from the code."""
    from fastapi.routing import APIRoute

    from ledger.api.policy import READERS
    from ledger.application.commands import by_name

    def names(dependant: Any) -> list[str]:
        found = [getattr(dependant.call, "__name__", "")] if dependant.call else []
        return found + [n for d in dependant.dependencies for n in names(d)]

    for route in (r for router in _routers() for r in router.routes):
        if not isinstance(route, APIRoute):
            continue
        for method in route.methods or ():
            operation = doc["paths"].get(route.path_format, {}).get(method.lower())
            if operation is None:
                continue
            for name in names(route.dependant):
                if name.startswith("command_"):
                    kind = name.removeprefix("command_")
                    spec = by_name()[kind]
                    roles = sorted(spec.roles)
                    operation["x-command"] = kind
                    operation["x-roles"] = roles
                    note = (f"Command `{kind}` (schema `{spec.schema.__name__}`). Roles: {', '.join(roles)}. "
                            "Send an `Idempotency-Key`; a retry with the same key and body is answered with the "
                            "first response.")
                elif name.startswith("reader_"):
                    kind = name.removeprefix("reader_")
                    operation["x-roles"] = sorted(READERS[kind])
                    note = f"Reads {kind} data. Roles: {', '.join(sorted(READERS[kind]))}."
                else:
                    continue
                operation["description"] = "\n\n".join(x for x in (operation.get("description"), note) if x)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated document, with every error response declared as application/problem+json."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    _who_may(doc)
    ref = {"$ref": "#/components/schemas/Problem"}
    for operations in doc.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400:
                    response["content"] = {MEDIA_TYPE: {"schema": ref}}
            if "security" in operation:  # every authenticated route can answer 401
                responses.setdefault("401", {"description": "problem+json: unauthorized",
                                             "content": {MEDIA_TYPE: {"schema": ref}}})
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    from ledger.api.schemas import tighten_openapi

    app.openapi_schema = tighten_openapi(doc)
    return doc


def app_from_env() -> FastAPI:
    """The factory `ledger serve` hands uvicorn (each worker process builds its own app): settings
    and tokens from the environment, plus the `--dev-token` hash when one was made."""
    from ledger.api.auth import TokenRegistry, entry

    from ledger.api.logs import configure_logging

    settings = Settings.from_env()  # the edge: each worker process reads the settings once, here
    configure_logging(settings.log_format)  # each worker process sets up its own logging
    tokens = load_tokens(settings.tokens_file) if settings.tokens_file else None
    dev = settings.api.dev_token_sha256
    if dev:
        tokens = TokenRegistry([*(tokens.entries if tokens else ()), entry({"user": "dev-admin", "role": "administrator",
                                                         "municipalities": "*", "token_sha256": dev}, "--dev-token")])
    return create_app(settings, tokens=tokens)
