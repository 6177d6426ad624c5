"""Model lifecycle: the challenger's shadow predictions on live traffic, one row per decision and model family.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shadow_predictions",
        sa.Column("shadow_id", sa.String(36)),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("decision_id", sa.String(36), nullable=False),
        sa.Column("family", sa.String(32), nullable=False),
        sa.Column("champion_version", sa.String(128), nullable=False),
        sa.Column("challenger_version", sa.String(128), nullable=False),
        sa.Column("champion", sa.JSON, nullable=False),
        sa.Column("challenger", sa.JSON, nullable=False),
        sa.Column("agree", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("shadow_id", name="pk_shadow_predictions"),
        sa.ForeignKeyConstraint(["decision_id"], ["decisions.decision_id"],
                                name="fk_shadow_predictions_decision_id_decisions"),
    )
    op.create_index("ix_shadow_predictions_tenant_created_at", "shadow_predictions", ["tenant", "created_at"])
    op.create_index("ix_shadow_predictions_decision_id", "shadow_predictions", ["decision_id"])


def downgrade() -> None:
    op.drop_index("ix_shadow_predictions_decision_id", table_name="shadow_predictions")
    op.drop_index("ix_shadow_predictions_tenant_created_at", table_name="shadow_predictions")
    op.drop_table("shadow_predictions")
