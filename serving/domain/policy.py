"""The routing policy: which returns are auto-approved and which go to a person, and why.

Two policies share one interface (``.version`` and ``.route(case, reason, risk, now, documents=None)``):
:class:`DocumentPolicy`, driven by a versioned YAML document (policy_document.py, policy_routing.py; the
service's default), and :class:`ThresholdPolicy`, the first fixed-threshold policy, kept for small deployments
and tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from returns_triage.serving.domain.model import (
    DocumentAssessment,
    ReasonAssessment,
    ReturnCase,
    RiskAssessment,
    Route,
    sha256_of,
)

from returns_triage.serving.domain.policy_document import PolicyDocument, load_policy_document
from returns_triage.serving.domain.policy_routing import DocumentPolicy

__all__ = ["ThresholdPolicy", "DocumentPolicy", "PolicyDocument", "load_policy_document"]

# Codes whose refund normally needs the goods inspected first, whatever the model's confidence.
_ALWAYS_REVIEW = frozenset({"OTHER"})


@dataclass(frozen=True, slots=True)
class ThresholdPolicy:
    auto_approve_confidence: float = 0.80
    value_cap: float = 500.0
    max_risk: float = 0.10
    min_document_confidence: float = 0.80
    sla_hours: float = 24.0
    queue: str = "returns-review"

    @property
    def version(self) -> str:
        return "threshold-" + sha256_of(
            [self.auto_approve_confidence, self.value_cap, self.max_risk, self.min_document_confidence,
             self.sla_hours, self.queue]
        )[:12]

    def route(self, case: ReturnCase, reason: ReasonAssessment, risk: RiskAssessment | None, now: datetime,
              documents: DocumentAssessment | None = None) -> Route:
        held: list[str] = []
        evidence: list[str] = []
        if reason.abstain:
            held.append(f"reason text unclear or out of scope (confidence {reason.confidence:.2f})")
        elif reason.confidence < self.auto_approve_confidence:
            held.append(
                f"reason {reason.code} confidence {reason.confidence:.2f} below {self.auto_approve_confidence:.2f}"
            )
        else:
            evidence.append(f"reason {reason.code} p={reason.confidence:.2f}")
        if len(reason.prediction_set) > 1:
            held.append("more than one reason code is plausible: " + ", ".join(reason.prediction_set))
        if reason.code in _ALWAYS_REVIEW and not reason.abstain:
            held.append(f"reason {reason.code} always needs a person")
        if case.refund_amount > self.value_cap:
            held.append(f"refund {case.refund_amount:.2f} {case.currency} above cap {self.value_cap:.2f}")
        else:
            evidence.append(f"value {case.refund_amount:.2f} {case.currency} under cap {self.value_cap:.2f}")
        if risk is not None:
            if risk.score > self.max_risk:
                held.append(f"fraud risk {risk.score:.1%} above {self.max_risk:.1%}")
            else:
                evidence.append(f"risk {risk.score:.1%}")
        if documents is not None:
            self._document_gates(documents, held, evidence)

        if not held:
            return Route(route="auto_approve", reasons=tuple(evidence),
                         explanation="auto-approved: " + " · ".join(evidence))
        priority = self._priority(case, reason, risk)
        return Route(
            route="review",
            reasons=tuple(held),
            explanation="queued for review: " + " · ".join(held) + (" | " + " · ".join(evidence) if evidence else ""),
            queue=self.queue,
            priority=priority,
            sla_due_at=now + timedelta(hours=self.sla_hours / (2 if priority >= 70 else 1)),
        )

    def _document_gates(self, documents: DocumentAssessment, held: list[str], evidence: list[str]) -> None:
        serious = [f for f in documents.findings if f.get("severity") in ("high", "medium")]
        for finding in serious:
            held.append(f"document check {finding.get('code')}: {finding.get('detail')}")
        conf = documents.document_confidence
        if conf is not None and conf < self.min_document_confidence:
            held.append(f"document confidence {conf:.2f} below {self.min_document_confidence:.2f}")
        if not serious and conf is not None and conf >= self.min_document_confidence:
            evidence.append(f"{len(documents.document_ids)} document(s) agree with the request")

    def _priority(self, case: ReturnCase, reason: ReasonAssessment, risk: RiskAssessment | None) -> int:
        """0–100, higher first: money at stake and risk raise it; the SLA clock is what the queue adds."""
        value_part = min(40.0, 40.0 * case.refund_amount / max(self.value_cap * 4, 1.0))
        risk_part = 40.0 * (risk.score if risk is not None else 0.0)
        doubt_part = 20.0 * (1.0 - reason.confidence)
        return int(round(min(100.0, value_part + risk_part + doubt_part)))
