"""Recording an inspection: the case's context + the inspection → the disposition model → a disposition decision
(a person decides when the model is not confident) → one durable write, behind an idempotency key.

The disposition decision is a row of ``decisions`` (kind ``disposition``), so a low-confidence one is a review
item in the ordinary queue (``disposition``) and its decision-log entry sits in the same hash chain.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from returns_triage.errors import IdempotencyConflict, InvalidInput, ModelUnavailable, RuleViolation
from returns_triage.serving.domain.model import ReviewItem, as_utc, sha256_of
from returns_triage.serving.domain.supplier_claims import DefectPatternRule
from returns_triage.serving.service.models import LoadedModels
from returns_triage.serving.storage.inspections import CaseContext, DuplicateInspectionKey, SqlInspectionStore

__all__ = ["InspectionResult", "InspectionService", "DISPOSITION_QUEUE", "DISPOSITION_POLICY"]

DISPOSITION_QUEUE = "disposition"
DISPOSITION_POLICY = "disposition-confidence-v1"  # the rule: below the bundle's calibrated threshold, a person
_BASE_PRIORITY = 40


@dataclass(frozen=True, slots=True)
class InspectionResult:
    status_code: int
    body: bytes
    replayed: bool



def _parse_time(value: Any, field: str) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return None if value is None else as_utc(value, field=field)
    try:
        return as_utc(datetime.fromisoformat(str(value)), field=field)
    except ValueError as exc:
        raise InvalidInput(f"{field} must be an ISO 8601 date-time", field=field) from exc


def _days_since(delivered: Any, when: datetime) -> float | None:
    if not delivered:
        return None
    try:
        day = date.fromisoformat(str(delivered)[:10])
    except ValueError:
        return None
    return float(max(0, (when.date() - day).days))


class InspectionService:
    def __init__(self, store: SqlInspectionStore, models: LoadedModels, *, rule: DefectPatternRule,
                 review_hours: float = 24.0, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 new_id: Callable[[], str] = lambda: str(uuid.uuid4())) -> None:
        self.store = store
        self.models = models
        self.rule = rule
        self.review_window = timedelta(hours=review_hours)
        self.clock = clock
        self.new_id = new_id

    def record(self, tenant: str, idempotency_key: str, request: dict[str, Any], *,
               actor: str = "service:inspections") -> InspectionResult:
        """Record one inspection per key; a repeat with the same body gets the stored bytes back."""
        request_sha256 = sha256_of(request)
        replay = self._replay(tenant, idempotency_key, request_sha256)
        if replay is not None:
            return replay
        model = self.models.disposition
        if model is None:
            raise ModelUnavailable("no verified disposition bundle is loaded")
        case = self.store.case_context(tenant, request["case_id"])
        now = self.clock()
        inspected_at = _parse_time(request.get("inspected_at"), "inspected_at") or now
        received_at = _parse_time(request.get("received_at"), "received_at")
        if received_at is not None and received_at > inspected_at:
            raise RuleViolation("received_at is after inspected_at", field="received_at")
        context = self._context(case, request, inspected_at)
        observed = {k: request.get(k) for k in ("grade", "notes", "serial_check", "packaging", "photos")}
        try:
            recommendation = model.recommend(observed, context)
        except InvalidInput as exc:
            raise RuleViolation(exc.message, field=exc.field, code=exc.code) from exc

        inspection_id, decision_id = self.new_id(), self.new_id()
        review_item = None
        route = "review" if recommendation["abstain"] else "auto_approve"
        if route == "review":
            value = float(context["unit_price"]) * float(context["quantity"])
            # Costly goods first: a wrong disposition costs a share of the item's value.
            priority = min(100, _BASE_PRIORITY + int(value // 100))
            review_item = ReviewItem(item_id=self.new_id(), decision_id=decision_id, case_id=case.case_id,
                                     tenant=tenant, queue=DISPOSITION_QUEUE, priority=priority,
                                     sla_due_at=now + self.review_window)
        decision = self._decision_document(case, decision_id, inspection_id, now, route, review_item,
                                           recommendation, request_sha256)
        supplier = context.get("supplier") or {}
        inspection = {
            "inspection_id": inspection_id, "inspector": request["inspector"], "facility": case.facility,
            "channel": case.channel, "reason_code": case.reason_code, "sku": context.get("sku"),
            "supplier_id": supplier.get("supplier_id"), "grade": str(request["grade"]).upper(),
            "serial_check": request.get("serial_check") or "not_checked", "notes": request.get("notes") or "",
            "serial_numbers": list(request.get("serial_numbers") or []), "photos": request.get("photos"),
            "document_ids": list(request.get("document_ids") or []), "quantity": int(context["quantity"]),
            "unit_price": float(context["unit_price"]), "currency": context["currency"],
            "received_at": received_at, "inspected_at": inspected_at,
            "disposition": recommendation["disposition"], "confidence": float(recommendation["confidence"]),
            "abstain": bool(recommendation["abstain"]), "recommendation": recommendation,
        }

        def render(claim: dict[str, Any] | None) -> bytes:
            body = {"inspection_id": inspection_id, "case_id": case.case_id, "decision_id": decision_id,
                    "created_at": now.isoformat(), "inspected_at": inspected_at.isoformat(), "route": route,
                    "recommendation": recommendation, "review": decision["review"], "supplier_claim": claim}
            return json.dumps(body, separators=(",", ":")).encode()

        try:
            body = self.store.save(tenant=tenant, case=case, inspection=inspection, decision=decision,
                                   review_item=review_item, idempotency_key=idempotency_key,
                                   request_sha256=request_sha256, render=render, rule=self.rule, actor=actor,
                                   now=now)
        except DuplicateInspectionKey:
            replay = self._replay(tenant, idempotency_key, request_sha256)
            assert replay is not None
            return replay
        return InspectionResult(status_code=201, body=body, replayed=False)

    def get(self, tenant: str, inspection_id: str) -> dict[str, Any]:
        return self.store.get(tenant, inspection_id)

    @staticmethod
    def _context(case: CaseContext, request: dict[str, Any], inspected_at: datetime) -> dict[str, Any]:
        """What the model reads besides the inspection: the request's values first, the scored case's after."""
        line = case.payload.get("line") or {}
        order = case.payload.get("order") or {}
        supplier = request.get("supplier")
        context: dict[str, Any] = {
            "sku": request.get("sku") or line.get("sku"),
            "category": request.get("category") or line.get("category"),
            "unit_price": request.get("unit_price") if request.get("unit_price") is not None
            else line.get("unit_price"),
            "quantity": request.get("quantity") or line.get("quantity") or 1,
            "currency": request.get("currency") or order.get("currency") or "EUR",
            "reason_code": case.reason_code, "segment": case.segment, "channel": case.channel,
            "fraud_score": case.risk_score,
            "days_since_delivery": _days_since(order.get("delivered_at"), inspected_at),
        }
        if context["unit_price"] is None:
            raise RuleViolation("unit_price is needed: the scored case has no line.unit_price", field="unit_price")
        if supplier:
            context["supplier"] = {k: v for k, v in supplier.items() if v is not None}
        return {k: v for k, v in context.items() if v is not None}

    def _decision_document(self, case: CaseContext, decision_id: str, inspection_id: str, now: datetime,
                           route: str, review_item: ReviewItem | None, recommendation: dict[str, Any],
                           request_sha256: str) -> dict[str, Any]:
        disposition, confidence = recommendation["disposition"], recommendation["confidence"]
        if route == "review":
            reasons = ["disposition_low_confidence"]
            explanation = (f"The disposition model suggests {disposition} with confidence {confidence:.0%}, below "
                           "its calibrated threshold: a person decides what happens to the goods.")
        else:
            reasons = ["disposition_confident"]
            explanation = f"Disposition {disposition} recommended with confidence {confidence:.0%}."
        previous = case.decision_document or {}
        return {
            "decision_id": decision_id, "kind": "disposition", "case_id": case.case_id,
            "inspection_id": inspection_id, "created_at": now.isoformat(), "route": route,
            "review": None if review_item is None else {
                "item_id": review_item.item_id, "queue": review_item.queue, "priority": review_item.priority,
                "sla_due_at": review_item.sla_due_at.isoformat()},
            "reasons": reasons, "explanation": explanation,
            # The return's own assessment, so a reviewer of the disposition sees why the return was accepted.
            "reason": previous.get("reason"), "risk": previous.get("risk"), "documents": None,
            "disposition": recommendation, "policy_version": DISPOSITION_POLICY,
            "model_versions": {"disposition": recommendation["model_version"]}, "inputs_sha256": request_sha256,
        }

    def _replay(self, tenant: str, key: str, request_sha256: str) -> InspectionResult | None:
        stored = self.store.stored_response(tenant, key)
        if stored is None:
            return None
        if stored.request_sha256 != request_sha256:
            raise IdempotencyConflict(
                "this Idempotency-Key was already used with a different request body; use a new key")
        return InspectionResult(status_code=201, body=stored.body, replayed=True)
