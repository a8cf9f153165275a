"""The event log as a Merkle tree in the style of RFC 9162 (certificate transparency), §2.1.

Leaf i (0-based) is the event at chain position i + 1, as the chain hashes it without the previous
hash: `position ‖ version ‖ originator id ‖ len ‖ topic ‖ len ‖ state`. Leaf hash = SHA-256(0x00 ‖
leaf), node hash = SHA-256(0x01 ‖ left ‖ right), the tree split at the largest power of two below
its size. A checkpoint that carries `tree_size` and `tree_root` then lets an auditor check, with a
proof of about log2(n) hashes and without reading the log:

* inclusion: this event is leaf m of the tree the checkpoint signed;
* consistency: the tree of a later checkpoint extends the tree of an earlier one (nothing before
  the earlier size was changed, removed or reordered).

Proofs are made from the store (`ledger-replay prove`); checking one needs only this module.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence

_pack_qq = struct.Struct(">QQ").pack
_pack_i = struct.Struct(">I").pack


def leaf_bytes(position: int, version: int, originator_id: bytes, topic: str, state: bytes) -> bytes:
    encoded = topic.encode()
    return b"".join((_pack_qq(position, version), originator_id, _pack_i(len(encoded)), encoded,
                     _pack_i(len(state)), state))


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


class RootBuilder:
    """Streams leaf hashes and gives the tree root at any size reached so far (RFC 9162 shape):
    a stack of perfect subtrees, merged as they fill, folded right to left for the root."""

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[tuple[int, bytes]] = []  # (leaves, hash) of perfect subtrees, left to right

    def add(self, leaf: bytes) -> None:
        size, h = 1, leaf
        while self._stack and self._stack[-1][0] == size:
            left = self._stack.pop()[1]
            size, h = size * 2, node_hash(left, h)
        self._stack.append((size, h))
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        h = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            h = node_hash(left, h)
        return h


def root(leaves: Iterable[bytes]) -> bytes:
    builder = RootBuilder()
    for leaf in leaves:
        builder.add(leaf)
    return builder.root()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(leaves: Sequence[bytes]) -> bytes:
    return root(leaves)


def inclusion_proof(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 9162 §2.1.3.1 over the leaf hashes."""
    n = len(leaves)
    if not 0 <= m < n:
        raise ValueError(f"leaf {m} is not in a tree of {n}")
    if n == 1:
        return []
    k = _split(n)
    if m < k:
        return [*inclusion_proof(m, leaves[:k]), _mth(leaves[k:])]
    return [*inclusion_proof(m - k, leaves[k:]), _mth(leaves[:k])]


def consistency_proof(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]) of RFC 9162 §2.1.4.1 over the leaf hashes."""
    n = len(leaves)
    if not 0 < m <= n:
        raise ValueError(f"no consistency proof from size {m} to {n}")
    return _subproof(m, leaves, True)


def _subproof(m: int, leaves: Sequence[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [_mth(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), _mth(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), _mth(leaves[:k])]


def verify_inclusion(leaf: bytes, m: int, n: int, proof: Sequence[bytes], expected_root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does `leaf` (a leaf hash) sit at index m of the tree of size n?"""
    if not 0 <= m < n:
        return False
    fn, sn, r = m, n - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == expected_root


def verify_consistency(m: int, n: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 §2.1.4.2: does the tree of size n (second_root) extend that of size m (first_root)?"""
    if not 0 < m <= n:
        return False
    if m == n:
        return not proof and first_root == second_root
    path = list(proof)
    if m & (m - 1) == 0:  # m is a power of two: the first root is itself a node of the path
        path.insert(0, first_root)
    if not path:
        return False
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == first_root and sr == second_root


# -- the tree of a stored log ------------------------------------------------------------------


def log_leaf_hashes(store: object, upto: int) -> Iterable[tuple[int, bytes]]:
    """(position, leaf hash) of chain positions 1..upto of a store (replay.store.Store), in order."""
    from replay.chain import join

    s = store  # type: ignore[assignment]
    for page in join(s.chain_pages(upto), s.event_pages(s.bounds()[1]), s.event_at):  # type: ignore[attr-defined]
        for pos, _nid, _h, ev in page:
            if pos is None or ev is None:
                continue  # not a sound chain position: verify reports it; the tree then differs
            _n, oid, version, topic, state = ev
            yield pos, leaf_hash(leaf_bytes(pos, version, bytes(oid), topic, state))


def roots_at(store: object, sizes: Iterable[int]) -> dict[int, bytes]:
    """The tree root at each of the given sizes, in one pass over the log."""
    wanted = sorted(set(s for s in sizes if s >= 0))
    out: dict[int, bytes] = {}
    if not wanted:
        return out
    if wanted[0] == 0:
        out[0] = EMPTY_ROOT
    builder = RootBuilder()
    pending = [s for s in wanted if s > 0]
    for _pos, leaf in log_leaf_hashes(store, pending[-1] if pending else 0):
        builder.add(leaf)
        while pending and builder.size == pending[0]:
            out[pending.pop(0)] = builder.root()
    return out
