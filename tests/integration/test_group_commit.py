"""Group commit of decisions on both real backends: many requests' decisions in one transaction, each request
answered only after its own commit, idempotency and the audit chain exactly as on the one-decision path, and an
error in one decision never reaching the others of its group."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import IntegrityError

from returns_triage.serving.domain.audit import verify_chain
from returns_triage.serving.domain.model import Decision, ReasonAssessment, ReturnCase, ReviewItem, Route
from returns_triage.serving.storage import DuplicateIdempotencyKey, SqlDecisionStore
from returns_triage.serving.storage.audit_log import SqlAuditLog
from returns_triage.serving.storage.decision_writer import GroupCommitDecisionStore
from returns_triage.serving.storage.engine import reading
from returns_triage.serving.storage.tables import audit_entries, cases, decisions, review_items, webhook_events

WHEN = datetime(2026, 11, 1, tzinfo=UTC)


def _decision(decision_id: str, *, case_id: str | None = None, review: bool = False) -> Decision:
    case_id = case_id or "RMA-" + decision_id
    case = ReturnCase(case_id=case_id, tenant="default", facility="DC-1", channel="portal", segment="consumer",
                      reason_text="arrived broken", refund_amount=42.5, currency="EUR", payload={"case_id": case_id})
    reason = ReasonAssessment("DEFECTIVE", 0.97, ("DEFECTIVE",), 0.01, False, "reason-x")
    route = (Route(route="review", reasons=("low confidence",), explanation="queued: clause 2", queue="general",
                   priority=2, sla_due_at=WHEN + timedelta(hours=4)) if review
             else Route(route="auto_approve", reasons=("confident",), explanation="approved: clause 1"))
    return Decision(decision_id=decision_id, case=case, created_at=WHEN, reason=reason, route=route,
                    policy_version="p1", model_versions={"reason": "reason-x"})


def _review_item(decision: Decision) -> ReviewItem:
    assert decision.route.queue and decision.route.priority is not None and decision.route.sla_due_at
    return ReviewItem(item_id="item-" + decision.decision_id, decision_id=decision.decision_id,
                      case_id=decision.case.case_id, tenant="default", queue=decision.route.queue,
                      priority=decision.route.priority, sla_due_at=decision.route.sla_due_at)


def _save(store: GroupCommitDecisionStore, decision: Decision, key: str, sha: str = "h") -> None:
    item = _review_item(decision) if decision.route.route == "review" else None
    store.save_decision(decision, item, idempotency_key=key, request_sha256=sha, status_code=200,
                        body=f'{{"decision_id":"{decision.decision_id}"}}'.encode())


@contextmanager
def _writers_held(engine: Engine) -> Iterator[None]:
    """Hold the database's write path from another connection, so decisions queue up behind the first group."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": 0x72747269616765})  # the audit chain's lock
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": 0x72747269616765})
                conn.commit()
        else:
            with conn.begin():  # BEGIN IMMEDIATE (storage/engine.py): SQLite's write lock, held until the end
                yield


def _concurrently(n: int, work: Callable[[int], None]) -> dict[int, BaseException]:
    """Run ``work(i)`` in ``n`` threads; returns the errors by index."""
    errors: dict[int, BaseException] = {}

    def run(i: int) -> None:
        try:
            work(i)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertions
            errors[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    _join(threads)
    return errors


def _join(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.join(60)
        assert not t.is_alive(), "a request never got its answer"


def _count(engine: Engine, table) -> int:  # type: ignore[no-untyped-def]
    with reading(engine).connect() as conn:  # a read that does not wait for the held write lock
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_queued_decisions_commit_as_one_group_with_one_chained_entry_each(backend) -> None:  # type: ignore[no-untyped-def]
    store = GroupCommitDecisionStore(SqlDecisionStore(backend))
    n = 12
    made = [_decision(f"d{i:02d}", review=i % 3 == 0) for i in range(n)]
    errors: dict[int, BaseException] = {}
    with _writers_held(backend):
        # The first decision leads and waits on the held database; the others queue behind it.
        threads, queued = _start_saves(errors, store, made, [f"k{i}" for i in range(n)])
        committed_while_held = _count(backend, decisions)
    _join(threads)
    assert queued, _NOT_QUEUED
    assert committed_while_held == 0  # nobody answered, nothing committed yet
    assert errors == {}
    assert store.stats.decisions == n and store.stats.fallbacks == 0
    assert store.stats.largest_group >= n // 2 and store.stats.groups < n
    assert _count(backend, decisions) == _count(backend, cases) == _count(backend, webhook_events) == n
    assert _count(backend, review_items) == sum(d.route.route == "review" for d in made)
    entries = list(SqlAuditLog(backend).iter_entries())
    assert [e.seq for e in entries] == list(range(1, n + 1))
    assert sorted(e.subject_id for e in entries) == sorted(d.decision_id for d in made)
    assert verify_chain(iter(entries), [], lambda _cp: False).ok
    for i, d in enumerate(made):
        stored = SqlDecisionStore(backend).stored_response("default", f"k{i}")
        assert stored is not None and stored.decision_id == d.decision_id


def _start_saves(errors: dict[int, BaseException], store: GroupCommitDecisionStore, made: list[Decision],
                 keys: list[str]) -> tuple[list[threading.Thread], bool]:
    """One thread per decision; returns the threads and whether every decision reached the store while the database
    is held: queued, in the group being written, or already refused (a key stored before needs no write lock).
    The caller joins the threads before asserting, so a failed precondition leaves no request running."""
    def save(i: int) -> None:
        try:
            _save(store, made[i], keys[i])
        except BaseException as exc:  # noqa: BLE001 - collected for the assertions
            errors[i] = exc

    threads = [threading.Thread(target=save, args=(i,)) for i in range(len(made))]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 20
    while store.in_flight + len(errors) < len(made) and time.monotonic() < deadline:
        time.sleep(0.01)
    return threads, store.in_flight + len(errors) == len(made)


_NOT_QUEUED = "decisions did not queue behind the group being written"


def test_a_key_repeated_in_a_group_or_already_stored_writes_nothing(backend) -> None:  # type: ignore[no-untyped-def]
    store = GroupCommitDecisionStore(SqlDecisionStore(backend))
    _save(store, _decision("d00"), "taken")
    made = [_decision(f"d{i:02d}") for i in range(1, 9)]
    keys = ["taken", "same", "same", "same", "k4", "k5", "k4", "k7"]
    errors: dict[int, BaseException] = {}
    with _writers_held(backend):
        threads, queued = _start_saves(errors, store, made, keys)
    _join(threads)
    assert queued, _NOT_QUEUED
    # One decision per distinct key: "taken" was stored before, "same" and "k4" only by their first request.
    assert all(isinstance(e, DuplicateIdempotencyKey) for e in errors.values())
    assert len(errors) == len(keys) - len(set(keys) - {"taken"})
    assert _count(backend, decisions) == _count(backend, audit_entries) == len(set(keys))
    with backend.connect() as conn:
        stored = dict(conn.execute(text("SELECT key, decision_id FROM idempotency_keys")).all())
    assert set(stored) == set(keys)
    losers = {made[i].decision_id for i in errors}
    assert losers.isdisjoint(stored.values())
    assert SqlAuditLog(backend).size() == len(set(keys))


def test_a_failing_decision_fails_alone_and_its_group_still_commits(backend) -> None:  # type: ignore[no-untyped-def]
    store = GroupCommitDecisionStore(SqlDecisionStore(backend))
    _save(store, _decision("dup-id"), "first")
    # Another key but a decision id that exists already: the database refuses it, whatever group it is in.
    made = [_decision("d01"), _decision("dup-id", case_id="RMA-other"), _decision("d03"), _decision("d04")]
    errors: dict[int, BaseException] = {}
    with _writers_held(backend):
        threads, queued = _start_saves(errors, store, made, [f"k{i}" for i in range(len(made))])
    _join(threads)
    assert queued, _NOT_QUEUED
    assert set(errors) == {1} and isinstance(errors[1], IntegrityError)
    assert store.stats.fallbacks >= 1
    assert _count(backend, decisions) == 4  # the first one and three of the group
    entries = list(SqlAuditLog(backend).iter_entries())
    assert len(entries) == 4 and verify_chain(iter(entries), [], lambda _cp: False).ok


def test_under_concurrency_every_request_is_answered_after_its_own_commit(backend) -> None:  # type: ignore[no-untyped-def]
    threads = 16
    base = SqlDecisionStore(backend)
    store = GroupCommitDecisionStore(base)
    committed_before_answer: list[bool] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        for j in range(10):
            decision = _decision(f"t{i:02d}-{j}")
            _save(store, decision, f"key-{i}-{j}")
            # Read on a connection of its own: what a client sees after the answer must be committed.
            seen = base.get_decision("default", decision.decision_id) is not None
            with lock:
                committed_before_answer.append(seen)

    errors = _concurrently(threads, work)
    assert errors == {}
    assert len(committed_before_answer) == threads * 10 and all(committed_before_answer)
    assert _count(backend, decisions) == SqlAuditLog(backend).size() == threads * 10
    assert verify_chain(SqlAuditLog(backend).iter_entries(), [], lambda _cp: False).ok
