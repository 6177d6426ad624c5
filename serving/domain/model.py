"""Domain objects of a scored return. Standard library only: no framework, no database, no model runtime."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from returns_triage.errors import RuleViolation

__all__ = [
    "ReturnCase",
    "ReasonAssessment",
    "RiskAssessment",
    "DocumentAssessment",
    "Route",
    "Decision",
    "ReviewItem",
    "canonical_json",
    "sha256_of",
    "as_utc",
]

RouteName = Literal["auto_approve", "review", "auto_decline"]


def canonical_json(obj: Any) -> bytes:
    """Key-sorted, compact JSON: the form that is hashed (inputs, idempotency, audit)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def sha256_of(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj)).hexdigest()


def as_utc(value: datetime, *, field: str | None = None) -> datetime:
    """``value`` in UTC, a naive value taken as UTC. A well-formed time with no UTC equivalent (year 1 at +05:00,
    year 9999 at −05:00) is refused naming ``field`` rather than overflowing into a server error."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise RuleViolation(f"{value.isoformat()} has no UTC equivalent", field=field) from exc


@dataclass(frozen=True, slots=True)
class ReturnCase:
    """One return request as the workflow engine sent it (``payload`` keeps the full request)."""

    case_id: str
    tenant: str
    facility: str
    channel: str
    segment: str
    reason_text: str
    refund_amount: float
    currency: str
    payload: dict[str, Any]

    @property
    def inputs_sha256(self) -> str:
        return sha256_of(self.payload)


@dataclass(frozen=True, slots=True)
class ReasonAssessment:
    code: str
    confidence: float
    prediction_set: tuple[str, ...]
    out_of_scope_score: float
    abstain: bool
    model_version: str


@dataclass(frozen=True, slots=True)
class RiskAssessment:
    score: float
    band: str
    factors: tuple[dict[str, Any], ...]
    model_version: str


@dataclass(frozen=True, slots=True)
class DocumentAssessment:
    document_ids: tuple[str, ...]
    extractions: tuple[dict[str, Any], ...]
    findings: tuple[dict[str, Any], ...]
    document_confidence: float | None
    model_version: str | None


@dataclass(frozen=True, slots=True)
class Route:
    route: RouteName
    reasons: tuple[str, ...]
    explanation: str
    queue: str | None = None
    priority: int | None = None
    sla_due_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    decision_id: str
    case: ReturnCase
    created_at: datetime
    reason: ReasonAssessment
    route: Route
    policy_version: str
    model_versions: dict[str, str]
    risk: RiskAssessment | None = None
    documents: DocumentAssessment | None = None
    # What a replay needs to find the exact bundles and policy again: each bundle's manifest digest, and the
    # sha256 of the policy content (``policy_content``, stored content-addressed, never part of the document).
    model_digests: dict[str, str] = field(default_factory=dict)
    policy_sha256: str = ""
    policy_content: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    def to_document(self) -> dict[str, Any]:
        """The decision as the API returns it and the store keeps it."""
        route = self.route
        return {
            "decision_id": self.decision_id,
            "case_id": self.case.case_id,
            "created_at": self.created_at.isoformat(),
            "route": route.route,
            "review": None
            if route.route != "review"
            else {
                "queue": route.queue,
                "priority": route.priority,
                "sla_due_at": route.sla_due_at.isoformat() if route.sla_due_at else None,
            },
            "reasons": list(route.reasons),
            "explanation": route.explanation,
            "reason": {**asdict(self.reason), "prediction_set": list(self.reason.prediction_set)},
            "risk": None if self.risk is None else {**asdict(self.risk), "factors": list(self.risk.factors)},
            "documents": None
            if self.documents is None
            else {
                "document_ids": list(self.documents.document_ids),
                "extractions": list(self.documents.extractions),
                "findings": list(self.documents.findings),
                "document_confidence": self.documents.document_confidence,
                "model_version": self.documents.model_version,
            },
            "policy_version": self.policy_version,
            "model_versions": dict(self.model_versions),
            "inputs_sha256": self.case.inputs_sha256,
            **({"model_digests": dict(self.model_digests)} if self.model_digests else {}),
            **({"policy_sha256": self.policy_sha256} if self.policy_sha256 else {}),
        }


@dataclass(slots=True)
class ReviewItem:
    item_id: str
    decision_id: str
    case_id: str
    tenant: str
    queue: str
    priority: int
    sla_due_at: datetime
    status: str = "pending"
    created_at: datetime | None = None
    notes: list[str] = field(default_factory=list)
