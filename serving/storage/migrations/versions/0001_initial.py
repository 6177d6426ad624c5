"""Cases, decisions, review items and idempotency keys.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(128), nullable=False),
        sa.Column("facility", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("segment", sa.String(32), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cases"),
        sa.UniqueConstraint("tenant", "case_id", name="uq_cases_tenant_case_id"),
    )
    op.create_table(
        "decisions",
        sa.Column("decision_id", sa.String(36)),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("case_ref", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("route", sa.String(16), nullable=False),
        sa.Column("reason_code", sa.String(64), nullable=False),
        sa.Column("reason_confidence", sa.Float, nullable=False),
        sa.Column("risk_score", sa.Float, nullable=True),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("model_versions", sa.JSON, nullable=False),
        sa.Column("inputs_sha256", sa.String(64), nullable=False),
        sa.Column("document", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("decision_id", name="pk_decisions"),
        sa.ForeignKeyConstraint(["case_ref"], ["cases.id"], name="fk_decisions_case_ref_cases"),
    )
    op.create_index("ix_decisions_tenant_created_at", "decisions", ["tenant", "created_at"])
    op.create_index("ix_decisions_case_ref", "decisions", ["case_ref"])
    op.create_table(
        "review_items",
        sa.Column("item_id", sa.String(36)),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("decision_id", sa.String(36), nullable=False),
        sa.Column("case_ref", sa.String(36), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("sla_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(128), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fencing_token", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("item_id", name="pk_review_items"),
        sa.UniqueConstraint("decision_id", name="uq_review_items_decision_id"),
        sa.ForeignKeyConstraint(["decision_id"], ["decisions.decision_id"],
                                name="fk_review_items_decision_id_decisions"),
        sa.ForeignKeyConstraint(["case_ref"], ["cases.id"], name="fk_review_items_case_ref_cases"),
    )
    op.create_index("ix_review_items_queue_status_priority", "review_items", ["queue", "status", "priority"])
    op.create_table(
        "idempotency_keys",
        sa.Column("tenant", sa.String(64)),
        sa.Column("key", sa.String(255)),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("decision_id", sa.String(36), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("response_body", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "key", name="pk_idempotency_keys"),
        sa.ForeignKeyConstraint(["decision_id"], ["decisions.decision_id"],
                                name="fk_idempotency_keys_decision_id_decisions"),
    )


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_index("ix_review_items_queue_status_priority", table_name="review_items")
    op.drop_table("review_items")
    op.drop_index("ix_decisions_case_ref", table_name="decisions")
    op.drop_index("ix_decisions_tenant_created_at", table_name="decisions")
    op.drop_table("decisions")
    op.drop_table("cases")
