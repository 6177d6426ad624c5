"""The shipped default policy on hand-made assessments: routes, priorities and SLAs a supervisor would expect."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from returns_triage.serving.domain.model import ReasonAssessment, ReturnCase, RiskAssessment
from returns_triage.serving.domain.policy import DocumentPolicy

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def policy() -> DocumentPolicy:
    return DocumentPolicy.from_file()


def _case(amount: float = 50.0, case_id: str = "RMA-7") -> ReturnCase:
    payload = {"case_id": case_id, "line": {"category": "power_tools", "unit_price": amount, "quantity": 1},
               "order": {"order_date": "2026-10-20"}}
    return ReturnCase(case_id, "default", "DC-LYON", "portal", "consumer", "it broke", amount, "EUR", payload)


def _reason(p: float = 0.5) -> ReasonAssessment:
    return ReasonAssessment("DEFECTIVE", p, ("DEFECTIVE",), 1 - p, False, "r1")


def test_priority_rises_with_money_and_risk_and_urgent_cases_get_a_shorter_sla(policy: DocumentPolicy) -> None:
    low = policy.route(_case(120), _reason(), RiskAssessment(0.01, "low", (), "f1"), NOW)
    high = policy.route(_case(5000), _reason(), RiskAssessment(0.9, "high", (), "f1"), NOW)
    assert low.route == high.route == "review"
    assert low.priority is not None and high.priority is not None and high.priority > low.priority
    assert high.sla_due_at is not None and low.sla_due_at is not None and high.sla_due_at < low.sla_due_at


def test_every_route_names_the_policy_version(policy: DocumentPolicy) -> None:
    route = policy.route(_case(), _reason(0.99), RiskAssessment(0.001, "low", (), "f1"), NOW)
    assert policy.version in route.explanation


def test_the_same_inputs_give_the_same_route(policy: DocumentPolicy) -> None:
    a = policy.route(_case(), _reason(0.97), None, NOW)
    b = DocumentPolicy.from_file().route(_case(), _reason(0.97), None, NOW)
    assert a == b
