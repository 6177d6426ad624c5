"""Supervisor actions in the console over both backends: only supervisors see and may use them, each needs the
confirmation tick, and each is recorded as an override by the supervisor's own key (the browser flow of an
override is in tests/e2e/test_console.py)."""

from __future__ import annotations

from sqlalchemy import select

from returns_triage.serving.storage.review_queue import SqlReviewQueue
from returns_triage.serving.storage.tables import outcomes, review_decisions
from tests.api.test_console_api import _key, _sign_in, console  # noqa: F401 — the fixture
from tests.integration.test_review_queue import seed_items

ORIGIN = {"Origin": "http://testserver.local"}


def _actor(key: str) -> str:
    return f"key:{key.split('_')[1]}"


def test_only_a_supervisor_sees_and_may_use_the_supervisor_actions(console, backend) -> None:  # type: ignore[no-untyped-def]
    (item,) = seed_items(backend, 1)
    _sign_in(console, _key(backend, "reviewer"))
    assert 'id="supervise"' not in console.get(f"/console/items/{item}").text
    refused = console.post(f"/console/items/{item}/supervise/release", data={"confirm": "yes"}, headers=ORIGIN)
    assert "error=" in refused.headers["location"]
    assert SqlReviewQueue(backend).events("default", item) == []

    _sign_in(console, _key(backend, "supervisor"))
    page = console.get(f"/console/items/{item}").text
    assert 'id="supervise"' in page and 'id="override-form"' in page and 'id="reassign-form"' in page


def test_without_the_confirmation_tick_nothing_is_recorded(console, backend) -> None:  # type: ignore[no-untyped-def]
    (item,) = seed_items(backend, 1)
    _sign_in(console, _key(backend, "supervisor"))
    r = console.post(f"/console/items/{item}/supervise/override",
                     data={"action": "reject", "note": "chargeback history"}, headers=ORIGIN)
    assert "tick" in console.get(r.headers["location"]).text
    r = console.post(f"/console/items/{item}/supervise/override", data={"action": "reject", "confirm": "yes"},
                     headers=ORIGIN)
    assert "needs a note" in console.get(r.headers["location"]).text
    assert SqlReviewQueue(backend).get_item("default", item).status == "pending"
    with backend.connect() as conn:
        assert conn.execute(select(review_decisions.c.review_decision_id)).all() == []


def test_an_override_decision_is_recorded_against_the_holders_claim(console, backend) -> None:  # type: ignore[no-untyped-def]
    (item,) = seed_items(backend, 1)
    queue = SqlReviewQueue(backend)
    from datetime import UTC, datetime

    queue.claim("default", "returns-review", "alice", now=datetime.now(UTC))
    sup = _key(backend, "supervisor")
    _sign_in(console, sup)
    r = console.post(f"/console/items/{item}/supervise/override",
                     data={"action": "reject", "note": "known abuse pattern", "fraud_confirmed": "yes",
                           "confirm": "yes"}, headers=ORIGIN)
    assert r.headers["location"].startswith(f"/console/items/{item}?flash=")
    page = console.get(r.headers["location"]).text
    assert "Override recorded: reject RMA-0." in page and "override" in page
    after = queue.get_item("default", item)
    assert after.status == "done" and after.fencing_token == 2  # alice's token 1 is fenced out
    with backend.connect() as conn:
        (rd,) = conn.execute(select(review_decisions)).all()
        labels = conn.execute(select(outcomes.c.kind, outcomes.c.fraud_confirmed)).all()
    assert (rd.reviewer, rd.action, rd.override, rd.note, rd.fraud_confirmed) == (
        _actor(sup), "reject", True, "known abuse pattern", True)
    assert [tuple(x) for x in labels] == [("review", True)]
    (event,) = [e for e in queue.events("default", item) if e["event"] == "decided"]
    assert event["override"] and event["actor"] == _actor(sup)


def test_release_reassign_and_escalate_are_recorded_as_overrides(console, backend) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    seed_items(backend, 1)
    seed_items(backend, 1, queue="returns-audit", prefix="a")
    queue = SqlReviewQueue(backend)
    item = queue.claim("default", "returns-review", "alice", now=datetime.now(UTC)).item_id
    sup = _key(backend, "supervisor")
    _sign_in(console, sup)

    def act(action: str, **data: str) -> str:
        r = console.post(f"/console/items/{item}/supervise/{action}", data={"confirm": "yes", **data}, headers=ORIGIN)
        assert "flash=" in r.headers["location"], console.get(r.headers["location"]).text
        return r.headers["location"]

    act("release", note="alice is off today")
    assert queue.get_item("default", item).status == "pending"
    act("reassign", to_reviewer="bob", to_queue="returns-audit")
    moved = queue.get_item("default", item)
    assert (moved.status, moved.claimed_by, moved.queue) == ("claimed", "bob", "returns-audit")
    act("escalate", note="needs a second look")
    up = queue.get_item("default", item)
    assert up.status == "pending" and up.queue == "returns-audit-supervisor" and up.escalation_level == 1
    events = queue.events("default", item)
    mine = [(e["event"], e["actor"], e["override"]) for e in events if e["actor"] == _actor(sup)]
    assert mine == [("released", _actor(sup), True), ("reassigned", _actor(sup), True),
                    ("escalated", _actor(sup), True)]
