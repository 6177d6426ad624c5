"""Train a reason-classifier bundle from labelled texts: embed, fit the calibrated head, export, check parity."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from returns_triage.models.bundle import Manifest, write_manifest
from returns_triage.models.reason.head import CalibratedReasonHead
from returns_triage.models.reason.runtime import BUNDLE_NAME, ReasonModel
from returns_triage.training.reason.encoder import ENCODER_NAME, encode, export_encoder_onnx, load_sentence_encoder
from returns_triage.training.reason.export import export_head_onnx, head_parity

__all__ = ["ReasonTrainingData", "fit_reason_bundle", "dataset_hash"]


@dataclass(frozen=True, slots=True)
class ReasonTrainingData:
    texts: list[str]
    labels: list[str]

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError("texts and labels differ in length")


def dataset_hash(*parts: ReasonTrainingData | None) -> str:
    digest = hashlib.sha256()
    for part in parts:
        if part is None:
            continue
        for text, label in zip(part.texts, part.labels, strict=True):
            digest.update(f"{label}\t{text}\n".encode())
    return digest.hexdigest()


def fit_reason_bundle(
    train: ReasonTrainingData,
    out_dir: Path,
    *,
    valid: ReasonTrainingData | None = None,
    ood_label: str | None = None,
    cache_dir: Path | None = None,
    C: float = 10.0,
    target_selective_accuracy: float = 0.95,
    coverage: float = 0.90,
    seed: int = 0,
    log: bool = True,
) -> Manifest:
    """Fit and write a verified bundle to ``out_dir``; returns its manifest."""
    started = time.perf_counter()

    def say(msg: str) -> None:
        if log:
            print(f"[reason fit {time.perf_counter() - started:6.1f}s] {msg}", flush=True)

    out_dir.mkdir(parents=True, exist_ok=True)
    encoder = load_sentence_encoder()
    say(f"encoding {len(train.texts)} training texts with {ENCODER_NAME}")
    X = encode(train.texts, encoder)
    Xv = encode(valid.texts, encoder) if valid is not None else None
    head = CalibratedReasonHead(C=C, ood_label=ood_label, target_selective_accuracy=target_selective_accuracy,
                                coverage=coverage, random_state=seed)
    say("fitting calibrated head")
    head.fit(X, np.array(train.labels), Xv, np.array(valid.labels) if valid is not None else None)

    say("exporting encoder and head to ONNX")
    files = export_encoder_onnx(out_dir, cache_dir=cache_dir)
    export_head_onnx(head, out_dir / "head.onnx")
    files.append("head.onnx")
    parity = head_parity(head, out_dir / "head.onnx", X[:2000])
    if parity["top1_agreement"] < 1.0:
        raise RuntimeError(f"ONNX head disagrees with the estimator: {parity}")

    train_seconds = time.perf_counter() - started
    manifest = write_manifest(
        out_dir,
        BUNDLE_NAME,
        files,
        labels=[str(c) for c in head.classes_],
        thresholds={"abstain_below_confidence": head.abstain_threshold_, "conformal_q": head.conformal_q_,
                    "coverage": coverage, "target_selective_accuracy": target_selective_accuracy},
        calibration={"method": "temperature", "temperature": head.temperature_, **head.calibration_summary_},
        metrics={"onnx_head_top1_agreement": parity["top1_agreement"],
                 "onnx_head_max_prob_diff": parity["max_prob_diff"], "train_seconds": round(train_seconds, 1)},
        lineage={"encoder": ENCODER_NAME, "dataset_sha256": dataset_hash(train, valid),
                 "n_train": len(train.texts), "n_valid": len(valid.texts) if valid else 0,
                 "ood_label": ood_label, "seed": seed},
    )
    # End-to-end parity: the serving path (tokenizers + ONNX encoder + head) against torch + sklearn.
    sample = train.texts[:: max(1, len(train.texts) // 200)][:200]
    served = ReasonModel.load(out_dir).probabilities(sample)
    reference = head.predict_proba(X[:: max(1, len(train.texts) // 200)][:200])
    agreement = float((served.argmax(1) == reference.argmax(1)).mean())
    if agreement < 1.0:
        raise RuntimeError(f"served bundle disagrees with the training pipeline on {1 - agreement:.1%} of texts")
    say(f"bundle {manifest.version} written to {out_dir}")
    return manifest


def training_data_from_columns(texts: Sequence[str], labels: Sequence[str]) -> ReasonTrainingData:
    return ReasonTrainingData([str(t) for t in texts], [str(label) for label in labels])
