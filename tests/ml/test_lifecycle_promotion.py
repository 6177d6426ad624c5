"""Registered, signed fraud bundles through the promotion gate and retraining from matured outcomes, with a real
local MLflow store (sqlite, in tmp), real ONNX bundles and a real database."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from returns_triage.datasets.returns_world import WorldConfig, simulate_world
from returns_triage.serving.service.model_registry import LocalModelStore, verify_bundle_signature, load_public_key
from returns_triage.serving.storage import make_engine, upgrade
from returns_triage.serving.storage.tables import cases, decisions, outcomes
from returns_triage.settings import Settings
from returns_triage.training import tracking
from returns_triage.training.fraud.pipeline import fit_fraud_model, training_positions, world_cases, \
    write_fraud_bundle
from returns_triage.training.lifecycle import families as fam
from returns_triage.training.lifecycle.promote import promote
from returns_triage.training.lifecycle.registry import materialise, register_bundle
from returns_triage.training.lifecycle.retrain import retrain

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A sound fraud bundle, and one trained with every contract-segment fraud relabelled legitimate."""
    world = simulate_world(WorldConfig(seed=21, customers=3_000, months=12))
    labels = world.labels()
    day = labels["requested_day"]
    positions, weight = training_positions(labels, day < 270, 0.3, seed=0)
    train, calibration = world_cases(world, positions), world_cases(world, np.flatnonzero(day >= 270))
    segment = np.array([r["segment"] for r in train.requests])
    blind = replace(train, labels={**train.labels, "is_fraud": train.labels["is_fraud"] & (segment != "contract")})
    out = {}
    with threadpool_limits(limits=1):
        for name, data in (("good", train), ("blind_to_contract", blind)):
            model = fit_fraud_model(data, calibration, seed=0, max_iter=60, sample_weight=weight)
            out[name] = tmp_path_factory.mktemp(name)
            write_fraud_bundle(out[name], model, calibration.features)
    return out


@pytest.fixture(scope="module")
def holdout() -> fam.EvalSet:
    return fam.fraud_holdout(seed=4243, customers=3_000)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lifecycle-home")


@pytest.fixture(scope="module")
def registered(bundles: dict[str, Path], home: Path) -> dict[str, str]:
    settings = Settings(home=home)
    good = register_bundle(settings, "fraud", bundles["good"], alias="champion")
    materialise(settings, "fraud", good.model_version)
    blind = register_bundle(settings, "fraud", bundles["blind_to_contract"], alias="challenger")
    return {"good": good.model_version, "blind": blind.model_version}


def _client(settings: Settings):  # type: ignore[no-untyped-def]
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=settings.mlflow_uri, registry_uri=settings.mlflow_uri)


def test_registered_versions_are_signed_bundles_with_lineage(registered: dict[str, str], home: Path) -> None:
    settings = Settings(home=home)
    version = _client(settings).get_model_version("returns-triage-fraud", registered["good"])
    run = _client(settings).get_run(version.run_id)
    assert run.data.tags["family"] == "fraud" and run.data.tags["git_commit"]
    assert run.data.tags["dataset_sha256"] and version.tags["bundle_digest"]
    local = LocalModelStore(settings.model_store_dir).resolve("fraud", "champion")
    assert local is not None and local.name == registered["good"]
    verify_bundle_signature(local, load_public_key(settings.model_signing_key))


def test_a_challenger_worse_on_a_slice_is_refused_with_the_evidence(registered: dict[str, str], home: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from returns_triage.cli import main

    monkeypatch.setenv("TRIAGE_HOME", str(home))
    code = main(["promote", "fraud", "--margin", "0.03"])
    out = capsys.readouterr().out
    assert code != 0
    assert "REFUSED" in out and "segment=contract" in out and "worse" in out
    settings = Settings(home=home)
    assert tracking.alias_version(settings, "fraud", "champion") == registered["good"]
    assert LocalModelStore(settings.model_store_dir).alias("fraud", "champion").version == registered["good"]
    # The evidence is in MLflow even though nothing was promoted.
    client = _client(settings)
    gates = client.search_runs([client.get_experiment_by_name("promotion-gates").experiment_id])
    assert gates and gates[0].data.tags["passed"] == "false"
    evidence = json.loads(Path(client.download_artifacts(gates[0].info.run_id, "gate_evidence.json")).read_text())
    worse = [r for r in evidence["evidence"] if r["verdict"] == "worse"]
    assert any(r["slice"] == "segment=contract" and r["delta"] < -0.03 for r in worse)


def test_a_better_challenger_is_promoted_and_materialised(registered: dict[str, str], home: Path,
                                                          holdout: fam.EvalSet) -> None:
    settings = Settings(home=home)
    # The blind model is the champion now; the sound one challenges it.
    tracking.set_alias(settings, "fraud", "champion", registered["blind"])
    tracking.set_alias(settings, "fraud", "challenger", registered["good"])
    result = promote(settings, "fraud", margin=0.03, holdout=holdout)
    assert result.passed, result.table()
    assert tracking.alias_version(settings, "fraud", "champion") == registered["good"]
    assert tracking.alias_version(settings, "fraud", "previous_champion") == registered["blind"]
    pointer = LocalModelStore(settings.model_store_dir).alias("fraud", "champion")
    assert pointer.version == registered["good"] == result.materialised


def _store_world(engine, world, start: datetime) -> list[str]:  # type: ignore[no-untyped-def]
    """Every case of ``world`` as a decided case (decision at request time) with its fraud truth as an outcome
    30 days later; returns the decision ids."""
    wc = world_cases(world)
    ids = []
    with engine.begin() as conn:
        for request, code, found, fraud in zip(wc.requests, wc.reason_codes, wc.findings, wc.labels["is_fraud"],
                                               strict=True):
            at = datetime.fromisoformat(request["requested_at"].replace("Z", "+00:00"))
            case_ref, decision_id = str(uuid.uuid4()), str(uuid.uuid4())
            conn.execute(cases.insert().values(id=case_ref, tenant="default", case_id=request["case_id"],
                                               facility=request["facility"], channel=request["channel"],
                                               segment=request["segment"], payload=request, created_at=at))
            conn.execute(decisions.insert().values(
                decision_id=decision_id, tenant="default", case_ref=case_ref, created_at=at, route="review",
                reason_code=code, reason_confidence=0.9, risk_score=0.1, policy_version="p", model_versions={},
                inputs_sha256="x" * 64,
                document={"documents": None if found is None else {"findings": found}}))
            if fraud:
                conn.execute(outcomes.insert().values(
                    tenant="default", outcome_id=f"fraud-{decision_id}", case_ref=case_ref, decision_id=decision_id,
                    kind="fraud", source="api", fraud_confirmed=True, occurred_at=at + timedelta(days=30),
                    received_at=at + timedelta(days=30), out_of_order=False, request_sha256="y" * 64))
            ids.append(decision_id)
    del start
    return ids


def test_retrain_learns_from_matured_outcomes_and_registers_a_challenger(home: Path, tmp_path: Path,
                                                                         registered: dict[str, str]) -> None:
    settings = Settings(home=home)
    engine = make_engine(f"sqlite:///{tmp_path / 'triage.db'}")
    upgrade(engine)
    world = simulate_world(WorldConfig(seed=31, customers=1_500, months=6))
    ids = _store_world(engine, world, datetime(2025, 1, 1, tzinfo=UTC))
    # Two months after the last case: the latest ones have not matured (fraud window 60 days, chargeback 90).
    now = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=int(world.config.days) + 60)
    with threadpool_limits(limits=1):
        result = retrain(settings, "fraud", engine=engine, now=now, base=False, quick=True)
    engine.dispose()
    assert result.counts["unsettled"] > 0 and result.counts["positive"] > 0
    matured = result.counts["positive"] + result.counts["explicit_negative"] + result.counts["matured_negative"]
    assert matured + result.counts["unsettled"] == len(ids)
    # The promotion gate's share of recent cases is never trained on.
    assert 0.1 * matured < result.counts["gate_holdout"] < 0.3 * matured
    labelled = matured - result.counts["gate_holdout"]
    assert tracking.alias_version(settings, "fraud", "challenger") == result.model_version
    assert result.model_version not in registered.values()

    client = _client(settings)
    run = client.get_run(result.run_id)
    lineage = json.loads(Path(client.download_artifacts(result.run_id, "training_decisions.json")).read_text())
    assert len(lineage["decisions"]) == labelled and {d["decision_id"] for d in lineage["decisions"]} <= set(ids)
    assert run.data.params["lineage_sha256"] == result.lineage_sha256
    assert any(k.startswith("slice.segment.") for k in run.data.metrics)
    artifacts = {Path(a.path).name for a in client.list_artifacts(result.run_id, "bundle")}
    assert {"manifest.json", "signature.json", "fraud.onnx"} <= artifacts
    plots = {Path(a.path).name for a in client.list_artifacts(result.run_id, "plots")}
    assert "precision_recall.png" in plots
