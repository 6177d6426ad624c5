"""Statements run on the driver's cursor (storage/prepared.py) store exactly what ``Connection.execute`` stores,
on both real backends: the same values read back through SQLAlchemy, JSON, time zones and bytes included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, select

from returns_triage.serving.storage.prepared import PreparedStatement
from returns_triage.serving.storage.tables import cases, decisions, idempotency_keys, review_items

WHEN = datetime(2026, 11, 3, 9, 15, 42, 123456, tzinfo=UTC)
_CASE_KEYS = ("id", "tenant", "case_id", "facility", "channel", "segment", "payload", "created_at")


def _case(i: int, when: datetime = WHEN) -> dict:  # type: ignore[type-arg]
    return {"id": f"id-{i}", "tenant": "default", "case_id": f"RMA-{i}", "facility": "DC-1", "channel": "portal",
            "segment": "consumer", "payload": {"case_id": f"RMA-{i}", "lines": [{"sku": "ä-1", "qty": 2}],
                                               "note": None, "amount": 12.5},
            "created_at": when}


def _read(engine, table, order):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(table).order_by(order))]


def test_prepared_inserts_store_what_connection_execute_stores(backend) -> None:  # type: ignore[no-untyped-def]
    prepared = PreparedStatement(cases.insert(), backend.dialect, _CASE_KEYS)
    later = WHEN.astimezone(timezone(timedelta(hours=2)))  # the same instant in another zone
    with backend.begin() as conn:
        conn.execute(cases.insert(), [_case(0), _case(1, later)])
        assert prepared.execute(conn, [_case(2), _case(3, later)]) == 2  # executemany
        assert prepared.execute(conn, _case(4)) == 1  # one row
    rows = _read(backend, cases, cases.c.case_id)
    by_sqlalchemy, by_prepared = rows[:2], rows[2:4]
    for ours, theirs in zip(by_prepared, by_sqlalchemy, strict=True):
        assert {k: v for k, v in ours.items() if k not in ("id", "case_id", "payload")} == \
            {k: v for k, v in theirs.items() if k not in ("id", "case_id", "payload")}
        assert ours["payload"]["lines"] == theirs["payload"]["lines"] and ours["payload"]["note"] is None
    assert rows[4]["created_at"] == rows[0]["created_at"]


def test_on_conflict_counts_only_the_rows_inserted_and_lookups_fetch(backend) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy.dialects import postgresql, sqlite

    insert = (postgresql.insert if backend.dialect.name == "postgresql" else sqlite.insert)(cases)
    prepared = PreparedStatement(insert.on_conflict_do_nothing(index_elements=["tenant", "case_id"]),
                                 backend.dialect, _CASE_KEYS)
    lookup = PreparedStatement(select(cases.c.id).where(cases.c.tenant == bindparam("tenant"),
                                                        cases.c.case_id == bindparam("case_id")), backend.dialect)
    with backend.begin() as conn:
        assert prepared.execute(conn, [_case(1), _case(2)]) == 2
        # RMA-1 exists: the driver reports fewer rows than given, which is how the writer knows to look it up.
        assert prepared.execute(conn, [{**_case(1), "id": "other"}, _case(3)]) == 1
        assert lookup.fetch(conn, {"tenant": "default", "case_id": "RMA-1"}) == [("id-1",)]
        assert lookup.fetch(conn, {"tenant": "default", "case_id": "RMA-9"}) == []


def test_bytes_round_trip(backend) -> None:  # type: ignore[no-untyped-def]
    body = bytes(range(256)) + '{"é": 1}'.encode()
    store_key = PreparedStatement(idempotency_keys.insert(), backend.dialect,
                                  ("tenant", "key", "request_sha256", "decision_id", "status_code", "response_body",
                                   "created_at"))
    with backend.begin() as conn:
        conn.execute(cases.insert(), _case(1))
        conn.execute(decisions.insert(), {
            "decision_id": "d-1", "tenant": "default", "case_ref": "id-1", "created_at": WHEN, "route": "review",
            "reason_code": "DEFECTIVE", "reason_confidence": 0.5, "risk_score": None, "policy_version": "p",
            "model_versions": {}, "inputs_sha256": "0" * 64, "document": {}})
        store_key.execute(conn, {"tenant": "default", "key": "k", "request_sha256": "s", "decision_id": "d-1",
                                 "status_code": 200, "response_body": body, "created_at": WHEN})
    (row,) = _read(backend, idempotency_keys, idempotency_keys.c.key)
    assert bytes(row["response_body"]) == body and row["created_at"] == _read(backend, cases, cases.c.id)[0][
        "created_at"]


def test_a_statement_needing_values_sqlalchemy_computes_is_refused(backend) -> None:  # type: ignore[no-untyped-def]
    # review_items.escalation_level has a Python-side default: leaving it out would store what SQLAlchemy never
    # computed, so the statement is refused when it is prepared, not when a decision is written.
    keys = ("item_id", "tenant", "decision_id", "case_ref", "queue", "priority", "sla_due_at", "status", "created_at",
            "fencing_token")
    with pytest.raises(ValueError, match="computes"):
        PreparedStatement(review_items.insert(), backend.dialect, keys)
    PreparedStatement(review_items.insert(), backend.dialect, (*keys, "escalation_level"))
