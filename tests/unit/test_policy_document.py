"""The policy document: validation names the line, overrides, hard rules, one explanation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from returns_triage.errors import ConfigurationError
from returns_triage.serving.domain.model import DocumentAssessment, ReasonAssessment, ReturnCase, RiskAssessment
from returns_triage.serving.domain.policy import DocumentPolicy
from returns_triage.serving.domain.policy_document import (
    default_policy_path,
    load_policy_document,
    parse_policy_document,
)

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
EXAMPLE = Path(__file__).parents[2] / "examples" / "score-request.json"
DEFAULT_TEXT = default_policy_path().read_text()


def _case(**changes: object) -> ReturnCase:
    payload = json.loads(EXAMPLE.read_text())
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        target = payload
        for key in parents:
            target = target[key]
        target[leaf] = value
    return ReturnCase(payload["case_id"], "default", payload["facility"], payload["channel"], payload["segment"],
                      payload["reason_text"], float(payload["refund_amount"]), "EUR", payload)


def _reason(p: float = 0.97, code: str = "DAMAGED_IN_TRANSIT", pset: tuple[str, ...] | None = None):
    return ReasonAssessment(code, p, pset or (code,), 0.01, False, "r1")


LOW = RiskAssessment(0.003, "low", (), "f1")


def _policy(text: str = DEFAULT_TEXT) -> DocumentPolicy:
    return DocumentPolicy(parse_policy_document(text))


def _no_audit(text: str = DEFAULT_TEXT) -> str:
    return text.replace("audit_sample_rate: 0.02", "audit_sample_rate: 0.0").replace(
        "audit_sample_rate: 0.01", "audit_sample_rate: 0.0")


def test_the_shipped_default_loads_and_has_a_named_content_hash_version() -> None:
    doc = load_policy_document()
    assert doc.version.startswith("default-") and len(doc.version) == len("default-") + 12
    # Comments and layout do not change the version; a value does.
    assert parse_policy_document("# note\n" + DEFAULT_TEXT).version == doc.version
    assert parse_policy_document(DEFAULT_TEXT.replace("value_cap: 1000", "value_cap: 900")).version != doc.version


@pytest.mark.parametrize(("old", "new", "needle"), [
    ("max_fraud_risk: 0.05", "max_fraud_risk: low", "defaults.gates.max_fraud_risk must be a number"),
    ("max_fraud_risk: 0.05", "max_fraud_risk: 1.5", "in [0.0, 1.0]"),
    ("min_reason_confidence: 0.90", "min_reson_confidence: 0.90", "min_reson_confidence is not a known setting"),
    ("sla_hours: 12", "sla_hour: 12", "sla_hour is not a known setting"),
    ("hold_finding_severities: [high, medium]", "hold_finding_severities: [high, severe]", "unknown value"),
    ("auto_decline: []", "auto_decline: [teleport]", "unknown value"),
])
def test_a_mistake_names_the_file_and_line(old: str, new: str, needle: str) -> None:
    assert old in DEFAULT_TEXT
    text = DEFAULT_TEXT.replace(old, new, 1)
    line = text.splitlines().index(next(ln for ln in text.splitlines() if new in ln)) + 1
    with pytest.raises(ConfigurationError) as err:
        parse_policy_document(text, source="p.yaml")
    assert f"p.yaml:{line}:" in err.value.message and needle in err.value.message


def test_broken_yaml_and_missing_defaults_are_configuration_errors_with_a_line() -> None:
    with pytest.raises(ConfigurationError, match=r"p.yaml:4 \(in the block opened at line 3\): not valid YAML"):
        parse_policy_document("policy:\n  name: x\n  bad: [1, 2\n", source="p.yaml")
    with pytest.raises(ConfigurationError, match=r"defaults must set gates.max_fraud_risk"):
        parse_policy_document(DEFAULT_TEXT.replace("    max_fraud_risk: 0.05\n", ""), source="p.yaml")
    with pytest.raises(ConfigurationError, match="cannot read policy file"):
        load_policy_document("/nonexistent/policy.yaml")


def test_confident_low_risk_return_is_auto_approved_with_one_joined_explanation() -> None:
    policy = _policy(_no_audit())
    route = policy.route(_case(), _reason(), LOW, NOW)
    assert route.route == "auto_approve"
    text = route.explanation
    assert text.startswith("auto-approved: reason DAMAGED_IN_TRANSIT p=0.97")
    assert "value €129.00 under cap €1,500.00 (facility DC-ROTTERDAM)" in text  # the clause names its override
    assert "risk 0.3% ≤ 5.0%" in text and "within 365-day return window (6 days)" in text
    assert text.endswith("policy " + policy.version)


def test_overrides_follow_precedence_category_channel_segment_facility() -> None:
    policy = _policy(_no_audit())
    lyon = _case(facility="DC-LYON", refund_amount=1200.0, line__unit_price=1200.0)
    assert policy.route(lyon, _reason(), LOW, NOW).route == "review"  # default cap 1000
    rotterdam = _case(refund_amount=1200.0, line__unit_price=1200.0)
    assert policy.route(rotterdam, _reason(), LOW, NOW).route == "auto_approve"  # facility cap 1500
    b2b = policy.route(_case(segment="field_sales_b2b"), _reason(p=0.5), LOW, NOW)
    assert b2b.sla_due_at == NOW + timedelta(hours=12)  # segment SLA
    late = _case(line__category="consumables", requested_at="2027-01-20T09:00:00Z")
    route = policy.route(late, _reason(code="NO_LONGER_NEEDED"), LOW, NOW)
    assert route.route == "review" and "30-day return window (category consumables)" in route.explanation


def test_hard_rules_queue_and_auto_decline_only_where_enabled() -> None:
    dup = _case(line__refunded_quantity_before=1)
    route = _policy(_no_audit()).route(dup, _reason(), LOW, NOW)
    assert route.route == "review" and "already refunded (1 of 1 units)" in route.explanation
    assert route.priority is not None and route.sla_due_at is not None
    enabled = _no_audit().replace("auto_decline: []", "auto_decline: [duplicate_claim]")
    declined = _policy(enabled).route(dup, _reason(), LOW, NOW)
    assert declined.route == "auto_decline" and declined.explanation.startswith("auto-declined: line SO-88123-2")
    over = _policy(_no_audit()).route(_case(refund_amount=200.0), _reason(), LOW, NOW)
    assert "above line value €129.00" in over.explanation
    banned = _no_audit().replace("non_returnable_categories: []", "non_returnable_categories: [power_tools]")
    assert "non-returnable" in _policy(banned).route(_case(), _reason(), LOW, NOW).explanation
    ebike = _policy(_no_audit()).route(_case(line__category="e_mobility"), _reason(), LOW, NOW)
    assert "documents required above €0.00 (category e_mobility), none attached" in ebike.explanation


def test_model_gates_hold_and_say_why_next_to_the_evidence() -> None:
    policy = _policy(_no_audit())
    route = policy.route(_case(), _reason(p=0.7, pset=("DAMAGED_IN_TRANSIT", "DEFECTIVE")),
                         RiskAssessment(0.2, "medium", (), "f1"), NOW)
    assert route.route == "review"
    assert route.explanation.startswith("queued for review: reason DAMAGED_IN_TRANSIT p=0.70 below 0.90")
    assert "2 reason codes plausible" in route.explanation and "fraud risk 20.0% above 5.0%" in route.explanation
    assert "| evidence: " in route.explanation and "under cap" in route.explanation
    docs = DocumentAssessment(("d" * 64,), (), ({"code": "amount_mismatch", "severity": "high", "detail": "x"},),
                              0.95, "doc1")
    held = policy.route(_case(), _reason(), LOW, NOW, documents=docs)
    assert held.route == "review" and "document check amount_mismatch (high)" in held.explanation


def test_audit_sampling_is_reproducible_and_records_its_propensity() -> None:
    everything = DEFAULT_TEXT.replace("audit_sample_rate: 0.02", "audit_sample_rate: 1.0")
    route = _policy(everything).route(_case(), _reason(), LOW, NOW)
    assert route.route == "review" and route.queue == "returns-audit"
    assert "sampled with propensity 1.0000" in route.reasons[0]
    policy = _policy()
    routes = [policy.route(_case(case_id=f"RMA-{i}"), _reason(), LOW, NOW).route for i in range(2000)]
    share = routes.count("review") / len(routes)
    assert 0.01 < share < 0.03
    assert routes == [policy.route(_case(case_id=f"RMA-{i}"), _reason(), LOW, NOW).route for i in range(2000)]


def test_a_shadow_route_is_stored_in_the_decision_document_and_routes_replay_from_it() -> None:
    from returns_triage.serving.domain.policy_routing import ShadowedDecision, assessments_from_document

    policy, case = _policy(_no_audit()), _case()
    route = policy.route(case, _reason(), LOW, NOW)
    decision = ShadowedDecision(decision_id="d1", case=case, created_at=NOW, reason=_reason(), route=route,
                                policy_version=policy.version, model_versions={}, risk=LOW,
                                shadow={"policy_version": "candidate-1", "route": "review"})
    doc = json.loads(json.dumps(decision.to_document()))
    assert doc["shadow"] == {"policy_version": "candidate-1", "route": "review"} and doc["route"] == "auto_approve"
    reason, risk, documents, created = assessments_from_document(doc)
    assert policy.route(case, reason, risk, created, documents=documents) == route
