"""Vetted inputs: per tenant and segment, the input ranges `triage monitor` vetted, one row per publication.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vetted_inputs",
        sa.Column("inputs_id", sa.String(36)),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("segment", sa.String(32), nullable=False),
        sa.Column("numeric", sa.JSON, nullable=False),
        sa.Column("known", sa.JSON, nullable=False),
        sa.Column("cases", sa.Integer, nullable=False),
        sa.Column("basis", sa.String(1000), nullable=False),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("inputs_id", name="pk_vetted_inputs"),
    )
    op.create_index("ix_vetted_inputs_tenant_segment_superseded_at", "vetted_inputs",
                    ["tenant", "segment", "superseded_at"])


def downgrade() -> None:
    op.drop_index("ix_vetted_inputs_tenant_segment_superseded_at", table_name="vetted_inputs")
    op.drop_table("vetted_inputs")
