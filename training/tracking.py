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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from returns_triage.settings import Settings

__all__ = ["ReasonRunTracker", "TrackedRun", "reason_tracker", "BundleRun", "log_bundle_run", "model_name",
           "set_alias", "alias_version", "download_bundle", "log_gate_evidence", "git_commit", "flatten_slices",
           "version_tags"]

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
        experiment_id = _experiment_id(client, self.settings, self.experiment)
        manifest = record["manifest"]
        _sign(self.settings, Path(record["bundle_dir"]))
        head = record["head"]
        with mlflow.start_run(experiment_id=experiment_id, run_name=self.run_name) as run:
            mlflow.log_params(_params(record))
            mlflow.log_metrics(_numeric(manifest.metrics) | _numeric(head.calibration_summary_, "calibration_"))
            mlflow.set_tags({"dataset_sha256": manifest.lineage["dataset_sha256"], "bundle_version": manifest.version,
                             "git_commit": git_commit() or "unknown", "family": "reason",
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
                                              tags={"bundle_version": manifest.version,
                                                    "bundle_digest": manifest.digest})
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


# ------------------------------------------------------------------------------------ every family, and the registry


def model_name(family: str) -> str:
    """The registered model a family's bundles are versions of (``returns-triage-fraud``, ...)."""
    return f"returns-triage-{family}"


@dataclass
class BundleRun:
    """What one training run of any family logs. ``slices`` is ``{column: {value: {metric: number}}}``
    (e.g. ``{"segment": {"consumer": {"average_precision": 0.41, "n": 812}}}``); ``plots`` draw PNGs;
    ``artifacts`` are JSON documents (lineage, evidence) logged by name."""

    family: str
    bundle_dir: Path
    manifest: Any
    params: dict[str, Any]
    metrics: dict[str, Any]
    dataset_sha256: str
    slices: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    plots: dict[str, Callable[[Path], None]] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


def _client(settings: Settings) -> Any:
    _quiet_mlflow()
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(settings.mlflow_uri)
    mlflow.set_registry_uri(settings.mlflow_uri)
    return MlflowClient(tracking_uri=settings.mlflow_uri, registry_uri=settings.mlflow_uri)


def _experiment_id(client: Any, settings: Settings, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    if settings.mlflow_uri.startswith(("sqlite:", "file:")) or "://" not in settings.mlflow_uri:
        # Embedded store: artifacts beside it under TRIAGE_HOME. A tracking server chooses its own artifact store.
        artifacts = (settings.home / "mlruns").resolve()
        return str(client.create_experiment(name, artifact_location=artifacts.as_uri()))
    return str(client.create_experiment(name))


def _sign(settings: Settings, bundle_dir: Path) -> None:
    from returns_triage.training.lifecycle.signing import sign_bundle

    sign_bundle(settings, bundle_dir)


def git_commit() -> str | None:
    """The commit of the source tree this code runs from, when it is a git checkout (None otherwise)."""
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, text=True,
                             capture_output=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and len(commit) == 40 else None


def flatten_slices(slices: dict[str, dict[str, dict[str, Any]]]) -> dict[str, float]:
    """``{column: {value: {metric: x}}}`` as MLflow metric names ``slice.column.value.metric``."""
    out: dict[str, float] = {}
    for column, values in slices.items():
        for value, metrics in values.items():
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(value))
            out |= _numeric(metrics, f"slice.{column}.{safe}.")
    return out


def log_bundle_run(settings: Settings, run: BundleRun, *, experiment: str | None = None,
                   run_name: str | None = None, alias: str | None = None) -> TrackedRun:
    """Sign the bundle, record the run (params, metrics overall and per slice, plots, dataset hash, git commit,
    JSON artifacts, the bundle itself) and register the bundle as a new version of ``model_name(family)``;
    ``alias`` (e.g. ``challenger``) is then pointed at that version."""
    import mlflow

    client = _client(settings)
    experiment_id = _experiment_id(client, settings, experiment or f"{run.family}-training")
    _sign(settings, run.bundle_dir)
    manifest = run.manifest
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as active:
        mlflow.log_params({k: str(v)[:500] for k, v in run.params.items()})
        mlflow.log_metrics(_numeric(run.metrics) | flatten_slices(run.slices))
        mlflow.set_tags({"family": run.family, "dataset_sha256": run.dataset_sha256,
                         "bundle_version": manifest.version, "bundle_digest": manifest.digest,
                         "git_commit": git_commit() or "unknown", **run.tags})
        mlflow.log_dict(run.slices, "slices.json")
        for name, document in run.artifacts.items():
            mlflow.log_dict(document, name)
        with tempfile.TemporaryDirectory() as tmp:
            for name, draw in run.plots.items():
                path = Path(tmp) / name
                draw(path)
                mlflow.log_artifact(str(path), "plots")
        mlflow.log_artifacts(str(run.bundle_dir), "bundle")
        source = f"{active.info.artifact_uri}/bundle"
    name = model_name(run.family)
    try:
        client.create_registered_model(name)
    except Exception as exc:  # mlflow raises its own error type when the name exists
        if "already exists" not in str(exc).lower() and "RESOURCE_ALREADY_EXISTS" not in str(exc):
            raise
    version = client.create_model_version(name, source, run_id=active.info.run_id,
                                          tags={"bundle_version": manifest.version, "bundle_digest": manifest.digest,
                                                "dataset_sha256": run.dataset_sha256})
    if alias is not None:
        client.set_registered_model_alias(name, alias, str(version.version))
    return TrackedRun(active.info.run_id, name, str(version.version))


def set_alias(settings: Settings, family: str, alias: str, version: str) -> None:
    _client(settings).set_registered_model_alias(model_name(family), alias, str(version))


def alias_version(settings: Settings, family: str, alias: str) -> str | None:
    """The version ``alias`` names, or None when the alias (or the registered model) does not exist."""
    client = _client(settings)
    try:
        return str(client.get_model_version_by_alias(model_name(family), alias).version)
    except Exception as exc:  # noqa: BLE001 - mlflow's error for "no such alias / model" is its own class
        if "not found" in str(exc).lower() or "RESOURCE_DOES_NOT_EXIST" in str(exc) or "alias" in str(exc).lower():
            return None
        raise


def version_tags(settings: Settings, family: str, version: str) -> dict[str, str]:
    return dict(_client(settings).get_model_version(model_name(family), str(version)).tags)


def download_bundle(settings: Settings, family: str, version: str, dst: Path) -> Path:
    """Download the bundle a registered version points at into ``dst``; returns the bundle folder."""
    client = _client(settings)
    mv = client.get_model_version(model_name(family), str(version))
    dst.mkdir(parents=True, exist_ok=True)
    if mv.run_id:
        return Path(client.download_artifacts(mv.run_id, "bundle", str(dst)))
    import mlflow

    return Path(mlflow.artifacts.download_artifacts(artifact_uri=mv.source, dst_path=str(dst)))


def log_gate_evidence(settings: Settings, family: str, evidence: dict[str, Any], *, passed: bool,
                      metrics: dict[str, Any]) -> str:
    """Record one promotion gate (passed or refused) as a run of the ``promotion-gates`` experiment."""
    import mlflow

    client = _client(settings)
    experiment_id = _experiment_id(client, settings, "promotion-gates")
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{family} gate") as active:
        mlflow.set_tags({"family": family, "passed": str(passed).lower(),
                         "champion_version": str(evidence.get("champion_version")),
                         "challenger_version": str(evidence.get("challenger_version")),
                         "git_commit": git_commit() or "unknown"})
        mlflow.log_params({"margin": evidence.get("margin"), "min_gain": evidence.get("min_gain")})
        mlflow.log_metrics(_numeric(metrics))
        mlflow.log_dict(evidence, "gate_evidence.json")
    return str(active.info.run_id)
