"""The master key that wraps every citizen's key, held outside the database (ADR 0015).

A copy of the database (the SQLite file, a pg_dump, a backup) holds only wrapped citizen keys: with
no master key they decrypt nothing. The master key comes from, in order:

1. `LEDGER_MASTER_KEY`: the key itself, 32 bytes as base64 (or 64 hex digits), e.g. from a secret
   store that sets the environment;
2. `LEDGER_MASTER_KEY_FILE`: a file holding that text (it must exist);
3. neither: the default file, created on first use with a warning, so the demo and the tests run
   with no set-up: `<database file>.master-key` beside a SQLite file (outside it), or
   `~/.config/ledger/master-<database>.key` for PostgreSQL (`LEDGER_MASTER_KEY_DIR` moves it).

`KeyWrapper` is the interface a KMS plugs into (`LEDGER_KEY_WRAPPER=module:factory`, the factory
called with the settings): wrap and unwrap one citizen key, and name the master key (`key_id`) so
a key wrapped by another master key is told apart from a damaged one.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import os
import secrets
import warnings
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger.domain.errors import LedgerError

_MAGIC = b"LMK1"  # wrapped-key format: magic, key id (8 bytes), nonce (12), ciphertext + tag (48)
LEGACY_KEY_BYTES = 32  # a citizen key stored in clear by an older version (wrapped on first start)


class IdentityUnavailable(LedgerError):
    """The master key is missing or is not the one the citizen keys were wrapped by."""

    code = "identity-unavailable"
    status = 503


class KeyWrapper(Protocol):
    key_id: str

    def wrap(self, key: bytes, citizen_id: str) -> bytes: ...

    def unwrap(self, wrapped: bytes, citizen_id: str) -> bytes: ...


class LocalMasterKey:
    """AES-256-GCM under a 32-byte master key; the citizen id is bound in as associated data, so a
    wrapped key moved to another citizen's row does not unwrap."""

    def __init__(self, key: bytes, source: str = "") -> None:
        if len(key) != 32:
            raise IdentityUnavailable(f"the master key{' in ' + source if source else ''} must be 32 bytes, "
                                      f"not {len(key)}")
        self._aead = AESGCM(key)
        self._id = hashlib.sha256(b"ledger master key id\x00" + key).digest()[:8]
        self.key_id = self._id.hex()
        self.source = source

    @classmethod
    def generate(cls) -> tuple[LocalMasterKey, str]:
        key = secrets.token_bytes(32)
        return cls(key), base64.b64encode(key).decode()

    def wrap(self, key: bytes, citizen_id: str) -> bytes:
        nonce = os.urandom(12)
        return _MAGIC + self._id + nonce + self._aead.encrypt(nonce, key, _aad(citizen_id))

    def unwrap(self, wrapped: bytes, citizen_id: str) -> bytes:
        wrapped = bytes(wrapped)
        if not wrapped.startswith(_MAGIC) or len(wrapped) < 4 + 8 + 12 + 16:
            raise IdentityUnavailable(f"the key of citizen {citizen_id} is not a wrapped key")
        key_id = wrapped[4:12]
        if key_id != self._id:
            raise IdentityUnavailable(
                f"the identity keys are wrapped by master key {key_id.hex()}, but the configured master key is "
                f"{self.key_id} ({self.source or 'given'}): configure the master key they were wrapped by")
        try:
            return self._aead.decrypt(wrapped[12:24], wrapped[24:], _aad(citizen_id))
        except InvalidTag:
            raise IdentityUnavailable(f"the wrapped key of citizen {citizen_id} does not open (altered?)") from None


def _aad(citizen_id: str) -> bytes:
    return b"ledger identity key\x00" + citizen_id.encode()


def parse_key_text(text: str, source: str) -> bytes:
    text = text.strip()
    try:
        return bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    except ValueError:
        raise IdentityUnavailable(f"{source} must hold 32 bytes as base64 or 64 hex digits") from None


def default_key_file(database_url: str) -> Path:
    """Where the master key is kept when none is configured: never inside the database."""
    if database_url.startswith("sqlite:///"):
        return Path(database_url.removeprefix("sqlite:///").split("?", 1)[0] + ".master-key")
    name = hashlib.sha256(database_url.encode()).hexdigest()[:16]
    folder = Path(os.environ.get("LEDGER_MASTER_KEY_DIR") or Path.home() / ".config" / "ledger")
    return folder / f"master-{name}.key"


def write_key_file(path: Path, text: str | bytes) -> None:
    """A new key file, readable by its owner only; never overwrites one (FileExistsError).

    Written beside and then linked into place, so a process that starts at the same moment sees
    either no file or the whole key, never an empty one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text if isinstance(text, bytes) else (text + "\n").encode())
            f.flush()
            os.fsync(f.fileno())
        os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def load_master_key(settings: Any) -> KeyWrapper:
    """The configured KeyWrapper (see the module docstring for the order)."""
    plugin = getattr(settings, "key_wrapper", None) or os.environ.get("LEDGER_KEY_WRAPPER")
    if plugin:
        module, _, factory = plugin.partition(":")
        return getattr(importlib.import_module(module), factory or "key_wrapper")(settings)
    given = getattr(settings, "master_key", None)
    if given:
        return LocalMasterKey(parse_key_text(given, "LEDGER_MASTER_KEY"), "LEDGER_MASTER_KEY")
    file = getattr(settings, "master_key_file", None)
    if file:
        path = Path(file)
        if not path.is_file():
            raise IdentityUnavailable(f"no master key file {path} (LEDGER_MASTER_KEY_FILE): without it no identity "
                                      "can be read or written")
        return LocalMasterKey(parse_key_text(path.read_text(), str(path)), str(path))
    path = default_key_file(settings.database_url)
    if not path.is_file():
        _, text = LocalMasterKey.generate()
        try:
            write_key_file(path, text)
        except FileExistsError:
            pass  # another process made it first: use theirs
        warnings.warn(f"no master key configured: generated {path} (keep it outside the database's backups, "
                      "or set LEDGER_MASTER_KEY_FILE; see ADR 0015)", stacklevel=2)
    return LocalMasterKey(parse_key_text(path.read_text(), str(path)), str(path))
