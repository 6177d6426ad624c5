"""The schema, as SQLAlchemy Core tables. Alembic migrations (``migrations/versions``) create it; a test checks
that the migrated database and this metadata agree."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
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
    Text,
    UniqueConstraint,
)

__all__ = ["metadata", "cases", "decisions", "review_items", "idempotency_keys", "review_decisions", "review_events",
           "outcomes", "audit_entries", "audit_checkpoints", "api_keys", "tenant_documents",
           "webhook_subscriptions", "webhook_events",
           "webhook_deliveries"]

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
    # 0007: "return" (the authorisation decision of a scored return) or "disposition" (what happens to the goods
    # after inspection); a low-confidence disposition is a review item like any other decision.
    Column("kind", String(16), nullable=False, server_default="return"),
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
    # 0002: escalation, skill routing and completion time (the SLA breach is derived from it).
    Column("escalation_level", Integer, nullable=False, default=0, server_default="0"),
    Column("skill", String(64), nullable=True),
    Column("completed_at", DateTime(timezone=True), nullable=True),
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

# 0002: what reviewers decided, every move of an item, and the outcomes (labels) of a case.
review_decisions = Table(
    "review_decisions",
    metadata,
    Column("review_decision_id", String(36), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("item_id", String(36), ForeignKey("review_items.item_id"), nullable=False),
    Column("decision_id", String(36), ForeignKey("decisions.decision_id"), nullable=False),
    Column("case_ref", String(36), ForeignKey("cases.id"), nullable=False),
    Column("reviewer", String(128), nullable=False),
    Column("action", String(16), nullable=False),
    Column("fencing_token", Integer, nullable=False),
    Column("corrected_reason_code", String(64), nullable=True),
    Column("fraud_confirmed", Boolean, nullable=True),
    Column("note", String(2000), nullable=True),
    Column("ai_suggestion", JSON, nullable=False),
    Column("ai_agreement", String(16), nullable=False),
    Column("override", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_review_decisions_item_id", "item_id"),
    Index("ix_review_decisions_case_ref", "case_ref"),
)

review_events = Table(
    "review_events",
    metadata,
    Column("event_seq", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("item_id", String(36), ForeignKey("review_items.item_id"), nullable=False),
    Column("event", String(32), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("from_status", String(16), nullable=False),
    Column("to_status", String(16), nullable=False),
    Column("fencing_token", Integer, nullable=False),
    Column("override", Boolean, nullable=False),
    Column("details", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_review_events_item_id", "item_id"),
)

outcomes = Table(
    "outcomes",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("outcome_id", String(128), primary_key=True),
    Column("case_ref", String(36), ForeignKey("cases.id"), nullable=False),
    Column("decision_id", String(36), ForeignKey("decisions.decision_id"), nullable=True),
    Column("kind", String(16), nullable=False),
    Column("source", String(16), nullable=False),
    Column("condition_grade", String(16), nullable=True),
    Column("confirmed_reason_code", String(64), nullable=True),
    Column("disposition", String(16), nullable=True),
    Column("fraud_confirmed", Boolean, nullable=True),
    Column("amount", Float, nullable=True),
    Column("currency", String(3), nullable=True),
    Column("note", String(2000), nullable=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("out_of_order", Boolean, nullable=False),
    Column("request_sha256", String(64), nullable=False),
    Index("ix_outcomes_case_ref", "case_ref"),
)

# The decision log (migration 0003). Append-only: triggers in the database refuse UPDATE and DELETE. Timestamps
# and the payload are text because they are hashed exactly as stored; a driver's round trip must not alter them.
audit_entries = Table(
    "audit_entries",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("tenant", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("subject_id", String(128), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("payload", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("entry_hash", String(64), nullable=False),
    UniqueConstraint("entry_hash", name="uq_audit_entries_entry_hash"),
    Index("ix_audit_entries_subject_id", "subject_id"),
    Index("ix_audit_entries_tenant_kind_seq", "tenant", "kind", "seq"),
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", String(64), nullable=False),
    Column("last_entry_hash", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("signature", String(128), nullable=False),
)

# 0004: API keys (only the secret's sha256 is stored; the prefix is public) and which tenant uploaded which
# document (the files are content-addressed and shared; a tenant sees only the ids it uploaded).
api_keys = Table(
    "api_keys",
    metadata,
    Column("prefix", String(16), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("role", String(32), nullable=False),
    Column("secret_sha256", String(64), nullable=False),
    Column("label", String(128), nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Index("ix_api_keys_tenant", "tenant"),
)

tenant_documents = Table(
    "tenant_documents",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("document_id", String(64), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# 0005: webhooks. An event row is the transactional outbox: written in the transaction that made the fact, its
# body fixed then (every attempt sends the same bytes); the worker fans it out into one delivery per subscription.
webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("subscription_id", String(36), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("event", String(32), nullable=False),
    Column("url", String(2000), nullable=False),
    Column("secret", String(128), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_webhook_subscriptions_tenant_event", "tenant", "event"),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("event", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("fanned_out_at", DateTime(timezone=True), nullable=True),
    Index("ix_webhook_events_fanned_out_at", "fanned_out_at"),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("delivery_id", String(36), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("event_id", String(36), ForeignKey("webhook_events.event_id"), nullable=False),
    Column("subscription_id", String(36), ForeignKey("webhook_subscriptions.subscription_id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("event_id", "subscription_id", name="uq_webhook_deliveries_event_id"),
    Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
)

# 0008: monitoring. One row per (tenant, segment, window) with every figure `triage monitor` computed (segment
# "*" is all segments), the alerts it raised, and the routing fail-safe: an open row (cleared_at NULL) tightens
# the gates of its segment; clearing it keeps the row, so every tightening and release stays on record.
monitoring_windows = Table(
    "monitoring_windows",
    metadata,
    Column("window_id", String(36), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("segment", String(32), nullable=False),
    Column("window_start", DateTime(timezone=True), nullable=False),
    Column("window_end", DateTime(timezone=True), nullable=False),
    Column("computed_at", DateTime(timezone=True), nullable=False),
    Column("decisions", Integer, nullable=False),
    Column("labelled", Integer, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("report_file", String(500), nullable=True),
    UniqueConstraint("tenant", "segment", "window_start", "window_end", name="uq_monitoring_windows_tenant"),
    Index("ix_monitoring_windows_tenant_window_start", "tenant", "window_start"),
)

monitoring_alerts = Table(
    "monitoring_alerts",
    metadata,
    Column("alert_id", String(36), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("window_id", String(36), ForeignKey("monitoring_windows.window_id", ondelete="CASCADE"), nullable=False),
    Column("segment", String(32), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("metric", String(64), nullable=False),
    Column("value", Float, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("impact", Float, nullable=False),
    Column("message", String(1000), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_monitoring_alerts_tenant_created_at", "tenant", "created_at"),
)

failsafe_states = Table(
    "failsafe_states",
    metadata,
    Column("state_id", String(36), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("segment", String(32), nullable=False),
    Column("factor", Float, nullable=False),
    Column("metric", String(64), nullable=False),
    Column("value", Float, nullable=False),
    Column("target", Float, nullable=False),
    Column("reason", String(1000), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("cleared_at", DateTime(timezone=True), nullable=True),
    Column("cleared_reason", String(1000), nullable=True),
    Index("ix_failsafe_states_tenant_cleared_at", "tenant", "cleared_at"),
)

__all__ += ["monitoring_windows", "monitoring_alerts", "failsafe_states"]

# 0009: model lifecycle. What the challenger predicted for a live decision, beside what the champion did (shadow
# scoring); never acted on, compared with outcomes by `triage shadow report`.
shadow_predictions = Table(
    "shadow_predictions",
    metadata,
    Column("shadow_id", String(36), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("decision_id", String(36), ForeignKey("decisions.decision_id"), nullable=False),
    Column("family", String(32), nullable=False),
    Column("champion_version", String(128), nullable=False),
    Column("challenger_version", String(128), nullable=False),
    Column("champion", JSON, nullable=False),
    Column("challenger", JSON, nullable=False),
    Column("agree", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_shadow_predictions_tenant_created_at", "tenant", "created_at"),
    Index("ix_shadow_predictions_decision_id", "decision_id"),
)

__all__ += ["shadow_predictions"]

# 0007: inspections with their disposition recommendation (idempotent by key, like scoring), supplier claims with
# their evidence (the inspections they cover) and status history, and the indexes the process KPIs read by.
inspections = Table(
    "inspections",
    metadata,
    Column("inspection_id", String(36), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("case_ref", String(36), ForeignKey("cases.id"), nullable=False),
    Column("decision_id", String(36), ForeignKey("decisions.decision_id"), nullable=False),
    Column("idempotency_key", String(255), nullable=False),
    Column("request_sha256", String(64), nullable=False),
    Column("response_body", LargeBinary, nullable=False),
    Column("inspector", String(128), nullable=False),
    Column("facility", String(64), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("reason_code", String(64), nullable=True),
    Column("sku", String(128), nullable=True),
    Column("supplier_id", String(64), nullable=True),
    Column("grade", String(1), nullable=False),
    Column("serial_check", String(16), nullable=False),
    Column("notes", Text, nullable=False),
    Column("serial_numbers", JSON, nullable=False),
    Column("photos", JSON, nullable=True),
    Column("document_ids", JSON, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", Float, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=True),
    Column("inspected_at", DateTime(timezone=True), nullable=False),
    Column("disposition", String(32), nullable=False),
    Column("confidence", Float, nullable=False),
    Column("abstain", Boolean, nullable=False),
    Column("recommendation", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant", "idempotency_key", name="uq_inspections_tenant_idempotency_key"),
    Index("ix_inspections_tenant_inspected_at", "tenant", "inspected_at",
          postgresql_include=["received_at", "disposition", "case_ref", "facility", "channel", "reason_code", "sku"]),
    Index("ix_inspections_tenant_supplier_id_sku_inspected_at", "tenant", "supplier_id", "sku", "inspected_at"),
    Index("ix_inspections_case_ref", "case_ref"),
)

supplier_claims = Table(
    "supplier_claims",
    metadata,
    Column("claim_id", String(36), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("supplier_id", String(64), nullable=False),
    Column("sku", String(128), nullable=True),
    Column("trigger", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("claimed_amount", Float, nullable=False),
    Column("recovered_amount", Float, nullable=True),
    Column("note", String(2000), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=True),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    Index("ix_supplier_claims_tenant_status", "tenant", "status"),
    Index("ix_supplier_claims_tenant_created_at", "tenant", "created_at"),
)

supplier_claim_items = Table(
    "supplier_claim_items",
    metadata,
    Column("claim_id", String(36), ForeignKey("supplier_claims.claim_id"), primary_key=True),
    Column("inspection_id", String(36), ForeignKey("inspections.inspection_id"), primary_key=True),
    Column("amount", Float, nullable=False),
    # An inspection is evidence in one claim only: a pattern claim never re-claims a vendor return.
    UniqueConstraint("inspection_id", name="uq_supplier_claim_items_inspection_id"),
)

supplier_claim_events = Table(
    "supplier_claim_events",
    metadata,
    Column("event_seq", Integer, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("claim_id", String(36), ForeignKey("supplier_claims.claim_id"), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("from_status", String(16), nullable=True),
    Column("to_status", String(16), nullable=False),
    Column("details", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_supplier_claim_events_claim_id", "claim_id"),
)

# Read paths of the process KPIs (serving/storage/kpis.py): windows by time, per tenant. On PostgreSQL they carry
# the columns the aggregates read (INCLUDE), so a dashboard over millions of rows scans indexes, not wide rows.
Index("ix_cases_tenant_created_at", cases.c.tenant, cases.c.created_at,
      postgresql_include=["id", "facility", "channel"])
Index("ix_decisions_tenant_kind_created_at", decisions.c.tenant, decisions.c.kind, decisions.c.created_at,
      postgresql_include=["route", "decision_id", "case_ref", "reason_code"])
Index("ix_review_items_tenant_created_at", review_items.c.tenant, review_items.c.created_at,
      postgresql_include=["completed_at", "sla_due_at", "decision_id", "case_ref"])
Index("ix_review_decisions_tenant_created_at", review_decisions.c.tenant, review_decisions.c.created_at,
      postgresql_include=["ai_agreement", "decision_id", "case_ref"])
Index("ix_review_decisions_case_ref_action", review_decisions.c.case_ref, review_decisions.c.action,
      review_decisions.c.created_at)
Index("ix_outcomes_case_ref_kind_occurred_at", outcomes.c.case_ref, outcomes.c.kind, outcomes.c.occurred_at)

__all__ += ["inspections", "supplier_claims", "supplier_claim_items", "supplier_claim_events"]

# 0006: every routing policy a decision was made under, content-addressed (sha256 of the canonical JSON of its
# content, the same hash its version is cut from), so `triage audit replay` finds the exact policy again. Written in
# the decision's transaction the first time a process uses the policy; never updated.
policy_documents = Table(
    "policy_documents",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("version", String(128), nullable=False),
    Column("name", String(128), nullable=False),
    Column("content", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_policy_documents_version", "version"),
)

__all__ += ["policy_documents"]

# 0010: the process KPIs' daily rollup (serving/storage/kpi_rollups.py) and the days whose events changed since
# they were rolled up, marked by triggers on the source tables in the writing transaction.
kpi_daily = Table(
    "kpi_daily",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("fact", String(16), primary_key=True),
    Column("facility", String(64), primary_key=True),
    Column("reason_code", String(64), primary_key=True),
    Column("n", Integer, nullable=False),
    Column("count_1", Integer, nullable=False),
    Column("count_2", Integer, nullable=False),
    Column("count_3", Integer, nullable=False),
    Column("hours_1", Float, nullable=False),
    Column("hours_2", Float, nullable=False),
    Column("first_at", DateTime(timezone=True), nullable=True),
    Column("last_at", DateTime(timezone=True), nullable=True),
)

kpi_stale_days = Table(
    "kpi_stale_days",
    metadata,
    Column("mark_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("day", String(10), nullable=False),
    Index("ix_kpi_stale_days_tenant_day", "tenant", "day"),
)

__all__ += ["kpi_daily", "kpi_stale_days"]

# 0011: the inputs `triage monitor` vetted per tenant and segment (numeric ranges, known categorical values), one
# row per publication; the router holds a would-be auto-approval outside the current one (superseded_at null).
vetted_inputs = Table(
    "vetted_inputs",
    metadata,
    Column("inputs_id", String(36), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("segment", String(32), nullable=False),
    Column("numeric", JSON, nullable=False),
    Column("known", JSON, nullable=False),
    Column("cases", Integer, nullable=False),
    Column("basis", String(1000), nullable=False),
    Column("content_sha256", String(64), nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False),
    Column("superseded_at", DateTime(timezone=True), nullable=True),
    Index("ix_vetted_inputs_tenant_segment_superseded_at", "tenant", "segment", "superseded_at"),
)

__all__ += ["vetted_inputs"]
