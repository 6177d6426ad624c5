"""Where an inspection is stored: the inspection, its disposition decision, the review item when a person must
decide, supplier-claim evidence and the decision-log entries, all in one transaction behind an idempotency key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from returns_triage.errors import NotFound
from returns_triage.serving.domain.model import ReviewItem
from returns_triage.serving.domain.supplier_claims import DefectPatternRule
from returns_triage.serving.storage.audit_log import append_entry
from returns_triage.serving.storage.supplier_claims import attach_inspection
from returns_triage.serving.storage.tables import cases, decisions, inspections, review_items

__all__ = ["CaseContext", "StoredInspectionResponse", "DuplicateInspectionKey", "SqlInspectionStore"]

_in = inspections.c


@dataclass(frozen=True, slots=True)
class CaseContext:
    """What the service knows about a case when its goods are inspected: the request and the latest return
    decision (reason code, confidence, risk)."""

    case_ref: str
    case_id: str
    facility: str
    channel: str
    segment: str
    payload: dict[str, Any]
    reason_code: str | None
    reason_confidence: float | None
    risk_score: float | None
    decision_document: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class StoredInspectionResponse:
    request_sha256: str
    body: bytes


class DuplicateInspectionKey(Exception):
    """Another request stored an inspection under this key first; nothing of ours was written."""


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


class SqlInspectionStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def stored_response(self, tenant: str, key: str) -> StoredInspectionResponse | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(_in.request_sha256, _in.response_body)
                               .where(_in.tenant == tenant, _in.idempotency_key == key)).first()
        return None if row is None else StoredInspectionResponse(row.request_sha256, bytes(row.response_body))

    def case_context(self, tenant: str, case_id: str) -> CaseContext:
        """NotFound when the case was never scored for this tenant."""
        d = decisions.c
        with self.engine.connect() as conn:
            case = conn.execute(select(cases.c.id, cases.c.case_id, cases.c.facility, cases.c.channel,
                                       cases.c.segment, cases.c.payload)
                                .where(cases.c.tenant == tenant, cases.c.case_id == case_id)).first()
            if case is None:
                raise NotFound(f"case {case_id} not found: score the return before recording its inspection",
                               code="case_not_found")
            decision = conn.execute(
                select(d.reason_code, d.reason_confidence, d.risk_score, d.document)
                .where(d.case_ref == case.id, d.kind == "return").order_by(d.created_at.desc()).limit(1)
            ).first()
        return CaseContext(
            case_ref=case.id, case_id=case.case_id, facility=case.facility, channel=case.channel,
            segment=case.segment, payload=case.payload or {},
            reason_code=decision.reason_code if decision else None,
            reason_confidence=decision.reason_confidence if decision else None,
            risk_score=decision.risk_score if decision else None,
            decision_document=decision.document if decision else None,
        )

    def save(self, *, tenant: str, case: CaseContext, inspection: dict[str, Any], decision: dict[str, Any],
             review_item: ReviewItem | None, idempotency_key: str, request_sha256: str,
             render: Callable[[dict[str, Any] | None], bytes], rule: DefectPatternRule, actor: str,
             now: datetime) -> bytes:
        """Write everything in one transaction and return the response body (``render(claim)`` builds it once the
        claim, if any, is known). Raises DuplicateInspectionKey when a concurrent request won the key."""
        try:
            with self.engine.begin() as conn:
                conn.execute(decisions.insert().values(
                    decision_id=decision["decision_id"], tenant=tenant, case_ref=case.case_ref, created_at=now,
                    route=decision["route"], reason_code=case.reason_code or "OTHER",
                    reason_confidence=float(case.reason_confidence or 0.0), risk_score=case.risk_score,
                    policy_version=decision["policy_version"], model_versions=decision["model_versions"],
                    inputs_sha256=request_sha256, document=decision, kind="disposition"))
                if review_item is not None:
                    conn.execute(review_items.insert().values(
                        item_id=review_item.item_id, tenant=tenant, decision_id=review_item.decision_id,
                        case_ref=case.case_ref, queue=review_item.queue, priority=review_item.priority,
                        sla_due_at=review_item.sla_due_at, status=review_item.status, created_at=now,
                        fencing_token=0))
                # The body is written now and rewritten below once the claim is known: the key row must exist
                # before the claim logic so a concurrent duplicate fails here, before taking any lock.
                conn.execute(inspections.insert().values(
                    tenant=tenant, case_ref=case.case_ref, decision_id=decision["decision_id"],
                    idempotency_key=idempotency_key, request_sha256=request_sha256,
                    response_body=render(None), created_at=now, **inspection))
                append_entry(conn, tenant=tenant, kind="disposition", subject_id=decision["decision_id"],
                             actor=actor, payload={"inputs_sha256": request_sha256,
                                                   "inspection_id": inspection["inspection_id"],
                                                   "model_versions": decision["model_versions"],
                                                   "decision": decision})
                claim = attach_inspection(conn, tenant=tenant, inspection_id=inspection["inspection_id"], rule=rule,
                                          actor=actor, now=now)
                body: bytes = render(claim)
                if claim is not None:
                    conn.execute(inspections.update().where(_in.inspection_id == inspection["inspection_id"])
                                 .values(response_body=body))
                return body
        except IntegrityError as exc:
            if self.stored_response(tenant, idempotency_key) is not None:
                raise DuplicateInspectionKey(idempotency_key) from exc
            raise

    def get(self, tenant: str, inspection_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(_in.inspection_id, cases.c.case_id, _in.decision_id, _in.inspector, _in.facility, _in.sku,
                       _in.supplier_id, _in.grade, _in.serial_check, _in.notes, _in.serial_numbers, _in.photos,
                       _in.document_ids, _in.quantity, _in.unit_price, _in.currency, _in.received_at,
                       _in.inspected_at, _in.disposition, _in.confidence, _in.abstain, _in.recommendation,
                       _in.created_at)
                .join(cases, cases.c.id == _in.case_ref)
                .where(_in.tenant == tenant, _in.inspection_id == inspection_id)
            ).first()
        if row is None:
            raise NotFound(f"inspection {inspection_id} not found", code="inspection_not_found")
        out = row._asdict()
        for k in ("received_at", "inspected_at", "created_at"):
            out[k] = _utc(out[k])
        return out
