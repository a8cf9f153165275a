"""The command lane: a well-formed command POST answered in the event loop, past FastAPI's routing,
dependency solving and thread pool (ADR 0025, round-6 amendment).

Under load those cost more server CPU than the command itself (routing and the dependency tree,
the body read again through an async generator and parsed a second time, a thread hop and its
wake-ups per request). The lane takes the command routes whose path has no parameters (POST
/orders, /deliveries, /payments, ...) and whose whole job is `return run()` (every command route's
is: see commanding.py). It answers a request only when each check the route's dependencies make
passes: the role may give the command, the headers are well-formed and there is no If-Match, the
gate found the body strict JSON, the body model and the command schema take it, and the record
that decides the municipality is cached and the caller may act there. Anything else goes to the
app as before, which gives the refusal (and logs it, and writes the access log) in its usual
order of precedence; the lane itself refuses nothing. What it answers is built by the same code
as the route's (`prepared`, `Run.respond`, main.refusal), so a response is the same whichever
way it came: the lane is only a shorter way to the same answers.

The command goes to the group commit's writer thread without blocking (`GroupCommit.submit`); the
loop is told when it is answered. Without writer threads (`LEDGER_API_MAX_BATCH=1`) the lane is
closed: a command would then run in the caller's thread.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, APIRouter
from pydantic import ValidationError

from ledger import strict_json
from ledger.api.auth import Principal
from ledger.api.commanding import IDEMPOTENCY_KEY, DEPENDENCIES, Run, command_id, prepared
from ledger.api.deps import Caller
from ledger.api.middleware import NOT_JSON
from ledger.application.commands import CommandSpec
from ledger.domain.errors import LedgerError

Scope = dict[str, Any]


def _lane_of(route: Any) -> CommandSpec[Any] | None:
    """The command of a route the lane can stand in for: POST, no path parameters, and nothing
    but the command's dependency (so the endpoint can only be `return run()`)."""
    if not isinstance(route, APIRoute) or route.methods != {"POST"} or "{" in route.path:
        return None
    dependant = route.dependant
    if len(dependant.dependencies) != 1 or dependant.path_params or dependant.query_params \
            or dependant.header_params or dependant.cookie_params or dependant.body_params:
        return None
    return DEPENDENCIES.get(dependant.dependencies[0].call)  # type: ignore[arg-type]


class CommandLane:
    def __init__(self, app: FastAPI, routers: list[APIRouter]) -> None:
        """The lane of `routers`' command routes, as `app` serves them (with no dependencies of
        its own: they would run for every route, and the lane would skip them)."""
        assert not app.router.dependencies
        self.app = app
        self.routes: dict[str, tuple[APIRoute, CommandSpec[Any]]] = {}
        for route in (r for router in routers for r in router.routes):
            spec = _lane_of(route)
            if spec is not None and spec.body is not None:
                assert isinstance(route, APIRoute)
                self.routes[route.path] = (route, spec)

    async def answer(self, scope: Scope, receive: Any, send: Any, body: bytes) -> bool:
        """Answer the request and say True, or say False (nothing sent) and let the app answer it."""
        if scope["method"] != "POST":
            return False
        found = self.routes.get(scope["path"])
        if found is None:
            return False
        route, spec = found
        services = getattr(self.app.state, "services", None)
        if services is None or not services.writer.queued:
            return False
        run = self._run(scope, route, spec, services, body)
        if run is None:
            return False
        future = services.writer.submit(run.command, run.context(), None, run.payload)
        if future is None:  # the same command is running for another request: the route waits for it
            return False
        scope["route"] = route  # for the request's log line, as routing would have set it
        response = await self._answered(future, run, scope)
        await response(scope, receive, send)
        return True

    def _run(self, scope: Scope, route: APIRoute, spec: CommandSpec[Any], services: Any, body: bytes) -> Run[Any] | None:
        """The request's Run when every check of the route's dependencies passes, else None."""
        state = scope["state"]
        principal: Principal | None = state.get("principal")
        if principal is None or principal.role not in spec.roles or state.get("body_refusal") is not None or not body:
            return None
        key = if_match = None
        for name, value in scope["headers"]:
            if name == b"idempotency-key" and key is None:
                key = value.decode("latin-1")
            elif name == b"if-match":
                if_match = value
        if if_match is not None or (key is not None and not IDEMPOTENCY_KEY.match(key)):
            return None
        who = Caller(principal, state["request_id"], "POST", route.path, scope["path"])
        assert spec.body is not None  # only routes with a body are in the lane
        doc = state.get("body_json", NOT_JSON)  # the gate's strict parse of this body
        try:
            if doc is NOT_JSON:
                doc = strict_json.loads(body)
            run = prepared(services, who, spec, spec.body.model_validate(doc), {}, command_id(who, key), None)
        except (ValueError, ValidationError, LedgerError):  # the route refuses it, in its order
            return None
        municipality = services.records.known_municipality(spec, run.command)
        if municipality is None or not principal.may_act_in(municipality):
            return None
        return run

    async def _answered(self, future: Future[Any], run: Run[Any], scope: Scope) -> Any:
        from ledger.api.main import refusal

        # Not `asyncio.wrap_future`: when the wait times out, cancelling its wrapper would cancel a
        # command still queued for the writer (the route's wait leaves it to run), and a late
        # refusal would be logged as an exception never retrieved; `_copy` drops a late answer.
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()

        def settle(_: Future[Any]) -> None:  # in the writer thread
            loop.call_soon_threadsafe(_copy, future, waiter)

        future.add_done_callback(settle)
        # The wait's limit as one timer that fails the waiter, not `asyncio.timeout` (its context
        # manager's task bookkeeping cost more than the rest of the wait: ADR 0030).
        timer = loop.call_later(run.svc.writer.wait_seconds, _expire, waiter)
        try:
            return run.respond(await waiter)
        except TimeoutError:
            error: Exception = run.svc.writer.unanswered()
        except Exception as e:
            error = e
        finally:
            timer.cancel()
        instance = {"instance": scope["path"], "request_id": scope["state"]["request_id"]}
        response = refusal(error, instance)
        if response is None:
            raise error  # a bug: the gate's catch-all answers 500, as for the route
        return response


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def _copy(source: Future[Any], target: asyncio.Future[Any]) -> None:
    if target.done():  # the caller stopped waiting
        return
    error = source.exception()
    if error is not None:
        target.set_exception(error)
    else:
        target.set_result(source.result())
