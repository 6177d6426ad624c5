"""A confidence-based estimate of performance for windows whose outcomes have not arrived (as NannyML's CBPE).

``fit`` recalibrates the served probabilities on a labelled reference period (isotonic: reason confidence →
P(reason right), risk → P(fraud)); ``calculate`` averages the calibrated probabilities over a window: expected
reason accuracy over the window's legitimate returns, and expected error over the auto-approvals, where an approval
is wrong when the reason is wrong or the return is fraudulent.

Reason accuracy is measured against confirmed reasons, and only a legitimate return gets one (a fraud finding
confirms no reason), so the estimate weighs each decision by its recalibrated chance of being legitimate,
1 − P(fraud): the same population the realised accuracy will be counted on, not every decision.

The estimate is only as good as the calibration under the current data: it cannot see a kind of fraud the risk
model has never seen, which is why realised performance from audit samples is monitored next to it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

__all__ = ["ConfidenceBasedEstimator", "EstimateResult"]

_MIN_LABELS = 50


@dataclass(frozen=True, slots=True)
class EstimateResult:
    decisions: int
    estimated_reason_accuracy: float | None
    estimated_auto_approval_error: float | None
    approvals: int
    calibrated_on: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _isotonic(x: np.ndarray, y: np.ndarray) -> IsotonicRegression | None:
    keep = np.isfinite(x) & np.isfinite(y)
    if keep.sum() < _MIN_LABELS or len(np.unique(y[keep])) < 2:
        return None
    return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x[keep], y[keep])


class ConfidenceBasedEstimator:
    """``fit(reference_frame)`` then ``calculate(frame)``; without enough reference labels the served
    probabilities are taken as calibrated (they are calibrated at training time)."""

    def __init__(self) -> None:
        self.reason_map_: IsotonicRegression | None = None
        self.risk_map_: IsotonicRegression | None = None
        self.calibrated_on_ = 0

    def fit(self, reference: pd.DataFrame, risk_reference: pd.DataFrame | None = None) -> ConfidenceBasedEstimator:
        """``risk_reference`` (default: ``reference``) recalibrates the risk separately: after a new fraud model
        is promoted its scores must be mapped by its own labelled decisions, not its predecessor's."""
        has_reason = reference["label_reason"].notna().to_numpy()
        correct = (reference["label_reason"] == reference["reason_code"]).to_numpy(dtype=float)
        self.reason_map_ = _isotonic(reference["reason_confidence"].to_numpy(float)[has_reason], correct[has_reason])
        risk = reference if risk_reference is None else risk_reference
        self.risk_map_ = _isotonic(risk["risk_score"].to_numpy(float), risk["label_fraud"].to_numpy(float))
        self.calibrated_on_ = int(has_reason.sum())
        return self

    def p_reason_right(self, frame: pd.DataFrame) -> np.ndarray:
        conf = frame["reason_confidence"].to_numpy(float)
        return self.reason_map_.predict(conf) if self.reason_map_ is not None else conf

    def p_fraud(self, frame: pd.DataFrame) -> np.ndarray:
        risk = np.nan_to_num(frame["risk_score"].to_numpy(float), nan=0.0)
        return self.risk_map_.predict(risk) if self.risk_map_ is not None else risk

    def calculate(self, frame: pd.DataFrame) -> EstimateResult:
        n = len(frame)
        if n == 0:
            return EstimateResult(0, None, None, 0, self.calibrated_on_)
        right = self.p_reason_right(frame)
        # Would-be approvals: actual ones plus audit samples and fail-safe holds (all passed the normal gates).
        approved = ((frame["route"] == "auto_approve") | frame["audit_propensity"].notna()).to_numpy()
        legit = 1.0 - self.p_fraud(frame)
        p_err = 1.0 - right * legit
        return EstimateResult(
            decisions=n, estimated_reason_accuracy=float(np.average(right, weights=legit)) if legit.sum() > 0
            else float(right.mean()),
            estimated_auto_approval_error=float(p_err[approved].mean()) if approved.any() else None,
            approvals=int(approved.sum()), calibrated_on=self.calibrated_on_,
        )
