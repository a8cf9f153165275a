"""Who is calling: bearer tokens mapped to a user, a role and the municipalities they may act in.

Tokens are configured in a file (`LEDGER_TOKENS_FILE`, JSON or TOML) that holds only the sha256
of each token, never the token itself, so the file can be read by operators without handing out
access. A presented token is hashed and compared with every configured hash in constant time.
The service refuses to start without tokens, unless `--dev-token` makes a throwaway one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ledger.application.commands import ROLES as _ROLES
from ledger.application.commands import by_name
from ledger.domain.errors import LedgerError
from ledger.domain.municipalities import municipality_code
from ledger.settings import ConfigError

ROLES = _ROLES  # assessor, catalogue_manager, ..., administrator
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_USER = re.compile(r"^[A-Za-z0-9_.@\-]{1,64}$")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. `municipalities` None means every municipality ("*")."""

    user: str
    role: str
    municipalities: frozenset[int] | None

    def may_act_in(self, municipality: int) -> bool:
        return self.municipalities is None or municipality in self.municipalities

    def may_command(self, command_type: str) -> bool:
        spec = by_name().get(command_type)
        return spec is not None and self.role in spec.roles


@dataclass(frozen=True)
class TokenEntry:
    principal: Principal
    token_sha256: bytes


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenRegistry:
    """The configured tokens; `authenticate` is the only way in."""

    def __init__(self, entries: Iterable[TokenEntry]) -> None:
        self.entries = tuple(entries)
        hashes = [e.token_sha256 for e in self.entries]
        if len(set(hashes)) != len(hashes):
            raise ConfigError("two configured tokens have the same sha256; every user needs a token of their own")

    def __len__(self) -> int:
        return len(self.entries)

    def authenticate(self, token: str) -> Principal | None:
        presented = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        found = None
        # Compare with every entry, without stopping early, so timing says nothing about which matched.
        for entry in self.entries:
            if hmac.compare_digest(presented, entry.token_sha256):
                found = entry.principal
        return found

    def with_token(self, token: str, user: str, role: str, municipalities: str | list[Any] = "*") -> TokenRegistry:
        return TokenRegistry([*self.entries, entry({"user": user, "role": role, "municipalities": municipalities,
                                                     "token_sha256": token_sha256(token)}, "(added)")])


def entry(raw: Any, where: str) -> TokenEntry:
    """One configured token from its file form, refusing anything ambiguous."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: each token must be a table/object with user, role, municipalities, token_sha256")
    unknown = set(raw) - {"user", "role", "municipalities", "token_sha256"}
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}")
    user, role, munis, digest = raw.get("user"), raw.get("role"), raw.get("municipalities"), raw.get("token_sha256")
    if not isinstance(user, str) or not _USER.match(user):
        raise ConfigError(f"{where}: user must be 1-64 characters of letters, digits and _.@-, got {user!r}")
    if role not in ROLES:
        raise ConfigError(f"{where} ({user}): role must be one of {', '.join(ROLES)}, got {role!r}")
    if not isinstance(digest, str) or not _HEX64.match(digest.lower()):
        raise ConfigError(f"{where} ({user}): token_sha256 must be 64 hex digits (the sha256 of the token, not the token)")
    # "*" and ["*"] both mean every municipality (the docs show both forms); "*" mixed with codes is refused.
    if munis == "*" or munis == ["*"]:
        allowed = None
    elif isinstance(munis, list) and "*" in munis:
        raise ConfigError(f"{where} ({user}): \"*\" means every municipality; do not list codes beside it")
    elif isinstance(munis, list) and munis:
        try:
            allowed = frozenset(municipality_code(m) for m in munis)
        except LedgerError as e:
            raise ConfigError(f"{where} ({user}): {e.message}") from None
    else:
        raise ConfigError(f"{where} ({user}): municipalities must be \"*\", [\"*\"] or a non-empty list of codes or names")
    return TokenEntry(Principal(user, role, allowed), bytes.fromhex(digest.lower()))


def load_tokens(path: str | Path) -> TokenRegistry:
    """Read a tokens file: JSON (`[{...}]` or `{"tokens": [...]}`) or TOML (`[[tokens]]`)."""
    p = Path(path)
    try:
        text = p.read_bytes()
    except OSError as e:
        raise ConfigError(f"LEDGER_TOKENS_FILE {str(p)!r} cannot be read: {e.strerror}") from None
    try:
        data: Any = tomllib.loads(text.decode()) if p.suffix.lower() == ".toml" else orjson.loads(text)
    except (tomllib.TOMLDecodeError, orjson.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"LEDGER_TOKENS_FILE {str(p)!r} is not valid {p.suffix.lstrip('.') or 'JSON'}: {e}") from None
    items = data.get("tokens") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ConfigError(f"LEDGER_TOKENS_FILE {str(p)!r}: expected a list of tokens (JSON) or [[tokens]] tables (TOML)")
    return TokenRegistry(entry(raw, f"{p.name} token #{i + 1}") for i, raw in enumerate(items))


def dev_token() -> str:
    """A fresh random token for `ledger serve --dev-token` (shown once, never stored)."""
    return "dev-" + secrets.token_urlsafe(32)
