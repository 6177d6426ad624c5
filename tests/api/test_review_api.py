"""The review and outcomes API over both real backends (no model needed: items are seeded as scored cases)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.test_review_queue import seed_items

QUEUE = "returns-review"


@pytest.fixture
def review_client(backend, tmp_path: Path, make_api_key) -> Iterator:  # type: ignore[no-untyped-def]
    """The real app on a real database; no model bundle, since review does not score."""
    from litestar.testing import TestClient

    from returns_triage.serving.api import create_app
    from returns_triage.serving.service.models import LoadedModels
    from returns_triage.settings import Settings

    settings = Settings.from_env({"TRIAGE_HOME": str(tmp_path), "TRIAGE_MODEL_DIR": str(tmp_path / "models")})
    with TestClient(create_app(settings, models=LoadedModels(), engine=backend)) as client:
        client.headers.update(make_api_key(backend))
        yield client


def _claim(client, reviewer: str, queue: str = QUEUE):  # type: ignore[no-untyped-def]
    return client.post("/v1/review/claim", json={"queue": queue, "reviewer": reviewer})


def test_claim_decide_and_the_case_gets_a_label(review_client, backend) -> None:  # type: ignore[no-untyped-def]
    (item,) = seed_items(backend, 1)
    claimed = _claim(review_client, "ann")
    assert claimed.status_code == 200, claimed.text
    body = claimed.json()
    assert body["item"]["item_id"] == item and body["item"]["status"] == "claimed" and body["token"] == 1
    assert _claim(review_client, "bob").status_code == 204  # nothing left

    decided = review_client.post(f"/v1/review/items/{item}/decision", json={
        "reviewer": "ann", "token": body["token"], "action": "approve",
        "corrected_reason_code": "DAMAGED_IN_TRANSIT", "fraud_confirmed": False, "note": "photo shows dent"})
    assert decided.status_code == 200, decided.text
    review = decided.json()["review_decision"]
    assert review["ai_agreement"] == "overrides" and review["ai_suggestion"]["reason_code"] == "DEFECTIVE"
    assert decided.json()["item"]["status"] == "done"

    history = review_client.get("/v1/cases/RMA-0/outcomes").json()
    assert [o["kind"] for o in history["outcomes"]] == ["review"]
    assert history["outcomes"][0]["confirmed_reason_code"] == "DAMAGED_IN_TRANSIT"
    assert history["reviews"][0]["reviewer"] == "ann" and len(history["decisions"]) == 1


def test_a_stale_token_gets_409_and_a_missing_item_404(review_client, backend) -> None:  # type: ignore[no-untyped-def]
    (item,) = seed_items(backend, 1)
    token = _claim(review_client, "ann").json()["token"]
    released = review_client.post(f"/v1/review/items/{item}/release", json={"reviewer": "ann", "token": token})
    assert released.status_code == 200 and released.json()["status"] == "pending"
    new_token = _claim(review_client, "bob").json()["token"]
    late = review_client.post(f"/v1/review/items/{item}/decision",
                              json={"reviewer": "ann", "token": token, "action": "reject"})
    assert late.status_code == 409
    assert late.headers["content-type"].startswith("application/problem+json")
    assert late.json()["code"] == "stale_token"
    ok = review_client.post(f"/v1/review/items/{item}/decision",
                            json={"reviewer": "bob", "token": new_token, "action": "reject"})
    assert ok.status_code == 200
    missing = review_client.post("/v1/review/items/nope/decision",
                                 json={"reviewer": "bob", "token": 1, "action": "reject"})
    assert missing.status_code == 404
    bad = review_client.post(f"/v1/review/items/{item}/decision",
                             json={"reviewer": "bob", "token": 1, "action": "shrug"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "action"


def test_escalate_reassign_and_filters(review_client, backend) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    due = [now + timedelta(days=2), now - timedelta(hours=1)]  # b is already overdue
    a, b = seed_items(backend, 2, priority=lambda i: 60 - i, sla_due_at=lambda i: due[i])
    token = _claim(review_client, "ann").json()["token"]
    esc = review_client.post(f"/v1/review/items/{a}/escalate", json={"reviewer": "ann", "token": token})
    assert esc.status_code == 200 and esc.json()["queue"] == f"{QUEUE}-supervisor"
    assert esc.json()["escalation_level"] == 1 and esc.json()["priority"] == 80

    pending = review_client.get("/v1/review/items", params={"queue": QUEUE, "status": "pending"}).json()["items"]
    assert [i["item_id"] for i in pending] == [b]
    moved = review_client.post(f"/v1/review/items/{b}/reassign",
                               json={"reviewer": "sue", "override": True, "to_reviewer": "tom"})
    assert moved.status_code == 200 and moved.json()["item"]["claimed_by"] == "tom" and moved.json()["token"] == 1
    mine = review_client.get("/v1/review/items", params={"claimed_by": "tom"}).json()["items"]
    assert [i["item_id"] for i in mine] == [b]
    breached = review_client.get("/v1/review/items", params={"breached": "true"}).json()["items"]
    assert [(i["item_id"], i["sla_state"], i["breached"]) for i in breached] == [(b, "breached", True)]
    events = review_client.get(f"/v1/review/items/{b}/history").json()["events"]
    assert events[-1]["event"] == "reassigned" and events[-1]["override"] is True
    assert review_client.get("/v1/review/items", params={"status": "lost"}).status_code == 400


OUTCOME = {"outcome_id": "insp-1", "case_id": "RMA-0", "kind": "inspection", "occurred_at": "2026-11-25T10:00:00Z",
           "condition_grade": "damaged", "disposition": "refurbish", "confirmed_reason_code": "DAMAGED_IN_TRANSIT"}


def test_outcomes_are_idempotent_by_outcome_id(review_client, backend) -> None:  # type: ignore[no-untyped-def]
    seed_items(backend, 1)
    first = review_client.post("/v1/outcomes", json=OUTCOME)
    assert first.status_code == 201, first.text
    assert first.json()["decision_id"] == "dec-00000" and first.json()["out_of_order"] is False
    again = review_client.post("/v1/outcomes", json=dict(reversed(list(OUTCOME.items()))))
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    changed = review_client.post("/v1/outcomes", json={**OUTCOME, "disposition": "scrap"})
    assert changed.status_code == 422 and changed.json()["code"] == "idempotency_key_reused"
    unknown = review_client.post("/v1/outcomes", json={**OUTCOME, "outcome_id": "x", "case_id": "RMA-404"})
    assert unknown.status_code == 404
    invalid = review_client.post("/v1/outcomes", json={"outcome_id": "c", "case_id": "RMA-0", "kind": "credit",
                                                       "occurred_at": "2026-11-25T10:00:00Z"})
    assert invalid.status_code == 422 and invalid.json()["errors"][0]["field"] == "amount"
    # Well-formed, but before year 1 in UTC: refused naming the field, not an overflow into a 500.
    ancient = review_client.post("/v1/outcomes", json={**OUTCOME, "outcome_id": "y",
                                                       "occurred_at": "0001-01-01T00:00:00+05:00"})
    assert ancient.status_code == 422 and ancient.json()["errors"][0]["field"] == "occurred_at", ancient.text


def test_a_late_outcome_is_kept_but_not_current(review_client, backend) -> None:  # type: ignore[no-untyped-def]
    seed_items(backend, 1)
    newer = {**OUTCOME, "outcome_id": "insp-2", "occurred_at": "2026-11-26T10:00:00Z", "disposition": "scrap"}
    assert review_client.post("/v1/outcomes", json=newer).status_code == 201
    late = review_client.post("/v1/outcomes", json=OUTCOME)  # happened earlier, arrived later
    assert late.status_code == 201 and late.json()["out_of_order"] is True
    fraud = {"outcome_id": "fr-1", "case_id": "RMA-0", "kind": "fraud", "fraud_confirmed": False,
             "occurred_at": "2026-11-27T00:00:00+01:00"}
    assert review_client.post("/v1/outcomes", json=fraud).status_code == 201
    listed = review_client.get("/v1/cases/RMA-0/outcomes").json()["outcomes"]
    current = {o["outcome_id"]: o["current"] for o in listed}
    assert current == {"insp-1": False, "insp-2": True, "fr-1": True}
    assert review_client.get("/v1/cases/RMA-404/outcomes").status_code == 404


def test_review_actions_and_outcomes_are_listed_as_audit_entries(review_client, backend,
                                                                  make_api_key) -> None:  # type: ignore[no-untyped-def]
    (item,) = seed_items(backend, 1)
    token = _claim(review_client, "ann").json()["token"]
    decided = review_client.post(f"/v1/review/items/{item}/decision", json={
        "reviewer": "ann", "token": token, "action": "reject", "fraud_confirmed": True, "note": "same card as RMA-7"})
    assert decided.status_code == 200, decided.text
    assert review_client.post("/v1/outcomes", json=OUTCOME).status_code == 201
    auditor = make_api_key(backend, role="auditor")

    def listed(**params: str) -> list[tuple[str, str, str]]:
        page = review_client.get("/v1/audit/entries", params=params, headers=auditor)
        assert page.status_code == 200, page.text
        return [(e["kind"], e["actor"], json.loads(e["payload"]).get("action", "")) for e in page.json()["items"]]

    assert listed(kind="review_action") == [("review_action", "ann", "claimed"), ("review_action", "ann", "decided")]
    (outcome,) = listed(kind="outcome")
    assert outcome[0] == "outcome" and outcome[1].startswith("key:")
    assert [k for k, _, _ in listed(subject_id="dec-00000")] == ["review_action", "review_action", "outcome"]
    assert listed(kind="override") == []
    entry = review_client.get("/v1/audit/entries", params={"kind": "review_action"}, headers=auditor).json()["items"][1]
    payload = json.loads(entry["payload"])
    assert payload["verdict"] == "reject" and payload["fraud_confirmed"] is True and payload["fencing_token"] == token
    assert payload["authenticated_as"] == outcome[1]  # the same admin key made both calls
    assert "same card" not in entry["payload"] and len(payload["note_sha256"]) == 64
