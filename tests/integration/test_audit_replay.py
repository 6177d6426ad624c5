"""Replaying decisions from the record (both backends, real bundles): identical under the recorded bundles and
policy, a what-if under another policy, clear failures when a recorded bundle or the input is not what was logged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select, text

from returns_triage.errors import Conflict, ModelUnavailable
from returns_triage.serving.domain.policy_document import default_policy_path
from returns_triage.serving.service.replay import replay_decision
from returns_triage.serving.storage.audit_log import SqlAuditLog
from returns_triage.serving.storage.tables import audit_entries, policy_documents


def _score(client, body: dict, key: str) -> dict:  # type: ignore[no-untyped-def]
    resp = client.post("/v1/returns/score", json=body, headers={"Idempotency-Key": key})
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def _what_if_policy(tmp_path: Path) -> Path:
    text_ = default_policy_path().read_text()
    text_ = text_.replace("name: default", "name: what-if").replace("queue: returns-review", "queue: what-if-review")
    text_ = text_.replace("min_reason_confidence: 0.90", "min_reason_confidence: 1.0")
    path = tmp_path / "what-if.yaml"
    path.write_text(text_)
    return path


def test_a_decision_records_what_replay_needs_and_replays_identically(client, backend, model_dir, score_body,
                                                                     tmp_path) -> None:  # type: ignore[no-untyped-def]
    doc = _score(client, score_body, "replay-1")
    assert set(doc["model_digests"]) == set(doc["model_versions"])
    assert len(doc["policy_sha256"]) == 64
    with backend.connect() as conn:
        entry = json.loads(conn.execute(select(audit_entries.c.payload).where(
            audit_entries.c.subject_id == doc["decision_id"])).scalar_one())
        stored = conn.execute(select(policy_documents.c.version)).scalars().all()
    assert entry["model_digests"] == doc["model_digests"] and entry["policy_sha256"] == doc["policy_sha256"]
    assert entry["features"]["customer"]["customer_id"] == score_body["customer"]["customer_id"]
    assert stored == [doc["policy_version"]]
    assert SqlAuditLog(backend).policy_document(sha256=doc["policy_sha256"]) is not None

    result = replay_decision(backend, doc["decision_id"], model_roots=[model_dir])
    assert result.identical, result.differences
    assert not result.what_if and result.replay_policy_version == doc["policy_version"]
    assert result.replayed["route"] == doc["route"] and result.replayed["explanation"] == doc["explanation"]

    what_if = replay_decision(backend, doc["decision_id"], model_roots=[model_dir],
                              policy_file=_what_if_policy(tmp_path))
    assert what_if.what_if and what_if.replay_policy_version.startswith("what-if-")
    assert what_if.replayed["route"] == "review" and what_if.replayed["review"]["queue"] == "what-if-review"
    assert {d["field"] for d in what_if.differences} >= {"review"}


def test_replay_fails_clearly_without_the_recorded_bundle(client, backend, model_dir, score_body,
                                                          tmp_path) -> None:  # type: ignore[no-untyped-def]
    doc = _score(client, score_body, "replay-2")
    with pytest.raises(ModelUnavailable, match="not available"):
        replay_decision(backend, doc["decision_id"], model_roots=[tmp_path / "empty"])
    # Same version name, different files: the digest tells them apart.
    copy = tmp_path / "models"
    shutil.copytree(model_dir / "reason", copy / "reason")
    manifest = json.loads((copy / "reason" / "manifest.json").read_text())
    first = sorted(manifest["files"])[0]
    manifest["files"][first] = "0" * 64
    (copy / "reason" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelUnavailable, match="manifest digest"):
        replay_decision(backend, doc["decision_id"], model_roots=[copy])


def test_replay_uses_the_logged_input_and_refuses_an_altered_one(client, backend, model_dir,
                                                                   score_body) -> None:  # type: ignore[no-untyped-def]
    doc = _score(client, score_body, "replay-3")
    # The same case scored again with another body under another key: the case row keeps the first payload, the
    # second decision's own input is in its audit entry.
    second = _score(client, {**score_body, "refund_amount": 99.0}, "replay-3b")
    assert replay_decision(backend, second["decision_id"], model_roots=[model_dir]).identical
    with backend.begin() as conn:
        conn.execute(text("UPDATE cases SET payload = :p"), {"p": json.dumps({**score_body, "refund_amount": 1.0})})
        # An attacker who also rewrites the log (triggers off) still cannot make the input match its hash.
        if backend.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
        else:
            conn.execute(text("DROP TRIGGER audit_entries_no_update"))
        conn.execute(text("UPDATE audit_entries SET payload = REPLACE(payload, :old, :new) WHERE subject_id = :d"),
                     {"old": '"refund_amount":129.0', "new": '"refund_amount":1.0', "d": doc["decision_id"]})
    with pytest.raises(Conflict, match="altered"):
        replay_decision(backend, doc["decision_id"], model_roots=[model_dir])


def test_cli_replay_exit_codes(client, backend, model_dir, score_body, tmp_path, monkeypatch,
                               capsys) -> None:  # type: ignore[no-untyped-def]
    from returns_triage.cli import main

    if backend.dialect.name != "sqlite":
        pytest.skip("the CLI reads one database URL; SQLite is enough to check its exit codes")
    doc = _score(client, score_body, "replay-4")
    monkeypatch.setenv("TRIAGE_DATABASE_URL", str(backend.url))
    monkeypatch.setenv("TRIAGE_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("TRIAGE_HOME", str(tmp_path))
    assert main(["audit", "replay", doc["decision_id"]]) == 0
    assert "identical" in capsys.readouterr().out
    assert main(["audit", "replay", doc["decision_id"], "--policy", str(_what_if_policy(tmp_path)), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["what_if"] is True
    monkeypatch.setenv("TRIAGE_MODEL_DIR", str(tmp_path / "nothing"))
    monkeypatch.setenv("TRIAGE_MODEL_STORE", str(tmp_path / "nothing"))
    assert main(["audit", "replay", doc["decision_id"]]) == 2


def test_a_decision_held_by_a_fail_safe_replays_identically_after_it_cleared(client, backend, model_dir,
                                                                             score_body) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from returns_triage.serving.storage.monitoring import SqlMonitoringStore

    store = SqlMonitoringStore(backend)
    state = store.open_failsafe("default", segment="*", factor=0.0, metric="auto_approval_error_ipw", value=0.05,
                                target=0.01, reason="test: error above target", now=datetime.now(UTC))
    doc = _score(client, score_body, "replay-failsafe-1")
    named = " ".join([*doc["reasons"], doc["explanation"]])
    assert f"fail-safe {state.state_id[:8]}" in named and doc["route"] == "review", named
    store.clear_failsafe(state.state_id, reason="test: back within target", now=datetime.now(UTC))

    result = replay_decision(backend, doc["decision_id"], model_roots=[model_dir])
    assert result.identical, result.differences
    assert result.replayed["route"] == "review"

