"""KPI queries and the dashboard on a large PostgreSQL database: a throw-away schema, migrated, filled with N stored
cases (``COPY``) and their events (derived server-side in bulk), measured through the real app, then dropped.

The events follow simple fixed rules (35 % of returns reviewed, 70 % of reviews completed, half inspected, 60 %
credited, …) with pseudo-random values drawn from ``hashtext`` of the case id, so a run is repeatable.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

__all__ = ["measure_kpis_at_scale"]

_FACILITIES = [f"DC-{k:02d}" for k in range(12)]
_CHANNELS = ("portal", "store", "marketplace", "call_center")
_REASONS = ("DAMAGED_IN_TRANSIT", "DEFECTIVE", "WRONG_ITEM_SHIPPED", "ORDERED_WRONG_ITEM", "NOT_AS_DESCRIBED",
            "INCOMPATIBLE", "MISSING_PARTS", "QUANTITY_DISCREPANCY", "NO_LONGER_NEEDED", "LATE_DELIVERY",
            "DUPLICATE_ORDER", "WARRANTY_CLAIM", "EXPIRED_OR_SHORT_DATED", "OTHER")
_DAYS = 728  # two years of returns


def _copy_cases(engine: Engine, n: int, until: datetime, seed: int) -> float:
    rng = random.Random(seed)
    started = time.perf_counter()
    raw = engine.raw_connection()
    try:
        conn: Any = raw.driver_connection
        with conn.cursor() as cur, cur.copy("COPY cases (id, tenant, case_id, facility, channel, segment, payload, "
                                            "created_at) FROM STDIN") as copy:
            for k in range(n):
                created = until - timedelta(seconds=rng.random() * _DAYS * 86400)
                sku = f"SKU-{int(rng.paretovariate(1.2)) % 2000:04d}"
                payload = json.dumps({"line": {"sku": sku, "unit_price": round(5 + rng.random() * 300, 2)},
                                      "reason_hint": _REASONS[k % len(_REASONS)]})
                copy.write_row((str(uuid.UUID(int=rng.getrandbits(128), version=4)), "default", f"RMA-{k:08d}",
                                _FACILITIES[rng.randrange(len(_FACILITIES))], _CHANNELS[rng.randrange(4)],
                                "consumer", payload, created))
        raw.commit()
    finally:
        raw.close()
    return time.perf_counter() - started


# Each statement derives one table from the cases, in bulk; h(x) is a repeatable pseudo-random 0..999 per case.
_DERIVE = [
    # the authorisation decision of every return
    """INSERT INTO decisions (decision_id, tenant, case_ref, created_at, route, reason_code, reason_confidence,
           risk_score, policy_version, model_versions, inputs_sha256, document, kind)
       SELECT md5(c.id || 'd'), c.tenant, c.id, c.created_at,
              CASE WHEN h.v < 350 THEN 'review' WHEN h.v < 380 THEN 'auto_decline' ELSE 'auto_approve' END,
              c.payload::json ->> 'reason_hint', 0.9, (h.v % 100) / 100.0, 'bench', '{}', repeat('0', 64), '{}',
              'return'
       FROM cases c CROSS JOIN LATERAL (SELECT abs(hashtext(c.id)) % 1000 AS v) h""",
    # a review item for each reviewed return; 70 % completed within 0-72 h (unless that is still to come)
    """INSERT INTO review_items (item_id, tenant, decision_id, case_ref, queue, priority, sla_due_at, status,
           created_at, fencing_token, escalation_level, completed_at)
       SELECT md5(d.decision_id || 'r'), d.tenant, d.decision_id, d.case_ref, 'returns', 50,
              d.created_at + interval '24 hours', CASE WHEN x.done THEN 'done' ELSE 'pending' END, d.created_at, 1,
              0, CASE WHEN x.done THEN x.completed END
       FROM decisions d CROSS JOIN LATERAL (
           SELECT d.created_at + (abs(hashtext(d.decision_id)) % 72) * interval '1 hour' AS completed,
                  abs(hashtext(d.decision_id || 'x')) % 10 < 7
                  AND d.created_at + (abs(hashtext(d.decision_id)) % 72) * interval '1 hour' < :until AS done) x
       WHERE d.route = 'review'""",
    """INSERT INTO review_decisions (review_decision_id, tenant, item_id, decision_id, case_ref, reviewer, action,
           fencing_token, ai_suggestion, ai_agreement, override, created_at)
       SELECT md5(r.item_id || 'rd'), r.tenant, r.item_id, r.decision_id, r.case_ref, 'bench',
              CASE WHEN abs(hashtext(r.item_id)) % 10 < 2 THEN 'reject' ELSE 'approve' END, 1, '{}',
              CASE WHEN abs(hashtext(r.item_id || 'o')) % 100 < 12 THEN 'overrides' ELSE 'confirms' END, false,
              r.completed_at
       FROM review_items r WHERE r.completed_at IS NOT NULL""",
    # half the returns are inspected 1-7 days after scoring, each with its disposition decision
    """INSERT INTO decisions (decision_id, tenant, case_ref, created_at, route, reason_code, reason_confidence,
           risk_score, policy_version, model_versions, inputs_sha256, document, kind)
       SELECT md5(c.id || 'disp'), c.tenant, c.id, c.created_at + (24 + abs(hashtext(c.id || 'i')) % 144)
              * interval '1 hour', 'auto_approve', 'OTHER', 0.9, NULL, 'bench', '{}', repeat('0', 64), '{}',
              'disposition'
       FROM cases c WHERE abs(hashtext(c.id || 'i')) % 2 = 0
         AND c.created_at + (24 + abs(hashtext(c.id || 'i')) % 144) * interval '1 hour' < :until""",
    """INSERT INTO inspections (inspection_id, tenant, case_ref, decision_id, idempotency_key, request_sha256,
           response_body, inspector, facility, channel, reason_code, sku, supplier_id, grade, serial_check, notes,
           serial_numbers, document_ids, quantity, unit_price, currency, received_at, inspected_at, disposition,
           confidence, abstain, recommendation, created_at)
       SELECT md5(d.decision_id || 'ins'), d.tenant, d.case_ref, d.decision_id, d.decision_id, repeat('0', 64),
              '\\x7b7d'::bytea, 'bench', c.facility, c.channel, c.payload::json ->> 'reason_hint',
              c.payload::json -> 'line' ->> 'sku', 'SUP-' || (abs(hashtext(c.id)) % 40), 'B', 'match', '',
              '[]', '[]', 1, 10.0, 'EUR', d.created_at - (1 + abs(hashtext(c.id || 'rcv')) % 48) * interval '1 hour',
              d.created_at,
              (ARRAY['restock','restock','restock','refurbish','quarantine','return_to_vendor','liquidate',
                     'scrap'])[1 + abs(hashtext(c.id || 'disp')) % 8],
              0.9, false, '{}', d.created_at
       FROM decisions d JOIN cases c ON c.id = d.case_ref WHERE d.kind = 'disposition'""",
    # 60 % of the returns are credited 2-96 h after scoring (or after inspection when inspected)
    """INSERT INTO outcomes (tenant, outcome_id, case_ref, decision_id, kind, source, amount, currency, occurred_at,
           received_at, out_of_order, request_sha256)
       SELECT c.tenant, 'credit-' || c.id, c.id, NULL, 'credit', 'workflow', 10.0, 'EUR', x.at, x.at, false,
              repeat('0', 64)
       FROM cases c LEFT JOIN inspections i ON i.case_ref = c.id
       CROSS JOIN LATERAL (SELECT coalesce(i.inspected_at, c.created_at)
                                  + (2 + abs(hashtext(c.id || 'cr')) % 94) * interval '1 hour' AS at) x
       WHERE abs(hashtext(c.id || 'cr')) % 10 < 6 AND x.at < :until""",
    """INSERT INTO supplier_claims (claim_id, tenant, supplier_id, sku, trigger, status, currency, quantity,
           claimed_amount, recovered_amount, created_at, updated_at)
       SELECT md5('claim' || g), 'default', 'SUP-' || (g % 40), 'SKU-' || lpad((g % 2000)::text, 4, '0'),
              'return_to_vendor', (ARRAY['open','submitted','accepted','rejected','recovered'])[1 + g % 5], 'EUR',
              1 + g % 9, 50.0 + g % 500, CASE WHEN g % 5 = 4 THEN (50.0 + g % 500) * 0.8
                                             WHEN g % 5 = 3 THEN 0.0 END,
              :until - (g % 728) * interval '1 day', :until - (g % 728) * interval '1 day'
       FROM generate_series(1, :claims) g""",
]


def _drop_for_load(engine: Engine, schema: str) -> list[str]:
    """Drop the secondary indexes (returned, to be rebuilt after the load: one sort beats a million inserts into
    each) and the foreign keys (the throw-away schema never needs them again; no read uses them)."""
    with engine.begin() as conn:
        rows = conn.execute(text(
            "SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition "
            "FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace "
            "WHERE n.nspname = :schema AND NOT i.indisprimary AND NOT i.indisunique"), {"schema": schema}).all()
        for row in rows:
            conn.execute(text(f"DROP INDEX {row.name}"))
        fks = conn.execute(text(
            "SELECT c.conrelid::regclass::text AS tbl, c.conname FROM pg_constraint c "
            "JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = :schema AND c.contype = 'f'"),
            {"schema": schema}).all()
        for fk in fks:
            conn.execute(text(f'ALTER TABLE {fk.tbl} DROP CONSTRAINT "{fk.conname}"'))
    return [row.definition for row in rows]


def _timed(fn: Any, repeat: int) -> tuple[list[float], Any]:
    times, out = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return times, out


def measure_kpis_at_scale(n_cases: int, *, pg_url: str | None = None, repeat: int = 5,
                          seed: int = 11) -> dict[str, Any]:
    """Load ``n_cases`` into a fresh schema, time the dashboard page and every KPI query through the app, drop
    the schema. Returns the figures (seconds)."""
    from litestar.testing import TestClient

    from returns_triage.serving.api import create_app
    from returns_triage.serving.service.api_keys import ApiKeyService
    from returns_triage.serving.service.models import LoadedModels
    from returns_triage.serving.storage import make_engine, upgrade
    from returns_triage.serving.storage.api_keys import SqlApiKeyStore
    from returns_triage.settings import Settings

    from returns_triage.evaluation.servers import DEFAULT_PG_URL

    url = pg_url or os.environ.get("TRIAGE_BENCH_PG_URL") or DEFAULT_PG_URL
    schema = f"bench_kpi_{uuid.uuid4().hex[:10]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url, pool_size=5, connect_args={"options": f"-csearch_path={schema}"})
    until = datetime.now(UTC).replace(microsecond=0)
    figures: dict[str, Any] = {"cases": n_cases}
    try:
        upgrade(engine)
        started = time.perf_counter()
        indexes = _drop_for_load(engine, schema)
        figures["copy_cases_s"] = round(_copy_cases(engine, n_cases, until, seed), 1)
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL synchronous_commit = off"))
            for statement in _DERIVE:
                conn.execute(text(statement), {"until": until, "claims": max(100, n_cases // 200)})
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
            for definition in indexes:
                conn.execute(text(definition))
        with engine.connect() as conn:
            # VACUUM sets the visibility map, so the covering indexes are read without visiting the rows.
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
            counts = {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in (
                "cases", "decisions", "review_items", "review_decisions", "inspections", "outcomes",
                "supplier_claims")}
        figures["load_s"] = round(time.perf_counter() - started, 1)
        figures["rows"] = counts
        with tempfile.TemporaryDirectory() as home:
            settings = Settings.from_env({"TRIAGE_HOME": home, "TRIAGE_MODEL_DIR": str(Path(home) / "none")})
            app = create_app(settings, models=LoadedModels(), engine=engine)
            key, _ = ApiKeyService(SqlApiKeyStore(engine)).create("supervisor", "default", label="bench")
            with TestClient(app) as client:
                assert client.post("/console/sign-in", data={"key": key}, follow_redirects=False).status_code == 303
                cold = time.perf_counter()
                first = client.get("/console/dashboard")
                figures["dashboard_first_render_s"] = round(time.perf_counter() - cold, 3)
                assert first.status_code == 200, first.text[:500]
                times, _ = _timed(lambda: client.get("/console/dashboard"), repeat)
                figures["dashboard_render_s_median"] = round(statistics.median(times), 3)
                figures["dashboard_render_s_max"] = round(max(times), 3)
                auth = {"Authorization": f"Bearer {key}"}
                queries: dict[str, float] = {}
                for group in ("", "facility", "channel", "reason_code", "sku", "week"):
                    params = {"group_by": group} if group else {}

                    def ask(p: dict[str, str] = params) -> Any:
                        return client.get("/v1/kpis", params=p, headers=auth)

                    times, r = _timed(ask, max(1, repeat // 2))
                    assert r.status_code == 200, r.text[:500]
                    queries[group or "total"] = round(statistics.median(times), 3)
                figures["kpi_api_s_median_by_group"] = queries
                year = {"since": (until - timedelta(days=365)).isoformat(), "until": until.isoformat()}
                times, _ = _timed(lambda: client.get("/v1/kpis", params=year, headers=auth), 1)
                figures["kpi_api_one_year_total_s"] = round(times[0], 3)
                times, _ = _timed(lambda: client.get("/metrics", headers=auth), max(1, repeat // 2))
                figures["metrics_scrape_s_median"] = round(statistics.median(times), 3)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    return figures
