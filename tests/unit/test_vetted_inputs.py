"""The per-return check against the monitor's vetted inputs: which inputs are outside and how a decision says so,
the board that caches the ranges, and the router holding a would-be auto-approval outside them (no ranges
published: no effect)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from returns_triage.serving.domain.failsafe import INPUTS_HOLD, FailsafeBoard, VettedInputs, case_inputs
from returns_triage.serving.domain.model import ReasonAssessment, ReturnCase, RiskAssessment
from returns_triage.serving.domain.policy import DocumentPolicy
from returns_triage.serving.domain.policy_document import default_policy_path, parse_policy_document

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
EXAMPLE = Path(__file__).parents[2] / "examples" / "score-request.json"
NO_AUDIT = default_policy_path().read_text().replace("audit_sample_rate: 0.02", "audit_sample_rate: 0.0").replace(
    "audit_sample_rate: 0.01", "audit_sample_rate: 0.0")


def _case(**customer: float) -> ReturnCase:
    payload = json.loads(EXAMPLE.read_text())
    payload["customer"].update(customer)
    return ReturnCase(payload["case_id"], "default", payload["facility"], payload["channel"], payload["segment"],
                      payload["reason_text"], float(payload["refund_amount"]), "EUR", payload)


def _vetted(case: ReturnCase, *, age: tuple[float, float] = (30.0, 4000.0), segment: str | None = None,
            categories: frozenset[str] | None = None) -> VettedInputs:
    inputs = case_inputs(case.payload, case.channel, case.facility)
    numeric = {name: (0.0, 10 * float(inputs[name]) + 10) for name in ("refund_amount", "unit_price",
                                                                       "returns_last_365d", "prior_fraud_flags",
                                                                       "text_length")}
    numeric["account_age_days"] = age
    known = {name: frozenset({str(inputs[name])}) for name in ("channel", "facility", "claimed_condition")}
    known["category"] = categories if categories is not None else frozenset({str(inputs["category"])})
    return VettedInputs("0123abcd-0000-0000-0000-000000000000", "default", segment or case.segment, numeric, known,
                        cases=1200, basis="1200 reference returns", published_at=NOW)


def _reason() -> ReasonAssessment:
    return ReasonAssessment("DAMAGED_IN_TRANSIT", 0.99, ("DAMAGED_IN_TRANSIT",), 0.01, False, "r1")


def _policy(*inputs: VettedInputs) -> DocumentPolicy:
    return DocumentPolicy(parse_policy_document(NO_AUDIT),
                          FailsafeBoard(lambda: [], load_inputs=lambda: list(inputs), refresh_seconds=0.0))


def test_case_inputs_reads_the_request_as_the_monitor_does() -> None:
    case = _case(account_age_days=12)
    inputs = case_inputs(case.payload, case.channel, case.facility)
    assert inputs["account_age_days"] == 12.0 and inputs["text_length"] == float(len(case.payload["reason_text"]))
    assert inputs["category"] == case.payload["line"]["category"] and inputs["channel"] == case.channel
    bare = case_inputs({}, "portal", "DC-1")
    assert bare["category"] == "unknown" and bare["refund_amount"] != bare["refund_amount"]  # NaN: never outside


def test_findings_name_each_feature_outside_and_why() -> None:
    case = _case(account_age_days=2)
    vetted = _vetted(case, categories=frozenset({"furniture"}))
    findings = vetted.outside(case_inputs(case.payload, case.channel, case.facility))
    assert findings == ("account_age_days 2 below the vetted 30–4000",
                        f"category {case.payload['line']['category']} never vetted in this segment")
    assert vetted.outside(case_inputs(_case(account_age_days=300).payload, case.channel, case.facility)) == (
        f"category {case.payload['line']['category']} never vetted in this segment",)
    clause = vetted.clause(findings)
    assert clause.startswith(f"{INPUTS_HOLD} 0123abcd (segment {case.segment}, published 2026-11-20 12:00, "
                             "from 1200 returns): account_age_days 2 below the vetted 30–4000")


def test_a_would_be_auto_approval_outside_its_segments_ranges_goes_to_a_person_and_says_why() -> None:
    inside, outside = _case(account_age_days=400), _case(account_age_days=3)
    risk = RiskAssessment(0.01, "low", (), "f1")
    unchecked = _policy()
    assert unchecked.route(outside, _reason(), risk, NOW).route == "auto_approve"  # nothing published: no effect
    policy = _policy(_vetted(inside))
    assert policy.route(inside, _reason(), risk, NOW).route == "auto_approve"
    held = policy.route(outside, _reason(), risk, NOW)
    assert held.route == "review" and held.reasons[0].startswith(INPUTS_HOLD)
    assert "account_age_days 3 below the vetted 30–4000" in held.reasons[0]
    assert "propensity 1.0000" in held.reasons[1]  # labelled like an audit sample, so the monitor can vet it
    assert "account_age_days 3 below" in held.explanation
    # Another segment's ranges do not apply, and a case the normal gates hold is not re-labelled.
    assert _policy(_vetted(inside, segment="contract")).route(outside, _reason(), risk, NOW).route == "auto_approve"
    risky = policy.route(outside, _reason(), RiskAssessment(0.9, "high", (), "f1"), NOW)
    assert risky.route == "review" and not any(r.startswith(INPUTS_HOLD) for r in risky.reasons)


def test_the_board_keeps_the_newest_publication_per_segment_and_the_last_good_load() -> None:
    case = _case()
    old = _vetted(case, age=(0.0, 10.0))
    new = VettedInputs("ffff0000-0000-0000-0000-000000000000", "default", case.segment, old.numeric | {
        "account_age_days": (0.0, 5000.0)}, old.known, 1500, "more", NOW.replace(day=21))
    loads: list[list[VettedInputs] | Exception] = [[old, new], RuntimeError("database blinked")]

    def load() -> list[VettedInputs]:
        item = loads.pop(0) if loads else []
        if isinstance(item, Exception):
            raise item
        return item

    board = FailsafeBoard(lambda: [], load_inputs=load, refresh_seconds=0.0)
    assert board.inputs_for("default", case.segment) == new
    assert board.inputs_for("default", case.segment) == new  # the failed reload kept the last good ranges
    assert board.inputs_for("other", case.segment) is None
