"""Where the routing policy lives: which returns are auto-approved, declined or queued for a person, and why.

The policy is a versioned YAML document (``policies/default.yaml``; ``TRIAGE_POLICY_FILE`` points at another):
:mod:`policy_document` loads and validates it, :mod:`policy_routing` applies it to a scored case. Every decision
records the policy version and one explanation joining the policy clauses and the model evidence.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from returns_triage.serving.domain.model import DocumentAssessment, ReasonAssessment, ReturnCase, RiskAssessment, Route
from returns_triage.serving.domain.policy_document import PolicyDocument, load_policy_document
from returns_triage.serving.domain.policy_routing import DocumentPolicy

__all__ = ["RoutingPolicy", "DocumentPolicy", "PolicyDocument", "load_policy_document"]


class RoutingPolicy(Protocol):
    """What the scoring service needs from a policy."""

    @property
    def version(self) -> str: ...

    def route(self, case: ReturnCase, reason: ReasonAssessment, risk: RiskAssessment | None, now: datetime,
              documents: DocumentAssessment | None = None) -> Route: ...
