"""Process-KPI rollups: daily aggregates of the stored events for the dashboard, and the days whose events changed
since they were aggregated (marked by triggers in the writing transaction, so a rollup is never silently stale).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Per source table, the days a changed row makes stale: (tenant, time column, joined table or None, join condition
# on the changed row ``{r}``). A row's own day, plus the days of the rows whose aggregates read it (a credit
# outcome closes its case and times its inspections; a review item times its return decision; ...).
MARKS: dict[str, list[tuple[str, str, str | None, str | None]]] = {
    "cases": [("{r}.tenant", "{r}.created_at", None, None),
              ("j.tenant", "j.created_at", "review_items", "j.case_ref = {r}.id")],
    "decisions": [("{r}.tenant", "{r}.created_at", None, None),
                  ("j.tenant", "j.created_at", "review_items", "j.decision_id = {r}.decision_id")],
    "review_items": [("{r}.tenant", "{r}.created_at", None, None),
                     ("j.tenant", "j.created_at", "decisions", "j.decision_id = {r}.decision_id")],
    "review_decisions": [("{r}.tenant", "{r}.created_at", None, None),
                         ("j.tenant", "j.created_at", "cases", "j.id = {r}.case_ref")],
    "inspections": [("{r}.tenant", "{r}.inspected_at", None, None)],
    "outcomes": [("j.tenant", "j.created_at", "cases", "j.id = {r}.case_ref"),
                 ("j.tenant", "j.inspected_at", "inspections", "j.case_ref = {r}.case_ref")],
}

# Rows that reference the changed row: a new row has none yet, so inserts skip these joins (no index serves
# review_items by case_ref, and scoring inserts a case on every request).
REFERENCING = {"cases": "review_items", "decisions": "review_items"}

# The columns the rollup and the marks read, per source table: an update that changes none of them (a review
# item's lease, a decision's document) leaves the rollup as it is.
READ: dict[str, tuple[str, ...]] = {
    "cases": ("id", "tenant", "facility", "created_at"),
    "decisions": ("decision_id", "tenant", "case_ref", "kind", "route", "reason_code", "created_at"),
    "review_items": ("item_id", "tenant", "decision_id", "case_ref", "created_at", "completed_at", "sla_due_at"),
    "review_decisions": ("review_decision_id", "tenant", "case_ref", "action", "ai_agreement", "created_at"),
    "inspections": ("inspection_id", "tenant", "case_ref", "inspected_at", "received_at", "disposition"),
    "outcomes": ("tenant", "outcome_id", "case_ref", "kind", "occurred_at"),
}


def _pg_day(column: str) -> str:
    return f"to_char(timezone('UTC', {column}), 'YYYY-MM-DD')"


def _marks(table: str, inserting: bool) -> list[tuple[str, str, str | None, str | None]]:
    return [m for m in MARKS[table] if not (inserting and m[2] is not None and REFERENCING.get(table) == m[2])]


def _pg_marks(table: str, rows: str, inserting: bool = False) -> str:
    selects = []
    for tenant, at, joined, on in _marks(table, inserting):
        src = f"{rows} x" + (f" JOIN {joined} j ON {on.format(r='x')}" if joined else "")
        selects.append(f"SELECT {tenant.format(r='x')} AS tenant, {_pg_day(at.format(r='x'))} AS day FROM {src}")
    return ("INSERT INTO kpi_stale_days (tenant, day) SELECT DISTINCT tenant, day FROM ("
            + " UNION ALL ".join(selects) + ") marks;")


def _sqlite_marks(table: str, row: str, inserting: bool = False) -> list[str]:
    out = []
    for tenant, at, joined, on in _marks(table, inserting):
        sql = f"INSERT INTO kpi_stale_days (tenant, day) SELECT {tenant.format(r=row)}, date({at.format(r=row)})"
        if joined:
            sql += f" FROM {joined} j WHERE {on.format(r=row)}"
        out.append(sql + ";")
    return out


def upgrade() -> None:
    op.create_table(
        "kpi_daily",
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("fact", sa.String(16), nullable=False),
        sa.Column("facility", sa.String(64), nullable=False),
        sa.Column("reason_code", sa.String(64), nullable=False),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("count_1", sa.Integer, nullable=False),
        sa.Column("count_2", sa.Integer, nullable=False),
        sa.Column("count_3", sa.Integer, nullable=False),
        sa.Column("hours_1", sa.Float, nullable=False),
        sa.Column("hours_2", sa.Float, nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant", "day", "fact", "facility", "reason_code", name="pk_kpi_daily"),
    )
    op.create_table(
        "kpi_stale_days",
        sa.Column("mark_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), autoincrement=True),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.PrimaryKeyConstraint("mark_id", name="pk_kpi_stale_days"),
    )
    op.create_index("ix_kpi_stale_days_tenant_day", "kpi_stale_days", ["tenant", "day"])
    postgres = op.get_bind().dialect.name == "postgresql"
    # Every day that already has events is stale until first aggregated.
    for table, marks in MARKS.items():
        for tenant, at, joined, _ in marks:
            if joined is None:
                day = _pg_day(at.format(r="x")) if postgres else f"date({at.format(r='x')})"
                op.execute(f"INSERT INTO kpi_stale_days (tenant, day) SELECT DISTINCT {tenant.format(r='x')}, {day} "
                           f"FROM {table} x")
    if postgres:
        for table in MARKS:
            # Statement-level with transition tables: a bulk write marks each of its days once, not once a row.
            cols = ", ".join(READ[table])
            # On UPDATE only the rows whose read columns changed, before and after.
            changed_new = f"(SELECT {cols} FROM new_rows EXCEPT SELECT {cols} FROM old_rows)"
            changed_old = f"(SELECT {cols} FROM old_rows EXCEPT SELECT {cols} FROM new_rows)"
            op.execute(
                f"""
                CREATE FUNCTION kpi_mark_stale_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF TG_OP = 'INSERT' THEN {_pg_marks(table, 'new_rows', inserting=True)} END IF;
                    IF TG_OP = 'DELETE' THEN {_pg_marks(table, 'old_rows')} END IF;
                    IF TG_OP = 'UPDATE' THEN
                        {_pg_marks(table, changed_new)}
                        {_pg_marks(table, changed_old)}
                    END IF;
                    RETURN NULL;
                END
                $$
                """
            )
            for action, refs in (("INSERT", "NEW TABLE AS new_rows"),
                                 ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
                                 ("DELETE", "OLD TABLE AS old_rows")):
                op.execute(f"CREATE TRIGGER {table}_kpi_stale_{action.lower()} AFTER {action} ON {table} "
                           f"REFERENCING {refs} FOR EACH STATEMENT EXECUTE FUNCTION kpi_mark_stale_{table}()")
    else:
        for table in MARKS:
            for action, rows in (("INSERT", ("NEW",)), ("UPDATE", ("OLD", "NEW")), ("DELETE", ("OLD",))):
                body = " ".join(sql for row in rows for sql in _sqlite_marks(table, row, action == "INSERT"))
                event = f"UPDATE OF {', '.join(READ[table])}" if action == "UPDATE" else action
                op.execute(f"CREATE TRIGGER {table}_kpi_stale_{action.lower()} AFTER {event} ON {table} "
                           f"BEGIN {body} END")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in MARKS:
        for action in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_kpi_stale_{action}" + (f" ON {table}" if postgres else ""))
        if postgres:
            op.execute(f"DROP FUNCTION IF EXISTS kpi_mark_stale_{table}()")
    op.drop_index("ix_kpi_stale_days_tenant_day", table_name="kpi_stale_days")
    op.drop_table("kpi_stale_days")
    op.drop_table("kpi_daily")
