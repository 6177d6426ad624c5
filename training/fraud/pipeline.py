"""Train the fraud model on a simulated world: fit on earlier months, calibrate on a later held-out slice,
export to ONNX with a parity check, and write the ``fraud`` bundle."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression
from threadpoolctl import threadpool_limits

from returns_triage.datasets.returns_world import World, WorldConfig, simulate_world
from returns_triage.models.bundle import Manifest, write_manifest
from returns_triage.models.fraud.features import FEATURE_NAMES, feature_matrix
from returns_triage.models.fraud.scorer import BUNDLE_NAME, MODEL_FILE, RUNTIME_FILE
from returns_triage.training.fraud.export import export_onnx

__all__ = ["WorldCases", "TrainedFraudModel", "world_cases", "training_positions", "fit_fraud_model", "write_fraud_bundle",
           "train_fraud_bundle", "blank_optional_inputs", "reference_row", "centred_isotonic_knots", "BANDS",
           "LEGIT_SHARE", "OPTIONAL_INPUTS"]

BANDS = {"medium": 0.05, "high": 0.30}  # calibrated P(fraud); the policy may override per facility
# Legitimate training cases kept. Down-sampling them (0.3) halved the fit time but cost ~1.5 points of PR-AUC
# against the Bayes limit (`triage bench fraud`); the fit takes well under a minute on every legitimate case.
LEGIT_SHARE = 1.0
_ONE_HOT_BLOCKS = ("segment", "channel", "category", "reason", "delivery", "condition")


@dataclass(frozen=True)
class WorldCases:
    """A world's cases as the service sees them (requests, reason codes, findings) plus features and truth."""

    requests: list[dict[str, Any]]
    reason_codes: list[str]
    findings: list[list[dict[str, str]] | None]
    features: np.ndarray
    labels: dict[str, np.ndarray]

    def select(self, mask: np.ndarray) -> WorldCases:
        idx = np.flatnonzero(mask)
        return WorldCases(
            requests=[self.requests[i] for i in idx], reason_codes=[self.reason_codes[i] for i in idx],
            findings=[self.findings[i] for i in idx], features=self.features[idx],
            labels={k: v[idx] for k, v in self.labels.items()},
        )


@dataclass
class TrainedFraudModel:
    model: HistGradientBoostingClassifier
    calibration: dict[str, list[float]]
    reference: np.ndarray
    metrics: dict[str, Any] = field(default_factory=dict)


def world_cases(world: World, positions: np.ndarray | None = None) -> WorldCases:
    """The cases of ``world`` (or those at ``positions``, in case order) as the service would receive them."""
    pos = np.arange(len(world)) if positions is None else np.asarray(positions)
    requests = world.requests(positions=pos)
    all_codes, all_found = world.reason_codes(), world.findings()
    codes = [all_codes[i] for i in pos]
    found = [all_found[i] for i in pos]
    labels = {k: v[pos] for k, v in world.labels().items()}
    return WorldCases(requests, codes, found, feature_matrix(requests, codes, found), labels)


def training_positions(labels: dict[str, np.ndarray], mask: np.ndarray, legit_share: float,
                       seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Every fraud case under ``mask`` and a random ``legit_share`` of the legitimate ones (negative
    down-sampling), with the sample weight that undoes the down-sampling."""
    rng = np.random.default_rng([seed, 2])
    fraud = labels["is_fraud"]
    keep = mask & (fraud | (rng.random(fraud.size) < legit_share))
    pos = np.flatnonzero(keep)
    return pos, np.where(fraud[pos], 1.0, 1.0 / legit_share)


def fit_fraud_model(train: WorldCases, calibration: WorldCases, *, seed: int = 0, max_iter: int = 300,
                    blank_share: float = 0.05, sample_weight: np.ndarray | None = None) -> TrainedFraudModel:
    """Gradient-boosted trees on ``train`` (ground-truth labels; a ``blank_share`` of each optional input
    blanked), isotonic calibration on ``calibration`` as sent (complete)."""
    y = train.labels["is_fraud"].astype(int)
    model = HistGradientBoostingClassifier(
        learning_rate=0.05, max_iter=max_iter, max_leaf_nodes=31, min_samples_leaf=10, l2_regularization=3.0,
        early_stopping=False, random_state=seed,
    )
    features = blank_optional_inputs(train.features, np.random.default_rng(seed), blank_share)
    started = time.perf_counter()
    model.fit(features, y, sample_weight=sample_weight)
    fit_seconds = time.perf_counter() - started
    raw = model.predict_proba(calibration.features)[:, 1]
    knots = centred_isotonic_knots(raw, calibration.labels["is_fraud"].astype(float))
    return TrainedFraudModel(
        model=model, calibration=knots, reference=reference_row(train.features, y),
        metrics={"fit_seconds": round(fit_seconds, 2), "train_cases": int(len(y)), "train_fraud": int(y.sum()),
                 "calibration_cases": int(len(raw))},
    )


def centred_isotonic_knots(raw: np.ndarray, outcome: np.ndarray) -> dict[str, list[float]]:
    """Knots of a strictly increasing piecewise-linear calibration map: isotonic regression's blocks, each
    placed at the mean raw score of its members (centred isotonic regression), plus the two end points.

    Plain isotonic regression is a step function: every case inside a block gets the same probability, so the
    ranking the trees learned is thrown away within each step (on the fraud benchmark that cost ~2.5 points of
    PR-AUC against the Bayes limit). Interpolating between block centres keeps each block's calibrated mean
    and the trees' order between blocks."""
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip", increasing=True)
    iso.fit(raw, outcome)
    xs = np.sort(raw, kind="stable")
    fitted = iso.predict(xs)
    bounds = np.r_[0, np.flatnonzero(np.diff(fitted) != 0) + 1, len(fitted)]
    x = np.r_[xs[0], [xs[a:b].mean() for a, b in zip(bounds[:-1], bounds[1:], strict=True)], xs[-1]]
    y = np.r_[fitted[0], fitted[bounds[:-1]], fitted[-1]]
    keep = np.r_[True, np.diff(x) > 0]  # np.interp needs increasing x; a one-member end block repeats its point
    return {"x": [float(v) for v in x[keep]], "y": [float(v) for v in y[keep]]}


# Optional inputs a caller may not send, and how their absence looks in the features (see request_features).
OPTIONAL_INPUTS = ("reason_code", "findings", "delivery", "claimed_condition", "weights", "returned_serials")


def blank_optional_inputs(features: np.ndarray, rng: np.random.Generator, share: float) -> np.ndarray:
    """A copy of ``features`` where each optional input is, independently with probability ``share`` per row,
    replaced by what request_features produces when that input is absent. Training on it teaches the trees
    what "unknown" means, because the simulator always knows every input."""
    x = features.copy()
    col = {n: i for i, n in enumerate(FEATURE_NAMES)}

    def block(prefix: str) -> list[int]:
        return [i for n, i in col.items() if n.startswith(prefix + "=")]

    for name in OPTIONAL_INPUTS:
        rows = rng.random(len(x)) < share
        if name == "reason_code":
            x[np.ix_(rows, block("reason"))] = 0.0
            x[rows, col["reason=unknown"]] = 1.0
        elif name == "findings":
            x[np.ix_(rows, block("finding"))] = 0.0
            x[rows, col["findings_known"]] = 0.0
        elif name == "delivery":
            x[np.ix_(rows, block("delivery"))] = 0.0
            x[rows, col["delivery=unknown"]] = 1.0
        elif name == "claimed_condition":
            x[np.ix_(rows, block("condition"))] = 0.0
            x[rows, col["condition=unknown"]] = 1.0
        elif name == "weights":
            x[rows, col["weight_known"]] = 0.0
            x[rows, col["weight_received_ratio"]] = -1.0
        elif name == "returned_serials":
            x[rows, col["serial_declared"]] = 0.0
            x[rows, col["serial_differs"]] = 0.0
    return x


def reference_row(features: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A typical legitimate return: the median of each numeric feature, the most common value of each
    one-hot block, no findings. Explanations occlude factors towards it."""
    legit = features[y == 0]
    ref = np.median(legit, axis=0)
    for block in _ONE_HOT_BLOCKS:
        idx = [i for i, n in enumerate(FEATURE_NAMES) if n.startswith(block + "=")]
        ref[idx] = 0.0
        ref[idx[int(np.argmax(legit[:, idx].sum(axis=0)))]] = 1.0
    for i, name in enumerate(FEATURE_NAMES):
        if name.startswith("finding="):
            ref[i] = 0.0
    return ref.astype(np.float32)


def write_fraud_bundle(out_dir: Path, trained: TrainedFraudModel, parity_features: np.ndarray, *,
                       lineage: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None) -> Manifest:
    """Export the model to ONNX (checking parity on ``parity_features``) and write the verified bundle."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    parity = export_onnx(trained.model, out_dir / MODEL_FILE, parity_features)
    runtime = {
        "feature_names": list(FEATURE_NAMES), "calibration": trained.calibration, "bands": BANDS,
        "reference": [float(v) for v in trained.reference],
    }
    (out_dir / RUNTIME_FILE).write_text(json.dumps(runtime, indent=1) + "\n")
    return write_manifest(
        out_dir, BUNDLE_NAME, [MODEL_FILE, RUNTIME_FILE], labels=["legitimate", "fraud"], thresholds=BANDS,
        calibration={"method": "isotonic", "knots": len(trained.calibration["x"])},
        metrics={**trained.metrics, **parity, **(metrics or {})}, lineage=dict(lineage or {}),
        extra={"features": len(FEATURE_NAMES), "explanations": "occlusion towards a typical legitimate return"},
    )


def train_fraud_bundle(out_dir: Path, seed: int = 0, quick: bool = False,
                       tracking: Callable[[dict[str, Any]], None] | None = None) -> Manifest:
    """Simulate a world, train on its first 9 months, calibrate on the last 3, export and write the bundle.

    ``tracking`` receives the run record (``family``, ``manifest``, ``bundle_dir``, ``params``, the calibration
    ``WorldCases`` to measure slices on); see training/lifecycle/tracked.py, which logs it to MLflow."""
    config = WorldConfig(seed=seed, customers=8_000 if quick else 20_000, months=12)
    world = simulate_world(config)
    labels = world.labels()
    cut = 0.8 * config.days
    train_pos, weight = training_positions(labels, labels["requested_day"] < cut, LEGIT_SHARE, seed)
    train = world_cases(world, train_pos)
    calibration = world_cases(world, np.flatnonzero(labels["requested_day"] >= cut))
    # One OpenMP thread: on a shared 2-core machine the boosting's second thread spins and runs many times slower.
    with threadpool_limits(limits=1):
        trained = fit_fraud_model(train, calibration, seed=seed, max_iter=150 if quick else 300,
                                  sample_weight=weight)
    lineage = {"source": "returns_world simulator", "world": {"seed": seed, "customers": config.customers,
                                                             "months": config.months},
               "train_days": [0, cut], "calibration_days": [cut, config.days], "labels": "ground truth is_fraud",
               "legit_downsampling": LEGIT_SHARE}
    manifest = write_fraud_bundle(Path(out_dir), trained, calibration.features, lineage=lineage)
    if tracking is not None:
        tracking({"family": "fraud", "manifest": manifest, "bundle_dir": Path(out_dir), "evaluation": calibration,
                  "params": {"seed": seed, "quick": quick, "customers": config.customers, "months": config.months,
                             "max_iter": 150 if quick else 300, "legit_downsampling": LEGIT_SHARE}})
    return manifest
