"""Where a decision is stored: the decision store port and its SQLAlchemy adapter (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from typing import Any, Protocol

from sqlalchemy import Engine, bindparam, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from returns_triage.serving.domain.audit import decision_entry_payload
from returns_triage.serving.domain.model import Decision, ReviewItem
from returns_triage.serving.domain.webhooks import DECISION_CREATED
from returns_triage.serving.storage.audit_log import append_entry, store_policy_document
from returns_triage.serving.storage.engine import reading
from returns_triage.serving.storage.prepared import PreparedStatement
from returns_triage.serving.storage.tables import cases, decisions, idempotency_keys, review_items
from returns_triage.serving.storage.webhooks import enqueue_event

__all__ = ["StoredResponse", "DuplicateIdempotencyKey", "DecisionStore", "SqlDecisionStore"]


@dataclass(frozen=True, slots=True)
class StoredResponse:
    request_sha256: str
    status_code: int
    body: bytes
    decision_id: str


class DuplicateIdempotencyKey(Exception):
    """Another request stored a decision under this key first; nothing of ours was written."""


class DecisionStore(Protocol):
    def stored_response(self, tenant: str, key: str) -> StoredResponse | None: ...

    def save_decision(
        self,
        decision: Decision,
        review_item: ReviewItem | None,
        *,
        idempotency_key: str,
        request_sha256: str,
        status_code: int,
        body: bytes,
        audit_payload: dict[str, Any] | None = None,
    ) -> None: ...

    def get_decision(self, tenant: str, decision_id: str) -> dict[str, Any] | None: ...

    def ping(self) -> bool: ...


class SqlDecisionStore:
    """One transaction per decision: case, decision, review item and idempotency key commit together."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._reader = reading(engine)
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        # Statements built once and executed with parameters: building and cache-keying a statement per request
        # cost more CPU than the database spent executing it.
        self._insert_case = self._insert(cases).on_conflict_do_nothing(index_elements=["tenant", "case_id"])
        self._select_case_ref = select(cases.c.id).where(cases.c.tenant == bindparam("tenant"),
                                                         cases.c.case_id == bindparam("case_id"))
        self._insert_decision = decisions.insert()
        self._insert_review_item = review_items.insert()
        self._insert_key = idempotency_keys.insert()
        self._select_response = (select(idempotency_keys.c.request_sha256, idempotency_keys.c.status_code,
                                        idempotency_keys.c.response_body, idempotency_keys.c.decision_id)
                                 .where(idempotency_keys.c.tenant == bindparam("tenant"),
                                        idempotency_keys.c.key == bindparam("key")))
        self._prepared_response = PreparedStatement(self._select_response, engine.dialect)
        self._policies_stored: set[str] = set()  # policy sha256s known to be committed (see save_decision)

    def stored_response(self, tenant: str, key: str) -> StoredResponse | None:
        # Read on every scoring request (a repeat is answered from here): one statement, no transaction of ours.
        with self._reader.connect() as conn:
            rows = self._prepared_response.fetch(conn, {"tenant": tenant, "key": key})
        if not rows:
            return None
        request_sha256, status_code, body, decision_id = rows[0]
        return StoredResponse(request_sha256, int(status_code), bytes(body), decision_id)

    def save_decision(
        self,
        decision: Decision,
        review_item: ReviewItem | None,
        *,
        idempotency_key: str,
        request_sha256: str,
        status_code: int,
        body: bytes,
        audit_payload: dict[str, Any] | None = None,
    ) -> None:
        """``audit_payload`` is the decision's :func:`decision_entry_payload` when the caller has it already."""
        case = decision.case
        now = decision.created_at
        payload = audit_payload if audit_payload is not None else decision_entry_payload(decision)
        document = payload["decision"]
        try:
            with self.engine.begin() as conn:
                conn.execute(self._insert_case, dict(
                    id=str(uuid.uuid4()), tenant=case.tenant, case_id=case.case_id, facility=case.facility,
                    channel=case.channel, segment=case.segment, payload=case.payload, created_at=now))
                case_ref = conn.execute(self._select_case_ref,
                                        {"tenant": case.tenant, "case_id": case.case_id}).scalar_one()
                conn.execute(
                    self._insert_decision, dict(
                        decision_id=decision.decision_id,
                        tenant=case.tenant,
                        case_ref=case_ref,
                        created_at=now,
                        route=decision.route.route,
                        reason_code=decision.reason.code,
                        reason_confidence=decision.reason.confidence,
                        risk_score=decision.risk.score if decision.risk else None,
                        policy_version=decision.policy_version,
                        model_versions=decision.model_versions,
                        inputs_sha256=document["inputs_sha256"],
                        document=document,
                    )
                )
                if review_item is not None:
                    conn.execute(
                        self._insert_review_item, dict(
                            item_id=review_item.item_id,
                            tenant=review_item.tenant,
                            decision_id=review_item.decision_id,
                            case_ref=case_ref,
                            queue=review_item.queue,
                            priority=review_item.priority,
                            sla_due_at=review_item.sla_due_at,
                            status=review_item.status,
                            created_at=now,
                            fencing_token=0,
                        )
                    )
                # Last, so a concurrent request with the same key waits on this row and then fails cleanly,
                # rolling back everything it wrote.
                conn.execute(
                    self._insert_key, dict(
                        tenant=case.tenant, key=idempotency_key, request_sha256=request_sha256,
                        decision_id=decision.decision_id, status_code=status_code, response_body=body,
                        created_at=now,
                    )
                )
                # The audit entry commits with the decision. Appended after the key, so a duplicate request fails
                # before it queues for the chain's writer lock, and that lock is held only until commit.
                append_entry(conn, tenant=case.tenant, kind="decision", subject_id=decision.decision_id,
                             actor="service:scoring", payload=payload)
                # The policy it was decided under, content-addressed, so a replay can find it by its hash.
                fresh_policy = (decision.policy_content is not None
                                and decision.policy_sha256 not in self._policies_stored)
                if fresh_policy:
                    assert decision.policy_content is not None
                    store_policy_document(conn, version=decision.policy_version, content=decision.policy_content)
                enqueue_event(conn, tenant=case.tenant, event=DECISION_CREATED, data=document, now=now)
        except IntegrityError as exc:
            if self.stored_response(case.tenant, idempotency_key) is not None:
                raise DuplicateIdempotencyKey(idempotency_key) from exc
            raise
        if fresh_policy:
            self._policies_stored.add(decision.policy_sha256)

    def get_decision(self, tenant: str, decision_id: str) -> dict[str, Any] | None:
        with self._reader.connect() as conn:
            doc = conn.execute(
                select(decisions.c.document).where(decisions.c.tenant == tenant,
                                                   decisions.c.decision_id == decision_id)
            ).scalar_one_or_none()
        return doc

    def count_decisions(self, tenant: str | None = None) -> int:
        query = select(func.count()).select_from(decisions)
        if tenant is not None:
            query = query.where(decisions.c.tenant == tenant)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def ping(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(text("SELECT 1")).scalar() == 1


