"""Serving-side reason classifier: a verified bundle run with onnxruntime (no torch, no sklearn)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from returns_triage.models.bundle import Manifest, load_manifest, onnx_session
from returns_triage.models.reason.cascade import CASCADE_FILE, CascadeStage
from returns_triage.models.reason.encoder import OnnxTextEncoder

__all__ = ["ReasonPrediction", "ReasonModel", "BUNDLE_NAME"]

BUNDLE_NAME = "reason"


@dataclass(frozen=True, slots=True)
class ReasonPrediction:
    code: str
    confidence: float
    prediction_set: tuple[str, ...]
    out_of_scope_score: float
    abstain: bool
    top: tuple[tuple[str, float], ...]
    # Which stage answered: "encoder" (the MiniLM path) or "first_stage" (the cheap cascade stage).
    stage: str = "encoder"


class ReasonModel:
    """Text → reason code, calibrated confidence, conformal prediction set and an abstention flag."""

    def __init__(self, directory: Path, manifest: Manifest, *, intra_op_threads: int = 0,
                 cascade: bool = True) -> None:
        self.directory = directory
        self.manifest = manifest
        self.labels = np.array(manifest.labels)
        self.encoder = OnnxTextEncoder(directory / "encoder.onnx", directory / "tokenizer.json",
                                       intra_op_threads=intra_op_threads)
        self._head = onnx_session(directory / "head.onnx", intra_op_threads=intra_op_threads)
        self.abstain_threshold = float(manifest.thresholds["abstain_below_confidence"])
        self.conformal_q = float(manifest.thresholds["conformal_q"])
        # Bundles from before the combined out-of-scope score have only the confidence threshold.
        self.oos_threshold = float(manifest.thresholds.get("abstain_at_oos_score", 1.0 - self.abstain_threshold + 1e-7))
        self._head_outputs = [o.name for o in self._head.get_outputs()]
        # The first stage answers the texts it is sure of; bundles without one (or with it switched off by
        # TRIAGE_REASON_CASCADE=off) send every text through the encoder.
        cascade_config = manifest.extra.get("cascade")
        self.cascade: CascadeStage | None = None
        if cascade_config and CASCADE_FILE in manifest.files:
            self.cascade = CascadeStage(directory / CASCADE_FILE, directory / "tokenizer.json", cascade_config,
                                        intra_op_threads=intra_op_threads)
        self.cascade_enabled = cascade

    @classmethod
    def load(cls, directory: Path, *, intra_op_threads: int = 0, cascade: bool = True) -> ReasonModel:
        """Verify and load a bundle; ``cascade=False`` keeps its first stage unused (the full model path)."""
        manifest = load_manifest(directory, expected_name=BUNDLE_NAME, verify=True)
        return cls(directory, manifest, intra_op_threads=intra_op_threads, cascade=cascade)

    def with_cascade(self, enabled: bool) -> ReasonModel:
        """The same loaded model (sessions shared) with the first stage switched on or off."""
        other = copy.copy(self)
        other.cascade_enabled = enabled
        return other

    @property
    def uses_cascade(self) -> bool:
        return self.cascade is not None and self.cascade_enabled

    @property
    def version(self) -> str:
        return self.manifest.version

    def probabilities(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        emb = self.encoder.encode(texts, batch_size=batch_size)
        return self.probabilities_from_embeddings(emb)

    def probabilities_from_embeddings(self, emb: np.ndarray) -> np.ndarray:
        return self.scores_from_embeddings(emb)[0]

    def scores(self, texts: list[str], batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated probabilities (n × labels) and out-of-scope scores (n); abstain where score ≥ threshold."""
        return self.scores_from_embeddings(self.encoder.encode(texts, batch_size=batch_size))

    def scores_from_embeddings(self, emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(emb) == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32), np.zeros(0, dtype=np.float32)
        outputs = self._head.run(None, {"embedding": emb.astype(np.float32, copy=False)})
        proba = outputs[0]
        score = outputs[1] if len(outputs) > 1 else 1.0 - proba.max(axis=1)
        return proba, score

    def predict(self, texts: list[str], batch_size: int = 64) -> list[ReasonPrediction]:
        """One prediction per text, in order. With the cascade on, the first stage answers the texts it is sure
        of (``stage="first_stage"``, never abstaining) and only the others pay for the encoder."""
        if not self.uses_cascade or not texts:
            proba, score = self.scores(texts, batch_size=batch_size)
            return [self._prediction(p, float(s)) for p, s in zip(proba, score, strict=True)]
        assert self.cascade is not None
        first = self.cascade.run(texts)
        out: list[ReasonPrediction | None] = [None] * len(texts)
        for i in np.flatnonzero(first.accept):
            # An answered text is one the first stage judged in scope: its score stays below the abstain line.
            score = min(float(first.out_of_scope_score[i]), float(np.nextafter(self.oos_threshold, 0.0)))
            out[i] = self._prediction(first.probabilities[i], score, stage="first_stage")
        deferred = np.flatnonzero(~first.accept)
        if len(deferred):
            proba, score = self.scores([texts[i] for i in deferred], batch_size=batch_size)
            for i, p, s in zip(deferred, proba, score, strict=True):
                out[i] = self._prediction(p, float(s))
        return out  # type: ignore[return-value]

    def _prediction(self, proba: np.ndarray, oos_score: float, stage: str = "encoder") -> ReasonPrediction:
        best = int(proba.argmax())
        confidence = float(proba[best])
        in_set = np.flatnonzero(proba >= 1.0 - self.conformal_q)
        if stage != "encoder" and best not in in_set:
            # An answered text's own code is always in its set (the first stage only answers when sure).
            in_set = np.r_[best, in_set]
        ordered = in_set[np.argsort(-proba[in_set])]
        top_idx = np.argsort(-proba)[:3]
        return ReasonPrediction(
            code=str(self.labels[best]),
            confidence=confidence,
            prediction_set=tuple(str(self.labels[i]) for i in ordered),
            out_of_scope_score=oos_score,
            # The first stage answers only texts it has judged in scope and sure; everything else was deferred.
            abstain=stage == "encoder" and (oos_score >= self.oos_threshold or confidence < self.abstain_threshold),
            top=tuple((str(self.labels[i]), float(proba[i])) for i in top_idx),
            stage=stage,
        )
