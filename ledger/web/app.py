"""The web workplace: a sub-application at /web of the API's app (ADR 0017).

Each page is a thin function: it checks the role with the API's policy, reads through the API's
own read helpers (municipality check and access log included) and renders a template. Errors become
an HTML page with the status the API would answer; a browser without a session is sent to sign-in.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from ledger.api.deps import Caller, refuse
from ledger.api.policy import may_read
from ledger.api.problems import BY_CODE, ApiProblem, from_ledger_error
from ledger.api.services import Services
from ledger.domain.document_numbers import series_of
from ledger.domain.errors import LedgerError
from ledger.domain.municipalities import municipality_name
from ledger.web import fmt
from ledger.web.i18n import LANGUAGES, translate
from ledger.web.session import COOKIE, LANG_COOKIE, SIGN_IN_COOKIE, Session, max_age_seconds, same

log = structlog.get_logger("ledger.web")

HERE = Path(__file__).parent
PREFIX = "/web"
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters.update(fmt.FILTERS)
templates.env.filters["municipality_name"] = lambda code: municipality_name(int(code)) if code else ""
templates.env.filters["series"] = series_of  # which series a document number is of (its link)


class SignInNeeded(Exception):
    pass


@dataclass
class Page:
    """What a page handler works with: the request, the process's services, the session and the
    API's Caller (so the access log and refusals read exactly as the API's)."""

    request: Request
    svc: Services
    session: Session
    who: Caller

    @property
    def principal(self) -> Any:
        return self.session.principal

    @property
    def db(self) -> Any:
        return self.svc.ledger.db

    def require(self, kind: str) -> None:
        """Refuse (403, logged like the API) unless the role may read `kind` (policy.READERS)."""
        if not may_read(self.who.role, kind):
            raise refuse(self.svc, self.who, f"the role {self.who.role} may not read {kind} data", kind,
                         record=kind in ("citizen", "identity", "billing"))

    def may(self, kind: str) -> bool:
        return may_read(self.who.role, kind)

    def municipalities(self) -> list[int]:
        """The municipalities this user may choose between (theirs, or every one with a scheme)."""
        mine = self.principal.municipalities
        if mine is not None:
            return sorted(mine)
        from ledger.projections.timeline_queries import scheme_municipalities

        try:
            found = scheme_municipalities(self.db)
        except Exception:  # the timeline tables may not exist yet on a brand-new store
            found = []
        if not found:
            found = [int(r[0]) for r in self.db.query("SELECT DISTINCT municipality FROM billing_invoices")]
        return sorted(found)

    def municipality(self, given: str | None) -> str | None:
        """The municipality a page shows: the one asked for (checked by the read), else the first
        of the user's own."""
        if given:
            return given
        options = self.municipalities()
        return str(options[0]) if options else None

    def render(self, name: str, status: int = 200, **context: Any) -> Response:
        return render(self.request, name, status, page=self, **context)


def services_of(request: Request) -> Services:
    return request.app.state.parent.state.services


def page(request: Request) -> Page:
    """The dependency of every signed-in page."""
    session: Session | None = request.scope.get("state", {}).get("web_session")
    if session is None:
        raise SignInNeeded()
    route = request.scope.get("route")
    who = Caller(session.principal, request.scope["state"]["request_id"], request.method,
                 PREFIX + getattr(route, "path", ""), request.url.path)
    return Page(request, services_of(request), session, who)


def lang_of(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, "da")
    return lang if lang in LANGUAGES else "da"


def render(request: Request, name: str, status: int = 200, **context: Any) -> Response:
    lang = lang_of(request)
    session: Session | None = request.scope.get("state", {}).get("web_session")
    context.setdefault("page", None)
    response = templates.TemplateResponse(request, name, {
        "t": lambda text: translate(lang, text), "lang": lang, "session": session, "W": PREFIX,
        "csrf": session.csrf if session else None, "may_read": (lambda kind: may_read(session.principal.role, kind))
        if session else (lambda kind: False), "q": lambda v: quote(str(v), safe=""), **context}, status_code=status)
    response.headers["Cache-Control"] = "no-store"  # personal and billing data are never cached
    return response


def check_csrf(p: Page, given: str | None) -> None:
    """Every state-changing form carries the session's CSRF token; a foreign Origin is refused."""
    origin = p.request.headers.get("origin")
    host = p.request.headers.get("host")
    if origin and host and origin.split("://", 1)[-1] != host:
        raise refuse(p.svc, p.who, f"a form from {origin} may not change anything here", "command", record=False)
    if not same(given, p.session.csrf):
        raise refuse(p.svc, p.who, "the form's CSRF token is missing or wrong: reload the page and try again",
                     "command", record=False)


def create_web(parent: FastAPI) -> FastAPI:
    web = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    web.state.parent = parent
    web.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    _handlers(web)
    _sign_in_routes(web)
    from ledger.web import pages

    web.include_router(pages.router)
    return web


def _handlers(web: FastAPI) -> None:
    def error_page(request: Request, status: int, code: str, detail: str) -> Response:
        title = {401: "Sign in", 403: "Refused", 404: "Not found"}.get(status, "Error" if status >= 500 else
                                                                          "Bad request")
        return render(request, "error.html", status, title=title, code=code, detail=detail)

    @web.exception_handler(SignInNeeded)
    async def sign_in_needed(request: Request, e: SignInNeeded) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.headers.get("hx-request"):  # htmx: a full-page redirect, not a fragment
            return Response(status_code=401, headers={"HX-Redirect": f"{PREFIX}/sign-in"})
        return RedirectResponse(f"{PREFIX}/sign-in?next={quote(target, safe='')}", status_code=303)

    @web.exception_handler(ApiProblem)
    async def api_problem(request: Request, e: ApiProblem) -> Response:
        return error_page(request, BY_CODE[e.code].status, e.code, e.detail)

    @web.exception_handler(LedgerError)
    async def ledger_error(request: Request, e: LedgerError) -> Response:
        code, status, _ = from_ledger_error(e)
        return error_page(request, status, code, e.message)

    @web.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> Response:
        detail = "; ".join(f"{'.'.join(str(x) for x in err.get('loc', ())[1:])}: {err.get('msg', '')}"
                           for err in e.errors()[:5])
        return error_page(request, 400, "invalid-request", detail or "the request does not match the form")

    @web.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> Response:
        status = e.status_code if e.status_code >= 400 else 400
        detail = f"no page {request.url.path}" if status == 404 else str(e.detail)
        return error_page(request, status, "route-not-found" if status == 404 else "bad-request", detail)


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: only a path of the workplace, never another site (no open redirect)."""
    if target and target.startswith(PREFIX + "/") and "//" not in target and "\\" not in target:
        return target
    return PREFIX + "/"


def _sign_in_routes(web: FastAPI) -> None:
    from fastapi import Form

    @web.get("/sign-in")
    def sign_in_form(request: Request, next: str | None = None) -> Response:  # noqa: A002 - the query's name
        pre = secrets.token_urlsafe(24)
        response = render(request, "sign_in.html", sign_in_csrf=pre, next=safe_next(next))
        response.set_cookie(SIGN_IN_COOKIE, pre, max_age=900, httponly=True, samesite="strict", path=PREFIX,
                            secure=request.url.scheme == "https")
        return response

    @web.post("/sign-in")
    def sign_in(request: Request, token: str = Form(max_length=512), csrf: str = Form(""),
                next: str = Form("")) -> Response:  # noqa: A002
        if not same(csrf, request.cookies.get(SIGN_IN_COOKIE)):
            log.warning("web sign-in refused", reason="sign-in form without its CSRF token")
            return render(request, "sign_in.html", 403, sign_in_csrf=request.cookies.get(SIGN_IN_COOKIE, ""),
                          next=safe_next(next), error="The form has expired: reload the page and sign in again.")
        principal = request.app.state.tokens.authenticate(token.strip())
        if principal is None:
            log.warning("web sign-in refused", reason="unknown token")
            return render(request, "sign_in.html", 401, sign_in_csrf=csrf, next=safe_next(next),
                          error="That token is not valid.")
        from ledger.web.session import cookie_value

        log.info("web sign-in", user=principal.user, role=principal.role)
        response = RedirectResponse(safe_next(next), status_code=303)
        response.set_cookie(COOKIE, cookie_value(token.strip(), int(time.time())), max_age=max_age_seconds(),
                            httponly=True, samesite="strict", path="/", secure=request.url.scheme == "https")
        response.delete_cookie(SIGN_IN_COOKIE, path=PREFIX)
        return response

    @web.post("/sign-out")
    def sign_out(request: Request, csrf: str = Form("")) -> Response:
        session: Session | None = request.scope.get("state", {}).get("web_session")
        if session is not None and not same(csrf, session.csrf):
            return render(request, "error.html", 403, title="Refused", code="forbidden",
                          detail="the form's CSRF token is missing or wrong")
        response = RedirectResponse(f"{PREFIX}/sign-in", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @web.get("/language/{lang}")
    def language(request: Request, lang: str, back: str | None = None) -> Response:
        response = RedirectResponse(safe_next(back), status_code=303)
        if lang in LANGUAGES:
            response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict", path="/")
        return response
