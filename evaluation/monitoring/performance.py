"""Outcome-tied performance of one window: reason accuracy against confirmed reasons, the auto-approval error
rate from audit samples weighted by their inverse propensity, fraud precision and recall, and calibration.

Only audit samples give an unbiased view of auto-approvals: outcomes of auto-approved returns arrive mostly when
something went wrong (a chargeback, a complaint), so counting them would overstate the error rate. Each audit sample
stands for ``1 / propensity`` eligible returns (Hájek estimator).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from returns_triage.evaluation.monitoring.evidence import error_evidence

__all__ = ["RealisedPerformanceCalculator", "PerformanceResult", "ipw_error_rate", "expected_calibration_error"]


def ipw_error_rate(errors: np.ndarray, propensities: np.ndarray) -> tuple[float | None, float | None]:
    """Hájek estimate of the error rate of the population the samples were drawn from, and its standard error.
    ``errors`` are 0/1 for labelled samples; ``propensities`` the probability each was sampled."""
    e = np.asarray(errors, dtype=float)
    p = np.asarray(propensities, dtype=float)
    keep = np.isfinite(e) & np.isfinite(p) & (p > 0)
    if not keep.any():
        return None, None
    w = 1.0 / p[keep]
    est = float(np.sum(w * e[keep]) / np.sum(w))
    se = float(math.sqrt(np.sum(w**2 * (e[keep] - est) ** 2)) / np.sum(w))
    return est, se


def expected_calibration_error(prob: np.ndarray, outcome: np.ndarray, bins: int = 10) -> float | None:
    """Mean |predicted − observed| over equal-width probability bins, weighted by bin size."""
    prob, outcome = np.asarray(prob, float), np.asarray(outcome, float)
    keep = np.isfinite(prob) & np.isfinite(outcome)
    if keep.sum() == 0:
        return None
    prob, outcome = prob[keep], outcome[keep]
    idx = np.minimum((prob * bins).astype(int), bins - 1)
    total = 0.0
    for b in np.unique(idx):
        m = idx == b
        total += m.sum() * abs(prob[m].mean() - outcome[m].mean())
    return float(total / len(prob))


@dataclass(frozen=True, slots=True)
class PerformanceResult:
    decisions: int
    labelled: int
    straight_through_rate: float | None
    reason_accuracy: float | None
    reason_labelled: int
    auto_approval_error: float | None  # among actual auto-approvals (audit samples with propensity < 1)
    auto_approval_error_se: float | None
    would_be_error: float | None  # of everything the normal gates would approve (fail-safe holds included)
    audit_labelled: int
    eligible_rate: float | None  # share of decisions the normal gates would approve (approvals, audits, holds)
    would_be_n_eff: float  # the would-be error as effective binomial counts (evidence.py): what alerts test
    would_be_errors_eff: float
    fraud_precision: float | None
    fraud_recall: float | None
    fraud_labelled: int
    fraud_positives: int  # confirmed frauds the recall is measured on
    risk_calibration_error: float | None
    reason_calibration_error: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RealisedPerformanceCalculator:
    """``calculate(frame)`` on a window's frame (see :func:`frames.window_frame`). ``flag_threshold`` is the risk
    above which a return counts as flagged for fraud precision and recall."""

    def __init__(self, flag_threshold: float = 0.30) -> None:
        self.flag_threshold = flag_threshold

    def fit(self, reference: pd.DataFrame) -> RealisedPerformanceCalculator:  # noqa: ARG002 - calculator shape
        return self

    def calculate(self, frame: pd.DataFrame) -> PerformanceResult:
        n = len(frame)
        st = float((frame["route"] == "auto_approve").mean()) if n else None
        has_reason = frame["label_reason"].notna()
        correct = (frame.loc[has_reason, "label_reason"] == frame.loc[has_reason, "reason_code"]).astype(float)
        audit = frame[frame["audit_propensity"].notna() & frame["labelled"]]
        actual = audit[audit["audit_propensity"] < 1.0]
        err, se = ipw_error_rate(actual["error"].to_numpy(), actual["audit_propensity"].to_numpy())
        would = error_evidence(audit["error"].to_numpy(), audit["audit_propensity"].to_numpy())
        eligible = (frame["route"] == "auto_approve") | frame["audit_propensity"].notna()
        fk = frame[frame["label_fraud"].notna() & frame["risk_score"].notna()]
        flagged = fk["risk_score"].to_numpy() > self.flag_threshold
        truth = fk["label_fraud"].to_numpy() > 0.5
        precision = float((flagged & truth).sum() / flagged.sum()) if flagged.sum() else None
        recall = float((flagged & truth).sum() / truth.sum()) if truth.sum() else None
        return PerformanceResult(
            decisions=n, labelled=int(frame["labelled"].sum()), straight_through_rate=st,
            reason_accuracy=float(correct.mean()) if len(correct) else None, reason_labelled=int(has_reason.sum()),
            auto_approval_error=err, auto_approval_error_se=se, would_be_error=would.rate, audit_labelled=len(audit),
            eligible_rate=float(eligible.mean()) if n else None, would_be_n_eff=would.n,
            would_be_errors_eff=would.errors,
            fraud_precision=precision, fraud_recall=recall, fraud_labelled=len(fk), fraud_positives=int(truth.sum()),
            risk_calibration_error=expected_calibration_error(fk["risk_score"].to_numpy(), truth.astype(float)),
            reason_calibration_error=expected_calibration_error(
                frame.loc[has_reason, "reason_confidence"].to_numpy(), correct.to_numpy()),
        )
