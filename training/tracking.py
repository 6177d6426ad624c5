"""The one MLflow adapter: every training run is recorded here, and nowhere else imports mlflow.

A run logs its parameters, metrics, the dataset hash, a confusion matrix and a reliability diagram (PNG,
computed on the calibration data the model never trained on) and the bundle directory as artifacts; the
bundle is then registered as a new version of a registered model whose source is those artifacts (ONNX files
and the sha256 manifest — no pickled model).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from returns_triage.settings import Settings

__all__ = ["ReasonRunTracker", "TrackedRun", "reason_tracker"]

REASON_MODEL_NAME = "returns-triage-reason"
EXPERIMENT = "reason-classifier"


@dataclass(frozen=True, slots=True)
class TrackedRun:
    run_id: str
    model_name: str
    model_version: str


def _quiet_mlflow() -> None:
    # Nothing phones home (STACK.md, trap 8); set before mlflow is imported.
    os.environ.setdefault("DO_NOT_TRACK", "true")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


class ReasonRunTracker:
    """Callable handed to ``fit_reason_bundle(tracking=...)``; remembers the last run it recorded."""

    def __init__(self, settings: Settings, *, experiment: str = EXPERIMENT, model_name: str = REASON_MODEL_NAME,
                 run_name: str | None = None) -> None:
        self.settings = settings
        self.experiment = experiment
        self.model_name = model_name
        self.run_name = run_name
        self.last: TrackedRun | None = None

    def __call__(self, record: dict[str, Any]) -> None:
        _quiet_mlflow()
        import mlflow
        from mlflow.tracking import MlflowClient

        mlflow.set_tracking_uri(self.settings.mlflow_uri)
        mlflow.set_registry_uri(self.settings.mlflow_uri)
        client = MlflowClient()
        experiment = client.get_experiment_by_name(self.experiment)
        if experiment is None:
            artifacts = (self.settings.home / "mlruns").resolve()
            experiment_id = client.create_experiment(self.experiment, artifact_location=artifacts.as_uri())
        else:
            experiment_id = experiment.experiment_id
        manifest = record["manifest"]
        head = record["head"]
        with mlflow.start_run(experiment_id=experiment_id, run_name=self.run_name) as run:
            mlflow.log_params(_params(record))
            mlflow.log_metrics(_numeric(manifest.metrics) | _numeric(head.calibration_summary_, "calibration_"))
            mlflow.set_tags({"dataset_sha256": manifest.lineage["dataset_sha256"], "bundle_version": manifest.version,
                             "bundle_digest": manifest.digest,
                             "encoder_precision": str(manifest.extra.get("encoder_precision"))})
            mlflow.log_dict(manifest.to_dict(), "manifest.json")
            with tempfile.TemporaryDirectory() as tmp:
                for name, draw in _plots(head).items():
                    path = Path(tmp) / name
                    draw(path)
                    mlflow.log_artifact(str(path), "plots")
            mlflow.log_artifacts(str(record["bundle_dir"]), "bundle")
            source = f"{run.info.artifact_uri}/bundle"
        try:
            client.create_registered_model(self.model_name)
        except Exception as exc:  # mlflow raises its own error type when the name exists
            if "already exists" not in str(exc).lower() and "RESOURCE_ALREADY_EXISTS" not in str(exc):
                raise
        version = client.create_model_version(self.model_name, source, run_id=run.info.run_id,
                                              tags={"bundle_version": manifest.version})
        self.last = TrackedRun(run.info.run_id, self.model_name, str(version.version))


def reason_tracker(settings: Settings | None, enabled: bool) -> ReasonRunTracker | None:
    return ReasonRunTracker(settings or Settings.from_env()) if enabled else None


def _params(record: dict[str, Any]) -> dict[str, Any]:
    manifest = record["manifest"]
    finetune = record["finetune"]
    params: dict[str, Any] = {
        "encoder": manifest.lineage.get("encoder"),
        "encoder_finetuned": finetune is not None,
        "C": record["C"],
        "quantize": record["quantize"],
        "n_labels": len(manifest.labels),
        **{k: manifest.lineage.get(k) for k in ("n_train", "n_fit", "n_valid", "n_calibration", "ood_label", "seed")},
        **{f"threshold_{k}": v for k, v in manifest.thresholds.items()},
        "temperature": manifest.calibration.get("temperature"),
    }
    if finetune is not None:
        params |= {f"finetune_{k}": v for k, v in finetune.to_dict().items()}
        params["finetune_epochs_run"] = (manifest.lineage.get("finetune") or {}).get("epochs_run")
    return params


def _numeric(values: dict[str, Any], prefix: str = "") -> dict[str, float]:
    return {f"{prefix}{k}": float(v) for k, v in values.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v)}


def _plots(head: Any) -> dict[str, Callable[[Path], None]]:
    proba = head.calibration_proba_
    labels = head.calibration_labels_
    known = np.isin(labels, head.classes_)
    pred = head.classes_[proba.argmax(1)]
    return {
        "confusion_matrix.png": lambda p: _confusion_png(labels[known], pred[known], head.classes_, p),
        "reliability_diagram.png": lambda p: _reliability_png(proba[known].max(1), pred[known] == labels[known], p),
    }


def _confusion_png(y: np.ndarray, pred: np.ndarray, classes: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    index = {c: i for i, c in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)))
    for t, p in zip(y, pred, strict=True):
        matrix[index[t], index[p]] += 1
    matrix /= matrix.sum(axis=1, keepdims=True).clip(1)
    size = max(5.0, 0.12 * len(classes) + 3)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    if len(classes) <= 30:
        ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=7)
        ax.set_yticks(range(len(classes)), classes, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix (calibration data, row-normalised)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _reliability_png(confidence: np.ndarray, correct: np.ndarray, path: Path, n_bins: int = 15) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    edges = np.linspace(0, 1, n_bins + 1)
    centres, accuracy, counts = [], [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (confidence > lo) & (confidence <= hi)
        if m.any():
            centres.append(confidence[m].mean())
            accuracy.append(correct[m].mean())
            counts.append(m.sum())
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1)
    ax.plot(centres, accuracy, "o-")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"reliability (n={int(sum(counts))})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
