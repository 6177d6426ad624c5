"""The decision log's evidence: hash-chained audit entries, RFC 6962 Merkle trees over them, and checkpoints.

Standard library only. Each entry commits to the one before it (``prev_hash``), so editing, deleting, inserting or
reordering an entry breaks the chain at that entry. A rewritten chain is consistent with itself, so periodically a
*checkpoint* signs the Merkle root of the first ``tree_size`` entries; an attacker with database access cannot forge
that signature, and a verifier holding a checkpoint taken outside the database also catches a truncated tail.

Merkle hashing is RFC 6962 section 2.1: leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right), the
left subtree holding the largest power of two strictly smaller than the number of leaves. The leaf data of entry
``seq`` is its 32-byte ``entry_hash``; leaf index = ``seq - 1``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from returns_triage.serving.domain.model import Decision, canonical_json

__all__ = [
    "GENESIS_HASH",
    "ENTRY_KINDS",
    "AuditEntry",
    "Checkpoint",
    "compute_entry_hash",
    "chain_entry",
    "leaf_hash",
    "node_hash",
    "merkle_root",
    "inclusion_proof",
    "consistency_proof",
    "verify_inclusion",
    "verify_consistency",
    "MerkleAccumulator",
    "decision_entry_payload",
    "Verification",
    "verify_chain",
]

GENESIS_HASH = "0" * 64
"""``prev_hash`` of entry 1: there is nothing before it."""

ENTRY_KINDS = ("decision", "review_action", "override", "outcome", "disposition", "supplier_claim")

_ENTRY_DOMAIN = b"returns-triage/audit-entry/v1\n"
_CHECKPOINT_DOMAIN = b"returns-triage/audit-checkpoint/v1\n"


# --------------------------------------------------------------------------------------------- the hash chain


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the log. ``payload`` is the canonical JSON text exactly as hashed and stored."""

    seq: int
    tenant: str
    kind: str
    subject_id: str
    actor: str
    created_at: str
    payload: str
    prev_hash: str
    entry_hash: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def recomputed_hash(self) -> str:
        return compute_entry_hash(self.seq, self.tenant, self.kind, self.subject_id, self.actor, self.created_at,
                                  self.payload, self.prev_hash)


def compute_entry_hash(seq: int, tenant: str, kind: str, subject_id: str, actor: str, created_at: str,
                       payload: str, prev_hash: str) -> str:
    """SHA-256 over a domain tag and the canonical JSON of every field but the hash itself.

    ``seq`` is inside the hash, so moving an entry to another position changes what its hash must be.
    """
    body = canonical_json([seq, tenant, kind, subject_id, actor, created_at, payload, prev_hash])
    return hashlib.sha256(_ENTRY_DOMAIN + body).hexdigest()


def chain_entry(*, seq: int, prev_hash: str, tenant: str, kind: str, subject_id: str, actor: str,
                created_at: str, payload: dict[str, Any]) -> AuditEntry:
    """The entry that follows ``prev_hash`` at position ``seq``, with its hash computed."""
    if seq < 1:
        raise ValueError("seq starts at 1")
    if seq == 1 and prev_hash != GENESIS_HASH:
        raise ValueError("entry 1 must follow the genesis hash")
    text = canonical_json(payload).decode()
    return AuditEntry(seq=seq, tenant=tenant, kind=kind, subject_id=subject_id, actor=actor, created_at=created_at,
                      payload=text, prev_hash=prev_hash,
                      entry_hash=compute_entry_hash(seq, tenant, kind, subject_id, actor, created_at, text, prev_hash))


def decision_entry_payload(decision: Decision) -> dict[str, Any]:
    """The evidence an auditor needs to re-derive a decision: the inputs' hash and the features the models saw,
    model and policy versions, and the whole decision document (outputs, reasons, explanation)."""
    case = decision.case
    payload = case.payload
    features = {"facility": case.facility, "channel": case.channel, "segment": case.segment,
                "reason_text": case.reason_text, "refund_amount": case.refund_amount, "currency": case.currency}
    # What the risk model and the policy read besides the text: the customer's history summary, the order and
    # line, and the clock the request was scored at (a missing requested_at means "when it was scored").
    features.update({
        "customer": payload.get("customer"),
        "order": payload.get("order"),
        "line": payload.get("line"),
        "requested_at": payload.get("requested_at") or decision.created_at.isoformat(),
        "document_ids": list(payload.get("document_ids") or []),
    })
    entry: dict[str, Any] = {
        "inputs_sha256": case.inputs_sha256,
        # The request itself: a case scored again under another key keeps its first payload in `cases`, so the
        # input of *this* decision is kept here, where it cannot change.
        "request": payload,
        "features": features,
        "model_versions": dict(decision.model_versions),
        "policy_version": decision.policy_version,
        "decision": decision.to_document(),
    }
    if decision.model_digests:
        entry["model_digests"] = dict(decision.model_digests)
    if decision.policy_sha256:
        entry["policy_sha256"] = decision.policy_sha256
    return entry


# --------------------------------------------------------------------------------------------- checkpoints


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement: "the first ``tree_size`` entries have Merkle root ``root_hash``"."""

    tree_size: int
    root_hash: str
    last_entry_hash: str
    created_at: str
    key_id: str
    signature: str = ""

    def signed_message(self) -> bytes:
        """What the Ed25519 signature covers: every field but the signature."""
        return _CHECKPOINT_DOMAIN + canonical_json(
            {"tree_size": self.tree_size, "root_hash": self.root_hash, "last_entry_hash": self.last_entry_hash,
             "created_at": self.created_at, "key_id": self.key_id}
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Checkpoint:
        return cls(tree_size=int(data["tree_size"]), root_hash=str(data["root_hash"]),
                   last_entry_hash=str(data["last_entry_hash"]), created_at=str(data["created_at"]),
                   key_id=str(data["key_id"]), signature=str(data.get("signature", "")))


# --------------------------------------------------------------------------------------------- RFC 6962 hashing


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _root(hashes: Sequence[bytes]) -> bytes:
    """MTH over leaf *hashes*, iteratively: fold perfect subtrees, then join them right to left."""
    acc = MerkleAccumulator()
    for h in hashes:
        acc.append_leaf_hash(h)
    return acc.root()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of RFC 6962 over the leaf *data*; the empty tree's root is SHA-256 of nothing."""
    return _root([leaf_hash(d) for d in leaves])


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]): the audit path of leaf ``index`` (0-based) in the tree over ``leaf_hashes``."""
    n = len(leaf_hashes)
    if not 0 <= index < n:
        raise ValueError(f"leaf index {index} outside a tree of size {n}")
    return list(_path(index, leaf_hashes))


def _path(m: int, hashes: Sequence[bytes]) -> Iterator[bytes]:
    n = len(hashes)
    if n == 1:
        return
    k = _split(n)
    if m < k:
        yield from _path(m, hashes[:k])
        yield _root(hashes[k:])
    else:
        yield from _path(m - k, hashes[k:])
        yield _root(hashes[:k])


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]): proves the tree of the first ``old_size`` leaves is a prefix of the tree over all of them."""
    n = len(leaf_hashes)
    if not 0 < old_size <= n:
        raise ValueError(f"old size {old_size} must be in 1..{n}")
    return list(_subproof(old_size, leaf_hashes, True))


def _subproof(m: int, hashes: Sequence[bytes], complete: bool) -> Iterator[bytes]:
    n = len(hashes)
    if m == n:
        if not complete:
            yield _root(hashes)
        return
    k = _split(n)
    if m <= k:
        yield from _subproof(m, hashes[:k], complete)
        yield _root(hashes[k:])
    else:
        yield from _subproof(m - k, hashes[k:], False)
        yield _root(hashes[:k])


def verify_inclusion(index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """True when ``proof`` shows the leaf hash ``leaf`` at ``index`` in the tree of ``tree_size`` with ``root``
    (the verification algorithm of RFC 9162 section 2.1.3.2, which checks RFC 6962 paths)."""
    if not 0 <= index < tree_size:
        return False
    fn, sn = index, tree_size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """True when ``proof`` shows the tree (old_size, old_root) is a prefix of (new_size, new_root)
    (RFC 9162 section 2.1.4.2)."""
    if old_size < 1 or old_size > new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is itself the first node of the path
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


class MerkleAccumulator:
    """The root of a growing tree in O(log n) memory: one perfect subtree per set bit of the size.

    This is how verification streams a million entries: append each leaf, read :meth:`root` whenever the size
    reaches a checkpoint.
    """

    __slots__ = ("size", "_stack")

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[bytes] = []  # perfect subtree roots, largest (leftmost) first

    def append_leaf_hash(self, h: bytes) -> None:
        stack = self._stack
        stack.append(h)
        self.size += 1
        merges = self.size
        while not merges & 1:  # each trailing zero bit of the new size is a pair of equal subtrees to join
            right = stack.pop()
            stack[-1] = node_hash(stack[-1], right)
            merges >>= 1

    def root(self) -> bytes:
        if not self._stack:
            return hashlib.sha256(b"").digest()
        r = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            r = node_hash(left, r)
        return r


# --------------------------------------------------------------------------------------------- verification


@dataclass(frozen=True, slots=True)
class Verification:
    """The outcome of :func:`verify_chain`. ``first_bad_seq`` names the first entry that is not what was logged."""

    ok: bool
    entries: int
    checkpoints_checked: int
    first_bad_seq: int | None = None
    problem: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify_chain(entries: Iterable[AuditEntry], checkpoints: Iterable[Checkpoint],
                 signature_ok: Callable[[Checkpoint], bool]) -> Verification:
    """Recompute the chain from genesis and every checkpoint's root, streaming.

    Detects a modified entry (its hash), a deleted one (a gap in ``seq``), an inserted or reordered one (a broken
    ``prev_hash`` link or a hash that no longer matches its position), a rewritten run of entries (a root that is
    not the signed one) and a truncated tail (a signed checkpoint larger than the log). Stops at the first problem.
    """
    pending = sorted({cp.tree_size: cp for cp in checkpoints}.values(), key=lambda cp: cp.tree_size)
    for cp in pending:
        if not signature_ok(cp):
            return Verification(False, 0, 0, None, f"checkpoint at tree size {cp.tree_size} has a signature that "
                                                   "does not verify with the trusted key")
    acc = MerkleAccumulator()
    prev, expected, checked, last_ok_size = GENESIS_HASH, 1, 0, 0
    for e in entries:
        if e.seq != expected:
            what = f"entry {expected} is missing (the next stored entry is {e.seq})" if e.seq > expected else \
                f"entry {e.seq} appears out of order after entry {expected - 1}"
            return Verification(False, expected - 1, checked, min(expected, e.seq), what)
        if e.prev_hash != prev:
            return Verification(False, expected - 1, checked, e.seq,
                                f"entry {e.seq} does not follow entry {e.seq - 1}: its prev_hash differs from that "
                                f"entry's hash (an entry was inserted, removed or moved here)")
        if e.recomputed_hash() != e.entry_hash:
            return Verification(False, expected - 1, checked, e.seq,
                                f"entry {e.seq} was modified: its content does not match its entry_hash")
        acc.append_leaf_hash(leaf_hash(bytes.fromhex(e.entry_hash)))
        prev = e.entry_hash
        while pending and pending[0].tree_size == acc.size:
            cp = pending.pop(0)
            if acc.root().hex() != cp.root_hash or prev != cp.last_entry_hash:
                return Verification(False, acc.size, checked, last_ok_size + 1,
                                    f"entries {last_ok_size + 1}..{cp.tree_size} were rewritten: their Merkle root "
                                    f"is not the one signed in the checkpoint at tree size {cp.tree_size}")
            checked += 1
            last_ok_size = cp.tree_size
        expected += 1
    if pending:
        cp = pending[-1]
        return Verification(False, acc.size, checked, acc.size + 1,
                            f"the log ends at entry {acc.size} but a signed checkpoint covers {cp.tree_size} entries: "
                            f"entries {acc.size + 1}..{cp.tree_size} were removed (truncated tail)")
    return Verification(True, acc.size, checked)
