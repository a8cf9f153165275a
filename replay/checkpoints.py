"""Signed checkpoints: the chain's head at a moment, signed with Ed25519, kept outside the database.

A checkpoint is one small JSON file, `checkpoint-<position>-<time>.json`:
`{"format": 1, "position": P, "head": "<64 hex>", "time": "<ISO instant>", "store": "...",
"by": "invoice run | export | verify | checkpoint", "key_id": "<16 hex>", "signature": "<base64>"}`,
the signature over the other fields as sorted-key JSON. The public key is written beside the
checkpoints as `keys/<key_id>.pem`, so a directory stays checkable after the signing key is rotated
(a new key adds a file; old checkpoints keep theirs). The municipality keeps the directory away
from the database (another machine, write-once storage); `ledger-replay verify --checkpoints DIR`
then checks that the log extends every checkpoint in it: the chain still reaches P and its hash at
P is the signed head. That catches a truncation, a rewritten or replaced tail, and any rewrite
before P, even when the intruder also removed the command records and projection positions that
verify otherwise reads, and recomputed every chain hash. Events appended after the newest
checkpoint are not covered until the next one: emit them often (every invoice run can).

The signing key: `LEDGER_CHECKPOINT_KEY_FILE` (a PEM PKCS#8 Ed25519 private key), or by default
`<database file>.checkpoint-key` beside a SQLite file (`~/.config/ledger/checkpoint-<hash>.key` for
PostgreSQL), generated on first use with a warning. It is never stored in the database. Rotate it by
pointing `LEDGER_CHECKPOINT_KEY_FILE` at a new key (ADR 0014).
"""

from __future__ import annotations

import base64
import hashlib
import os
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.identity.master import default_key_file, write_key_file
from replay.errors import UsageError

FORMAT = 1


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(_raw_public(key)).hexdigest()[:16]


def default_signing_key_file(database_url: str) -> Path:
    master = default_key_file(database_url)
    if master.name.endswith(".master-key"):
        return master.with_name(master.name.removesuffix(".master-key") + ".checkpoint-key")
    return master.with_name(master.name.replace("master-", "checkpoint-", 1))


def load_signing_key(database_url: str, key_file: str | None = None) -> Ed25519PrivateKey:
    """The checkpoint signing key (see the module docstring); a configured file must exist."""
    configured = key_file or os.environ.get("LEDGER_CHECKPOINT_KEY_FILE")
    path = Path(configured) if configured else default_signing_key_file(database_url)
    if not path.is_file():
        if configured:
            raise UsageError(f"no checkpoint signing key {path} (LEDGER_CHECKPOINT_KEY_FILE)")
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        try:
            write_key_file(path, pem)
        except FileExistsError:
            pass  # another process made it first: use theirs
        warnings.warn(f"no checkpoint signing key configured: generated {path} (set LEDGER_CHECKPOINT_KEY_FILE; "
                      "see ADR 0014)", stacklevel=2)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except ValueError as e:
        raise UsageError(f"{path} is not a PEM private key: {e}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"{path} is not an Ed25519 private key")
    return key


def _signed_part(body: dict[str, Any]) -> bytes:
    return orjson.dumps({k: v for k, v in body.items() if k != "signature"}, option=orjson.OPT_SORT_KEYS)


def emit(out_dir: Path, position: int, head: str, store: str, by: str, key: Ed25519PrivateKey,
         at: datetime | None = None, tree_root: str | None = None) -> Path:
    """Write one signed checkpoint (and the public key, once) into `out_dir`; returns its path.
    With `tree_root` (replay.merkle, the tree of the first `position` events) it signs that too."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"checkpoint directory {out_dir} is a file")
    public = key.public_key()
    kid = key_id(public)
    when = (at or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat(timespec="microseconds")
    body: dict[str, Any] = {"format": FORMAT, "position": int(position), "head": head.lower(), "time": when,
                            "store": store, "by": by, "key_id": kid}
    if tree_root is not None:
        body["tree_size"], body["tree_root"] = int(position), tree_root
    body["signature"] = base64.b64encode(key.sign(_signed_part(body))).decode()
    keys = out_dir / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    pem = keys / f"{kid}.pem"
    if not pem.exists():
        pem.write_bytes(public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    stamp = when.replace(":", "").replace("-", "").replace("+0000", "Z").replace(".", "")
    path = out_dir / f"checkpoint-{int(position):012d}-{stamp}.json"
    path.write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    return path


@dataclass(frozen=True)
class Loaded:
    path: Path
    position: int
    head: str
    time: str
    by: str
    tree_root: str | None = None


def load_checkpoints(directory: Path, check: Any) -> list[Loaded]:
    """Every checkpoint in `directory` whose signature holds; a bad one is a finding on `check`."""
    if not directory.is_dir():
        raise UsageError(f"--checkpoints {directory}: no such directory")
    found = []
    for path in sorted(directory.glob("checkpoint-*.json")):
        try:
            body = orjson.loads(path.read_bytes())
            signature = base64.b64decode(body["signature"], validate=True)
            kid = str(body["key_id"])
            position, head = int(body["position"]), str(body["head"]).lower()
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            check.problem(0, "checkpoint", f"checkpoint {path.name}: not a readable checkpoint file")
            continue
        pem = directory / "keys" / f"{kid}.pem"
        try:
            public = serialization.load_pem_public_key(pem.read_bytes())
            if not isinstance(public, Ed25519PublicKey) or key_id(public) != kid:
                raise ValueError("not the Ed25519 key it names")
            public.verify(signature, _signed_part(body))
        except FileNotFoundError:
            check.problem(position, "checkpoint", f"checkpoint {path.name}: no public key keys/{kid}.pem to check it")
            continue
        except (InvalidSignature, ValueError):
            check.problem(position, "checkpoint", f"checkpoint {path.name}: the signature does not hold "
                                                  "(the file was altered or forged)")
            continue
        found.append(Loaded(path, position, head, str(body.get("time", "")), str(body.get("by", "")),
                            body.get("tree_root")))
    return found


def signed_tree_root(store: Any, position: int) -> str:
    from replay.merkle import roots_at

    return roots_at(store, [position])[position].hex()


def check_checkpoints(store: Any, directory: Path, check: Any) -> int:
    """Does the log extend every signed checkpoint in `directory`? Findings go onto `check`
    (a ChainCheck); returns how many checkpoints were checked."""
    from ledger.store.chain import GENESIS

    checkpoints = load_checkpoints(directory, check)
    top = store.bounds()[0]
    stored = store.chain_hashes(c.position for c in checkpoints if c.position > 0)
    for c in checkpoints:
        have = GENESIS if c.position == 0 else stored.get(c.position)
        signed = f"the head {c.position}:{c.head} signed in {c.path.name} ({c.by}, {c.time})"
        if have is None and c.position > top:
            check.problem(top, "truncation", f"truncation after position {top}: the chain ends there, but {signed}")
        elif have is None:
            check.problem(c.position, "checkpoint", f"position {c.position}: no chain row, but {signed}")
        elif have.hex() != c.head:
            check.problem(c.position, "checkpoint", f"position {c.position}: stored hash {have.hex()} differs from "
                                                    f"{signed}: the log up to there was rewritten or replaced")
    treed = [c for c in checkpoints if c.tree_root and c.position <= top]
    if treed:
        from replay.merkle import roots_at

        roots = roots_at(store, (c.position for c in treed))
        for c in treed:
            have_root = roots.get(c.position)
            if have_root is None or have_root.hex() != c.tree_root:
                check.problem(c.position, "checkpoint", f"position {c.position}: the log's Merkle tree of {c.position} "
                                                        f"events differs from the tree root signed in {c.path.name}")
    return len(checkpoints)
