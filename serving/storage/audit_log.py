"""Where the decision log is stored: appends under the writer lock, streaming reads, checkpoints (SQLAlchemy).

The tables are append-only in the database itself (triggers, migration 0003). The chain never forks because the
next ``seq`` and ``prev_hash`` are read under a lock that every appender takes: SQLite's transactions here start
with ``BEGIN IMMEDIATE`` (one writer at a time), and on PostgreSQL the appender takes a transaction-scoped advisory
lock. The primary key on ``seq`` is the backstop: two entries can never claim one position.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, func, select, text
from sqlalchemy.engine import Dialect
from sqlalchemy.dialects import postgresql, sqlite

from returns_triage.serving.domain.audit import GENESIS_HASH, AuditEntry, Checkpoint, compute_entry_hash
from returns_triage.serving.domain.model import canonical_json, sha256_of
from returns_triage.serving.storage.prepared import PreparedStatement
from returns_triage.serving.storage.tables import audit_checkpoints, audit_entries, policy_documents

__all__ = ["REVIEW_ACTION", "OVERRIDE", "OUTCOME", "EntryDraft", "append_entry", "append_entries",
           "append_review_entry", "note_sha256", "store_policy_document", "SqlAuditLog"]

REVIEW_ACTION = "review_action"
OVERRIDE = "override"
OUTCOME = "outcome"

# Any constant works; it only has to be the same in every process that appends.
_PG_CHAIN_LOCK = 0x72747269616765  # "rtriage"

_ENTRY_COLUMNS = (audit_entries.c.seq, audit_entries.c.tenant, audit_entries.c.kind, audit_entries.c.subject_id,
                  audit_entries.c.actor, audit_entries.c.created_at, audit_entries.c.payload,
                  audit_entries.c.prev_hash, audit_entries.c.entry_hash)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _entry(row: Row[Any]) -> AuditEntry:
    return AuditEntry(seq=int(row.seq), tenant=row.tenant, kind=row.kind, subject_id=row.subject_id, actor=row.actor,
                      created_at=row.created_at, payload=row.payload, prev_hash=row.prev_hash,
                      entry_hash=row.entry_hash)


def append_entry(conn: Connection, *, tenant: str, kind: str, subject_id: str, actor: str,
                 payload: dict[str, Any], created_at: str | None = None) -> AuditEntry:
    """Append one entry inside the caller's transaction, so it commits (or rolls back) with what it records."""
    draft = EntryDraft(tenant=tenant, kind=kind, subject_id=subject_id, actor=actor,
                       payload=canonical_json(payload).decode())
    return append_entries(conn, [draft], created_at=created_at)[0]


@dataclass(frozen=True, slots=True)
class EntryDraft:
    """An entry before it has a place in the chain; ``payload`` is already its canonical JSON text."""

    tenant: str
    kind: str
    subject_id: str
    actor: str
    payload: str


_INSERT_ENTRY = audit_entries.insert()
# The columns an entry fills, each named as the AuditEntry field it comes from.
_ENTRY_KEYS = ("seq", "tenant", "kind", "subject_id", "actor", "created_at", "payload", "prev_hash", "entry_hash")
_HEAD = select(audit_entries.c.seq, audit_entries.c.entry_hash).order_by(audit_entries.c.seq.desc()).limit(1)
_CHAIN_LOCK = text("SELECT pg_advisory_xact_lock(:k)")


class _AppendStatements:
    """An append's statements compiled once per dialect and run on the driver's cursor (storage/prepared.py): every
    scored return appends an entry, and ``Connection.execute``'s own work cost more than these statements."""

    def __init__(self, dialect: Dialect) -> None:
        self.chain_lock = PreparedStatement(_CHAIN_LOCK, dialect) if dialect.name == "postgresql" else None
        self.head = PreparedStatement(_HEAD, dialect)
        self.insert = PreparedStatement(_INSERT_ENTRY, dialect, _ENTRY_KEYS)


_APPEND_STATEMENTS: dict[tuple[str, str, str], _AppendStatements] = {}


def _append_statements(dialect: Dialect) -> _AppendStatements:
    key = (dialect.name, dialect.driver, dialect.paramstyle)
    found = _APPEND_STATEMENTS.get(key)
    return found if found is not None else _APPEND_STATEMENTS.setdefault(key, _AppendStatements(dialect))


def append_entries(conn: Connection, drafts: Sequence[EntryDraft], *,
                   created_at: str | None = None) -> list[AuditEntry]:
    """Append ``drafts`` in order inside the caller's transaction, as :func:`append_entry` would one by one, but
    taking the chain lock and reading the head once and inserting them in one statement (group commit)."""
    if not drafts:
        return []
    if not conn.in_transaction():
        # What Connection.execute would do first (the statements below bypass it): begin, taking SQLite's lock.
        conn.begin()
    sql = _append_statements(conn.dialect)
    if sql.chain_lock is not None:
        # Held until the transaction ends; the next appender then reads the head this one committed.
        sql.chain_lock.fetch(conn, {"k": _PG_CHAIN_LOCK})
    head = sql.head.fetch(conn)
    seq, prev_hash = (int(head[0][0]), head[0][1]) if head else (0, GENESIS_HASH)
    when = created_at or _now()
    entries: list[AuditEntry] = []
    for draft in drafts:
        seq += 1
        entry_hash = compute_entry_hash(seq, draft.tenant, draft.kind, draft.subject_id, draft.actor, when,
                                        draft.payload, prev_hash)
        entries.append(AuditEntry(seq=seq, tenant=draft.tenant, kind=draft.kind, subject_id=draft.subject_id,
                                  actor=draft.actor, created_at=when, payload=draft.payload, prev_hash=prev_hash,
                                  entry_hash=entry_hash))
        prev_hash = entry_hash
    sql.insert.execute(conn, [{key: getattr(e, key) for key in _ENTRY_KEYS} for e in entries])
    return entries


def note_sha256(note: str | None) -> str | None:
    """The SHA-256 of a free-text note's UTF-8 bytes (None for no note).

    The log keeps notes as this digest, not as text: an append-only log can never be redacted, and a reviewer's
    note is free text about a customer that no pseudonymiser can clean. The note itself stays with the review
    decision or outcome it belongs to, where this digest proves it unaltered.
    """
    return None if note is None else hashlib.sha256(note.encode("utf-8")).hexdigest()


def append_review_entry(conn: Connection, *, tenant: str, decision_id: str, actor: str, override: bool,
                        payload: dict[str, Any]) -> AuditEntry:
    """Append a reviewer's action (``review_action``) or a supervisor's override (``override``) inside the
    transaction of the queue change it records. The subject is the model decision under review, so one subject
    lists the decision followed by everything people did about it."""
    return append_entry(conn, tenant=tenant, kind=OVERRIDE if override else REVIEW_ACTION, subject_id=decision_id,
                        actor=actor, payload=payload)


def store_policy_document(conn: Connection, *, version: str, content: dict[str, Any]) -> str:
    """Keep a policy's content under its sha256 inside the caller's transaction (a no-op when already stored)."""
    digest = sha256_of(content)
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(insert(policy_documents).values(
        sha256=digest, version=version, name=str((content.get("policy") or {}).get("name") or version),
        content=canonical_json(content).decode(), created_at=datetime.now(UTC),
    ).on_conflict_do_nothing(index_elements=["sha256"]))
    return digest


class SqlAuditLog:
    """Reads of the log, checkpoints, and a stand-alone append for records that change nothing else.

    What records a change of state (a decision, a review action, an outcome) is appended with
    :func:`append_entry` inside that change's own transaction instead, so neither commits without the other.
    """

    def __init__(self, engine: Engine, *, batch_size: int = 20_000) -> None:
        self.engine = engine
        self.batch_size = batch_size

    def append(self, *, tenant: str, kind: str, subject_id: str, actor: str, payload: dict[str, Any]) -> AuditEntry:
        with self.engine.begin() as conn:
            return append_entry(conn, tenant=tenant, kind=kind, subject_id=subject_id, actor=actor, payload=payload)

    def size(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.max(audit_entries.c.seq), 0))).scalar_one())

    def entry(self, seq: int) -> AuditEntry | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(*_ENTRY_COLUMNS).where(audit_entries.c.seq == seq)).first()
        return None if row is None else _entry(row)

    def iter_entries(self, *, upto: int | None = None) -> Iterator[AuditEntry]:
        """Every entry in ``seq`` order, fetched in keyset batches so memory stays flat over millions of rows.

        The log is append-only, so batches read in separate short transactions see one consistent prefix.
        """
        after = 0
        while True:
            query = select(*_ENTRY_COLUMNS).where(audit_entries.c.seq > after)
            if upto is not None:
                query = query.where(audit_entries.c.seq <= upto)
            with self.engine.connect() as conn:
                rows = conn.execute(query.order_by(audit_entries.c.seq).limit(self.batch_size)).all()
            for row in rows:
                yield _entry(row)
            if len(rows) < self.batch_size:
                return
            after = int(rows[-1].seq)

    def leaf_hashes(self, tree_size: int) -> list[bytes]:
        """The entry hashes of the first ``tree_size`` entries, as bytes (the Merkle leaves' data)."""
        out: list[bytes] = []
        after = 0
        while len(out) < tree_size:
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(audit_entries.c.seq, audit_entries.c.entry_hash)
                    .where(audit_entries.c.seq > after, audit_entries.c.seq <= tree_size)
                    .order_by(audit_entries.c.seq).limit(self.batch_size)
                ).all()
            if not rows:
                break
            out.extend(bytes.fromhex(r.entry_hash) for r in rows)
            after = int(rows[-1].seq)
        return out

    def find(self, *, tenant: str, kind: str | None = None, subject_id: str | None = None, after_seq: int = 0,
             limit: int = 100) -> list[AuditEntry]:
        query = select(*_ENTRY_COLUMNS).where(audit_entries.c.tenant == tenant, audit_entries.c.seq > after_seq)
        if kind is not None:
            query = query.where(audit_entries.c.kind == kind)
        if subject_id is not None:
            query = query.where(audit_entries.c.subject_id == subject_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(audit_entries.c.seq).limit(limit)).all()
        return [_entry(r) for r in rows]

    def head(self) -> tuple[int, str]:
        """(size, hash of the last entry), read together."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(audit_entries.c.seq, audit_entries.c.entry_hash).order_by(audit_entries.c.seq.desc()).limit(1)
            ).first()
        return (0, GENESIS_HASH) if row is None else (int(row.seq), row.entry_hash)

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        with self.engine.begin() as conn:
            conn.execute(audit_checkpoints.insert().values(**checkpoint.to_dict()))

    def checkpoints(self) -> list[Checkpoint]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.tree_size)).mappings().all()
        return [Checkpoint.from_dict(dict(r)) for r in rows]

    def latest_checkpoint(self) -> Checkpoint | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(audit_checkpoints).order_by(audit_checkpoints.c.tree_size.desc()).limit(1)
            ).mappings().first()
        return None if row is None else Checkpoint.from_dict(dict(row))

    def policy_document(self, *, sha256: str | None = None, version: str | None = None) -> dict[str, Any] | None:
        """A stored policy's content by its sha256 (exact) or its version; None when it was never stored."""
        import json

        query = select(policy_documents.c.content)
        if sha256:
            query = query.where(policy_documents.c.sha256 == sha256)
        elif version:
            query = query.where(policy_documents.c.version == version)
        else:
            raise ValueError("give sha256 or version")
        with self.engine.connect() as conn:
            text_ = conn.execute(query.limit(1)).scalar_one_or_none()
        return None if text_ is None else dict(json.loads(text_))
