"""The serving side of the fraud model: features -> ONNX tree ensemble -> calibration map -> band and factors.

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
from returns_triage.models.fraud.explain import occlusion_rows, select_factors
from returns_triage.models.fraud.features import FEATURE_NAMES, request_features

__all__ = ["FraudScorer", "BUNDLE_NAME", "RUNTIME_FILE", "MODEL_FILE"]

BUNDLE_NAME = "fraud"
MODEL_FILE = "fraud.onnx"
RUNTIME_FILE = "fraud_runtime.json"  # feature names, calibration map, bands, explanation reference
_EPS = 1e-6


class FraudScorer:
    """Calibrated P(fraud) with a band and the factors behind it, for one scoring request."""

    def __init__(self, session: Any, runtime: Mapping[str, Any], version: str) -> None:
        self._session = session
        self._input = session.get_inputs()[0].name
        self._cal_x = np.asarray(runtime["calibration"]["x"], dtype=np.float64)
        self._cal_y = np.asarray(runtime["calibration"]["y"], dtype=np.float64)
        self._bands = runtime["bands"]
        self._reference = np.asarray(runtime["reference"], dtype=np.float32)
        self.version = version

    @classmethod
    def load(cls, bundle_dir: Path) -> FraudScorer:
        """Verify the bundle's manifest and load it; raises BundleIntegrityError or ModelUnavailable."""
        bundle_dir = Path(bundle_dir)
        if not bundle_dir.is_dir():
            raise ModelUnavailable(f"no fraud bundle at {bundle_dir}")
        manifest = load_manifest(bundle_dir, expected_name=BUNDLE_NAME, verify=True)
        for needed in (MODEL_FILE, RUNTIME_FILE):
            if needed not in manifest.files:
                raise BundleIntegrityError(f"bundle {manifest.version} does not list {needed}")
        runtime = json.loads((bundle_dir / RUNTIME_FILE).read_text())
        if tuple(runtime.get("feature_names", ())) != FEATURE_NAMES:
            raise BundleIntegrityError(
                f"bundle {manifest.version} was trained on other features than this code computes; retrain it"
            )
        return cls(onnx_session(bundle_dir / MODEL_FILE, intra_op_threads=1), runtime, manifest.version)

    def raw_probabilities(self, features: np.ndarray) -> np.ndarray:
        """Uncalibrated P(fraud) from the ONNX model for a float32 feature matrix."""
        _, proba = self._session.run(None, {self._input: np.ascontiguousarray(features, dtype=np.float32)})
        return np.asarray(proba)[:, 1].astype(np.float64)

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """The monotone calibration map fitted on a held-out time slice (piecewise linear, clipped)."""
        return np.interp(raw, self._cal_x, self._cal_y)

    def band(self, score: float) -> str:
        if score >= self._bands["high"]:
            return "high"
        return "medium" if score >= self._bands["medium"] else "low"

    def score(
        self, request: Mapping[str, Any], *, reason_code: str | None = None,
        findings: Sequence[Mapping[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """``{"score", "band", "factors": [{"code", "text", "weight"}], "model_version"}``; InvalidInput when
        the request lacks what the features need."""
        x = request_features(request, reason_code=reason_code, findings=findings)
        batch, used = occlusion_rows(x, self._reference)
        raw = self.raw_probabilities(batch)
        logit = _logit(raw)
        score = float(self.calibrate(raw[:1])[0])
        factors = select_factors(request, x, list(logit[0] - logit[1:]), used)
        return {"score": score, "band": self.band(score), "factors": factors, "model_version": self.version}


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))
