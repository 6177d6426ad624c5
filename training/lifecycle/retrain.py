"""Retraining from what the business learned: matured outcomes and reviewer corrections become training rows, a
new bundle is trained, logged with its lineage (every decision it learned from) and registered as ``challenger``.

Fraud: the base training world (what the default bundle learned from) plus the matured cases in the database,
weighted up (``recent_weight``) because they are the world as it is now (e.g. a new fraud ring). The latest
quarter of the matured cases (by decision time) is held back with the base world's later months to calibrate;
nothing a case learned after its decision enters its features (see labels.py).

Reason: the default synthetic corpus plus every reviewer-corrected or confirmed reason text (frozen encoder).

Cases of the promotion gate's recent holdout (``promote.in_gate_holdout``) are never trained on, so the gate can
compare champion and challenger on recent matured outcomes neither has seen.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine

from returns_triage.errors import InvalidInput
from returns_triage.settings import Settings
from returns_triage.training.lifecycle.families import check_family
from returns_triage.training.lifecycle.labels import DEFAULT_WINDOWS, LabelledCase, MaturityWindows, fraud_labels, \
    reason_labels
from returns_triage.training.lifecycle.tracked import BundleTracker

__all__ = ["RetrainResult", "retrain", "fraud_training_cases", "lineage_document"]


@dataclass
class RetrainResult:
    """The new challenger: where it was written, its registered version and what it learned from."""

    family: str
    bundle_dir: Path
    bundle_version: str
    run_id: str
    model_version: str
    counts: dict[str, int]
    lineage_sha256: str
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "bundle_dir": str(self.bundle_dir), "bundle_version": self.bundle_version,
                "run_id": self.run_id, "model_version": self.model_version, "counts": self.counts,
                "lineage_sha256": self.lineage_sha256, "metrics": self.metrics}


def lineage_document(labelled: list[LabelledCase], *, now: datetime, windows: MaturityWindows,
                     counts: dict[str, int]) -> dict[str, Any]:
    """Which decisions the training set was built from, with each label and its source (an MLflow artifact)."""
    return {"built_at": now.isoformat(), "maturity_windows": windows.to_dict(), "counts": counts,
            "decisions": [c.lineage() for c in labelled]}


def _sha256(document: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=str).encode()).hexdigest()


def fraud_training_cases(labelled: list[LabelledCase]) -> Any:
    """The matured cases as the fraud pipeline's ``WorldCases`` (features as of decision time)."""
    from returns_triage.models.fraud.features import feature_matrix
    from returns_triage.training.fraud.pipeline import WorldCases

    requests = [c.scored_request() for c in labelled]
    codes = [c.reason_code for c in labelled]
    findings = [c.findings for c in labelled]
    return WorldCases(requests, codes, findings, feature_matrix(requests, codes, findings),  # type: ignore[arg-type]
                      {"is_fraud": np.array([bool(c.label) for c in labelled], dtype=bool),
                       "requested_day": np.zeros(len(labelled))})


def _concat(a: Any, b: Any) -> Any:
    from returns_triage.training.fraud.pipeline import WorldCases

    return WorldCases(a.requests + b.requests, list(a.reason_codes) + list(b.reason_codes),
                      list(a.findings) + list(b.findings), np.vstack([a.features, b.features]),
                      {"is_fraud": np.concatenate([a.labels["is_fraud"], b.labels["is_fraud"]]).astype(bool)})


def _retrain_fraud(settings: Settings, labelled: list[LabelledCase], out_dir: Path, *, quick: bool, seed: int,
                   recent_weight: float, base: bool, tracker: BundleTracker, lineage_sha: str) -> Any:
    from threadpoolctl import threadpool_limits

    from returns_triage.datasets.returns_world import WorldConfig, simulate_world
    from returns_triage.training.fraud.pipeline import LEGIT_SHARE, fit_fraud_model, training_positions, \
        world_cases, write_fraud_bundle

    ordered = sorted(labelled, key=lambda c: c.decided_at)
    cut = int(round(0.75 * len(ordered)))
    recent_train, recent_cal = fraud_training_cases(ordered[:cut]), fraud_training_cases(ordered[cut:])
    weight = np.full(len(recent_train.requests), recent_weight)
    train, calibration = recent_train, recent_cal
    world_info: dict[str, Any] = {}
    if base:
        config = WorldConfig(seed=seed, customers=8_000 if quick else 20_000, months=12)
        world = simulate_world(config)
        labels = world.labels()
        day_cut = 0.8 * config.days
        positions, base_weight = training_positions(labels, labels["requested_day"] < day_cut, LEGIT_SHARE,
                                                      seed)
        train = _concat(world_cases(world, positions), recent_train)
        weight = np.concatenate([base_weight, weight])
        calibration = _concat(world_cases(world, np.flatnonzero(labels["requested_day"] >= day_cut)), recent_cal)
        world_info = {"seed": seed, "customers": config.customers, "months": config.months}
    if int(train.labels["is_fraud"].sum()) == 0 or int(calibration.labels["is_fraud"].sum()) == 0:
        raise InvalidInput("the matured cases hold no confirmed fraud to learn from (and no base world was used)")
    with threadpool_limits(limits=1):
        trained = fit_fraud_model(train, calibration, seed=seed, max_iter=150 if quick else 300,
                                  sample_weight=weight)
    lineage = {"source": "matured outcomes" + (" + returns_world base" if base else ""), "base_world": world_info,
               "recent_cases": len(ordered), "recent_train": cut, "recent_calibration": len(ordered) - cut,
               "recent_weight": recent_weight, "labels": "confirmed fraud; matured silence = legitimate",
               "training_decisions_sha256": lineage_sha,
               "dataset_sha256": _sha256({"base_world": world_info, "training_decisions": lineage_sha})}
    manifest = write_fraud_bundle(out_dir, trained, calibration.features, lineage=lineage)
    tracker({"family": "fraud", "manifest": manifest, "bundle_dir": out_dir, "evaluation": recent_cal
             if recent_cal.labels["is_fraud"].any() and (~recent_cal.labels["is_fraud"]).any() else calibration,
             "params": {"seed": seed, "quick": quick, "recent_weight": recent_weight, "base_world": base,
                        "max_iter": 150 if quick else 300}})
    return manifest


def _retrain_reason(settings: Settings, labelled: list[LabelledCase], out_dir: Path, *, quick: bool, seed: int,
                    recent_weight: float, base: bool, tracker: BundleTracker, lineage_sha: str) -> Any:
    from returns_triage.datasets.reasons import OUT_OF_SCOPE, generate_corpus
    from returns_triage.training.reason.pipeline import ReasonTrainingData, fit_reason_bundle

    texts: list[str] = []
    labels: list[str] = []
    if base:
        for e in generate_corpus(seed=seed, per_code=80 if quick else 300):
            texts.append(e.text)
            labels.append(e.label)
    # Corrections repeat ``recent_weight`` times (rounded): the head has no sample weights.
    repeat = max(1, int(round(recent_weight)))
    for c in labelled:
        texts += [str(c.request["reason_text"])] * repeat
        labels += [str(c.label)] * repeat
    data = ReasonTrainingData(texts, labels)
    record: dict[str, Any] = {}
    manifest = fit_reason_bundle(data, out_dir, ood_label=OUT_OF_SCOPE if base else None,
                                 cache_dir=settings.home / "cache", seed=seed, tracking=record.update, log=False)
    tracker({"family": "reason", "manifest": manifest, "bundle_dir": out_dir,
             "params": {"seed": seed, "quick": quick, "recent_weight": recent_weight, "base_corpus": base,
                        "n_train": len(texts)}})
    return manifest


def retrain(settings: Settings, family: str, *, engine: Engine | None = None, now: datetime | None = None,
            windows: MaturityWindows = DEFAULT_WINDOWS, since: datetime | None = None, tenant: str | None = None,
            quick: bool = False, seed: int = 0, recent_weight: float = 3.0, base: bool = True,
            min_cases: int = 20, out_dir: Path | None = None, alias: str = "challenger",
            gate_holdout: bool = True) -> RetrainResult:
    """Build the training set for ``family`` from the database (``engine``, default ``settings.database_url``),
    train, log to MLflow with the lineage artifact, register the bundle and point ``alias`` at it.

    ``now`` decides which cases have matured (default: the current time); ``since`` / ``tenant`` narrow the
    decisions used; ``gate_holdout`` leaves out the promotion gate's share of cases. Raises InvalidInput when fewer
    than ``min_cases`` labelled cases exist.
    """
    check_family(family)
    now = now or datetime.now(UTC)
    own_engine = engine is None
    if engine is None:
        from returns_triage.serving.storage import make_engine, upgrade

        engine = make_engine(settings.database_url)
        upgrade(engine)  # as `triage serve` does: a fresh TRIAGE_HOME has no schema yet
    try:
        if family == "fraud":
            labelled, counts = fraud_labels(engine, now=now, windows=windows, tenant=tenant, since=since)
        else:
            labelled, counts = reason_labels(engine, now=now, tenant=tenant, since=since)
    finally:
        if own_engine:
            engine.dispose()
    if gate_holdout:
        from returns_triage.training.lifecycle.promote import in_gate_holdout

        kept = [c for c in labelled if not in_gate_holdout(c.case_id)]
        counts = {**counts, "gate_holdout": len(labelled) - len(kept)}
        labelled = kept
    if len(labelled) < min_cases:
        raise InvalidInput(f"only {len(labelled)} matured, labelled {family} cases ({counts}); need {min_cases}",
                           field="family", code="too_few_outcomes")
    lineage = lineage_document(labelled, now=now, windows=windows, counts=counts)
    lineage_sha = _sha256(lineage)
    out_dir = out_dir or settings.home / "training-runs" / f"{family}-{now:%Y%m%d%H%M%S}"
    out_dir.mkdir(parents=True, exist_ok=True)
    tracker = BundleTracker(settings, alias=alias, run_name=f"{family} retrain",
                            artifacts={"training_decisions.json": lineage},
                            extra_params={"maturity_windows": json.dumps(windows.to_dict()),
                                          "lineage_sha256": lineage_sha, **{f"cases_{k}": v for k, v in counts.items()}})
    print(f"retraining {family} on {len(labelled)} matured cases {counts}", file=sys.stderr)
    trainer = _retrain_fraud if family == "fraud" else _retrain_reason
    manifest = trainer(settings, labelled, out_dir, quick=quick, seed=seed, recent_weight=recent_weight, base=base,
                       tracker=tracker, lineage_sha=lineage_sha)
    assert tracker.last is not None
    # Also beside the bundle (not inside it: the bundle's files are exactly its manifest's).
    out_dir.with_name(out_dir.name + ".decisions.json").write_text(json.dumps(lineage, default=str) + "\n")
    return RetrainResult(family, out_dir, manifest.version, tracker.last.run_id, tracker.last.model_version,
                         counts, lineage_sha, {k: v for k, v in manifest.metrics.items()
                                               if isinstance(v, int | float)})
