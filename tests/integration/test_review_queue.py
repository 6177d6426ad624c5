"""The review queue on both real backends: claim order, leases, fencing tokens, hand-overs, concurrency."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, select

from returns_triage.errors import Conflict, NotFound
from returns_triage.serving.domain.review import ReviewVerdict
from returns_triage.serving.storage.review_queue import SqlReviewQueue
from returns_triage.serving.storage.tables import (
    cases,
    decisions,
    metadata,
    outcomes,
    review_decisions,
    review_items,
)

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=10)


def seed_items(
    engine: Engine,
    n: int,
    *,
    queue: str = "returns-review",
    priority: Callable[[int], int] = lambda i: 50,
    sla_due_at: Callable[[int], datetime] = lambda i: T0 + timedelta(hours=24),
    reason_code: str = "DEFECTIVE",
    route: str = "review",
    prefix: str = "",
) -> list[str]:
    """``n`` scored cases queued for review (case ``{prefix}RMA-i``, item ``{prefix}item-i``)."""
    ids = [f"{prefix}{i:05d}" for i in range(n)]
    with engine.begin() as conn:
        conn.execute(cases.insert(), [
            {"id": f"case-{k}", "tenant": "default", "case_id": f"{prefix}RMA-{i}", "facility": "DC-1",
             "channel": "portal", "segment": "consumer", "payload": {}, "created_at": T0}
            for i, k in enumerate(ids)
        ])
        conn.execute(decisions.insert(), [
            {"decision_id": f"dec-{k}", "tenant": "default", "case_ref": f"case-{k}", "created_at": T0,
             "route": route, "reason_code": reason_code, "reason_confidence": 0.6, "risk_score": 0.05,
             "policy_version": "p1", "model_versions": {}, "inputs_sha256": "0" * 64,
             "document": {"risk": {"band": "low"}}}
            for k in ids
        ])
        conn.execute(review_items.insert(), [
            {"item_id": f"item-{k}", "tenant": "default", "decision_id": f"dec-{k}", "case_ref": f"case-{k}",
             "queue": queue, "priority": priority(i), "sla_due_at": sla_due_at(i), "status": "pending",
             "created_at": T0 + timedelta(seconds=i), "fencing_token": 0}
            for i, k in enumerate(ids)
        ])
    return [f"item-{k}" for k in ids]


def _approve(reviewer: str, **kw: object) -> ReviewVerdict:
    return ReviewVerdict(action="approve", reviewer=reviewer, **kw)  # type: ignore[arg-type]


def test_migrated_schema_matches_the_tables_at_head(backend) -> None:  # type: ignore[no-untyped-def]
    with backend.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_claims_come_in_priority_then_sla_order(backend) -> None:  # type: ignore[no-untyped-def]
    prio = [10, 90, 90, 50]
    due = [T0 + timedelta(hours=h) for h in (1, 30, 5, 2)]
    items = seed_items(backend, 4, priority=lambda i: prio[i], sla_due_at=lambda i: due[i])
    queue = SqlReviewQueue(backend)
    got = [queue.claim("default", "returns-review", f"r{i}", now=T0, lease=LEASE) for i in range(5)]
    assert [g.item_id if g else None for g in got] == [items[2], items[1], items[3], items[0], None]
    assert all(g.fencing_token == 1 and g.status == "claimed" for g in got if g)
    assert queue.claim("default", "other-queue", "r", now=T0) is None


def test_a_claimed_item_comes_back_only_when_its_lease_expires(backend) -> None:  # type: ignore[no-untyped-def]
    (item,) = seed_items(backend, 1)
    queue = SqlReviewQueue(backend)
    first = queue.claim("default", "returns-review", "ann", now=T0, lease=LEASE)
    assert first is not None and first.lease_expires_at == T0 + LEASE
    assert queue.claim("default", "returns-review", "bob", now=T0 + LEASE - timedelta(seconds=1)) is None
    second = queue.claim("default", "returns-review", "bob", now=T0 + LEASE, lease=LEASE)
    assert second is not None and second.item_id == item
    assert second.claimed_by == "bob" and second.fencing_token == first.fencing_token + 1
    assert [e["event"] for e in queue.events("default", item)] == ["claimed", "reclaimed"]


def test_a_stale_claimers_late_decision_is_rejected(backend) -> None:  # type: ignore[no-untyped-def]
    (item,) = seed_items(backend, 1)
    queue = SqlReviewQueue(backend)
    ann = queue.claim("default", "returns-review", "ann", now=T0, lease=LEASE)
    bob = queue.claim("default", "returns-review", "bob", now=T0 + LEASE * 2, lease=LEASE)
    assert ann is not None and bob is not None
    with pytest.raises(Conflict) as stale:
        queue.decide("default", item, _approve("ann"), token=ann.fencing_token, now=T0 + LEASE * 2)
    assert stale.value.code == "stale_token"
    decided, stored = queue.decide("default", item, _approve("bob", note="fine"), token=bob.fencing_token,
                                   now=T0 + LEASE * 2)
    assert decided.status == "done" and decided.completed_at == T0 + LEASE * 2
    assert stored["ai_agreement"] == "confirms" and stored["ai_suggestion"]["reason_code"] == "DEFECTIVE"
    with pytest.raises(Conflict) as again:  # the holder's own retry: the item is no longer claimed
        queue.decide("default", item, _approve("bob"), token=bob.fencing_token, now=T0 + LEASE * 2)
    assert again.value.code == "not_claimed"
    with backend.connect() as conn:
        assert conn.execute(select(func.count()).select_from(review_decisions)).scalar() == 1
        label = conn.execute(select(outcomes.c.kind, outcomes.c.confirmed_reason_code)).one()
    assert tuple(label) == ("review", "DEFECTIVE")


def test_an_expired_lease_nobody_took_over_is_still_honoured(backend) -> None:  # type: ignore[no-untyped-def]
    (item,) = seed_items(backend, 1)
    queue = SqlReviewQueue(backend)
    ann = queue.claim("default", "returns-review", "ann", now=T0, lease=LEASE)
    assert ann is not None
    decided, stored = queue.decide("default", item, ReviewVerdict("reject", "ann", corrected_reason_code="OTHER"),
                                   token=ann.fencing_token, now=T0 + LEASE * 3)
    assert decided.status == "done" and stored["ai_agreement"] == "overrides"


def test_release_escalate_reassign_and_a_recorded_override(backend) -> None:  # type: ignore[no-untyped-def]
    (item,) = seed_items(backend, 1)
    queue = SqlReviewQueue(backend)
    ann = queue.claim("default", "returns-review", "ann", now=T0)
    assert ann is not None
    with pytest.raises(Conflict):
        queue.release("default", item, "bob", token=ann.fencing_token, now=T0)  # not bob's
    released = queue.release("default", item, "ann", token=ann.fencing_token, now=T0)
    assert released.status == "pending" and released.claimed_by is None

    ann = queue.claim("default", "returns-review", "ann", now=T0)
    assert ann is not None
    escalated = queue.escalate("default", item, "ann", token=ann.fencing_token, now=T0, note="looks like fraud")
    assert (escalated.queue, escalated.priority, escalated.escalation_level, escalated.status) == (
        "returns-review-supervisor", 70, 1, "pending")
    assert queue.claim("default", "returns-review", "ann", now=T0) is None

    sue = queue.claim("default", "returns-review-supervisor", "sue", now=T0)
    assert sue is not None
    handed = queue.reassign("default", item, "sue", token=sue.fencing_token, to_reviewer="tom", now=T0)
    assert handed.claimed_by == "tom" and handed.fencing_token == sue.fencing_token + 1
    with pytest.raises(Conflict):
        queue.decide("default", item, _approve("sue"), token=sue.fencing_token, now=T0)

    # A supervisor decides over tom's head: recorded, and tom's token no longer works.
    decided, stored = queue.decide("default", item, ReviewVerdict("reject", "chief", fraud_confirmed=True),
                                   token=None, now=T0, override=True)
    assert decided.status == "done" and stored["override"] is True
    with pytest.raises(Conflict) as fenced:
        queue.decide("default", item, _approve("tom"), token=handed.fencing_token, now=T0)
    assert fenced.value.code == "stale_token"
    events = queue.events("default", item)
    assert [e["event"] for e in events] == ["claimed", "released", "claimed", "escalated", "claimed", "reassigned",
                                            "decided"]
    assert events[-1]["override"] is True and events[-1]["actor"] == "chief"
    with pytest.raises(NotFound):
        queue.release("default", "no-such-item", "ann", token=1, now=T0)


def test_request_info_parks_the_item_until_a_supervisor_releases_it(backend) -> None:  # type: ignore[no-untyped-def]
    (item,) = seed_items(backend, 1)
    queue = SqlReviewQueue(backend)
    ann = queue.claim("default", "returns-review", "ann", now=T0)
    assert ann is not None
    parked, _ = queue.decide("default", item, ReviewVerdict("request_info", "ann"), token=ann.fencing_token, now=T0)
    assert parked.status == "awaiting_info"
    assert queue.claim("default", "returns-review", "bob", now=T0) is None
    back = queue.release("default", item, "sue", token=None, now=T0, override=True)
    assert back.status == "pending"
    with backend.connect() as conn:  # asking for information is not a label
        assert conn.execute(select(func.count()).select_from(outcomes)).scalar() == 0


def test_breached_filter_and_claim_order_listing(backend) -> None:  # type: ignore[no-untyped-def]
    seed_items(backend, 3, sla_due_at=lambda i: T0 + timedelta(hours=i - 1))  # due T0-1h, T0, T0+1h
    queue = SqlReviewQueue(backend)
    now = T0 + timedelta(minutes=30)
    assert len(queue.list_items("default", now=now, breached=True)) == 2
    assert len(queue.list_items("default", now=now, breached=False)) == 1
    listed = queue.list_items("default", now=now)
    assert [i.sla_state(now) for i in listed] == ["breached", "breached", "due_soon"]


def test_concurrent_claimers_take_each_item_exactly_once(backend) -> None:  # type: ignore[no-untyped-def]
    n_items, n_threads = 200, 4
    items = seed_items(backend, n_items, priority=lambda i: i % 7)
    queue = SqlReviewQueue(backend)
    claims: list[tuple[str, int, str]] = []
    lock = threading.Lock()
    start = threading.Barrier(n_threads)

    def work(reviewer: str) -> None:
        start.wait()
        while True:
            item = queue.claim("default", "returns-review", reviewer, now=datetime.now(UTC), lease=LEASE)
            if item is None:
                return
            with lock:
                claims.append((item.item_id, item.fencing_token, reviewer))
            time.sleep(0.002)  # reading the case: a reviewer does not decide within microseconds of claiming
            queue.decide("default", item.item_id, _approve(reviewer), token=item.fencing_token,
                         now=datetime.now(UTC))

    threads = [threading.Thread(target=work, args=(f"r{i}",)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert Counter(c[0] for c in claims) == Counter(items)  # every item claimed exactly once
    assert len({c[2] for c in claims}) > 1  # the work really was shared
    with backend.connect() as conn:
        per_item = Counter(r.item_id for r in conn.execute(select(review_decisions.c.item_id)))
        assert per_item == Counter(items)
        assert conn.execute(select(func.count()).select_from(review_items)
                            .where(review_items.c.status != "done")).scalar() == 0


def test_a_claimer_gets_only_items_for_its_skills(backend) -> None:  # type: ignore[no-untyped-def]
    fraud_item, plain_item = seed_items(backend, 2, priority=lambda i: 90 - i)
    with backend.begin() as conn:
        conn.execute(review_items.update().where(review_items.c.item_id == fraud_item).values(skill="fraud"))
    queue = SqlReviewQueue(backend)
    general = queue.claim("default", "returns-review", "ann", now=T0, skills=["general"])
    assert general is not None and general.item_id == plain_item
    assert queue.claim("default", "returns-review", "ann", now=T0, skills=["general"]) is None
    expert = queue.claim("default", "returns-review", "sue", now=T0, skills=["fraud", "general"])
    assert expert is not None and expert.item_id == fraud_item and expert.skill == "fraud"
