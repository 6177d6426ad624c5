"""The threshold policy on its own: pure logic, hand-made assessments."""

from __future__ import annotations

from datetime import UTC, datetime

from returns_triage.serving.domain.model import ReasonAssessment, ReturnCase, RiskAssessment
from returns_triage.serving.domain.policy import ThresholdPolicy

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


def _case(amount: float = 50.0) -> ReturnCase:
    return ReturnCase("RMA-1", "default", "DC-1", "portal", "consumer", "it broke", amount, "EUR", {})


def _reason(code: str = "DEFECTIVE", p: float = 0.97, abstain: bool = False, pset: tuple[str, ...] = ("DEFECTIVE",)):
    return ReasonAssessment(code, p, pset, 1 - p, abstain, "r1")


def test_confident_cheap_low_risk_return_is_auto_approved_with_its_evidence() -> None:
    route = ThresholdPolicy().route(_case(), _reason(), RiskAssessment(0.01, "low", (), "f1"), NOW)
    assert route.route == "auto_approve"
    assert "reason DEFECTIVE p=0.97" in route.explanation and "under cap" in route.explanation
    assert route.queue is None and route.sla_due_at is None


def test_each_gate_queues_the_case_and_says_why() -> None:
    policy = ThresholdPolicy(auto_approve_confidence=0.8, value_cap=100, max_risk=0.1)
    cases = {
        "confidence": (_case(), _reason(p=0.6), None),
        "cap": (_case(amount=150), _reason(), None),
        "unclear": (_case(), _reason(p=0.3, abstain=True), None),
        "risk": (_case(), _reason(), RiskAssessment(0.4, "high", (), "f1")),
        "ambiguous": (_case(), _reason(pset=("DEFECTIVE", "DAMAGED_IN_TRANSIT")), None),
    }
    for what, (case, reason, risk) in cases.items():
        route = policy.route(case, reason, risk, NOW)
        assert route.route == "review", what
        assert route.reasons, what
        assert route.sla_due_at is not None and route.sla_due_at > NOW
        assert route.queue == "returns-review"


def test_priority_rises_with_money_and_risk() -> None:
    policy = ThresholdPolicy(value_cap=100)
    low = policy.route(_case(120), _reason(p=0.5), None, NOW)
    high = policy.route(_case(5000), _reason(p=0.5), RiskAssessment(0.9, "high", (), "f1"), NOW)
    assert low.priority is not None and high.priority is not None and high.priority > low.priority
    assert high.sla_due_at is not None and low.sla_due_at is not None and high.sla_due_at < low.sla_due_at


def test_policy_version_changes_with_its_thresholds() -> None:
    assert ThresholdPolicy(value_cap=100).version != ThresholdPolicy(value_cap=200).version
    assert ThresholdPolicy(value_cap=100).version == ThresholdPolicy(value_cap=100).version
