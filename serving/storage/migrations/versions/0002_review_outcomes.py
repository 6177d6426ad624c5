"""Review decisions, review events (every move of a queue item) and outcomes; escalation, skill and
completion time on review items.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("review_items") as batch:
        batch.add_column(sa.Column("escalation_level", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("skill", sa.String(64), nullable=True))
        batch.add_column(sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "review_decisions",
        sa.Column("review_decision_id", sa.String(36)),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("item_id", sa.String(36), nullable=False),
        sa.Column("decision_id", sa.String(36), nullable=False),
        sa.Column("case_ref", sa.String(36), nullable=False),
        sa.Column("reviewer", sa.String(128), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("fencing_token", sa.Integer, nullable=False),
        sa.Column("corrected_reason_code", sa.String(64), nullable=True),
        sa.Column("fraud_confirmed", sa.Boolean, nullable=True),
        sa.Column("note", sa.String(2000), nullable=True),
        sa.Column("ai_suggestion", sa.JSON, nullable=False),
        sa.Column("ai_agreement", sa.String(16), nullable=False),
        sa.Column("override", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("review_decision_id", name="pk_review_decisions"),
        sa.ForeignKeyConstraint(["item_id"], ["review_items.item_id"],
                                name="fk_review_decisions_item_id_review_items"),
        sa.ForeignKeyConstraint(["decision_id"], ["decisions.decision_id"],
                                name="fk_review_decisions_decision_id_decisions"),
        sa.ForeignKeyConstraint(["case_ref"], ["cases.id"], name="fk_review_decisions_case_ref_cases"),
    )
    op.create_index("ix_review_decisions_item_id", "review_decisions", ["item_id"])
    op.create_index("ix_review_decisions_case_ref", "review_decisions", ["case_ref"])

    op.create_table(
        "review_events",
        sa.Column("event_seq", sa.Integer, autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("item_id", sa.String(36), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=False),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("fencing_token", sa.Integer, nullable=False),
        sa.Column("override", sa.Boolean, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_seq", name="pk_review_events"),
        sa.ForeignKeyConstraint(["item_id"], ["review_items.item_id"], name="fk_review_events_item_id_review_items"),
    )
    op.create_index("ix_review_events_item_id", "review_events", ["item_id"])

    op.create_table(
        "outcomes",
        sa.Column("tenant", sa.String(64)),
        sa.Column("outcome_id", sa.String(128)),
        sa.Column("case_ref", sa.String(36), nullable=False),
        sa.Column("decision_id", sa.String(36), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("condition_grade", sa.String(16), nullable=True),
        sa.Column("confirmed_reason_code", sa.String(64), nullable=True),
        sa.Column("disposition", sa.String(16), nullable=True),
        sa.Column("fraud_confirmed", sa.Boolean, nullable=True),
        sa.Column("amount", sa.Float, nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("note", sa.String(2000), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("out_of_order", sa.Boolean, nullable=False),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("tenant", "outcome_id", name="pk_outcomes"),
        sa.ForeignKeyConstraint(["case_ref"], ["cases.id"], name="fk_outcomes_case_ref_cases"),
        sa.ForeignKeyConstraint(["decision_id"], ["decisions.decision_id"], name="fk_outcomes_decision_id_decisions"),
    )
    op.create_index("ix_outcomes_case_ref", "outcomes", ["case_ref"])


def downgrade() -> None:
    op.drop_index("ix_outcomes_case_ref", table_name="outcomes")
    op.drop_table("outcomes")
    op.drop_index("ix_review_events_item_id", table_name="review_events")
    op.drop_table("review_events")
    op.drop_index("ix_review_decisions_case_ref", table_name="review_decisions")
    op.drop_index("ix_review_decisions_item_id", table_name="review_decisions")
    op.drop_table("review_decisions")
    with op.batch_alter_table("review_items") as batch:
        batch.drop_column("completed_at")
        batch.drop_column("skill")
        batch.drop_column("escalation_level")
