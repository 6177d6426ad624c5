"""The local model store and bundle signatures (real files), and matured labels from both real databases."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from returns_triage.errors import BundleIntegrityError
from returns_triage.models.bundle import write_manifest
from returns_triage.serving.service.model_registry import (
    LocalModelStore,
    load_public_key,
    verify_bundle_signature,
)
from returns_triage.serving.storage.tables import cases, decisions, outcomes, review_decisions, review_items
from returns_triage.settings import Settings
from returns_triage.training.lifecycle.labels import MaturityWindows, fraud_labels, reason_labels
from returns_triage.training.lifecycle.signing import sign_bundle


def _bundle(directory: Path, content: str) -> Path:
    directory.mkdir(parents=True)
    (directory / "model.onnx").write_text(content)
    write_manifest(directory, "fraud", ["model.onnx"])
    return directory


def test_installed_versions_resolve_by_alias_and_the_alias_file_is_replaced_whole(tmp_path: Path) -> None:
    store = LocalModelStore(tmp_path / "store")
    store.install("fraud", "1", _bundle(tmp_path / "a", "one"))
    store.install("fraud", "2", _bundle(tmp_path / "b", "two"))
    first = store.set_alias("fraud", "champion", "1")
    assert store.resolve("fraud", "champion") == tmp_path / "store" / "fraud" / "1"
    stamp = store.stamp("champion")
    store.set_alias("fraud", "champion", "2")
    assert store.resolve("fraud", "champion") == tmp_path / "store" / "fraud" / "2"
    assert store.stamp("champion") != stamp
    assert store.alias("fraud", "champion").bundle_version != first.bundle_version
    assert not [p for p in (tmp_path / "store" / "fraud").iterdir() if p.name.startswith(".")]  # no leftovers
    assert store.resolve("reason", "champion") is None


def test_a_tampered_bundle_is_not_installed(tmp_path: Path) -> None:
    source = _bundle(tmp_path / "a", "one")
    (source / "model.onnx").write_text("swapped weights")
    with pytest.raises(BundleIntegrityError):
        LocalModelStore(tmp_path / "store").install("fraud", "1", source)
    assert not (tmp_path / "store" / "fraud" / "1").exists()


def test_signature_verifies_with_the_deployment_key_and_breaks_on_any_manifest_change(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    bundle = _bundle(tmp_path / "a", "one")
    signature = sign_bundle(settings, bundle)
    public = load_public_key(Path(f"{settings.model_signing_key}.pub"))
    verify_bundle_signature(bundle, public)
    assert signature["key_id"] and (settings.model_signing_key.stat().st_mode & 0o777) == 0o600

    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["thresholds"] = {"high": 0.99}  # a changed threshold is a different model
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleIntegrityError, match="signature"):
        verify_bundle_signature(bundle, public)

    other = Settings(home=tmp_path / "elsewhere")
    fresh = _bundle(tmp_path / "b", "two")
    sign_bundle(other, fresh)
    with pytest.raises(BundleIntegrityError, match="signed by key"):
        verify_bundle_signature(fresh, public)


# ------------------------------------------------------------------------------------------ matured labels

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _decide(conn, case_id: str, at: datetime, *, reason: str = "DEFECTIVE", segment: str = "consumer") -> tuple[str, str]:  # type: ignore[no-untyped-def]
    case_ref, decision_id = str(uuid.uuid4()), str(uuid.uuid4())
    request = {"case_id": case_id, "facility": "DC-1", "channel": "portal", "segment": segment,
               "reason_text": "it broke", "refund_amount": 10.0}
    conn.execute(cases.insert().values(id=case_ref, tenant="t", case_id=case_id, facility="DC-1", channel="portal",
                                       segment=segment, payload=request, created_at=at))
    conn.execute(decisions.insert().values(
        decision_id=decision_id, tenant="t", case_ref=case_ref, created_at=at, route="review", reason_code=reason,
        reason_confidence=0.9, risk_score=0.1, policy_version="p", model_versions={}, inputs_sha256="x" * 64,
        document={"reason": {"code": reason}, "documents": None}))
    return case_ref, decision_id


def _outcome(conn, case_ref: str, decision_id: str, at: datetime, **values) -> None:  # type: ignore[no-untyped-def]
    conn.execute(outcomes.insert().values(
        tenant="t", outcome_id=str(uuid.uuid4()), case_ref=case_ref, decision_id=decision_id, source="api",
        occurred_at=at, received_at=at, out_of_order=False, request_sha256="y" * 64, **values))


def test_only_matured_or_confirmed_cases_become_labels(backend) -> None:  # type: ignore[no-untyped-def]
    now = T0 + timedelta(days=100)
    with backend.begin() as conn:
        old_silent = _decide(conn, "old-silent", T0)  # 100 days, no signal: matured legitimate
        young_silent = _decide(conn, "young-silent", now - timedelta(days=10))  # unsettled: left out
        young_fraud = _decide(conn, "young-fraud", now - timedelta(days=5))
        _outcome(conn, *young_fraud, now - timedelta(days=1), kind="fraud", fraud_confirmed=True)
        cleared = _decide(conn, "cleared", now - timedelta(days=3))
        _outcome(conn, *cleared, now - timedelta(days=2), kind="fraud", fraud_confirmed=True)
        _outcome(conn, *cleared, now - timedelta(days=1), kind="fraud", fraud_confirmed=False)  # latest wins
        future = _decide(conn, "future", T0)
        _outcome(conn, *future, now + timedelta(days=5), kind="fraud", fraud_confirmed=True)  # not known at `now`
        corrected = _decide(conn, "corrected", T0, reason="DEFECTIVE")
        item = str(uuid.uuid4())
        conn.execute(review_items.insert().values(
            item_id=item, tenant="t", decision_id=corrected[1], case_ref=corrected[0], queue="q", priority=1,
            sla_due_at=T0, status="done", created_at=T0, fencing_token=1))
        conn.execute(review_decisions.insert().values(
            review_decision_id=str(uuid.uuid4()), tenant="t", item_id=item, decision_id=corrected[1],
            case_ref=corrected[0], reviewer="r", action="approve", fencing_token=1,
            corrected_reason_code="MISSING_PARTS", fraud_confirmed=None, ai_suggestion={"reason_code": "DEFECTIVE"},
            ai_agreement="overrides", override=False, created_at=T0 + timedelta(hours=1)))
    labelled, counts = fraud_labels(backend, now=now, windows=MaturityWindows(days={"fraud": 60.0, "chargeback": 90.0}))
    by_case = {c.case_id: (c.label, c.label_source) for c in labelled}
    assert by_case["old-silent"] == (False, "matured:no_fraud_signal")
    assert "young-silent" not in by_case and counts["unsettled"] == 1
    assert by_case["young-fraud"] == (True, "outcome:fraud")
    assert by_case["cleared"] == (False, "outcome:fraud")
    assert by_case["future"] == (False, "matured:no_fraud_signal")
    assert by_case["corrected"] == (False, "matured:no_fraud_signal")
    del old_silent, young_silent

    reasons, rcounts = reason_labels(backend, now=now)
    assert {c.case_id: c.label for c in reasons} == {"corrected": "MISSING_PARTS"}
    assert rcounts["corrected"] == 1
    (case,) = reasons
    # Features as of decision time: the request as scored, the reason code the decision saw.
    assert case.reason_code == "DEFECTIVE" and case.scored_request()["requested_at"] == T0.isoformat()
