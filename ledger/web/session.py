"""The web session: a cookie that carries the user's token and sign-in time, and the CSRF token.

Stateless on purpose (ADR 0017): every request authenticates the token with the same TokenRegistry
as a bearer token, so any worker process accepts a session, and removing a token from the tokens
file ends its sessions. The CSRF token is an HMAC of the sign-in time keyed by the token's sha256:
only a page served to this session can know it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any

import orjson

from ledger.api.auth import Principal, TokenRegistry

COOKIE = "ledger_session"
SIGN_IN_COOKIE = "ledger_signin"  # double-submit token of the sign-in form (before there is a session)
LANG_COOKIE = "ledger_lang"
HOURS_ENV = "LEDGER_WEB_SESSION_HOURS"


@dataclass(frozen=True)
class Session:
    principal: Principal
    token: str
    issued: int

    @property
    def csrf(self) -> str:
        return csrf_token(self.token, self.issued)


def max_age_seconds() -> int:
    try:
        return max(1, int(float(os.environ.get(HOURS_ENV, "8")) * 3600))
    except ValueError:
        return 8 * 3600


def cookie_value(token: str, issued: int | None = None) -> str:
    raw = orjson.dumps({"t": token, "i": int(time.time()) if issued is None else issued})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def csrf_token(token: str, issued: int) -> str:
    key = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
    return hmac.new(key, f"csrf:{issued}".encode(), hashlib.sha256).hexdigest()[:40]


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a).encode(), str(b).encode())


def cookies(headers: Any) -> dict[str, str]:
    """The request's cookies from ASGI headers (a list of byte pairs)."""
    jar: SimpleCookie = SimpleCookie()
    for key, value in headers:
        if key == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header is no session, not an error
                continue
    return {k: m.value for k, m in jar.items()}


def session_of(value: str | None, tokens: TokenRegistry, now: float | None = None) -> Session | None:
    """The session a cookie value stands for, or None (absent, malformed, expired, unknown token)."""
    if not value or len(value) > 4096:
        return None
    try:
        data = orjson.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        token, issued = data["t"], int(data["i"])
    except Exception:
        return None
    if not isinstance(token, str) or not token:
        return None
    now = time.time() if now is None else now
    if issued > now + 60 or now - issued > max_age_seconds():
        return None
    principal = tokens.authenticate(token)
    return None if principal is None else Session(principal, token, issued)
