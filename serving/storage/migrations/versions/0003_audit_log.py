"""The append-only decision log and its signed checkpoints; triggers refuse UPDATE and DELETE on both.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TABLES = ("audit_entries", "audit_checkpoints")


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("seq", sa.BigInteger, autoincrement=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(128), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_entries"),
        sa.UniqueConstraint("entry_hash", name="uq_audit_entries_entry_hash"),
    )
    op.create_index("ix_audit_entries_subject_id", "audit_entries", ["subject_id"])
    op.create_index("ix_audit_entries_tenant_kind_seq", "audit_entries", ["tenant", "kind", "seq"])
    op.create_table(
        "audit_checkpoints",
        sa.Column("tree_size", sa.BigInteger, autoincrement=False),
        sa.Column("root_hash", sa.String(64), nullable=False),
        sa.Column("last_entry_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("tree_size", name="pk_audit_checkpoints"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME
                    USING ERRCODE = 'insufficient_privilege';
            END
            $$
            """
        )
        for table in _TABLES:
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()")
            # TRUNCATE skips row triggers; it gets a statement-level one.
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()")
    else:
        for table in _TABLES:
            for action in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                           f"BEGIN SELECT RAISE(ABORT, 'audit log is append-only: {action} on {table} refused'); END")


def downgrade() -> None:
    # Dropping the log is a deliberate act of an operator who owns the database; the triggers go with the tables.
    op.drop_table("audit_checkpoints")
    op.drop_index("ix_audit_entries_tenant_kind_seq", table_name="audit_entries")
    op.drop_index("ix_audit_entries_subject_id", table_name="audit_entries")
    op.drop_table("audit_entries")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_refuse_change()")
