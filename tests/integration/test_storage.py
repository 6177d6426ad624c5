"""Storage against both real backends: migrations match the model, one transaction per decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from returns_triage.serving.domain.model import Decision, ReasonAssessment, ReturnCase, ReviewItem, Route
from returns_triage.serving.storage import DuplicateIdempotencyKey, SqlDecisionStore
from returns_triage.serving.storage.migrate import current_revision, head_revision
from returns_triage.serving.storage.tables import decisions, idempotency_keys, metadata, review_items


def _decision(decision_id: str, case_id: str = "RMA-1", route: str = "review") -> Decision:
    case = ReturnCase(case_id=case_id, tenant="default", facility="DC-1", channel="portal", segment="consumer",
                      reason_text="broken", refund_amount=10.0, currency="EUR", payload={"case_id": case_id})
    reason = ReasonAssessment("DEFECTIVE", 0.5, ("DEFECTIVE",), 0.5, False, "reason-x")
    now = datetime(2026, 11, 1, tzinfo=UTC)
    r = Route(route=route, reasons=("low confidence",), explanation="queued", queue="q", priority=10,  # type: ignore[arg-type]
              sla_due_at=now + timedelta(hours=24))
    return Decision(decision_id=decision_id, case=case, created_at=now, reason=reason, route=r,
                    policy_version="p1", model_versions={"reason": "reason-x"})


def _item(decision: Decision) -> ReviewItem:
    assert decision.route.sla_due_at is not None
    return ReviewItem(item_id="item-" + decision.decision_id, decision_id=decision.decision_id,
                      case_id=decision.case.case_id, tenant="default", queue="q", priority=10,
                      sla_due_at=decision.route.sla_due_at)


def test_migrated_schema_matches_the_table_definitions(backend) -> None:  # type: ignore[no-untyped-def]
    assert current_revision(backend) == head_revision()
    with backend.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_decision_review_item_and_key_commit_together(backend) -> None:  # type: ignore[no-untyped-def]
    store = SqlDecisionStore(backend)
    d = _decision("d-1")
    store.save_decision(d, _item(d), idempotency_key="k1", request_sha256="h1", status_code=200, body=b"{}")
    doc = store.get_decision("default", "d-1")
    assert doc is not None and doc["route"] == "review" and doc["review"]["queue"] == "q"
    stored = store.stored_response("default", "k1")
    assert stored is not None and stored.body == b"{}" and stored.decision_id == "d-1"
    assert store.get_decision("other-tenant", "d-1") is None


def test_second_decision_under_the_same_key_writes_nothing(backend) -> None:  # type: ignore[no-untyped-def]
    store = SqlDecisionStore(backend)
    first, second = _decision("d-1"), _decision("d-2")
    store.save_decision(first, _item(first), idempotency_key="k", request_sha256="h", status_code=200, body=b"1")
    with pytest.raises(DuplicateIdempotencyKey):
        store.save_decision(second, _item(second), idempotency_key="k", request_sha256="h", status_code=200,
                            body=b"2")
    with backend.connect() as conn:
        assert conn.execute(select(func.count()).select_from(decisions)).scalar() == 1
        assert conn.execute(select(func.count()).select_from(review_items)).scalar() == 1
        assert conn.execute(select(func.count()).select_from(idempotency_keys)).scalar() == 1


def test_the_same_case_scored_twice_keeps_one_case_row(backend) -> None:  # type: ignore[no-untyped-def]
    store = SqlDecisionStore(backend)
    for i in range(2):
        d = _decision(f"d-{i}", route="auto_approve")
        store.save_decision(d, None, idempotency_key=f"k{i}", request_sha256="h", status_code=200, body=b"{}")
    assert store.count_decisions("default") == 2


def test_the_start_up_revision_check_agrees_with_alembic(tmp_path, pg_admin_engine) -> None:  # type: ignore[no-untyped-def]
    """`triage serve` skips migrating when this check says the database is at head: it must say so exactly when
    Alembic would find nothing to do, on both backends, and never when it cannot tell."""
    from sqlalchemy import text

    from returns_triage.serving.storage import make_engine, upgrade
    from returns_triage.serving.storage.revision import at_head, database_revision
    from returns_triage.serving.storage.revision import head_revision as head_from_files
    from tests.conftest import PG_URL

    assert head_from_files() == head_revision()
    sqlite_url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert not at_head(sqlite_url)  # no file yet
    schema = "t_revision_check"
    with pg_admin_engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    pg_url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    try:
        for url in (sqlite_url, pg_url):
            engine = make_engine(url)
            try:
                upgrade(engine, "0010")
                assert database_revision(url) == "0010" and not at_head(url)
                upgrade(engine)
                assert database_revision(url) == current_revision(engine) == head_revision()
                assert at_head(url)
            finally:
                engine.dispose()
    finally:
        with pg_admin_engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    assert not at_head("postgresql+psycopg://nobody@127.0.0.1:1/none")  # unreachable: migrate, don't guess
