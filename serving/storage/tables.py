"""The schema, as SQLAlchemy Core tables. Alembic migrations (``migrations/versions``) create it; a test checks
that the migrated database and this metadata agree."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)

__all__ = ["metadata", "cases", "decisions", "review_items", "idempotency_keys"]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

cases = Table(
    "cases",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("case_id", String(128), nullable=False),
    Column("facility", String(64), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("segment", String(32), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant", "case_id", name="uq_cases_tenant_case_id"),
)

decisions = Table(
    "decisions",
    metadata,
    Column("decision_id", String(36), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("case_ref", String(36), ForeignKey("cases.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("route", String(16), nullable=False),
    Column("reason_code", String(64), nullable=False),
    Column("reason_confidence", Float, nullable=False),
    Column("risk_score", Float, nullable=True),
    Column("policy_version", String(64), nullable=False),
    Column("model_versions", JSON, nullable=False),
    Column("inputs_sha256", String(64), nullable=False),
    Column("document", JSON, nullable=False),
    Index("ix_decisions_tenant_created_at", "tenant", "created_at"),
    Index("ix_decisions_case_ref", "case_ref"),
)

review_items = Table(
    "review_items",
    metadata,
    Column("item_id", String(36), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("decision_id", String(36), ForeignKey("decisions.decision_id"), nullable=False, unique=True),
    Column("case_ref", String(36), ForeignKey("cases.id"), nullable=False),
    Column("queue", String(64), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("sla_due_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("claimed_by", String(128), nullable=True),
    Column("lease_expires_at", DateTime(timezone=True), nullable=True),
    Column("fencing_token", Integer, nullable=False, default=0),
    Index("ix_review_items_queue_status_priority", "queue", "status", "priority"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_sha256", String(64), nullable=False),
    Column("decision_id", String(36), ForeignKey("decisions.decision_id"), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response_body", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

