"""Monitoring: per-window results of `triage monitor`, its alerts, and the routing fail-safe states.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitoring_windows",
        sa.Column("window_id", sa.String(36)),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("segment", sa.String(32), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decisions", sa.Integer, nullable=False),
        sa.Column("labelled", sa.Integer, nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("report_file", sa.String(500), nullable=True),
        sa.PrimaryKeyConstraint("window_id", name="pk_monitoring_windows"),
        sa.UniqueConstraint("tenant", "segment", "window_start", "window_end", name="uq_monitoring_windows_tenant"),
    )
    op.create_index("ix_monitoring_windows_tenant_window_start", "monitoring_windows", ["tenant", "window_start"])
    op.create_table(
        "monitoring_alerts",
        sa.Column("alert_id", sa.String(36)),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("window_id", sa.String(36), nullable=False),
        sa.Column("segment", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("threshold", sa.Float, nullable=False),
        sa.Column("impact", sa.Float, nullable=False),
        sa.Column("message", sa.String(1000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("alert_id", name="pk_monitoring_alerts"),
        sa.ForeignKeyConstraint(["window_id"], ["monitoring_windows.window_id"],
                                name="fk_monitoring_alerts_window_id_monitoring_windows", ondelete="CASCADE"),
    )
    op.create_index("ix_monitoring_alerts_tenant_created_at", "monitoring_alerts", ["tenant", "created_at"])
    op.create_table(
        "failsafe_states",
        sa.Column("state_id", sa.String(36)),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("segment", sa.String(32), nullable=False),
        sa.Column("factor", sa.Float, nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("target", sa.Float, nullable=False),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cleared_reason", sa.String(1000), nullable=True),
        sa.PrimaryKeyConstraint("state_id", name="pk_failsafe_states"),
    )
    op.create_index("ix_failsafe_states_tenant_cleared_at", "failsafe_states", ["tenant", "cleared_at"])


def downgrade() -> None:
    op.drop_index("ix_failsafe_states_tenant_cleared_at", table_name="failsafe_states")
    op.drop_table("failsafe_states")
    op.drop_index("ix_monitoring_alerts_tenant_created_at", table_name="monitoring_alerts")
    op.drop_table("monitoring_alerts")
    op.drop_index("ix_monitoring_windows_tenant_window_start", table_name="monitoring_windows")
    op.drop_table("monitoring_windows")
