"""The joint error gate (gates.max_error_estimate): optional, validated with a line, overridable, explained,
and routed from stored values only."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from returns_triage.errors import ConfigurationError
from returns_triage.serving.domain.failsafe import FailsafeBoard, FailsafeState
from returns_triage.serving.domain.model import Decision, ReasonAssessment, ReturnCase, RiskAssessment
from returns_triage.serving.domain.policy import DocumentPolicy
from returns_triage.serving.domain.policy_document import default_policy_path, parse_policy_document
from returns_triage.serving.domain.policy_routing import assessments_from_document, estimated_error

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
EXAMPLE = Path(__file__).parents[2] / "examples" / "score-request.json"
DEFAULT_TEXT = default_policy_path().read_text().replace("audit_sample_rate: 0.02", "audit_sample_rate: 0.0").replace(
    "audit_sample_rate: 0.01", "audit_sample_rate: 0.0")
GATE_LINE = "    hold_finding_severities: [high, medium]\n"


def _with_gate(value: str, extra: str = "") -> str:
    assert GATE_LINE in DEFAULT_TEXT
    return DEFAULT_TEXT.replace(GATE_LINE, GATE_LINE + f"    max_error_estimate: {value}\n") + extra


def _case(facility: str = "DC-ROTTERDAM", case_id: str = "RMA-1") -> ReturnCase:
    payload = json.loads(EXAMPLE.read_text())
    payload["facility"], payload["case_id"] = facility, case_id
    return ReturnCase(case_id, "default", facility, payload["channel"], payload["segment"], payload["reason_text"],
                      float(payload["refund_amount"]), "EUR", payload)


def _reason(p: float) -> ReasonAssessment:
    return ReasonAssessment("DAMAGED_IN_TRANSIT", p, ("DAMAGED_IN_TRANSIT",), 0.01, False, "r1")


def _risk(score: float) -> RiskAssessment:
    return RiskAssessment(score, "low", (), "f1")


def test_the_estimate_is_one_minus_the_chance_that_the_reason_is_right_and_the_return_is_legitimate() -> None:
    assert estimated_error(0.99, 0.0) == pytest.approx(0.01)
    assert estimated_error(1.0, 0.02) == pytest.approx(0.02)
    assert estimated_error(0.99, 0.01) == pytest.approx(1 - 0.99 * 0.99)


def test_absent_or_null_gate_routes_exactly_as_before() -> None:
    before = DocumentPolicy(parse_policy_document(DEFAULT_TEXT))
    nulled = DocumentPolicy(parse_policy_document(_with_gate("null")))
    for p, score in ((0.97, 0.003), (0.999, 0.04), (0.91, 0.0), (0.95, 0.2)):
        old = before.route(_case(), _reason(p), _risk(score), NOW)
        new = nulled.route(_case(), _reason(p), _risk(score), NOW)
        assert (new.route, new.reasons, new.queue, new.priority) == (old.route, old.reasons, old.queue, old.priority)
        assert new.explanation == old.explanation.replace(before.version, nulled.version)
        assert "estimated error" not in old.explanation


def test_the_gate_holds_above_it_and_is_named_in_the_explanation_either_way() -> None:
    policy = DocumentPolicy(parse_policy_document(_with_gate("0.009")))
    passed = policy.route(_case(), _reason(0.998), _risk(0.004), NOW)  # estimate 0.6 %
    assert passed.route == "auto_approve"
    assert "estimated error 0.6% under gate 0.9%" in passed.explanation
    held = policy.route(_case(), _reason(0.97), _risk(0.003), NOW)  # passes both separate gates, estimate 3.3 %
    assert held.route == "review"
    assert held.explanation.startswith("queued for review: estimated error 3.3% above gate 0.9%")
    no_fraud_score = policy.route(_case(), _reason(0.995), None, NOW)
    assert no_fraud_score.route == "auto_approve" and "(no fraud score)" in no_fraud_score.explanation


def test_a_facility_override_changes_the_gate_and_says_where_it_came_from() -> None:
    override = "\n".join(("", "    DC-HAMBURG:", "      gates:", "        max_error_estimate: 0.05", ""))
    text = _with_gate("0.009").replace("        value_cap: 1500\n", "        value_cap: 1500\n" + override[1:])
    policy = DocumentPolicy(parse_policy_document(text))
    hamburg = policy.route(_case("DC-HAMBURG"), _reason(0.97), _risk(0.003), NOW)
    assert hamburg.route == "auto_approve"
    assert "estimated error 3.3% under gate 5.0% (facility DC-HAMBURG)" in hamburg.explanation
    assert policy.route(_case(), _reason(0.97), _risk(0.003), NOW).route == "review"
    switched_off = text.replace("        max_error_estimate: 0.05", "        max_error_estimate: null")
    assert DocumentPolicy(parse_policy_document(switched_off)).route(
        _case("DC-HAMBURG"), _reason(0.97), _risk(0.003), NOW).route == "auto_approve"


@pytest.mark.parametrize(("value", "needle"), [
    ("high", "defaults.gates.max_error_estimate must be a number in [0.0, 1.0] or null, got 'high'"),
    ("1.5", "defaults.gates.max_error_estimate must be a number in [0.0, 1.0] or null, got 1.5"),
])
def test_a_bad_gate_value_names_the_file_and_line(value: str, needle: str) -> None:
    text = _with_gate(value)
    line = text.splitlines().index(f"    max_error_estimate: {value}") + 1
    with pytest.raises(ConfigurationError) as err:
        parse_policy_document(text, source="p.yaml")
    assert err.value.message.startswith(f"p.yaml:{line}: ") and needle in err.value.message


def test_the_route_replays_identically_from_the_stored_decision() -> None:
    policy = DocumentPolicy(parse_policy_document(_with_gate("0.0125")))
    for i, (p, score) in enumerate(((0.991234, 0.003456), (0.987654, 0.000321), (0.9999, 0.0124))):
        case, reason, risk = _case(case_id=f"RMA-{i}"), _reason(p), _risk(score)
        route = policy.route(case, reason, risk, NOW)
        decision = Decision(decision_id=f"d{i}", case=case, created_at=NOW, reason=reason, route=route,
                            policy_version=policy.version, model_versions={}, risk=risk)
        stored_reason, stored_risk, documents, created = assessments_from_document(
            json.loads(json.dumps(decision.to_document())))
        assert policy.route(case, stored_reason, stored_risk, created, documents=documents) == route


def test_an_open_failsafe_tightens_the_error_gate_too() -> None:
    state = FailsafeState("fs-1", "default", "*", 0.5, "auto_approval_error_ipw", 0.02, 0.01, "error above target",
                          NOW)
    text = _with_gate("0.01").replace("min_reason_confidence: 0.90", "min_reason_confidence: 0.0").replace(
        "max_fraud_risk: 0.05", "max_fraud_risk: 1.0")
    policy = DocumentPolicy(parse_policy_document(text), failsafe=FailsafeBoard(lambda: [state], refresh_seconds=0))
    inside_half = policy.route(_case(), _reason(0.998), _risk(0.0), NOW)  # estimate 0.2 % ≤ 0.5 %
    assert inside_half.route == "auto_approve" and "estimated error ≤ 0.5%" in inside_half.explanation
    outside_half = policy.route(_case(), _reason(0.998), _risk(0.004), NOW)  # estimate 0.6 %: passes the gate only
    assert outside_half.route == "review" and "fail-safe fs-1" in outside_half.explanation
