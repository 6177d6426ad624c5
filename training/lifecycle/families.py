"""How each model family is scored and measured by the lifecycle: an evaluation set, the bundle's predictions on
it (through the same onnxruntime code serving uses), one headline metric, and the same metrics per slice.

Supported: ``fraud`` (average precision of the calibrated risk) and ``reason`` (accuracy of the top code).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from returns_triage.errors import InvalidInput
from returns_triage.training.lifecycle.labels import LabelledCase

__all__ = ["EvalSet", "Evaluation", "LIFECYCLE_FAMILIES", "HEADLINE", "SLICE_MIN", "evaluate", "fraud_holdout",
           "reason_holdout", "holdout", "evalset_from_cases", "fraud_metrics", "reason_metrics", "check_family"]

LIFECYCLE_FAMILIES = ("fraud", "reason")
HEADLINE = {"fraud": "average_precision", "reason": "accuracy"}
# A slice is judged only with enough evidence: cases, and for fraud positive cases (else its metric is noise).
SLICE_MIN = {"fraud": {"n": 100, "positives": 8}, "reason": {"n": 30, "positives": 0}}
SLICE_COLUMNS = ("facility", "segment", "channel", "reason")


def check_family(family: str) -> str:
    if family not in LIFECYCLE_FAMILIES:
        raise InvalidInput(f"the lifecycle supports the families {', '.join(LIFECYCLE_FAMILIES)}, not {family!r}",
                           field="family")
    return family


@dataclass
class EvalSet:
    """Cases to measure a bundle on: the model's inputs, the truth and a slice value per case and column."""

    name: str
    family: str
    requests: list[dict[str, Any]]
    reason_codes: list[str | None]
    findings: list[list[dict[str, Any]] | None]
    y: np.ndarray
    slices: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.requests)


@dataclass(frozen=True)
class Evaluation:
    overall: dict[str, float]
    slices: dict[str, dict[str, dict[str, float]]]

    def to_dict(self) -> dict[str, Any]:
        return {"overall": self.overall, "slices": self.slices}


def fraud_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    y = np.asarray(y, dtype=bool)
    out = {"n": float(len(y)), "positives": float(y.sum()),
           "brier": float(np.mean((p - y) ** 2)) if len(y) else float("nan")}
    both = 0 < y.sum() < len(y)
    out["average_precision"] = float(average_precision_score(y, p)) if both else float("nan")
    out["roc_auc"] = float(roc_auc_score(y, p)) if both else float("nan")
    return out


def reason_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    return {"n": float(len(y)), "positives": float(len(y)),
            "accuracy": float(np.mean(y == pred)) if len(y) else float("nan")}


def _metrics(family: str, y: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    return fraud_metrics(y, scores) if family == "fraud" else reason_metrics(y, scores)


@lru_cache(maxsize=8)
def _fraud_scorer(bundle_dir: str) -> Any:
    from returns_triage.models.fraud import FraudScorer

    return FraudScorer.load(Path(bundle_dir))


@lru_cache(maxsize=4)
def _reason_model(bundle_dir: str) -> Any:
    from returns_triage.models.reason import ReasonModel

    return ReasonModel.load(Path(bundle_dir))


def predict(family: str, bundle_dir: Path, data: EvalSet) -> np.ndarray:
    """Calibrated P(fraud) per case, or the predicted reason code per case, from the verified bundle."""
    if family == "fraud":
        from returns_triage.models.fraud.features import feature_matrix

        scorer = _fraud_scorer(str(Path(bundle_dir).resolve()))
        x = feature_matrix(data.requests, data.reason_codes, data.findings)
        return np.asarray(scorer.calibrate(scorer.raw_probabilities(x)))
    model = _reason_model(str(Path(bundle_dir).resolve()))
    texts = [str(r["reason_text"]) for r in data.requests]
    return np.array([p.code for p in model.predict(texts, batch_size=64)], dtype=object)


def evaluate(family: str, bundle_dir: Path, data: EvalSet) -> Evaluation:
    """The headline metric and its companions overall and per slice value."""
    scores = predict(family, bundle_dir, data)
    slices: dict[str, dict[str, dict[str, float]]] = {}
    for column, values in data.slices.items():
        slices[column] = {}
        for value in sorted({str(v) for v in values}):
            mask = np.array([str(v) == value for v in values])
            slices[column][value] = _metrics(family, data.y[mask], scores[mask])
    return Evaluation(_metrics(family, data.y, scores), slices)


def _slices_of(requests: Sequence[dict[str, Any]], reasons: Sequence[str | None]) -> dict[str, np.ndarray]:
    return {"facility": np.array([r.get("facility") for r in requests], dtype=object),
            "segment": np.array([r.get("segment") for r in requests], dtype=object),
            "channel": np.array([r.get("channel") for r in requests], dtype=object),
            "reason": np.array([c or "unknown" for c in reasons], dtype=object)}


def evalset_from_cases(family: str, name: str, labelled: Sequence[LabelledCase]) -> EvalSet:
    """An evaluation set from matured cases in the database (inputs as of decision time)."""
    requests = [c.scored_request() for c in labelled]
    codes: list[str | None] = [c.reason_code for c in labelled]
    if family == "fraud":
        y = np.array([bool(c.label) for c in labelled], dtype=bool)
        slices = _slices_of(requests, codes)
    else:
        y = np.array([c.label for c in labelled], dtype=object)
        slices = _slices_of(requests, [str(c.label) for c in labelled])  # per true reason
    return EvalSet(name, family, requests, codes, [c.findings for c in labelled], y, slices)


def fraud_holdout(seed: int = 4242, customers: int = 6_000) -> EvalSet:
    """The fixed fraud holdout: a seeded simulated world no training run uses (same seed, same cases)."""
    from returns_triage.datasets.returns_world import WorldConfig, simulate_world
    from returns_triage.training.fraud.pipeline import world_cases

    world = simulate_world(WorldConfig(seed=seed, customers=customers, months=6))
    cases = world_cases(world)
    return EvalSet("holdout", "fraud", cases.requests, list(cases.reason_codes), cases.findings,
                   cases.labels["is_fraud"].astype(bool), _slices_of(cases.requests, cases.reason_codes))


def reason_holdout(seed: int = 4242, per_code: int = 25) -> EvalSet:
    """The fixed reason holdout: a seeded synthetic corpus (in-scope codes only)."""
    from returns_triage.datasets.reasons import OUT_OF_SCOPE, generate_corpus

    examples = [e for e in generate_corpus(seed=seed, per_code=per_code, ood_per_code_equivalent=0.0)
                if e.label != OUT_OF_SCOPE]
    requests = [{"reason_text": e.text} for e in examples]
    labels = np.array([e.label for e in examples], dtype=object)
    return EvalSet("holdout", "reason", requests, [None] * len(examples), [None] * len(examples), labels,
                   {"reason": labels.copy()})


def holdout(family: str) -> EvalSet:
    return fraud_holdout() if check_family(family) == "fraud" else reason_holdout()
