"""Trackers for the training pipelines: each turns a pipeline's run record into an MLflow run and a registered,
signed model version (see training/tracking.py), with metrics per slice and plots.

``BundleTracker(settings, alias="challenger")`` is what ``train_fraud_bundle(tracking=...)`` and
``train_document_bundle(tracking=...)`` accept; after the call ``tracker.last`` holds the run and version.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from returns_triage.settings import Settings
from returns_triage.training import tracking

__all__ = ["BundleTracker", "fraud_evaluation_record", "register_default_bundles"]


def _fraud_dataset_sha256(requests: list[dict[str, Any]], labels: np.ndarray) -> str:
    digest = hashlib.sha256()
    for request, label in zip(requests, labels, strict=True):
        digest.update(json.dumps(request, sort_keys=True, default=str).encode())
        digest.update(b"1" if label else b"0")
    return digest.hexdigest()


def fraud_evaluation_record(bundle_dir: Path, requests: list[dict[str, Any]], reason_codes: list[str | None],
                            findings: list[Any], y: np.ndarray) -> tuple[dict[str, float], dict[str, Any],
                                                                        dict[str, Callable[[Path], None]]]:
    """Overall metrics, slices and plots of a fraud bundle on the given cases (its calibration data)."""
    from returns_triage.training.lifecycle.families import EvalSet, _slices_of, evaluate, predict

    data = EvalSet("calibration", "fraud", requests, reason_codes, findings, np.asarray(y, dtype=bool),
                   _slices_of(requests, reason_codes))
    result = evaluate("fraud", bundle_dir, data)
    scores = predict("fraud", bundle_dir, data)
    # Calibration curve: predicted P(fraud) against the observed fraud rate per bin.
    plots = {"reliability_diagram.png": lambda p: tracking._reliability_png(scores, data.y, p),
             "precision_recall.png": lambda p: _pr_png(data.y, scores, p)}
    return ({f"eval_{k}": v for k, v in result.overall.items()}, result.slices, plots)


def _pr_png(y: np.ndarray, scores: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve

    precision, recall, _ = precision_recall_curve(y, scores)
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(recall, precision)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(f"fraud precision-recall (n={len(y)}, fraud={int(np.sum(y))})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


class BundleTracker:
    """Callable handed to a pipeline's ``tracking=``: logs, signs and registers the bundle it just wrote."""

    def __init__(self, settings: Settings, *, alias: str | None = None, run_name: str | None = None,
                 artifacts: dict[str, Any] | None = None, extra_params: dict[str, Any] | None = None) -> None:
        self.settings = settings
        self.alias = alias
        self.run_name = run_name
        self.artifacts = dict(artifacts or {})
        self.extra_params = dict(extra_params or {})
        self.last: tracking.TrackedRun | None = None

    def __call__(self, record: dict[str, Any]) -> None:
        family = record["family"]
        manifest = record["manifest"]
        bundle_dir = Path(record["bundle_dir"])
        metrics = dict(manifest.metrics)
        slices = dict(record.get("slices") or {})
        plots: dict[str, Callable[[Path], None]] = {}
        dataset = str(manifest.lineage.get("dataset_sha256") or "")
        cases = record.get("evaluation")
        if family == "fraud" and cases is not None:
            y = np.asarray(cases.labels["is_fraud"], dtype=bool)
            overall, slices, plots = fraud_evaluation_record(bundle_dir, cases.requests, list(cases.reason_codes),
                                                             list(cases.findings), y)
            metrics |= overall
            dataset = dataset or _fraud_dataset_sha256(cases.requests, y)
        if not dataset:
            dataset = hashlib.sha256(json.dumps(manifest.lineage, sort_keys=True, default=str).encode()).hexdigest()
        run = tracking.BundleRun(
            family=family, bundle_dir=bundle_dir, manifest=manifest,
            params={**(record.get("params") or {}), **self.extra_params}, metrics=_flat(metrics),
            dataset_sha256=dataset, slices=slices, plots=plots,
            artifacts={"lineage.json": manifest.lineage, **self.artifacts})
        self.last = tracking.log_bundle_run(self.settings, run, run_name=self.run_name, alias=self.alias)


def _flat(metrics: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def register_default_bundles(settings: Settings, *, quick: bool = False, promote_first: bool = True) -> dict[str, str]:
    """Train the fraud and documents default bundles with tracking, register each, and (when a family has no
    champion yet) make the new version its champion and materialise it. Returns ``{family: version}``."""
    from returns_triage.training.documents import train_document_bundle
    from returns_triage.training.fraud import train_fraud_bundle
    from returns_triage.training.lifecycle.registry import materialise

    out: dict[str, str] = {}
    for family, train in (("fraud", train_fraud_bundle), ("documents", train_document_bundle)):
        tracker = BundleTracker(settings, alias="challenger", run_name=f"{family} default")
        train(settings.home / "training-runs" / family, seed=0, quick=quick, tracking=tracker)
        assert tracker.last is not None
        out[family] = tracker.last.model_version
        if promote_first and tracking.alias_version(settings, family, "champion") is None:
            tracking.set_alias(settings, family, "champion", tracker.last.model_version)
            materialise(settings, family, tracker.last.model_version, alias="champion")
    return out
