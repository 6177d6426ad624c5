"""Disposition and process intelligence: inspections with their recommendation, supplier claims (evidence and
status history), the kind of a decision (return or disposition), and the indexes the process KPIs read by.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every existing decision is the authorisation decision of a scored return.
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="return"))
    op.create_table(
        "inspections",
        sa.Column("inspection_id", sa.String(36)),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("case_ref", sa.String(36), nullable=False),
        sa.Column("decision_id", sa.String(36), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("request_sha256", sa.String(64), nullable=False),
        sa.Column("response_body", sa.LargeBinary, nullable=False),
        sa.Column("inspector", sa.String(128), nullable=False),
        sa.Column("facility", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("reason_code", sa.String(64), nullable=True),
        sa.Column("sku", sa.String(128), nullable=True),
        sa.Column("supplier_id", sa.String(64), nullable=True),
        sa.Column("grade", sa.String(1), nullable=False),
        sa.Column("serial_check", sa.String(16), nullable=False),
        sa.Column("notes", sa.Text, nullable=False),
        sa.Column("serial_numbers", sa.JSON, nullable=False),
        sa.Column("photos", sa.JSON, nullable=True),
        sa.Column("document_ids", sa.JSON, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("unit_price", sa.Float, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("inspected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disposition", sa.String(32), nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("abstain", sa.Boolean, nullable=False),
        sa.Column("recommendation", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("inspection_id", name="pk_inspections"),
        sa.ForeignKeyConstraint(["case_ref"], ["cases.id"], name="fk_inspections_case_ref_cases"),
        sa.ForeignKeyConstraint(["decision_id"], ["decisions.decision_id"],
                                name="fk_inspections_decision_id_decisions"),
        sa.UniqueConstraint("tenant", "idempotency_key", name="uq_inspections_tenant_idempotency_key"),
    )
    op.create_index("ix_inspections_tenant_inspected_at", "inspections", ["tenant", "inspected_at"],
                    postgresql_include=["received_at", "disposition", "case_ref", "facility", "channel",
                                        "reason_code", "sku"])
    op.create_index("ix_inspections_tenant_supplier_id_sku_inspected_at", "inspections",
                    ["tenant", "supplier_id", "sku", "inspected_at"])
    op.create_index("ix_inspections_case_ref", "inspections", ["case_ref"])
    op.create_table(
        "supplier_claims",
        sa.Column("claim_id", sa.String(36)),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("supplier_id", sa.String(64), nullable=False),
        sa.Column("sku", sa.String(128), nullable=True),
        sa.Column("trigger", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("claimed_amount", sa.Float, nullable=False),
        sa.Column("recovered_amount", sa.Float, nullable=True),
        sa.Column("note", sa.String(2000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("claim_id", name="pk_supplier_claims"),
    )
    op.create_index("ix_supplier_claims_tenant_status", "supplier_claims", ["tenant", "status"])
    op.create_index("ix_supplier_claims_tenant_created_at", "supplier_claims", ["tenant", "created_at"])
    op.create_table(
        "supplier_claim_items",
        sa.Column("claim_id", sa.String(36), nullable=False),
        sa.Column("inspection_id", sa.String(36), nullable=False),
        sa.Column("amount", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("claim_id", "inspection_id", name="pk_supplier_claim_items"),
        sa.ForeignKeyConstraint(["claim_id"], ["supplier_claims.claim_id"],
                                name="fk_supplier_claim_items_claim_id_supplier_claims"),
        sa.ForeignKeyConstraint(["inspection_id"], ["inspections.inspection_id"],
                                name="fk_supplier_claim_items_inspection_id_inspections"),
        sa.UniqueConstraint("inspection_id", name="uq_supplier_claim_items_inspection_id"),
    )
    op.create_table(
        "supplier_claim_events",
        sa.Column("event_seq", sa.Integer, autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("claim_id", sa.String(36), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=True),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_seq", name="pk_supplier_claim_events"),
        sa.ForeignKeyConstraint(["claim_id"], ["supplier_claims.claim_id"],
                                name="fk_supplier_claim_events_claim_id_supplier_claims"),
    )
    op.create_index("ix_supplier_claim_events_claim_id", "supplier_claim_events", ["claim_id"])
    # The process KPIs' read paths; on PostgreSQL they cover the columns the aggregates read (index-only scans).
    op.create_index("ix_cases_tenant_created_at", "cases", ["tenant", "created_at"],
                    postgresql_include=["id", "facility", "channel"])
    op.create_index("ix_decisions_tenant_kind_created_at", "decisions", ["tenant", "kind", "created_at"],
                    postgresql_include=["route", "decision_id", "case_ref", "reason_code"])
    op.create_index("ix_review_items_tenant_created_at", "review_items", ["tenant", "created_at"],
                    postgresql_include=["completed_at", "sla_due_at", "decision_id", "case_ref"])
    op.create_index("ix_review_decisions_tenant_created_at", "review_decisions", ["tenant", "created_at"],
                    postgresql_include=["ai_agreement", "decision_id", "case_ref"])
    op.create_index("ix_review_decisions_case_ref_action", "review_decisions", ["case_ref", "action", "created_at"])
    op.create_index("ix_outcomes_case_ref_kind_occurred_at", "outcomes", ["case_ref", "kind", "occurred_at"])


def downgrade() -> None:
    op.drop_index("ix_outcomes_case_ref_kind_occurred_at", "outcomes")
    op.drop_index("ix_review_decisions_case_ref_action", "review_decisions")
    op.drop_index("ix_review_decisions_tenant_created_at", "review_decisions")
    op.drop_index("ix_decisions_tenant_kind_created_at", "decisions")
    op.drop_index("ix_review_items_tenant_created_at", "review_items")
    op.drop_index("ix_cases_tenant_created_at", "cases")
    op.drop_table("supplier_claim_events")
    op.drop_table("supplier_claim_items")
    op.drop_table("supplier_claims")
    op.drop_table("inspections")
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("kind")
