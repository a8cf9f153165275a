"""The log's Merkle tree (RFC 9162 §2.1): the streaming root equals the recursive definition, and
every inclusion and consistency proof verifies, while a proof against another leaf, size or root
does not."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from replay.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_consistency,
    verify_inclusion,
)


def mth(leaves: list[bytes]) -> bytes:
    """MTH of RFC 9162 written out as the RFC defines it."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def leaves(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(8, "big")) for i in range(n)]


@given(st.integers(0, 300))
def test_the_streaming_root_is_the_rfc_root(n: int) -> None:
    assert root(leaves(n)) == mth(leaves(n))


@given(st.integers(1, 200), st.data())
def test_every_inclusion_proof_verifies_and_a_wrong_leaf_does_not(n: int, data: st.DataObject) -> None:
    tree = leaves(n)
    m = data.draw(st.integers(0, n - 1))
    proof = inclusion_proof(m, tree)
    assert verify_inclusion(tree[m], m, n, proof, root(tree))
    assert not verify_inclusion(hashlib.sha256(b"forged").digest(), m, n, proof, root(tree))
    if n > 1:
        other = (m + 1) % n
        assert not verify_inclusion(tree[m], other, n, proof, root(tree)) or tree[m] == tree[other]


@given(st.integers(1, 200), st.data())
def test_every_consistency_proof_verifies_and_a_changed_history_does_not(n: int, data: st.DataObject) -> None:
    tree = leaves(n)
    m = data.draw(st.integers(1, n))
    proof = consistency_proof(m, tree)
    assert verify_consistency(m, n, root(tree[:m]), root(tree), proof)
    changed = list(tree)
    changed[data.draw(st.integers(0, m - 1))] = hashlib.sha256(b"rewritten").digest()
    assert not verify_consistency(m, n, root(changed[:m]), root(tree), proof)
