"""Gate calibration with a guarantee: Learn-then-Test with fixed-sequence testing and binomial tail p-values.

The gates tuned are the reason-confidence floor ``c`` and the fraud-risk ceiling ``r``; a case is auto-approved
when it passes every other rule (``eligible``) and ``confidence >= c`` and ``risk <= r``. For each candidate
λ = (c, r) the null hypothesis is H_λ: P(error | approved by λ) > α. Given the n approved calibration cases,
their errors are i.i.d. Bernoulli(risk(λ)), so p_λ = P(Binomial(n, α) <= k) is a valid p-value. The
candidates are put in a fixed order learned on a separate slice of the history (most clearly safe first);
testing them in that order at level δ and stopping at the first failure controls the family-wise error, so
every rejected λ satisfies risk(λ) <= α simultaneously with probability >= 1 − δ. Among the rejected we keep
the one with the highest straight-through rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import binom

__all__ = ["Candidate", "Calibration", "calibrate_gates", "evaluate_grid", "binomial_p_value", "default_grid"]


@dataclass(frozen=True, slots=True)
class Candidate:
    min_reason_confidence: float
    max_fraud_risk: float


@dataclass(frozen=True)
class Calibration:
    """The chosen gates (None when no candidate could be certified) and the evidence behind them."""

    chosen: Candidate | None
    alpha: float
    delta: float
    tested: int  # hypotheses tested before the sequence stopped
    n_calibration: int
    calibration_coverage: float  # straight-through share of the testing slice under the chosen gates
    calibration_error: float
    upper_bound: float  # one-sided (1 - δ) Clopper–Pearson bound on the chosen gates' error
    frontier: list[dict[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "learn-then-test, fixed-sequence, binomial tail p-values",
            "alpha": self.alpha, "delta": self.delta,
            "min_reason_confidence": None if self.chosen is None else self.chosen.min_reason_confidence,
            "max_fraud_risk": None if self.chosen is None else self.chosen.max_fraud_risk,
            "hypotheses_tested": self.tested, "calibration_cases": self.n_calibration,
            "calibration_straight_through": round(self.calibration_coverage, 6),
            "calibration_error": round(self.calibration_error, 6),
            "error_upper_bound": round(self.upper_bound, 6),
        }


def binomial_p_value(errors: np.ndarray, approved: np.ndarray, alpha: float) -> np.ndarray:
    """P(Binomial(n, α) <= k): small when k errors in n approvals are implausible if the error rate were α."""
    approved = np.asarray(approved)
    p = binom.cdf(np.asarray(errors), np.maximum(approved, 1), alpha)
    return np.where(approved > 0, p, 1.0)


def default_grid(confidence: np.ndarray, risk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Candidate thresholds: a fixed confidence ladder and risk quantiles (the grid never sees labels)."""
    conf_grid = np.array([0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999])
    qs = np.concatenate([np.linspace(0.05, 0.9, 35), np.linspace(0.905, 0.999, 30)])
    risk_grid = np.unique(np.round(np.quantile(risk, qs), 6))
    return conf_grid, risk_grid


def evaluate_grid(confidence: np.ndarray, risk: np.ndarray, eligible: np.ndarray, error: np.ndarray,
                  conf_grid: np.ndarray, risk_grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Approved counts and error counts, shape (len(conf_grid), len(risk_grid)), for every candidate."""
    approved = np.zeros((conf_grid.size, risk_grid.size), dtype=np.int64)
    errors = np.zeros_like(approved)
    for i, c in enumerate(conf_grid):
        m = eligible & (confidence >= c)
        r = risk[m]
        order = np.argsort(r, kind="stable")
        r_sorted = r[order]
        cum_err = np.concatenate([[0], np.cumsum(error[m][order])])
        upto = np.searchsorted(r_sorted, risk_grid, side="right")  # risk <= threshold
        approved[i] = upto
        errors[i] = cum_err[upto]
    return approved, errors


def calibrate_gates(confidence: np.ndarray, risk: np.ndarray, eligible: np.ndarray, error: np.ndarray, *,
                    alpha: float, delta: float, seed: int = 0, order_share: float = 0.3,
                    grid: tuple[np.ndarray, np.ndarray] | None = None) -> Calibration:
    """Choose (c, r) maximising straight-through subject to P(error | approved) <= α with prob. >= 1 − δ."""
    confidence, risk = np.asarray(confidence, float), np.asarray(risk, float)
    eligible, error = np.asarray(eligible, bool), np.asarray(error, bool)
    n = confidence.size
    conf_grid, risk_grid = grid if grid is not None else default_grid(confidence, risk)
    rng = np.random.default_rng([seed, 6])
    in_order = rng.random(n) < order_share
    test = ~in_order

    # 1. The order, learned on its own slice: the risk-coverage frontier, most clearly safe first.
    a_app, a_err = evaluate_grid(confidence[in_order], risk[in_order], eligible[in_order], error[in_order],
                                 conf_grid, risk_grid)
    n_a, n_b = max(int(in_order.sum()), 1), max(int(test.sum()), 1)
    scale = n_b / n_a  # predict the testing slice's counts from the ordering slice's
    predicted_p = binomial_p_value(np.round(a_err * scale), np.round(a_app * scale), alpha)
    cover_a = a_app / n_a
    flat = [(float(predicted_p[i, j]), -float(cover_a[i, j]), i, j)
            for i in range(conf_grid.size) for j in range(risk_grid.size)
            if _on_frontier(cover_a, a_err / np.maximum(a_app, 1), i, j) and a_app[i, j] > 0]
    flat.sort()

    # 2. Fixed-sequence testing on the other slice.
    b_app, b_err = evaluate_grid(confidence[test], risk[test], eligible[test], error[test], conf_grid, risk_grid)
    p_b = binomial_p_value(b_err, b_app, alpha)
    rejected: list[tuple[int, int]] = []
    tested = 0
    for _, _, i, j in flat:
        tested += 1
        if p_b[i, j] > delta:
            break
        rejected.append((i, j))
    frontier = [{"min_reason_confidence": float(conf_grid[i]), "max_fraud_risk": float(risk_grid[j]),
                 "straight_through": float(b_app[i, j] / n_b),
                 "error": float(b_err[i, j] / max(b_app[i, j], 1)), "p_value": float(p_b[i, j])}
                for _, _, i, j in flat]
    if not rejected:
        return Calibration(None, alpha, delta, tested, n, 0.0, 0.0, 1.0, frontier)
    i, j = max(rejected, key=lambda ij: (b_app[ij], -b_err[ij]))
    k, m = int(b_err[i, j]), int(b_app[i, j])
    upper = float(binom_upper(k, m, delta))
    return Calibration(Candidate(float(conf_grid[i]), float(risk_grid[j])), alpha, delta, tested, n, m / n_b,
                       k / max(m, 1), upper, frontier)


def binom_upper(k: int, n: int, delta: float) -> float:
    """One-sided Clopper–Pearson upper bound at confidence 1 − δ."""
    from scipy.stats import beta

    return 1.0 if k >= n else float(beta.ppf(1 - delta, k + 1, n - k))


def _on_frontier(cover: np.ndarray, err: np.ndarray, i: int, j: int) -> bool:
    """No other candidate has both more coverage and a lower error (ties keep both)."""
    dominated = (cover > cover[i, j]) & (err < err[i, j])
    return not bool(dominated.any())
