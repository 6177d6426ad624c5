"""Every process KPI — in total, by each dimension, on the dashboard and in the API — equals a direct SQL
computation over the same stored events, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from litestar.testing import TestClient

from returns_triage.serving.api import create_app
from returns_triage.serving.service.kpis import KPI_DEFINITIONS, KpiService
from returns_triage.serving.service.models import LoadedModels
from returns_triage.serving.storage.kpis import DIMENSIONS, SqlKpiQueries
from returns_triage.serving.storage.tables import cases, decisions, review_items
from returns_triage.settings import Settings
from tests.process_world import direct_kpi, seed_process_world

UNTIL = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SINCE = UNTIL - timedelta(weeks=6)  # some of the world lies before the window


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return a == pytest.approx(b, rel=1e-9, abs=1e-9)


def _check_total(name: str, mine: dict, direct: object) -> None:
    if name == "return_aging":
        n, bands = direct  # type: ignore[misc]
        assert mine["n"] == n and mine["bands"] == bands, name
    else:
        value, n = direct  # type: ignore[misc]
        assert mine["n"] == n, name
        assert _close(mine["value"], value), (name, mine["value"], value)


def test_every_kpi_total_and_group_matches_direct_sql(backend) -> None:  # type: ignore[no-untyped-def]
    seed_process_world(backend, until=UNTIL)
    service = KpiService(SqlKpiQueries(backend))
    report = service.report("default", since=SINCE, until=UNTIL)
    assert [k["kpi"] for k in report["kpis"]] == list(KPI_DEFINITIONS)
    for entry in report["kpis"]:
        _check_total(entry["kpi"], entry, direct_kpi(backend, entry["kpi"], SINCE, UNTIL))
        assert entry["n"] > 0, f"the test world has no rows for {entry['kpi']}"
    for dim in DIMENSIONS:
        grouped = service.report("default", since=SINCE, until=UNTIL, group_by=(dim,))
        for entry in grouped["kpis"]:
            if not entry["supported"]:
                assert entry["groups"] == [] and entry["kpi"] in ("supplier_recovery_rate", "return_aging")
                continue
            direct = direct_kpi(backend, entry["kpi"], SINCE, UNTIL, group=dim)
            mine = {g["key"][dim]: g for g in entry["groups"]}
            assert set(mine) == {k for k, v in direct.items() if (v[1] if entry["kpi"] != "return_aging"
                                                                  else v[0]) > 0}, (entry["kpi"], dim)
            for key, g in mine.items():
                _check_total(entry["kpi"], g, direct[key])
    # Another tenant sees nothing of this one.
    other = service.report("other", since=SINCE, until=UNTIL)
    assert all(k["n"] == 0 for k in other["kpis"])


def test_two_dimensions_and_bad_requests(backend) -> None:  # type: ignore[no-untyped-def]
    from returns_triage.errors import InvalidInput  # RuleViolation (422) is one

    seed_process_world(backend, until=UNTIL)
    service = KpiService(SqlKpiQueries(backend))
    report = service.report("default", since=SINCE, until=UNTIL, group_by=("reason_code", "week"),
                            kpis=["exception_volume"])
    (entry,) = report["kpis"]
    assert sum(g["n"] for g in entry["groups"]) == entry["n"]
    by_reason = direct_kpi(backend, "exception_volume", SINCE, UNTIL, group="reason_code")
    for reason, (count, _) in by_reason.items():
        assert sum(g["n"] for g in entry["groups"] if g["key"]["reason_code"] == reason) == count
    with pytest.raises(InvalidInput):
        service.report("default", group_by=("colour",))
    with pytest.raises(InvalidInput):
        service.report("default", since=UNTIL, until=SINCE)


def _console_client(backend, tmp_path: Path, make_api_key):  # type: ignore[no-untyped-def]
    settings = Settings.from_env({"TRIAGE_HOME": str(tmp_path), "TRIAGE_MODEL_DIR": str(tmp_path / "none")})
    return create_app(settings, models=LoadedModels(), engine=backend), make_api_key(backend, role="supervisor")


def test_dashboard_shows_every_kpi_as_direct_sql_computes_it(backend, tmp_path, make_api_key) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    seed_process_world(backend, until=now)
    app, headers = _console_client(backend, tmp_path, make_api_key)
    key = headers["Authorization"].split()[1]
    with TestClient(app) as client:
        signed_in = client.post("/console/sign-in", data={"key": key}, follow_redirects=False)
        assert signed_in.status_code == 303
        page = client.get("/console/dashboard?weeks=4")
        assert page.status_code == 200
        html = page.text
        # The KPI API answers the same as the page for the same window.
        api = client.get("/v1/kpis", headers=headers, params={"group_by": "facility"})
        assert api.status_code == 200
    since = datetime.fromisoformat(re.search(r'data-since="([^"]+)"', html).group(1))  # type: ignore[union-attr]
    until = datetime.fromisoformat(re.search(r'data-until="([^"]+)"', html).group(1))  # type: ignore[union-attr]
    assert until - since == timedelta(weeks=4)
    tiles = {m[0]: (m[1], int(m[2])) for m in re.findall(r'data-kpi="([a-z_]+)" data-value="([^"]*)" data-n="(\d+)"',
                                                           html)}
    assert set(tiles) == set(KPI_DEFINITIONS)
    for name, (raw, n) in tiles.items():
        direct = direct_kpi(backend, name, since, until)
        if name == "return_aging":
            assert n == direct[0] and float(raw) == direct[0]
            continue
        assert n == direct[1], name
        assert _close(float(raw) if raw else None, direct[0]), (name, raw, direct)
    # The bottleneck charts: mean wait and SLA breach per facility, open returns per age band.
    for chart, kpi in (("chart-wait", "review_wait_hours"), ("chart-breach", "sla_breach_rate")):
        svg = html.split(f'id="{chart}"', 1)[1].split("</svg>", 1)[0]
        shown = {m[0]: float(m[1]) for m in re.findall(r'data-name="([^"]+)" data-value="([^"]+)"', svg)}
        direct = direct_kpi(backend, kpi, since, until, group="facility")
        assert shown.keys() == {k for k, v in direct.items() if v[0] is not None}
        for facility, value in shown.items():
            assert _close(value, direct[facility][0]), (chart, facility)
    svg = html.split('id="chart-aging"', 1)[1].split("</svg>", 1)[0]
    shown = {m[0]: float(m[1]) for m in re.findall(r'data-name="([^"]+)" data-value="([^"]+)"', svg)}
    _, bands = direct_kpi(backend, "return_aging", since, until)
    assert shown == {b: float(n) for b, n in bands.items()}
    recent = {m[0]: (int(m[1]), int(m[2])) for m in re.findall(
        r'data-reason="([^"]+)" data-recent="(\d+)" data-earlier="(\d+)"', html)}
    by_reason = direct_kpi(backend, "exception_volume", since, until, group="reason_code")
    assert {r: a + b for r, (a, b) in recent.items()} == {r: v[1] for r, v in by_reason.items()}
    assert {k["kpi"] for k in api.json()["kpis"]} == set(KPI_DEFINITIONS)


def test_metrics_exposes_kpis_in_prometheus_text_and_takes_more_collectors(backend, tmp_path, make_api_key) -> None:  # type: ignore[no-untyped-def]
    from returns_triage.serving.api.metrics import MetricFamily, Sample

    seed_process_world(backend, until=datetime.now(UTC))
    app, headers = _console_client(backend, tmp_path, make_api_key)

    def queue_depth(ctx):  # type: ignore[no-untyped-def]
        yield MetricFamily("triage_test_gauge", "A gauge another module registers.", "gauge",
                           [Sample(3.0, {"queue": 'say "hi"'})])

    def broken(ctx):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    app.state.metrics.register(queue_depth)
    app.state.metrics.register(broken)
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 401
        r = client.get("/metrics", headers=headers)
        reviewer = client.get("/metrics", headers=make_api_key(backend, role="reviewer"))
    assert reviewer.status_code == 403
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = r.text
    assert "# TYPE triage_kpi_straight_through_rate gauge" in text
    assert re.search(r'^triage_kpi_exception_volume \d', text, re.M)
    assert re.search(r'^triage_kpi_open_returns\{band="0-2d"\} \d', text, re.M)
    assert 'triage_test_gauge{queue="say \\"hi\\""} 3.0' in text
    assert 'triage_collector_errors{collector="broken"} 1.0' in text


def _rollup_matches_the_events(backend, since: datetime, until: datetime) -> None:  # type: ignore[no-untyped-def]
    from returns_triage.serving.storage.kpi_rollups import DASHBOARD_JOBS, KpiRollup

    queries = SqlKpiQueries(backend)
    rolled = KpiRollup(backend, queries).dashboard("default", since, until)
    for name, group_by in DASHBOARD_JOBS:
        direct = {r.key: r for r in queries.compute(name, "default", since, until, group_by) if r.n or not group_by}
        mine = {r.key: r for r in rolled[(name, group_by)]}
        assert mine.keys() == direct.keys(), (name, group_by)
        for key, row in mine.items():
            assert row.n == direct[key].n and row.bands == direct[key].bands, (name, key)
            assert _close(row.value, direct[key].value), (name, key, row.value, direct[key].value)
        if not group_by:
            _check_total(name, {"n": mine[()].n, "value": mine[()].value}, direct_kpi(backend, name, since, until))
    # The whole days came from the rollup, and none of them is left stale.
    with backend.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM kpi_daily")).scalar_one() > 0
        assert conn.execute(text("SELECT count(*) FROM kpi_stale_days WHERE day >= :a AND day < :b"),
                            {"a": (since + timedelta(days=1)).date().isoformat(),
                             "b": until.date().isoformat()}).scalar_one() == 0


def test_the_dashboard_rollup_follows_every_write_and_the_clock(backend) -> None:  # type: ignore[no-untyped-def]
    seed_process_world(backend, until=UNTIL, n=600)
    since = SINCE + timedelta(hours=7, minutes=13)
    _rollup_matches_the_events(backend, since, UNTIL)
    # A request time between the SLA due times of two open reviews of one day, facility and reason.
    r, c, d = review_items.c, cases.c, decisions.c
    with backend.connect() as conn:
        open_items = conn.execute(
            select(r.sla_due_at, c.facility, d.reason_code).join_from(review_items, cases, c.id == r.case_ref)
            .join(decisions, d.decision_id == r.decision_id).where(r.completed_at.is_(None))
            .order_by(c.facility, d.reason_code, r.sla_due_at)).all()
    due = [(t if t.tzinfo else t.replace(tzinfo=UTC), f, k) for t, f, k in open_items]
    pairs = [(a[0], b[0]) for a, b in zip(due, due[1:], strict=False)
             if a[1:] == b[1:] and (a[0] - timedelta(hours=24)).date() == (b[0] - timedelta(hours=24)).date()
             and a[0] < b[0] and a[0] - timedelta(hours=24) > since + timedelta(days=1)]
    assert pairs, "the test world has no day with two open reviews alike"
    _rollup_matches_the_events(backend, since, pairs[0][0] + (pairs[0][1] - pairs[0][0]) / 2)
    # Later in the day and days later, without a write: open reviews pass their SLA, returns age into other bands.
    for later in (timedelta(hours=5), timedelta(days=2, hours=3), timedelta(days=9)):
        _rollup_matches_the_events(backend, since, UNTIL + later)
    with backend.begin() as conn:
        marks = conn.execute(text("SELECT count(*) FROM kpi_stale_days")).scalar_one()
        # A claim changes nothing the KPIs read: no day goes stale.
        conn.execute(text("UPDATE review_items SET claimed_by = 'r9', fencing_token = fencing_token + 1"))
        assert conn.execute(text("SELECT count(*) FROM kpi_stale_days")).scalar_one() == marks
        item = conn.execute(text("SELECT item_id, created_at FROM review_items WHERE completed_at IS NULL "
                                 "ORDER BY created_at LIMIT 1")).one()
        conn.execute(text("UPDATE review_items SET completed_at = :t, status = 'done' WHERE item_id = :i"),
                     {"t": UNTIL - timedelta(hours=1), "i": item.item_id})
        open_case = conn.execute(text(
            "SELECT c.id, c.tenant FROM cases c WHERE NOT EXISTS (SELECT 1 FROM outcomes o WHERE o.case_ref = c.id) "
            "AND c.created_at BETWEEN :a AND :b ORDER BY c.created_at LIMIT 2"),
            {"a": since + timedelta(days=2), "b": UNTIL - timedelta(days=10)}).all()
        # One credit closes a case now; another arrives dated after the request time (the case is open until then).
        for k, (case_ref, tenant) in enumerate(open_case):
            conn.execute(text(
                "INSERT INTO outcomes (tenant, outcome_id, case_ref, kind, source, amount, currency, occurred_at, "
                "received_at, out_of_order, request_sha256) VALUES (:tenant, :oid, :c, 'credit', 'workflow', 10.0, "
                "'EUR', :t, :t, false, :sha)"),
                {"tenant": tenant, "oid": f"late-credit-{k}", "c": case_ref, "sha": "0" * 64,
                 "t": UNTIL - timedelta(hours=2) if k == 0 else UNTIL + timedelta(days=1)})
        conn.execute(text("UPDATE cases SET facility = 'DC-NEW' WHERE id = (SELECT case_ref FROM review_items "
                          "ORDER BY created_at DESC LIMIT 1)"))
        conn.execute(text("DELETE FROM review_decisions WHERE review_decision_id = (SELECT review_decision_id FROM "
                          "review_decisions ORDER BY created_at LIMIT 1 OFFSET 3)"))
    _rollup_matches_the_events(backend, since, UNTIL)
    _rollup_matches_the_events(backend, since, UNTIL + timedelta(days=2))
