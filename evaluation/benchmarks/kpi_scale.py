"""`triage bench kpi-scale`: the KPI dashboard on a large PostgreSQL database: a throw-away schema, migrated, filled
with N stored cases and their events (all generated in the database), measured through the real app, then dropped.

The events follow simple fixed rules (35 % of returns reviewed, 70 % of reviews completed, half inspected, 60 %
credited, …) with pseudo-random values drawn from ``hashtext`` of the case id, so a run is repeatable.
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from returns_triage.evaluation.benchmarks.base import BenchResult, Target, register

__all__ = ["measure_kpis_at_scale", "load_world", "measure_app", "run", "TARGETS"]

TARGETS = [Target("dashboard_render_s", "<=", 1.0)]  # issue 11: at 1,000,000 stored cases on PostgreSQL
CASES, CASES_QUICK = 1_000_000, 20_000

_FACILITIES = [f"DC-{k:02d}" for k in range(12)]
_CHANNELS = ("portal", "store", "marketplace", "call_center")
_REASONS = ("DAMAGED_IN_TRANSIT", "DEFECTIVE", "WRONG_ITEM_SHIPPED", "ORDERED_WRONG_ITEM", "NOT_AS_DESCRIBED",
            "INCOMPATIBLE", "MISSING_PARTS", "QUANTITY_DISCREPANCY", "NO_LONGER_NEEDED", "LATE_DELIVERY",
            "DUPLICATE_ORDER", "WARRANTY_CLAIM", "EXPIRED_OR_SHORT_DATED", "OTHER")
_DAYS = 728  # two years of returns


def _array(values: Any) -> str:
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]"


# The cases, generated in the database (streaming a million rows from Python took most of the load). u(x) is a
# repeatable uniform draw in [0, 1) from hashtext of the case number and the seed; the skews are the usual ones:
# a few large facilities, the portal ahead of the other channels, a handful of reasons and a Pareto tail of SKUs
# (shape 1.2) carrying most returns, and daily volume growing threefold over the two years.
_CASES = f"""
INSERT INTO cases (id, tenant, case_id, facility, channel, segment, payload, created_at)
SELECT md5(:seed || '/case/' || g)::uuid::text, 'default', 'RMA-' || lpad(g::text, 8, '0'),
       ({_array(_FACILITIES)})[1 + floor({len(_FACILITIES)} * power(u.f, 1.6))::int],
       ({_array(_CHANNELS)})[1 + floor({len(_CHANNELS)} * power(u.ch, 1.8))::int],
       'consumer',
       json_build_object('line', json_build_object(
                             'sku', 'SKU-' || lpad(((floor(10 * power(1.0 - u.sku, -1.0 / 1.2))::bigint - 10)
                                                    % 2000)::text, 4, '0'),
                             'unit_price', round((5 + 300 * u.price)::numeric, 2)),
                         'reason_hint', ({_array(_REASONS)})[1 + floor({len(_REASONS)} * power(u.r, 1.7))::int]),
       CAST(:until AS timestamptz) - make_interval(secs => {_DAYS} * 86400.0 * (3.0 - sqrt(9.0 - 8.0 * u.t)) / 2.0)
FROM generate_series(1, :n) g
CROSS JOIN LATERAL (SELECT (hashtext(:seed || '/f/' || g)::bigint + 2147483648) / 4294967296.0 AS f,
                           (hashtext(:seed || '/c/' || g)::bigint + 2147483648) / 4294967296.0 AS ch,
                           (hashtext(:seed || '/s/' || g)::bigint + 2147483648) / 4294967296.0 AS sku,
                           (hashtext(:seed || '/p/' || g)::bigint + 2147483648) / 4294967296.0 AS price,
                           (hashtext(:seed || '/r/' || g)::bigint + 2147483648) / 4294967296.0 AS r,
                           (hashtext(:seed || '/t/' || g)::bigint + 2147483648) / 4294967296.0 AS t) u
"""


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


_TABLES = ("cases", "decisions", "review_items", "review_decisions", "inspections", "outcomes", "supplier_claims")


def load_world(engine: Engine, schema: str, n_cases: int, until: datetime, seed: int = 11) -> dict[str, Any]:
    """Fill the (migrated, empty) ``schema`` with ``n_cases`` cases and their events, all generated in the
    database; secondary indexes are built after the bulk load, then the tables are vacuumed and analysed.
    Returns the time of each step (seconds) and the row counts."""
    from returns_triage.serving.storage.kpi_rollups import KpiRollup

    figures: dict[str, Any] = {}
    started = time.perf_counter()
    indexes = _drop_for_load(engine, schema)
    step = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL synchronous_commit = off"))
        conn.execute(text(_CASES), {"n": n_cases, "until": until, "seed": str(seed)})
    figures["cases_s"] = round(time.perf_counter() - step, 1)
    step = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL synchronous_commit = off"))
        conn.execute(text("SET LOCAL work_mem = '64MB'"))
        for statement in _DERIVE:
            conn.execute(text(statement), {"until": until, "claims": max(100, n_cases // 200)})
    figures["events_s"] = round(time.perf_counter() - step, 1)
    step = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
        for definition in indexes:
            conn.execute(text(definition))
    figures["indexes_s"] = round(time.perf_counter() - step, 1)
    step = time.perf_counter()
    with engine.connect() as conn:
        auto = conn.execution_options(isolation_level="AUTOCOMMIT")
        # VACUUM sets the visibility map, so the covering indexes are read without visiting the rows; only this
        # schema's tables (the database is shared).
        for table in _TABLES:
            auto.execute(text(f'VACUUM ANALYZE "{schema}".{table}'))
        figures["rows"] = {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in _TABLES}
    figures["vacuum_analyze_s"] = round(time.perf_counter() - step, 1)
    step = time.perf_counter()
    # The triggers marked every loaded day stale; aggregate them once, as the first dashboard would.
    figures["rollup_days"] = KpiRollup(engine).refresh("default", "0001-01-01", "9999-12-31")
    figures["rollup_refresh_s"] = round(time.perf_counter() - step, 1)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text(f'VACUUM ANALYZE "{schema}".kpi_daily'))
    figures["load_s"] = round(time.perf_counter() - started, 1)
    return figures


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def measure_kpis_at_scale(n_cases: int, *, pg_url: str | None = None, repeat: int = 20,
                          seed: int = 11) -> dict[str, Any]:
    """Load ``n_cases`` into a fresh schema, time the dashboard page and every KPI query through the app, drop
    the schema. Returns the figures (seconds)."""
    from returns_triage.evaluation.servers import DEFAULT_PG_URL
    from returns_triage.serving.storage import make_engine, upgrade

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
        figures.update(load_world(engine, schema, n_cases, until, seed))
        figures.update(measure_app(engine, until, repeat))
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    return figures


def measure_app(engine: Engine, until: datetime, repeat: int) -> dict[str, Any]:
    """The dashboard page (first render, then ``repeat`` warm renders), the KPI API by each dimension, the
    /metrics scrape and each dashboard query on its own, through the real app on ``engine``."""
    from litestar.testing import TestClient

    from returns_triage.serving.api import create_app
    from returns_triage.serving.service.api_keys import ApiKeyService
    from returns_triage.serving.service.models import LoadedModels
    from returns_triage.serving.storage.api_keys import SqlApiKeyStore
    from returns_triage.settings import Settings

    figures: dict[str, Any] = {}
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
            figures["dashboard_render_s_p95"] = round(_percentile(times, 0.95), 3)
            figures["dashboard_render_s_max"] = round(max(times), 3)
            figures["dashboard_renders"] = len(times)
            auth = {"Authorization": f"Bearer {key}"}
            queries: dict[str, float] = {}
            for group in ("", "facility", "channel", "reason_code", "sku", "week"):
                params = {"group_by": group} if group else {}

                def ask(p: dict[str, str] = params) -> Any:
                    return client.get("/v1/kpis", params=p, headers=auth)

                times, r = _timed(ask, max(1, repeat // 4))
                assert r.status_code == 200, r.text[:500]
                queries[group or "total"] = round(statistics.median(times), 3)
            figures["kpi_api_s_median_by_group"] = queries
            year = {"since": (until - timedelta(days=365)).isoformat(), "until": until.isoformat()}
            times, _ = _timed(lambda: client.get("/v1/kpis", params=year, headers=auth), 1)
            figures["kpi_api_one_year_total_s"] = round(times[0], 3)
            times, _ = _timed(lambda: client.get("/metrics", headers=auth), max(1, repeat // 4))
            figures["metrics_scrape_s_median"] = round(statistics.median(times), 3)
            # A working day's writes since the last view: new returns today, reviews of the last days closed.
            with engine.begin() as conn:
                for statement in _WRITES:
                    conn.execute(text(statement), {"until": until})
            times, page = _timed(lambda: client.get("/console/dashboard"), 1)
            assert page.status_code == 200
            figures["dashboard_after_writes_s"] = round(times[0], 3)
            times, _ = _timed(lambda: client.get("/console/dashboard"), 3)
            figures["dashboard_render_s_median_after_writes"] = round(statistics.median(times), 3)
    figures.update(_queries(engine, until))
    return figures


# Writes between two dashboard views: 2,000 returns scored today, and 500 open reviews of the last three days
# completed (each marks its day, and its decision's day, stale).
_WRITES = [
    """INSERT INTO cases (id, tenant, case_id, facility, channel, segment, payload, created_at)
       SELECT md5('later/' || g)::uuid::text, 'default', 'RMA-L' || lpad(g::text, 7, '0'),
              'DC-0' || (g % 10), 'portal', 'consumer', '{"line": {"sku": "SKU-0001"}}',
              date_trunc('day', CAST(:until AS timestamptz)) + (g % 600) * interval '1 second'
       FROM generate_series(1, 2000) g""",
    """UPDATE review_items SET completed_at = CAST(:until AS timestamptz), status = 'done'
       WHERE item_id IN (SELECT item_id FROM review_items WHERE completed_at IS NULL
                         AND created_at >= CAST(:until AS timestamptz) - interval '3 days' LIMIT 500)""",
]


def _queries(engine: Engine, until: datetime) -> dict[str, Any]:
    """The dashboard's data on its own (rollup and events; no page), and each of its KPIs over the same 12 weeks
    read directly from the events, as the dashboard did before the rollup (one run each)."""
    from returns_triage.serving.storage.kpi_rollups import DASHBOARD_JOBS, KpiRollup
    from returns_triage.serving.storage.kpis import SqlKpiQueries

    rollup, queries = KpiRollup(engine), SqlKpiQueries(engine)
    since = until - timedelta(weeks=12)
    times, _ = _timed(lambda: rollup.dashboard("default", since, until), 5)
    direct: dict[str, float] = {}
    for name, group_by in DASHBOARD_JOBS:
        started = time.perf_counter()
        queries.compute(name, "default", since, until, group_by)
        direct[name] = round(time.perf_counter() - started, 3)
    return {"dashboard_data_s_median": round(statistics.median(times), 3), "kpi_direct_from_events_s": direct}


@register("kpi-scale")
def run(quick: bool) -> BenchResult:
    """The dashboard and the KPI queries over 1,000,000 stored cases (``--quick``: 20,000; the target is then
    not measured)."""
    n_cases = CASES_QUICK if quick else CASES
    try:
        figures = measure_kpis_at_scale(n_cases, repeat=10 if quick else 20)
    except Exception as exc:  # noqa: BLE001 - no PostgreSQL is a missed target, not a crashed benchmark
        return BenchResult("kpi-scale", {"cases": n_cases, "error": f"{type(exc).__name__}: {exc}"}, TARGETS)
    metrics: dict[str, Any] = dict(figures)
    # The target is the warm render (median of repeated views) at the scale only.
    metrics["dashboard_render_s"] = figures["dashboard_render_s_median"] if n_cases >= CASES else None
    return BenchResult("kpi-scale", metrics, TARGETS)
