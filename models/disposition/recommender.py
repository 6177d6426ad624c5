"""The serving side of the disposition model: inspection + context -> features -> two ONNX models (notes, then
trees) -> temperature calibration -> a recommendation with alternatives, factors and an abstention flag.

onnxruntime and numpy only; the bundle is verified (sha256 per file) before anything is loaded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from returns_triage.errors import BundleIntegrityError, ModelUnavailable
from returns_triage.models.bundle import load_manifest, onnx_session
from returns_triage.models.disposition.explain import occlusion_rows, select_factors
from returns_triage.models.disposition.features import (
    FEATURE_NAMES, round_note_probabilities, structured_features,
)
from returns_triage.models.disposition.notes import NOTE_DIM, note_matrix, note_words

__all__ = ["DispositionModel", "BUNDLE_NAME", "MODEL_FILE", "NOTES_FILE", "RUNTIME_FILE", "calibrate",
           "choose_abstain_threshold"]

BUNDLE_NAME = "disposition"
NOTES_FILE = "disposition_notes.onnx"
MODEL_FILE = "disposition.onnx"
RUNTIME_FILE = "disposition_runtime.json"  # labels, feature names, temperature, abstention, reference row
_MAX_NOTE_WORDS = 40  # leave-one-word-out explanations look at the first words only
_BATCH = 512


def calibrate(raw: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature scaling of the trees' probabilities: softmax(log p / T)."""
    logp = np.log(np.clip(np.asarray(raw, dtype=np.float64), 1e-9, 1.0)) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    p = np.exp(logp)
    return p / p.sum(axis=1, keepdims=True)


def choose_abstain_threshold(calibrated: np.ndarray, y: np.ndarray, target_accuracy: float) -> float:
    """The lowest confidence (0.50 … 0.95) above which recommendations are right ``target_accuracy`` of the
    time on held-out cases; below it the case goes to a person."""
    confidence, correct = calibrated.max(axis=1), calibrated.argmax(axis=1) == y
    for t in np.round(np.arange(0.50, 0.951, 0.01), 2):
        accepted = confidence >= t
        if accepted.any() and correct[accepted].mean() >= target_accuracy:
            return float(t)
    return 0.95


class DispositionModel:
    """Recommends what happens to returned goods (restock, refurbish, quarantine, return_to_vendor, liquidate,
    scrap) from an inspection and its case context."""

    def __init__(self, notes_session: Any, session: Any, runtime: Mapping[str, Any], version: str) -> None:
        self._notes = notes_session
        self._notes_input = notes_session.get_inputs()[0].name
        self._session = session
        self._input = session.get_inputs()[0].name
        self.labels: tuple[str, ...] = tuple(runtime["labels"])
        self.temperature = float(runtime["temperature"])
        self.abstain_below = float(runtime["abstain_below"])
        self._reference = np.asarray(runtime["reference"], dtype=np.float32)
        self.version = version

    @classmethod
    def load(cls, bundle_dir: Path) -> DispositionModel:
        """Verify the bundle's manifest and load it; raises BundleIntegrityError or ModelUnavailable."""
        bundle_dir = Path(bundle_dir)
        if not bundle_dir.is_dir():
            raise ModelUnavailable(f"no disposition bundle at {bundle_dir}")
        manifest = load_manifest(bundle_dir, expected_name=BUNDLE_NAME, verify=True)
        for needed in (NOTES_FILE, MODEL_FILE, RUNTIME_FILE):
            if needed not in manifest.files:
                raise BundleIntegrityError(f"bundle {manifest.version} does not list {needed}")
        runtime = json.loads((bundle_dir / RUNTIME_FILE).read_text())
        if tuple(runtime.get("feature_names", ())) != FEATURE_NAMES or runtime.get("note_dim") != NOTE_DIM:
            raise BundleIntegrityError(
                f"bundle {manifest.version} was trained on other features than this code computes; retrain it"
            )
        return cls(onnx_session(bundle_dir / NOTES_FILE, intra_op_threads=1),
                   onnx_session(bundle_dir / MODEL_FILE, intra_op_threads=1), runtime, manifest.version)

    # --- batch API (benchmarks, backfills) ------------------------------------------------------------------

    def note_probabilities(self, notes: Sequence[str | None]) -> np.ndarray:
        """The notes model's disposition probabilities, one row per note."""
        out = []
        for start in range(0, len(notes), _BATCH):
            x = note_matrix(notes[start:start + _BATCH])
            _, proba = self._notes.run(None, {self._notes_input: x})
            out.append(np.asarray(proba))
        return np.vstack(out) if out else np.zeros((0, len(self.labels)), dtype=np.float32)

    def features(self, inspections: Sequence[Mapping[str, Any]], contexts: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Full float32 feature rows (structured + rounded notes probabilities); InvalidInput on bad input."""
        structured = np.vstack([structured_features(i, c) for i, c in zip(inspections, contexts, strict=True)])
        notes = self.note_probabilities([i.get("notes") for i in inspections])
        return np.hstack([structured, round_note_probabilities(notes)])

    def raw_probabilities(self, features: np.ndarray) -> np.ndarray:
        """Uncalibrated probabilities from the ONNX trees, columns in ``labels`` order."""
        _, proba = self._session.run(None, {self._input: np.ascontiguousarray(features, dtype=np.float32)})
        return np.asarray(proba, dtype=np.float64)

    def probabilities(self, inspections: Sequence[Mapping[str, Any]],
                      contexts: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Calibrated probabilities for many cases (no explanations)."""
        out = []
        for start in range(0, len(inspections), _BATCH):
            x = self.features(inspections[start:start + _BATCH], contexts[start:start + _BATCH])
            out.append(calibrate(self.raw_probabilities(x), self.temperature))
        return np.vstack(out) if out else np.zeros((0, len(self.labels)))

    # --- one case (the API) ---------------------------------------------------------------------------------

    def recommend(self, inspection: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
        """``{"disposition", "confidence", "abstain", "alternatives", "factors", "model_version"}``.

        ``abstain`` is true when the calibrated confidence is below the bundle's threshold: a person decides,
        and the recommendation is their starting point. InvalidInput when the input cannot be used.
        """
        x = self.features([inspection], [context])[0]
        batch, used = occlusion_rows(x, self._reference)
        raw = self.raw_probabilities(batch)
        p = calibrate(raw[:1], self.temperature)[0]
        best = int(np.argmax(p))
        logp = np.log(np.clip(raw[:, best], 1e-9, 1.0))
        weights = list(logp[0] - logp[1:])
        words = self._note_words(str(inspection.get("notes") or ""), best) if 0 in used else []
        order = np.argsort(-p, kind="stable")
        return {
            "disposition": self.labels[best],
            "confidence": round(float(p[best]), 4),
            "abstain": bool(p[best] < self.abstain_below),
            "alternatives": [{"disposition": self.labels[k], "probability": round(float(p[k]), 4)}
                             for k in order[1:3] if p[k] >= 0.01],
            "factors": select_factors(inspection, context, weights, used, note_words=words),
            "model_version": self.version,
        }

    def _note_words(self, note: str, label: int, top: int = 3) -> list[str]:
        """The note's words whose removal lowers the notes model's probability of ``label`` the most."""
        words = note_words(note)[:_MAX_NOTE_WORDS]
        if not words:
            return []
        variants = [" ".join(words)] + [" ".join(words[:k] + words[k + 1:]) for k in range(len(words))]
        p = self.note_probabilities(variants)[:, label]
        drop = p[0] - p[1:]
        ranked = [int(k) for k in np.argsort(-drop, kind="stable") if drop[k] > 0.02][:top]
        return [words[k] for k in sorted(ranked)]
