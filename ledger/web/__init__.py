"""The web workplace for billing clerks, evaluators and auditors (ADR 0017).

`install(app)` adds to the API's app: the workplace at /web (and / sends a browser there), the
invoice letter as an API route (GET /billing/invoices/{number}.pdf), and /docs and /redoc served
from vendored assets so they work offline. Call it before the API's routers are included, so the
letter's route is matched before /billing/invoices/{number}.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.responses import RedirectResponse, Response

from ledger.web.gate import WebGate

__all__ = ["WebGate", "install"]

VENDOR = "/web/static/vendor"


def install(app: FastAPI, tokens: object) -> None:
    from ledger.web.app import create_web

    app.state.tokens = tokens
    web = create_web(app)
    web.state.tokens = tokens
    app.mount("/web", web)

    @app.get("/", include_in_schema=False)
    def root() -> Response:
        return RedirectResponse("/web/", status_code=303)

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - docs",
                                   oauth2_redirect_url="/docs/oauth2-redirect",
                                   swagger_js_url=f"{VENDOR}/swagger-ui/swagger-ui-bundle.js",
                                   swagger_css_url=f"{VENDOR}/swagger-ui/swagger-ui.css",
                                   swagger_favicon_url=f"{VENDOR}/swagger-ui/favicon-32x32.png")

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def oauth2_redirect() -> Response:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> Response:
        return get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} - ReDoc",
                              redoc_js_url=f"{VENDOR}/redoc/redoc.standalone.js",
                              redoc_favicon_url=f"{VENDOR}/swagger-ui/favicon-32x32.png", with_google_fonts=False)

    from ledger.web.letter_route import router as letter

    app.include_router(letter)
