"""Pure rules of the review queue and of outcomes: no database, no clock but the one passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from returns_triage.serving.domain import review as rules

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_a_lease_ends_at_its_expiry_instant() -> None:
    assert not rules.lease_expired(NOW + timedelta(seconds=1), NOW)
    assert rules.lease_expired(NOW, NOW)
    assert rules.lease_expired(None, NOW)


@pytest.mark.parametrize(("status", "expires", "claimable"), [
    ("pending", None, True),
    ("claimed", NOW + timedelta(minutes=1), False),
    ("claimed", NOW - timedelta(minutes=1), True),
    ("done", None, False),
    ("awaiting_info", None, False),
])
def test_what_can_be_claimed(status: str, expires: datetime | None, claimable: bool) -> None:
    assert rules.is_claimable(status, expires, NOW) is claimable


def test_claim_order_is_priority_then_sla_then_age() -> None:
    items = [
        ("low", 10, NOW + timedelta(hours=1), NOW),
        ("high-late", 90, NOW + timedelta(hours=9), NOW),
        ("high-soon", 90, NOW + timedelta(hours=2), NOW + timedelta(minutes=5)),
        ("high-soon-older", 90, NOW + timedelta(hours=2), NOW),
    ]
    ordered = sorted(items, key=lambda i: rules.claim_order_key(i[1], i[2], i[3], i[0]))
    assert [i[0] for i in ordered] == ["high-soon-older", "high-soon", "high-late", "low"]


def test_sla_breach_and_colouring() -> None:
    due = NOW + timedelta(hours=1)
    assert rules.sla_state(due, NOW) == "due_soon"
    assert rules.sla_state(NOW + timedelta(hours=5), NOW) == "ok"
    assert rules.sla_state(due, due + timedelta(seconds=1)) == "breached"
    # Finished in time stays in time, however late we look at it.
    assert not rules.sla_breached(due, NOW + timedelta(days=3), completed_at=NOW)
    assert rules.sla_breached(due, NOW, completed_at=due + timedelta(minutes=1))


def test_lease_requests_are_clamped() -> None:
    assert rules.clamp_lease(None) == rules.DEFAULT_LEASE
    assert rules.clamp_lease(0) == timedelta(seconds=1)
    assert rules.clamp_lease(10**9) == timedelta(hours=8)


def test_what_each_action_does_to_the_item() -> None:
    assert [rules.status_after(a) for a in rules.ACTIONS] == ["done", "done", "awaiting_info", "pending"]
    with pytest.raises(ValueError):
        rules.status_after("shrug")
    assert rules.escalation_target("returns-review", 50, 0) == ("returns-review-supervisor", 70, 1)
    assert rules.escalation_target("returns-review-supervisor", 95, 1) == ("returns-review-supervisor", 100, 2)
    assert rules.escalation_target("q", 50, 0, to_queue="fraud-desk") == ("fraud-desk", 70, 1)


def test_whether_the_reviewer_kept_the_ai_suggestion() -> None:
    def agree(**kw: object) -> str:
        args = {"action": "approve", "corrected_reason_code": None, "fraud_confirmed": None, **kw}
        return rules.ai_agreement("DEFECTIVE", "review", "low", **args)  # type: ignore[arg-type]

    assert agree() == "confirms"
    assert agree(corrected_reason_code="DEFECTIVE") == "confirms"
    assert agree(corrected_reason_code="DAMAGED_IN_TRANSIT") == "overrides"
    assert agree(fraud_confirmed=True) == "overrides"  # the model saw low risk
    assert agree(fraud_confirmed=False) == "confirms"
    assert rules.ai_agreement("DEFECTIVE", "auto_approve", None, action="reject", corrected_reason_code=None,
                              fraud_confirmed=None) == "overrides"


def test_only_final_verdicts_are_labels() -> None:
    assert rules.ReviewVerdict("approve", "ann").is_label()
    assert not rules.ReviewVerdict("request_info", "ann").is_label()
    assert not rules.ReviewVerdict("escalate", "ann").is_label()


def _outcome(**kw: object) -> rules.Outcome:
    return rules.Outcome(**{"outcome_id": "o", "case_id": "c", "kind": "inspection", "occurred_at": NOW, **kw})  # type: ignore[arg-type]


def test_outcome_validation_names_the_field() -> None:
    assert rules.outcome_problems(_outcome(condition_grade="damaged", disposition="refurbish")) == []
    assert [f for f, _ in rules.outcome_problems(_outcome())] == ["condition_grade"]
    assert [f for f, _ in rules.outcome_problems(_outcome(disposition="landfill"))] == ["disposition"]
    assert [f for f, _ in rules.outcome_problems(_outcome(kind="fraud"))] == ["fraud_confirmed"]
    assert [f for f, _ in rules.outcome_problems(_outcome(kind="credit"))] == ["amount"]
    assert [f for f, _ in rules.outcome_problems(_outcome(kind="chargeback", amount=12.0))] == ["currency"]
    assert rules.outcome_problems(_outcome(kind="chargeback", amount=12.0, currency="EUR")) == []
    assert [f for f, _ in rules.outcome_problems(_outcome(kind="rumour"))] == ["kind"]
