"""Where a return is scored: models → policy → one durable write, behind an idempotency key."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from returns_triage.errors import IdempotencyConflict, InvalidInput, NotFound, RuleViolation
from returns_triage.models.documents.matching import match_documents
from returns_triage.models.reason import ReasonPrediction
from returns_triage.serving.domain.audit import decision_entry_payload
from returns_triage.serving.domain.model import (
    Decision,
    DocumentAssessment,
    ReasonAssessment,
    ReturnCase,
    ReviewItem,
    RiskAssessment,
    sha256_of,
)
from returns_triage.serving.domain.policy import RoutingPolicy
from returns_triage.serving.domain.policy_routing import ShadowedDecision
from returns_triage.serving.service.documents import DocumentService
from returns_triage.serving.service.model_registry import ModelRegistry
from returns_triage.serving.service.models import LoadedModels
from returns_triage.serving.service.shadow_scoring import ShadowRecorder
from returns_triage.serving.storage.repository import DecisionStore, DuplicateIdempotencyKey

__all__ = ["ScoreResult", "ScoringService", "case_from_request"]


@dataclass(frozen=True, slots=True)
class ScoreResult:
    status_code: int
    body: bytes
    replayed: bool


def case_from_request(tenant: str, request: dict[str, Any]) -> ReturnCase:
    order = request.get("order") or {}
    return ReturnCase(
        case_id=request["case_id"],
        tenant=tenant,
        facility=request["facility"],
        channel=request["channel"],
        segment=request["segment"],
        reason_text=request["reason_text"],
        refund_amount=float(request["refund_amount"]),
        currency=order.get("currency") or "EUR",
        payload=request,
    )


class ScoringService:
    def __init__(
        self,
        store: DecisionStore,
        models: LoadedModels,
        policy: RoutingPolicy,
        *,
        documents: DocumentService | None = None,
        shadow_policy: RoutingPolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        registry: ModelRegistry | None = None,
        shadow: ShadowRecorder | None = None,
    ) -> None:
        self.store = store
        self._models = models
        # With a registry the models can be swapped while serving (promotion); each request pins one snapshot.
        self.registry = registry
        self.shadow = shadow  # the challenger's scoring, queued off the request path
        self._pinned = threading.local()
        self.policy = policy
        # Hashed once: the policy is fixed for the life of the service, and the hash goes with every decision.
        self._policy_evidence = _policy_evidence(policy)
        self.shadow_policy = shadow_policy
        self.documents = documents
        self.clock = clock
        self.new_id = new_id

    @property
    def models(self) -> LoadedModels:
        """The models this request uses: the pinned snapshot inside :meth:`score`, else the registry's current."""
        pinned = getattr(self._pinned, "models", None)
        if pinned is not None:
            return pinned  # type: ignore[no-any-return]
        return self.registry.current if self.registry is not None else self._models

    @models.setter
    def models(self, value: LoadedModels) -> None:
        self._models = value

    def score(self, tenant: str, idempotency_key: str, request: dict[str, Any]) -> ScoreResult:
        """Score a return once per key: a repeat with the same body gets the stored bytes back."""
        if getattr(self._pinned, "models", None) is not None:
            return self._score(tenant, idempotency_key, request)
        # One snapshot for the whole request: a hot swap mid-request cannot mix old and new models.
        self._pinned.models = self.models
        challenger = self.registry.challenger if self.registry is not None else None
        try:
            result = self._score(tenant, idempotency_key, request)
            if challenger is not None and self.shadow is not None and not result.replayed:
                self.shadow.submit(result.body, request, self._pinned.models, challenger, tenant=tenant)
            return result
        finally:
            self._pinned.models = None

    def _score(self, tenant: str, idempotency_key: str, request: dict[str, Any]) -> ScoreResult:
        request_sha256 = sha256_of(request)
        stored = self._replay(tenant, idempotency_key, request_sha256)
        if stored is not None:
            return stored

        decision = self.decide(tenant, request)
        evidence = decision_entry_payload(decision)
        body = _response_body(evidence)
        review_item = None
        if decision.route.route == "review":
            assert decision.route.queue and decision.route.priority is not None and decision.route.sla_due_at
            review_item = ReviewItem(
                item_id=self.new_id(), decision_id=decision.decision_id, case_id=decision.case.case_id,
                tenant=tenant, queue=decision.route.queue, priority=decision.route.priority,
                sla_due_at=decision.route.sla_due_at,
            )
        try:
            # The audit payload built for the response: the decision document is built and serialised once.
            self.store.save_decision(decision, review_item, idempotency_key=idempotency_key,
                                     request_sha256=request_sha256, status_code=200, body=body,
                                     audit_payload=evidence)
        except DuplicateIdempotencyKey:
            # Lost the race to a concurrent request with the same key: answer with what it stored.
            replay = self._replay(tenant, idempotency_key, request_sha256)
            assert replay is not None
            return replay
        return ScoreResult(status_code=200, body=body, replayed=False)

    def decide(self, tenant: str, request: dict[str, Any], *,
               reason_prediction: ReasonPrediction | None = None) -> Decision:
        """The pure part: models and policy, no storage. Same inputs and bundles → same route.

        ``reason_prediction`` is this request's reason prediction when the caller already ran the reason model
        over many texts in one encoder call (batch scoring); otherwise the model runs here on this one text."""
        case = case_from_request(tenant, request)
        reason_model = self.models.require_reason()
        (pred,) = ([reason_prediction] if reason_prediction is not None
                   else reason_model.predict([case.reason_text]))
        reason = ReasonAssessment(
            code=pred.code, confidence=round(pred.confidence, 6), prediction_set=pred.prediction_set,
            out_of_scope_score=round(pred.out_of_scope_score, 6), abstain=pred.abstain,
            model_version=reason_model.version,
        )
        documents = self._documents(tenant, request)
        now = self.clock()
        risk = None
        if self.models.fraud is not None:
            findings = list(documents.findings) if documents is not None else None
            order = request.get("order") or {}
            for name in ("order_date", "delivered_at"):
                # Optional in the schema, but the risk model needs them; scoring without risk would let a caller
                # skip the fraud check by leaving them out.
                if not order.get(name):
                    raise RuleViolation(f"order.{name} is needed to score the risk of this return",
                                        field=f"order.{name}", code="needed_for_risk")
            # A request that does not say when the return was requested was requested when it is scored.
            seen = request if request.get("requested_at") else {**request, "requested_at": now.isoformat()}
            try:
                raw = self.models.fraud.score(seen, reason_code=reason.code, findings=findings)
            except RuleViolation:
                raise
            except InvalidInput as exc:
                # The request has the right shape (the schema passed it) but a value this deployment's risk model
                # does not know, e.g. a segment it was not trained on.
                raise RuleViolation(exc.message, field=exc.field, code=exc.code) from exc
            risk = RiskAssessment(score=round(float(raw["score"]), 6), band=raw["band"],
                                  factors=tuple(raw["factors"]), model_version=raw["model_version"])
        route = self.policy.route(case, reason, risk, now, documents=documents)
        fields = dict(decision_id=self.new_id(), case=case, created_at=now, reason=reason, route=route,
                      policy_version=self.policy.version, model_versions=self.models.versions(), risk=risk,
                      documents=documents, model_digests=dict(self.models.digests), **self._policy_evidence)
        if self.shadow_policy is None:
            return Decision(**fields)  # type: ignore[arg-type]
        # The shadow policy sees the same evidence; its would-be route is stored, never acted on.
        would = self.shadow_policy.route(case, reason, risk, now, documents=documents)
        shadow = {"policy_version": self.shadow_policy.version, "route": would.route, "queue": would.queue,
                  "priority": would.priority, "explanation": would.explanation}
        return ShadowedDecision(**fields, shadow=shadow)  # type: ignore[arg-type]

    def _documents(self, tenant: str, request: dict[str, Any]) -> DocumentAssessment | None:
        ids = list(request.get("document_ids") or [])
        if not ids:
            return None
        if self.documents is None:
            raise InvalidInput("this deployment does not accept documents", field="document_ids",
                               code="documents_unavailable")
        extractions = self.documents.extractions_for(ids, tenant=tenant)
        findings = match_documents(request, extractions)
        readable = [e for e in extractions if not e.get("error")]
        confidence = min((float(e.get("document_confidence") or 0.0) for e in readable), default=None)
        return DocumentAssessment(
            document_ids=tuple(ids), extractions=tuple(extractions), findings=tuple(findings),
            document_confidence=confidence,
            model_version=self.models.documents.version if self.models.documents is not None else None,
        )

    def get_decision(self, tenant: str, decision_id: str) -> dict[str, Any]:
        doc = self.store.get_decision(tenant, decision_id)
        if doc is None:
            raise NotFound(f"decision {decision_id} not found")
        return doc

    def _replay(self, tenant: str, key: str, request_sha256: str) -> ScoreResult | None:
        stored = self.store.stored_response(tenant, key)
        if stored is None:
            return None
        if stored.request_sha256 != request_sha256:
            raise IdempotencyConflict(
                "this Idempotency-Key was already used with a different request body; use a new key"
            )
        return ScoreResult(status_code=stored.status_code, body=stored.body, replayed=True)


def _response_body(evidence: dict[str, Any]) -> bytes:
    """The response to a fresh decision: its document (``evidence["decision"]``, from
    :func:`decision_entry_payload`) as compact JSON, the bytes a replay returns again."""
    return json.dumps(evidence["decision"], separators=(",", ":")).encode()


def _policy_evidence(policy: RoutingPolicy) -> dict[str, Any]:
    """The policy content (and its hash) a decision records so ``triage audit replay`` can re-run it."""
    content = getattr(getattr(policy, "document", None), "content", None)
    if not isinstance(content, dict):
        return {}
    return {"policy_sha256": sha256_of(content), "policy_content": content}
