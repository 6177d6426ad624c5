"""`triage policy simulate --from-db`: stored decisions and outcomes, re-routed under a candidate and the live policy,
on SQLite and PostgreSQL. Decisions are written through the real decision store; outcomes through the outcome
service, as the API records them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from returns_triage.serving.domain import review as rules
from returns_triage.serving.domain.model import Decision, ReasonAssessment, ReviewItem, RiskAssessment, sha256_of
from returns_triage.serving.domain.policy_document import default_policy_path
from returns_triage.serving.domain.policy_routing import DocumentPolicy
from returns_triage.serving.service.review import OutcomeService
from returns_triage.serving.service.scoring import case_from_request
from returns_triage.serving.storage.repository import SqlDecisionStore
from returns_triage.serving.storage.review_queue import SqlOutcomeStore
from returns_triage.training.policy.replay import replay_stored
from returns_triage.training.policy.stored import load_stored_cases, parse_bound

DAY1 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
DAY2 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def _candidate_text() -> str:
    # Stricter on risk, more lenient on the reason's confidence than the shipped default.
    text = default_policy_path().read_text()
    assert "min_reason_confidence: 0.90" in text and "max_fraud_risk: 0.05" in text
    return (text.replace("min_reason_confidence: 0.90", "min_reason_confidence: 0.80")
            .replace("max_fraud_risk: 0.05", "max_fraud_risk: 0.02").replace("name: default", "name: candidate"))


def _store(engine, live: DocumentPolicy, body: dict, *, confidence: float, risk: float, at: datetime) -> Decision:  # type: ignore[no-untyped-def]
    case = case_from_request("default", body)
    reason = ReasonAssessment(code="DAMAGED_IN_TRANSIT", confidence=confidence, prediction_set=("DAMAGED_IN_TRANSIT",),
                              out_of_scope_score=0.01, abstain=False, model_version="reason-test")
    risk_ = RiskAssessment(score=risk, band="low" if risk < 0.05 else "medium", factors=(), model_version="fraud-test")
    route = live.route(case, reason, risk_, at)
    decision = Decision(decision_id=f"d-{body['case_id']}", case=case, created_at=at, reason=reason, route=route,
                        policy_version=live.version, model_versions={"reason": "reason-test"}, risk=risk_)
    item = None
    if route.route == "review":
        assert route.queue and route.priority is not None and route.sla_due_at
        item = ReviewItem(item_id=f"i-{body['case_id']}", decision_id=decision.decision_id, case_id=case.case_id,
                          tenant="default", queue=route.queue, priority=route.priority, sla_due_at=route.sla_due_at)
    body_bytes = json.dumps(decision.to_document()).encode()
    SqlDecisionStore(engine).save_decision(decision, item, idempotency_key=body["case_id"],
                                           request_sha256=sha256_of(body), status_code=200, body=body_bytes)
    return decision


@pytest.fixture
def stored(backend, score_body):  # type: ignore[no-untyped-def]
    live = DocumentPolicy.from_file()
    base = {**score_body, "requested_at": "2026-11-20T09:00:00Z"}
    made = {
        # confident, risk between the candidate's 2 % and the live 5 %: live approves, candidate queues
        "A": _store(backend, live, {**base, "case_id": "RMA-A"}, confidence=0.97, risk=0.03, at=DAY1),
        # confident, low risk: both approve; an outcome later confirms fraud
        "B": _store(backend, live, {**base, "case_id": "RMA-B"}, confidence=0.97, risk=0.01, at=DAY1),
        # reason at 0.85: live queues it, the candidate (0.80) approves it
        "C": _store(backend, live, {**base, "case_id": "RMA-C"}, confidence=0.85, risk=0.01, at=DAY2),
        # over the value cap: both queue it
        "D": _store(backend, live, {**base, "case_id": "RMA-D", "refund_amount": 1600.0,
                                    "line": {**base["line"], "unit_price": 1600.0}},
                    confidence=0.97, risk=0.01, at=DAY2),
    }
    assert [made[k].route.route for k in "ABCD"] == ["auto_approve", "auto_approve", "review", "review"]
    outcomes = OutcomeService(SqlOutcomeStore(backend))
    for outcome in (
        rules.Outcome(outcome_id="o1", case_id="RMA-B", kind="fraud", occurred_at=DAY2, fraud_confirmed=True),
        rules.Outcome(outcome_id="o2", case_id="RMA-A", kind="fraud", occurred_at=DAY2, fraud_confirmed=False),
        rules.Outcome(outcome_id="o3", case_id="RMA-A", kind="inspection", occurred_at=DAY2,
                      confirmed_reason_code="DAMAGED_IN_TRANSIT", condition_grade="damaged"),
    ):
        outcomes.record("default", outcome, {"outcome_id": outcome.outcome_id})
    return made


def test_stored_decisions_replay_under_a_candidate_and_the_live_policy(backend, stored, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cases = load_stored_cases(backend)
    assert [c.case.case_id for c in cases] == ["RMA-A", "RMA-B", "RMA-C", "RMA-D"]
    by_id = {c.case.case_id: c for c in cases}
    assert by_id["RMA-B"].fraud_label is True and by_id["RMA-B"].labelled
    assert by_id["RMA-A"].labelled and by_id["RMA-A"].error_probability == 0.0
    assert not by_id["RMA-C"].labelled

    live = DocumentPolicy.from_file()
    path = tmp_path / "candidate.yaml"
    path.write_text(_candidate_text())
    candidate = DocumentPolicy.from_file(str(path))
    report = replay_stored(candidate, live, cases)

    assert report["cases"] == 4 and report["labelled_cases"] == 2
    assert report["recorded"] == {"routes": {"auto_approve": 2, "review": 2}, "made_by_live_policy": 4,
                                  "live_replay_differs": 0}
    assert report["live"]["straight_through"] == 0.5 and report["candidate"]["straight_through"] == 0.5
    # Live approves A (labelled, no error) and B (labelled, confirmed fraud): one known error, nothing estimated.
    assert report["live"]["expected_errors"] == {"total": 1.0, "rate": 0.5, "from_outcomes": 1.0,
                                                 "labelled_approvals": 2, "from_models": 0.0,
                                                 "unlabelled_approvals": 0}
    # The candidate approves B (fraud) and C (no outcome: 1 - (1 - 0.01) * 0.85 from the models).
    expected_c = 1 - (1 - 0.01) * 0.85
    errors = report["candidate"]["expected_errors"]
    assert errors["from_outcomes"] == 1.0 and errors["from_models"] == pytest.approx(expected_c, abs=0.01)
    assert errors["unlabelled_approvals"] == 1
    diff = report["diff"]
    assert diff["changed"] == 2
    assert diff["routes"]["auto_approve->review"]["by_clause"] == {"gates.max_fraud_risk": 1}
    assert diff["routes"]["auto_approve->review"]["examples"][0]["case_id"] == "RMA-A"
    assert diff["routes"]["review->auto_approve"]["by_clause"] == {"gates.min_reason_confidence": 1}
    load = report["candidate"]["queue_load"]
    assert load["days"] == 2 and [d["reviews"] for d in load["by_day"]] == [1, 1]
    assert [d["reviews"] for d in report["live"]["queue_load"]["by_day"]] == [0, 2]


def test_since_and_until_select_the_decision_days(backend, stored) -> None:  # type: ignore[no-untyped-def]
    second_day = load_stored_cases(backend, since=parse_bound("2026-11-21"))
    assert [c.case.case_id for c in second_day] == ["RMA-C", "RMA-D"]
    first_day = load_stored_cases(backend, until=parse_bound("2026-11-20", end=True))
    assert [c.case.case_id for c in first_day] == ["RMA-A", "RMA-B"]
    assert load_stored_cases(backend, since=parse_bound("2026-11-22")) == []
    assert load_stored_cases(backend, tenant="someone-else") == []
    assert parse_bound("2026-11-20T12:00:00Z") == DAY1 + timedelta(hours=2)


def test_the_command_line_replays_the_settings_database(tmp_path: Path, monkeypatch, capsys, score_body) -> None:  # type: ignore[no-untyped-def]
    from returns_triage.cli import main
    from returns_triage.serving.storage import make_engine, upgrade

    url = f"sqlite:///{tmp_path / 'triage.db'}"
    engine = make_engine(url)
    upgrade(engine)
    live = DocumentPolicy.from_file()
    base = {**score_body, "requested_at": "2026-11-20T09:00:00Z"}
    _store(engine, live, {**base, "case_id": "RMA-A"}, confidence=0.97, risk=0.03, at=DAY1)
    _store(engine, live, {**base, "case_id": "RMA-C"}, confidence=0.85, risk=0.01, at=DAY2)
    engine.dispose()
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(_candidate_text())
    monkeypatch.setenv("TRIAGE_HOME", str(tmp_path))
    monkeypatch.setenv("TRIAGE_DATABASE_URL", url)
    assert main(["policy", "simulate", "--from-db", "--policy", str(candidate), "--since", "2026-11-20"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["history"] == "stored decisions" and report["cases"] == 2
    assert report["diff"]["changed"] == 2
    assert report["live"]["version"] == live.version
    assert report["candidate"]["version"].startswith("candidate-")
