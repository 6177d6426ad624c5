"""Monitoring through the real API on both databases: the fail-safe tightens routing and every decision it
touches says why; the read endpoints, their permissions and the report files; the worker's one-shot mode."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from returns_triage.serving.storage.monitoring import SqlMonitoringStore
from returns_triage.serving.storage.tables import webhook_events

REASON = "realised auto-approval error 6.0% over 40 audit samples in the last 7 days, above the target 2.0%"


def _lenient_policy(path: Path) -> Path:
    """The default policy with gates wide open and no audit sampling: the example return is auto-approved."""
    from returns_triage.serving.domain.policy_document import dump_policy_document, load_policy_document

    content = json.loads(json.dumps(load_policy_document().content))
    content["defaults"]["audit_sample_rate"] = 0.0
    content["defaults"]["gates"].update(min_reason_confidence=0.0, max_prediction_set_size=100,
                                        max_out_of_scope_score=1.0, max_fraud_risk=1.0, review_reason_codes=[])
    content.pop("overrides", None)
    path.write_text(dump_policy_document(content))
    return path


@pytest.fixture
def mclient(settings, backend, loaded_models, make_api_key, tmp_path) -> Iterator:  # type: ignore[no-untyped-def]
    from litestar.testing import TestClient

    from returns_triage.serving.api import create_app

    s = settings.with_(failsafe_refresh_seconds=0.0, policy_file=str(_lenient_policy(tmp_path / "lenient.yaml")))
    with TestClient(create_app(s, models=loaded_models, engine=backend)) as c:
        c.headers.update(make_api_key(backend))
        yield c


def _score(client, body: dict, case_id: str) -> dict:  # type: ignore[no-untyped-def]
    resp = client.post("/v1/returns/score", json={**body, "case_id": case_id}, headers={"Idempotency-Key": case_id})
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_failsafe_sends_would_be_approvals_to_people_and_records_why(mclient, backend, score_body) -> None:  # type: ignore[no-untyped-def]
    store = SqlMonitoringStore(backend)
    assert _score(mclient, score_body, "FS-1")["route"] == "auto_approve"

    now = datetime.now(UTC)
    state = store.open_failsafe("default", segment=score_body["segment"], factor=0.0, metric="auto_approval_error",
                                value=0.06, target=0.02, reason=REASON, now=now)
    held = _score(mclient, score_body, "FS-2")
    assert held["route"] == "review"
    assert held["reasons"][0].startswith(f"fail-safe {state.state_id[:8]}")
    assert REASON in held["reasons"][0] and "every would-be auto-approval goes to a person" in held["reasons"][0]
    assert any("propensity 1.0000" in r for r in held["reasons"])  # labelled like an audit sample
    assert "fail-safe" in held["explanation"]
    stored = mclient.get(f"/v1/decisions/{held['decision_id']}").json()
    assert stored["reasons"] == held["reasons"]
    other_segment = _score(mclient, {**score_body, "segment": "contract"}, "FS-3")
    assert not any(r.startswith("fail-safe") for r in other_segment["reasons"])  # only the named segment

    page = mclient.get("/v1/monitoring/failsafe").json()
    assert [s["state_id"] for s in page["active"]] == [state.state_id]
    assert page["active"][0]["reason"] == REASON

    store.clear_failsafe(state.state_id, reason="would-be error 0.5% within the target", now=now + timedelta(days=7))
    assert _score(mclient, score_body, "FS-4")["route"] == "auto_approve"
    page = mclient.get("/v1/monitoring/failsafe").json()
    assert page["active"] == []
    assert page["history"][0]["cleared_reason"] == "would-be error 0.5% within the target"


def test_a_return_outside_the_vetted_inputs_goes_to_a_person_until_they_are_republished(  # type: ignore[no-untyped-def]
        mclient, backend, score_body, model_dir, make_api_key) -> None:
    from returns_triage.serving.domain.failsafe import INPUTS_HOLD, case_inputs
    from returns_triage.serving.service.replay import replay_decision

    store = SqlMonitoringStore(backend)
    age = float(score_body["customer"]["account_age_days"])
    inputs = case_inputs(score_body, score_body["channel"], score_body["facility"])
    numeric = {name: (0.0, 10 * float(inputs[name]) + 10) for name in ("refund_amount", "unit_price",
                                                                       "returns_last_365d", "text_length")}
    known = {name: [str(inputs[name])] for name in ("channel", "facility", "category", "claimed_condition")}
    now = datetime.now(UTC)
    narrow, _ = store.publish_vetted_inputs("default", segment=score_body["segment"], known=known, now=now,
                                            numeric={**numeric, "account_age_days": (age + 1, age + 900)}, cases=800,
                                            basis="800 reference returns")
    other, _ = store.publish_vetted_inputs("default", segment="contract", numeric=numeric, known=known, now=now,
                                           cases=90, basis="90 reference returns")
    held = _score(mclient, score_body, "VI-1")
    assert held["route"] == "review" and held["reasons"][0].startswith(f"{INPUTS_HOLD} {narrow.inputs_id[:8]}")
    assert f"account_age_days {age:g} below the vetted {age + 1:g}–{age + 900:g}" in held["reasons"][0]
    assert any("propensity 1.0000" in r for r in held["reasons"]) and INPUTS_HOLD in held["explanation"]

    ds = make_api_key(backend, role="data_scientist")
    page = mclient.get("/v1/monitoring/vetted-inputs", headers=ds).json()
    assert {p["inputs_id"] for p in page} == {narrow.inputs_id, other.inputs_id} and all(p["current"] for p in page)
    mine = next(p for p in page if p["segment"] == score_body["segment"])
    assert mine["numeric"]["account_age_days"] == [age + 1, age + 900] and mine["basis"] == "800 reference returns"
    assert mclient.get("/v1/monitoring/vetted-inputs", params={"segment": "contract"}, headers=ds).json()[0][
        "inputs_id"] == other.inputs_id
    assert mclient.get("/v1/monitoring/vetted-inputs", headers=make_api_key(backend, role="auditor")).status_code == 200
    assert mclient.get("/v1/monitoring/vetted-inputs",
                       headers=make_api_key(backend, role="reviewer")).status_code == 403

    # The monitor vets the new traffic and republishes: the same return flows again, the held one still replays.
    wide, new = store.publish_vetted_inputs("default", segment=score_body["segment"], known=known,
                                            numeric={**numeric, "account_age_days": (0.0, age + 900)}, cases=950,
                                            basis="800 reference returns, 150 returns of fail-safe 1234abcd",
                                            now=now + timedelta(days=3))
    assert new and store.publish_vetted_inputs("default", segment=score_body["segment"], known=known, now=now,
                                               numeric={**numeric, "account_age_days": (0.0, age + 900)}, cases=950,
                                               basis="again")[0].inputs_id == wide.inputs_id
    assert _score(mclient, score_body, "VI-2")["route"] == "auto_approve"
    page = mclient.get("/v1/monitoring/vetted-inputs", params={"segment": score_body["segment"]}, headers=ds).json()
    assert [(p["inputs_id"], p["current"]) for p in page] == [(wide.inputs_id, True), (narrow.inputs_id, False)]
    replayed = replay_decision(backend, held["decision_id"], model_roots=[model_dir])
    assert replayed.identical, replayed.differences


def test_tightening_keeps_confident_low_risk_returns_automatic(mclient, backend, score_body) -> None:  # type: ignore[no-untyped-def]
    first = _score(mclient, score_body, "FT-1")
    assert first["route"] == "auto_approve"
    SqlMonitoringStore(backend).open_failsafe(
        "default", segment="*", factor=0.999, metric="estimated_auto_approval_error", value=0.03, target=0.02,
        reason="estimated auto-approval error 3.0% above the target 2.0%", now=datetime.now(UTC))
    again = _score(mclient, score_body, "FT-2")
    # Gates tightened by a hair: the same evidence still passes, and the decision names the fail-safe.
    assert again["route"] == "auto_approve"
    assert any("fail-safe" in r and "gates tightened" in r for r in again["reasons"])


def _window(store: SqlMonitoringStore, home: Path, tenant: str = "default") -> tuple[str, Path]:
    from returns_triage.serving.api.monitoring import reports_dir
    from returns_triage.serving.storage.monitoring import AlertRecord

    report = reports_dir(home) / tenant / "w1.html"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("<html><body>drift report</body></html>")
    start = datetime(2026, 1, 5, tzinfo=UTC)
    alerts = [AlertRecord("*", "drift", "drift", 1.0, 0.0, 0.0, "inputs drifted"),
              AlertRecord("*", "performance", "auto_approval_error", 0.05, 0.02, 12.0, "error above target")]
    metrics = {"performance": {"auto_approval_error": 0.05, "straight_through_rate": 0.4},
               "estimate": {"estimated_auto_approval_error": 0.01}}
    wid = store.save_window(tenant, segment="*", start=start, end=start + timedelta(days=7), computed_at=start
                            + timedelta(days=7), decisions_count=100, labelled=40, metrics=metrics,
                            report_file=str(report), alerts=alerts)
    return wid, report


def test_monitoring_read_endpoints_roles_and_reports(client, backend, settings, make_api_key) -> None:  # type: ignore[no-untyped-def]
    store = SqlMonitoringStore(backend)
    wid, _ = _window(store, settings.home)
    plain = store.save_window("default", segment="consumer", start=datetime(2026, 1, 5, tzinfo=UTC),
                              end=datetime(2026, 1, 12, tzinfo=UTC), computed_at=datetime(2026, 1, 12, tzinfo=UTC),
                              decisions_count=60, labelled=20, metrics={}, report_file=None)
    other, _ = _window(store, settings.home, tenant="other")
    ds = make_api_key(backend, role="data_scientist")

    windows = client.get("/v1/monitoring/windows", headers=ds).json()
    assert {w["window_id"] for w in windows} == {wid, plain}
    assert client.get("/v1/monitoring/windows", params={"segment": "consumer"}, headers=ds).json()[0][
        "window_id"] == plain
    one = client.get(f"/v1/monitoring/windows/{wid}", headers=ds).json()
    assert one["metrics"]["performance"]["auto_approval_error"] == 0.05 and one["has_report"] is True
    alerts = client.get("/v1/monitoring/alerts", headers=ds).json()
    assert [a["kind"] for a in alerts] == ["performance", "drift"]  # by impact, not drift first
    report = client.get(f"/v1/monitoring/reports/{wid}", headers=ds)
    assert report.status_code == 200 and "drift report" in report.text
    assert report.headers["content-type"].startswith("text/html")
    assert client.get(f"/v1/monitoring/reports/{plain}", headers=ds).status_code == 404
    assert client.get(f"/v1/monitoring/windows/{other}", headers=ds).status_code == 404  # another tenant's

    for role, path, code in (("reviewer", "/v1/monitoring/windows", 403),
                             ("workflow_engine", "/v1/monitoring/alerts", 403),
                             ("supervisor", f"/v1/monitoring/reports/{wid}", 403),
                             ("supervisor", "/v1/monitoring/alerts", 200),
                             ("auditor", "/v1/monitoring/failsafe", 200)):
        assert client.get(path, headers=make_api_key(backend, role=role)).status_code == code, (role, path)

    with backend.connect() as conn:
        events = conn.execute(select(webhook_events.c.event, webhook_events.c.body)
                              .where(webhook_events.c.tenant == "default")).all()
    assert sum(e.event == "monitoring.alert" for e in events) == 2
    metrics = client.get("/metrics", headers=ds).text
    assert 'triage_monitor_auto_approval_error{segment="*"} 0.05' in metrics
    assert "triage_monitor_top_alert_impact" in metrics


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_monitor_worker_one_shot_stores_windows(client, backend, settings, score_body, monkeypatch,  # type: ignore[no-untyped-def]
                                                capsys) -> None:
    from returns_triage.cli import main

    for i in range(12):
        body = {**score_body, "case_id": f"WK-{i}", "refund_amount": 20.0 + i}
        assert client.post("/v1/returns/score", json=body, headers={"Idempotency-Key": f"wk-{i}"}).status_code == 200
    monkeypatch.setenv("TRIAGE_HOME", str(settings.home))
    monkeypatch.setenv("TRIAGE_MODEL_DIR", str(settings.model_dir))
    monkeypatch.setenv("TRIAGE_DATABASE_URL", str(backend.url))
    assert main(["worker", "monitor", "--once", "--no-input-drift"]) == 0
    counts = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert counts["tenants"] == 1 and counts["windows"] >= 2  # all segments and the example's segment
    windows = SqlMonitoringStore(backend).list_windows("default")
    everything = next(w for w in windows if w["segment"] == "*")
    assert everything["decisions"] == 12
    assert everything["metrics"]["performance"]["straight_through_rate"] is not None
