"""Prediction drift of one window against a reference: the reason mix (Jensen–Shannon distance), the risk
distribution (population stability index) and the straight-through rate. Numpy only: cheap enough to run on
every monitor round, also for the window still filling."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["PredictionDriftCalculator", "PredictionDriftResult"]

_RISK_EDGES = np.array([0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0 + 1e-9])


def _js_distance(p: np.ndarray, q: np.ndarray) -> float:
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(a: np.ndarray, b: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / b[nz])))

    return float(np.sqrt(max(0.5 * kl(p, m) + 0.5 * kl(q, m), 0.0)))


def _psi(ref: np.ndarray, cur: np.ndarray) -> float:
    r = np.histogram(ref, _RISK_EDGES)[0] + 0.5
    c = np.histogram(cur, _RISK_EDGES)[0] + 0.5
    r, c = r / r.sum(), c / c.sum()
    return float(np.sum((c - r) * np.log(c / r)))


@dataclass(frozen=True, slots=True)
class PredictionDriftResult:
    reason_mix_js: float | None
    risk_psi: float | None
    mean_risk: float | None
    straight_through_rate: float | None
    straight_through_change: float | None
    drifted: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PredictionDriftCalculator:
    """Thresholds: JS distance of the reason mix, PSI of the risk scores, absolute change of straight-through."""

    def __init__(self, js_threshold: float = 0.1, psi_threshold: float = 0.2, st_threshold: float = 0.10) -> None:
        self.js_threshold = js_threshold
        self.psi_threshold = psi_threshold
        self.st_threshold = st_threshold

    def fit(self, reference: pd.DataFrame) -> PredictionDriftCalculator:
        self.codes_ = sorted(set(reference["reason_code"]))
        self.mix_ = reference["reason_code"].value_counts()
        self.risk_ = reference["risk_score"].dropna().to_numpy(float)
        self.st_ = float((reference["route"] == "auto_approve").mean()) if len(reference) else None
        return self

    def calculate(self, frame: pd.DataFrame) -> PredictionDriftResult:
        if len(frame) == 0:
            return PredictionDriftResult(None, None, None, None, None, False)
        codes = sorted(set(self.codes_) | set(frame["reason_code"]))
        cur = frame["reason_code"].value_counts()
        p = np.array([self.mix_.get(c, 0) for c in codes], float) + 0.5
        q = np.array([cur.get(c, 0) for c in codes], float) + 0.5
        js = _js_distance(p, q)
        risk = frame["risk_score"].dropna().to_numpy(float)
        psi = _psi(self.risk_, risk) if len(risk) and len(self.risk_) else None
        st = float((frame["route"] == "auto_approve").mean())
        change = st - self.st_ if self.st_ is not None else None
        drifted = (js > self.js_threshold or (psi is not None and psi > self.psi_threshold)
                   or (change is not None and abs(change) > self.st_threshold))
        return PredictionDriftResult(js, psi, float(risk.mean()) if len(risk) else None, st, change, drifted)
