"""Auditing the decision log: Ed25519 signing keys, signed checkpoints, proofs, verification and exports.

Checkpoints are kept in the database *and* written as JSON files to a directory outside it: an attacker who can
rewrite the database can delete checkpoint rows, not the copies an auditor holds. Verification trusts a checkpoint
only if its signature verifies with the operator's public key.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from returns_triage.errors import ConfigurationError, Conflict, NotFound
from returns_triage.serving.domain.audit import (
    AuditEntry,
    Checkpoint,
    MerkleAccumulator,
    Verification,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    verify_chain,
)
from returns_triage.serving.storage.audit_log import SqlAuditLog

__all__ = [
    "CheckpointSigner",
    "CheckpointVerifier",
    "generate_signing_key",
    "make_checkpoint",
    "checkpoint_if_due",
    "external_checkpoints",
    "verify_log",
    "verify_export",
    "entry_proof",
    "checkpoint_consistency",
    "export_jsonl",
    "export_parquet",
    "parquet_checkpoint",
    "checkpoint_due",
    "consistency_between",
]


def _key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class CheckpointVerifier:
    public_key: Ed25519PublicKey

    @property
    def key_id(self) -> str:
        return _key_id(self.public_key)

    def public_key_pem(self) -> str:
        return self.public_key.public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def verify(self, checkpoint: Checkpoint) -> bool:
        if checkpoint.key_id != self.key_id:
            return False
        try:
            self.public_key.verify(bytes.fromhex(checkpoint.signature), checkpoint.signed_message())
        except (InvalidSignature, ValueError):
            return False
        return True

    @classmethod
    def from_file(cls, path: Path) -> CheckpointVerifier:
        """A public key PEM, or the private key file itself (its public half is used)."""
        data = _read_key_file(path)
        try:
            key: Any = serialization.load_pem_public_key(data)
        except ValueError:
            key = serialization.load_pem_private_key(data, password=None).public_key()
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigurationError(f"{path} does not hold an Ed25519 key")
        return cls(key)


@dataclass(frozen=True, slots=True)
class CheckpointSigner:
    private_key: Ed25519PrivateKey

    @property
    def verifier(self) -> CheckpointVerifier:
        return CheckpointVerifier(self.private_key.public_key())

    def sign(self, unsigned: Checkpoint) -> Checkpoint:
        signature = self.private_key.sign(unsigned.signed_message()).hex()
        return Checkpoint(**{**unsigned.to_dict(), "signature": signature})

    @classmethod
    def from_file(cls, path: Path) -> CheckpointSigner:
        try:
            key = serialization.load_pem_private_key(_read_key_file(path), password=None)
        except ValueError as exc:
            raise ConfigurationError(f"{path} is not a PEM private key: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigurationError(f"{path} does not hold an Ed25519 private key")
        return cls(key)


def _read_key_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigurationError(f"no audit key at {path}; create one with `triage audit keygen`") from exc


def generate_signing_key(path: Path) -> CheckpointSigner:
    """Write a new Ed25519 private key (PEM, mode 0600) and its public key next to it (``.pub``).

    Refuses to overwrite: losing the old key would orphan every checkpoint it signed.
    """
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise ConfigurationError(f"{path} exists; refusing to replace an audit signing key") from exc
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    signer = CheckpointSigner(key)
    Path(f"{path}.pub").write_text(signer.verifier.public_key_pem())
    return signer


# --------------------------------------------------------------------------------------------- checkpoints


def _checkpoint_file(directory: Path, checkpoint: Checkpoint) -> Path:
    return directory / f"checkpoint-{checkpoint.tree_size:012d}.json"


def make_checkpoint(log: SqlAuditLog, signer: CheckpointSigner, *, directory: Path | None = None) -> Checkpoint:
    """Sign the current tree head, store it, and write it to ``directory`` (outside the database) if given.

    Returns the existing checkpoint when nothing was appended since the last one.
    """
    size, last_hash = log.head()
    if size == 0:
        raise Conflict("the audit log is empty: there is nothing to checkpoint")
    latest = log.latest_checkpoint()
    if latest is not None and latest.tree_size == size:
        checkpoint = latest
    else:
        acc = MerkleAccumulator()
        for h in log.leaf_hashes(size):
            acc.append_leaf_hash(leaf_hash(h))
        checkpoint = signer.sign(Checkpoint(tree_size=size, root_hash=acc.root().hex(), last_entry_hash=last_hash,
                                            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                                            key_id=signer.verifier.key_id))
        log.save_checkpoint(checkpoint)
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        _checkpoint_file(directory, checkpoint).write_text(json.dumps(checkpoint.to_dict(), indent=2) + "\n")
    return checkpoint


def checkpoint_if_due(log: SqlAuditLog, signer: CheckpointSigner, *, every: int,
                      directory: Path | None = None) -> Checkpoint | None:
    """A checkpoint when at least ``every`` entries were appended since the last one (for a periodic worker)."""
    latest = log.latest_checkpoint()
    if log.size() - (latest.tree_size if latest else 0) < every:
        return None
    return make_checkpoint(log, signer, directory=directory)


def checkpoint_due(log: SqlAuditLog, *, every: int, max_age_seconds: float, now: datetime | None = None) -> bool:
    """Whether a periodic worker should sign now: ``every`` entries since the last checkpoint, or any new entry
    once the last checkpoint is ``max_age_seconds`` old (so a quiet log is still sealed within that time)."""
    size = log.size()
    latest = log.latest_checkpoint()
    pending = size - (latest.tree_size if latest else 0)
    if pending <= 0:
        return False
    if every and pending >= every:
        return True
    if latest is None:
        return True
    age = ((now or datetime.now(UTC)) - datetime.fromisoformat(latest.created_at)).total_seconds()
    return max_age_seconds > 0 and age >= max_age_seconds


def external_checkpoints(directory: Path | None) -> list[Checkpoint]:
    if directory is None or not directory.is_dir():
        return []
    return [Checkpoint.from_dict(json.loads(p.read_text())) for p in sorted(directory.glob("checkpoint-*.json"))]


# --------------------------------------------------------------------------------------------- verification


def verify_log(log: SqlAuditLog, verifier: CheckpointVerifier | None, *,
               extra_checkpoints: list[Checkpoint] | tuple[Checkpoint, ...] = ()) -> Verification:
    """Verify the stored chain from genesis against every checkpoint in the database and ``extra_checkpoints``.

    Without a verifier, checkpoints cannot be trusted, so only the chain's internal consistency is checked.
    """
    checkpoints = [*log.checkpoints(), *extra_checkpoints] if verifier is not None else []
    return verify_chain(log.iter_entries(), checkpoints, verifier.verify if verifier else (lambda _cp: False))


def verify_export(path: Path, verifier: CheckpointVerifier) -> Verification:
    """Verify an export (JSONL or ``.parquet``) and its checkpoint offline, without the database.

    The checkpoint is ``PATH.checkpoint.json``; a Parquet export without it uses the one in its metadata."""
    sidecar = _export_checkpoint_path(path)
    embedded = parquet_checkpoint(path) if path.suffix == ".parquet" and not sidecar.is_file() else None
    checkpoint = embedded or Checkpoint.from_dict(json.loads(sidecar.read_text()))
    return verify_chain(_read_export(path), [checkpoint], verifier.verify)


def _read_export(path: Path) -> Iterator[AuditEntry]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq  # only the Parquet path needs pyarrow

        for batch in pq.ParquetFile(path).iter_batches(batch_size=50_000):
            for row in batch.to_pylist():
                yield AuditEntry(**row)
        return
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield AuditEntry(**json.loads(line))


# --------------------------------------------------------------------------------------------- proofs and export


def _latest_or_404(log: SqlAuditLog) -> Checkpoint:
    checkpoint = log.latest_checkpoint()
    if checkpoint is None:
        raise NotFound("no audit checkpoint has been signed yet", code="no_checkpoint")
    return checkpoint


def entry_proof(log: SqlAuditLog, seq: int) -> dict[str, Any]:
    """The entry, and the RFC 6962 audit path proving it is leaf ``seq - 1`` of the latest checkpoint's tree."""
    entry = log.entry(seq)
    if entry is None:
        raise NotFound(f"no audit entry {seq}", code="audit_entry_not_found")
    checkpoint = _latest_or_404(log)
    if seq > checkpoint.tree_size:
        raise Conflict(f"entry {seq} is newer than the latest checkpoint (tree size {checkpoint.tree_size}); "
                       "it is provable after the next checkpoint", code="not_yet_checkpointed")
    hashes = [leaf_hash(h) for h in log.leaf_hashes(checkpoint.tree_size)]
    return {
        "entry": entry.to_dict(),
        "leaf_index": seq - 1,
        "tree_size": checkpoint.tree_size,
        "leaf_hash": hashes[seq - 1].hex(),
        "audit_path": [p.hex() for p in inclusion_proof(seq - 1, hashes)],
        "checkpoint": checkpoint.to_dict(),
    }


def consistency_between(log: SqlAuditLog, old_size: int, new_size: int | None = None) -> dict[str, Any]:
    """Both signed checkpoints (``new_size`` default: the latest) and the RFC 6962 consistency proof between them:
    what an auditor holding the old checkpoint checks before trusting the new one."""
    stored = {cp.tree_size: cp for cp in log.checkpoints()}
    new = stored.get(new_size) if new_size is not None else log.latest_checkpoint()
    old = stored.get(old_size)
    if old is None or new is None:
        missing = old_size if old is None else new_size
        raise NotFound(f"no signed checkpoint at tree size {missing}", code="checkpoint_not_found")
    if old.tree_size > new.tree_size:
        raise Conflict("the old checkpoint must not be larger than the new one", code="checkpoint_order")
    return {"old": old.to_dict(), "new": new.to_dict(),
            "proof": checkpoint_consistency(log, old.tree_size, new.tree_size)}


def checkpoint_consistency(log: SqlAuditLog, old_size: int, new_size: int) -> list[str]:
    """The RFC 6962 consistency proof between the tree heads of two checkpoints."""
    hashes = [leaf_hash(h) for h in log.leaf_hashes(new_size)]
    if len(hashes) != new_size:
        raise NotFound(f"the log holds fewer than {new_size} entries")
    return [p.hex() for p in consistency_proof(old_size, hashes)]


def _export_checkpoint_path(out: Path) -> Path:
    return out.with_name(out.name + ".checkpoint.json")


def export_jsonl(log: SqlAuditLog, out: Path) -> tuple[Checkpoint, int]:
    """Write the entries the latest checkpoint covers, one JSON object a line, and the checkpoint beside them
    (``OUT.checkpoint.json``), so the export can be verified without the database."""
    checkpoint = _latest_or_404(log)
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with out.open("w", encoding="utf-8") as fh:
        for entry in log.iter_entries(upto=checkpoint.tree_size):
            fh.write(json.dumps(entry.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n")
            n += 1
    _export_checkpoint_path(out).write_text(json.dumps(checkpoint.to_dict(), indent=2) + "\n")
    return checkpoint, n


_PARQUET_CHECKPOINT_KEY = b"returns_triage.audit.checkpoint"


def export_parquet(log: SqlAuditLog, out: Path, *, batch_rows: int = 50_000) -> tuple[Checkpoint, int]:
    """The same export as :func:`export_jsonl` as a Parquet file (one row per entry, every field a column).

    The checkpoint it matches is written beside it (``OUT.checkpoint.json``) and into the file's key-value metadata,
    so either travels on its own. Needs pyarrow, imported here only.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    checkpoint = _latest_or_404(log)
    schema = pa.schema([("seq", pa.int64()), ("tenant", pa.string()), ("kind", pa.string()),
                        ("subject_id", pa.string()), ("actor", pa.string()), ("created_at", pa.string()),
                        ("payload", pa.string()), ("prev_hash", pa.string()), ("entry_hash", pa.string())],
                       metadata={_PARQUET_CHECKPOINT_KEY: json.dumps(checkpoint.to_dict()).encode()})
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    rows: list[dict[str, Any]] = []
    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        for entry in log.iter_entries(upto=checkpoint.tree_size):
            rows.append(entry.to_dict())
            if len(rows) >= batch_rows:
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))
                n += len(rows)
                rows = []
        if rows or n == 0:
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))
            n += len(rows)
    _export_checkpoint_path(out).write_text(json.dumps(checkpoint.to_dict(), indent=2) + "\n")
    return checkpoint, n


def parquet_checkpoint(path: Path) -> Checkpoint | None:
    """The checkpoint embedded in a Parquet export's metadata (None for a file without one)."""
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(_PARQUET_CHECKPOINT_KEY)
    return None if raw is None else Checkpoint.from_dict(json.loads(raw))
