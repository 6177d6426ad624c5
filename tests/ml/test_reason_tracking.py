"""The MLflow adapter records a reason training run and registers its bundle, against a throwaway sqlite store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from returns_triage.models.bundle import load_manifest
from returns_triage.models.reason.head import CalibratedReasonHead
from returns_triage.settings import Settings


@pytest.fixture(scope="module")
def small_head() -> CalibratedReasonHead:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))
    X = np.vstack([c + 0.3 * rng.normal(size=(40, 16)) for c in centres])
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = np.repeat(["DEFECTIVE", "LATE_DELIVERY", "MISSING_PARTS"], 40)
    return CalibratedReasonHead(C=1.0, cv=3).fit(X, y)


def test_a_run_logs_metrics_plots_dataset_hash_and_registers_the_bundle(
    reason_bundle: Path, small_head: CalibratedReasonHead, tmp_path: Path
) -> None:
    pytest.importorskip("mlflow")
    from returns_triage.training.tracking import ReasonRunTracker

    settings = Settings(home=tmp_path)
    tracker = ReasonRunTracker(settings, run_name="test")
    manifest = load_manifest(reason_bundle)
    tracker({"manifest": manifest, "bundle_dir": reason_bundle, "head": small_head, "train": None, "valid": None,
             "finetune": None, "C": 1.0, "quantize": True})
    assert tracker.last is not None and tracker.last.model_version == "1"

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=settings.mlflow_uri, registry_uri=settings.mlflow_uri)
    run = client.get_run(tracker.last.run_id)
    assert run.data.tags["dataset_sha256"] == manifest.lineage["dataset_sha256"]
    assert run.data.metrics["onnx_head_top1_agreement"] == 1.0
    assert run.data.params["encoder"] == manifest.lineage["encoder"]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert artifacts == {"plots/confusion_matrix.png", "plots/reliability_diagram.png"}
    bundle_files = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "bundle")}
    assert {"manifest.json", "head.onnx", "encoder.onnx"} <= bundle_files
    version = client.get_model_version(tracker.last.model_name, "1")
    assert version.run_id == run.info.run_id and version.source.endswith("/bundle")
    # The registered artifacts are the verified bundle, not a pickle.
    logged = Path(run.info.artifact_uri.removeprefix("file://")) / "bundle"
    assert json.loads((logged / "manifest.json").read_text())["version"] == manifest.version
    assert load_manifest(logged, verify=True).version == manifest.version
    with sqlite3.connect(tmp_path / "mlflow.db") as db:
        assert db.execute("select count(*) from registered_models").fetchone()[0] == 1
