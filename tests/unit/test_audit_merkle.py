"""RFC 6962 Merkle hashing and proofs, against the Certificate Transparency reference data, and the hash chain."""

from __future__ import annotations

import hashlib

import pytest

from returns_triage.serving.domain.audit import (
    GENESIS_HASH,
    MerkleAccumulator,
    chain_entry,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    merkle_root,
    node_hash,
    verify_consistency,
    verify_inclusion,
)

# The eight-leaf data set of the Certificate Transparency reference tests and its published tree heads for
# sizes 0..8 (RFC 6962 hashing). A log whose roots differ proves nothing to anyone else's verifier.
CT_LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f")]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (0-based leaf index, tree size, audit path), published with the same data set.
CT_INCLUSION = [
    (0, 1, []),
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
# (old size, new size, consistency proof)
CT_CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (2, 8, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
]

HASHES = [leaf_hash(d) for d in CT_LEAVES]


def _root(n: int) -> bytes:
    return bytes.fromhex(CT_ROOTS[n])


@pytest.mark.parametrize("size", range(9))
def test_roots_match_the_published_tree_heads(size: int) -> None:
    assert merkle_root(CT_LEAVES[:size]).hex() == CT_ROOTS[size]


def test_the_streaming_accumulator_gives_the_same_roots() -> None:
    acc = MerkleAccumulator()
    assert acc.root().hex() == CT_ROOTS[0]
    for size, h in enumerate(HASHES, start=1):
        acc.append_leaf_hash(h)
        assert acc.root().hex() == CT_ROOTS[size]


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    # A leaf can never be mistaken for a node: the prefixes differ.
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert node_hash(HASHES[0], HASHES[1]).hex() == CT_ROOTS[2]


@pytest.mark.parametrize(("index", "size", "path"), CT_INCLUSION)
def test_inclusion_proofs_match_the_reference_and_verify(index: int, size: int, path: list[str]) -> None:
    proof = inclusion_proof(index, HASHES[:size])
    assert [p.hex() for p in proof] == path
    assert verify_inclusion(index, size, HASHES[index], proof, _root(size))


@pytest.mark.parametrize(("old", "new", "path"), CT_CONSISTENCY)
def test_consistency_proofs_match_the_reference_and_verify(old: int, new: int, path: list[str]) -> None:
    proof = consistency_proof(old, HASHES[:new])
    assert [p.hex() for p in proof] == path
    assert verify_consistency(old, new, _root(old), _root(new), proof)


def test_every_proof_in_trees_up_to_40_leaves_verifies_and_tampering_is_rejected() -> None:
    hashes = [leaf_hash(bytes([i, i * 7 % 256])) for i in range(40)]
    for n in range(1, len(hashes) + 1):
        tree = hashes[:n]
        root = merkle_root([bytes([i, i * 7 % 256]) for i in range(n)])
        for i in range(n):
            proof = inclusion_proof(i, tree)
            assert verify_inclusion(i, n, tree[i], proof, root)
            assert not verify_inclusion(i, n, leaf_hash(b"forged"), proof, root)
            if n > 1:
                assert not verify_inclusion((i + 1) % n, n, tree[i], proof, root)
            if proof:
                bad = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
                assert not verify_inclusion(i, n, tree[i], bad, root)
        for m in range(1, n + 1):
            old_root = merkle_root([bytes([i, i * 7 % 256]) for i in range(m)])
            proof = consistency_proof(m, tree)
            assert verify_consistency(m, n, old_root, root, proof)
            if m < n:
                assert not verify_consistency(m, n, leaf_hash(b"other"), root, proof)
                assert not verify_consistency(m, n, old_root, root, proof[:-1])


def test_verifiers_reject_impossible_sizes() -> None:
    assert not verify_inclusion(8, 8, HASHES[0], [], _root(8))
    assert not verify_inclusion(0, 8, HASHES[0], [], _root(8))  # a path that is too short
    assert not verify_consistency(0, 8, b"", _root(8), [])
    assert not verify_consistency(9, 8, _root(8), _root(8), [])
    assert not verify_consistency(4, 8, _root(4), _root(8), [])  # an empty proof proves nothing


def test_each_entry_commits_to_its_position_content_and_predecessor() -> None:
    first = chain_entry(seq=1, prev_hash=GENESIS_HASH, tenant="t", kind="decision", subject_id="d-1",
                        actor="api", created_at="2026-11-01T00:00:00+00:00", payload={"route": "review"})
    second = chain_entry(seq=2, prev_hash=first.entry_hash, tenant="t", kind="decision", subject_id="d-2",
                         actor="api", created_at="2026-11-01T00:00:01+00:00", payload={"route": "auto_approve"})
    assert first.recomputed_hash() == first.entry_hash
    assert second.prev_hash == first.entry_hash
    moved = chain_entry(seq=3, prev_hash=first.entry_hash, tenant="t", kind="decision", subject_id="d-2",
                        actor="api", created_at="2026-11-01T00:00:01+00:00", payload={"route": "auto_approve"})
    assert moved.entry_hash != second.entry_hash
    with pytest.raises(ValueError):
        chain_entry(seq=1, prev_hash=second.entry_hash, tenant="t", kind="decision", subject_id="x", actor="a",
                    created_at="c", payload={})
