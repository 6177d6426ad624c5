"""Audit evidence for replay: the routing policies decisions were made under, stored content-addressed.

Model bundle digests and the policy hash go into the decision document and its audit entry (JSON), so they need
no column; the policy content needs a table, ``policy_documents``, keyed by the sha256 of its canonical JSON.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_documents",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_policy_documents"),
    )
    op.create_index("ix_policy_documents_version", "policy_documents", ["version"])


def downgrade() -> None:
    op.drop_index("ix_policy_documents_version", table_name="policy_documents")
    op.drop_table("policy_documents")
