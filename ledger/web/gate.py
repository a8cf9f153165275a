"""The API's gate (ledger.api.middleware.Gate), taught the web session.

Web pages (/ and /web/...) pass without a bearer token: they authenticate the session cookie
themselves and send a browser to the sign-in page instead of a 401 body. A GET to an API route
without an Authorization header is authenticated by the session cookie too, so the browser's
charts read the very JSON the API serves; anything else is the unchanged bearer gate.
"""

from __future__ import annotations

from typing import Any

from ledger.api.middleware import Gate, _header
from ledger.web.session import COOKIE, cookies, session_of

Scope = dict[str, Any]
_READS = frozenset({"GET", "HEAD"})


def is_web(path: str) -> bool:
    return path in ("/", "/web") or path.startswith("/web/")


class WebGate(Gate):
    async def _refusal(self, scope: Scope, state: dict[str, Any]) -> Any:
        path = scope.get("path", "")
        web = is_web(path)
        if not web and (scope.get("method") not in _READS or _header(scope, b"authorization")):
            return await super()._refusal(scope, state)
        # The size and NUL checks first, as for every request (the parent runs them before auth).
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            return self._responder("payload-too-large", f"the body has {length} bytes; the limit is {self.max_body}")
        query, raw_path = scope.get("query_string", b""), scope.get("raw_path") or b""
        if b"\x00" in query or b"%00" in query or b"%00" in raw_path or "\x00" in path:
            return self._responder("bad-request", "the URL contains a NUL byte")
        session = session_of(cookies(scope.get("headers", ())).get(COOKIE), self.tokens)
        if session is not None:
            state["principal"] = session.principal
            state["web_session"] = session
        if web or session is not None:
            return None
        return await super()._refusal(scope, state)
