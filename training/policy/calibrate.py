"""Gate calibration with a guarantee: Learn-then-Test with fixed-sequence testing and binomial tail p-values.

Two shapes of gate can be calibrated (``method``):

- ``"joint"``: one threshold ``t`` on the estimated error 1 − p_reason · (1 − p_fraud) (``gates.max_error_estimate``),
  optionally with a reason-confidence floor. The thresholds have a natural order, from the conservative up, so
  fixed-sequence testing needs no ordering slice and tests on every calibration row. Approving in increasing
  order of a calibrated error estimate is the Neyman–Pearson shape: the most coverage per error.
- ``"rectangle"``: the two-gate grid described next, kept for comparison and for policies that want it.

In the rectangle, the gates tuned are the reason-confidence floor ``c`` and the fraud-risk ceiling ``r``; a case is
auto-approved when it passes every other rule (``eligible``) and ``confidence >= c`` and ``risk <= r``. For each
candidate λ = (c, r) the null hypothesis is H_λ: P(error | approved by λ) > α. Given the n approved calibration cases,
their errors are i.i.d. Bernoulli(risk(λ)), so p_λ = P(Binomial(n, α) <= k) is a valid p-value. The
candidates are put in a fixed order learned on a separate slice of the history (most clearly safe first);
testing them in that order at level δ and stopping at the first failure controls the family-wise error, so
every rejected λ satisfies risk(λ) <= α simultaneously with probability >= 1 − δ. Among the rejected we keep
the one with the highest straight-through rate.

Two guarantees (``guarantee``): ``"risk"`` is the one above, on the expected error rate; ``"realised"`` (the
default) bounds the error a finance director will count among the auto-approvals of a batch as large as the
calibration history, which is also noisy: a candidate is certified only when the worst-case chance of certifying
it while its batch shows an error above α is small enough (:func:`violation_statistic`, :func:`realised_level`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import binom

__all__ = ["Candidate", "Calibration", "calibrate_gates", "evaluate_grid", "binomial_p_value", "default_grid",
           "error_ladder", "error_estimates", "violation_statistic", "realised_level", "joint_curve", "METHODS",
           "DEFAULT_METHOD", "GUARANTEES", "DEFAULT_GUARANTEE"]

METHODS = ("joint", "rectangle")
# "realised": the error counted among the auto-approvals of a batch as large as the calibration history stays
# <= α with probability >= 1 − δ (the batch's own noise included, see violation_statistic);
# "risk": the expected error rate (the population's) stays <= α with probability >= 1 − δ.
GUARANTEES = ("realised", "risk")
DEFAULT_GUARANTEE = "realised"
DEFAULT_METHOD = "joint"  # `triage bench policy` certifies more straight-through with it at the same guarantee


@dataclass(frozen=True, slots=True)
class Candidate:
    """Gates a case must all pass; a joint candidate carries the rectangle its error gate implies as its bounds."""

    min_reason_confidence: float
    max_fraud_risk: float
    max_error_estimate: float | None = None

    def approves(self, confidence: np.ndarray, risk: np.ndarray, eligible: np.ndarray) -> np.ndarray:
        """Which cases these gates auto-approve (``eligible``: every other rule passed)."""
        ok = np.asarray(eligible, bool) & (confidence >= self.min_reason_confidence) & (risk <= self.max_fraud_risk)
        if self.max_error_estimate is not None:
            ok &= error_estimates(confidence, risk) <= self.max_error_estimate
        return ok


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
    gate: str = "rectangle"  # which shape was calibrated: "joint" or "rectangle"
    guarantee: str = "risk"  # see GUARANTEES

    def to_dict(self) -> dict[str, Any]:
        shape = ("joint error gate: 1 - p_reason * (1 - p_fraud) <= t" if self.gate == "joint"
                 else "rectangle: reason confidence >= c and fraud risk <= r")
        return {
            "method": f"learn-then-test, fixed-sequence, binomial tail p-values; {shape}",
            "guarantee": (f"realised error among the auto-approved of a batch of {self.n_calibration} returns <= "
                          f"{self.alpha} with probability >= {1 - self.delta:g}" if self.guarantee == "realised" else
                          f"expected error among auto-approved <= {self.alpha} with probability >= {1 - self.delta:g}"),
            "alpha": self.alpha, "delta": self.delta,
            "min_reason_confidence": None if self.chosen is None else self.chosen.min_reason_confidence,
            "max_fraud_risk": None if self.chosen is None else self.chosen.max_fraud_risk,
            "max_error_estimate": None if self.chosen is None else self.chosen.max_error_estimate,
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
                    alpha: float, delta: float, seed: int = 0, method: str = DEFAULT_METHOD,
                    order_share: float = 0.3, grid: tuple[np.ndarray, np.ndarray] | None = None,
                    floors: tuple[float, ...] = (0.0,), guarantee: str = DEFAULT_GUARANTEE) -> Calibration:
    """Choose the gates maximising straight-through subject to the ``guarantee`` at level α with prob. >= 1 − δ.

    ``method="joint"`` calibrates ``gates.max_error_estimate`` (with each reason-confidence floor in ``floors``,
    δ split evenly between them); ``method="rectangle"`` the (c, r) grid with a learned order. ``guarantee``:
    see :data:`GUARANTEES`."""
    confidence, risk = np.asarray(confidence, float), np.asarray(risk, float)
    eligible, error = np.asarray(eligible, bool), np.asarray(error, bool)
    if guarantee not in GUARANTEES:
        raise ValueError(f"unknown guarantee {guarantee!r}; expected one of {', '.join(GUARANTEES)}")
    if method == "joint":
        return _calibrate_joint(confidence, risk, eligible, error, alpha=alpha, delta=delta, floors=floors,
                                guarantee=guarantee)
    if method != "rectangle":
        raise ValueError(f"unknown calibration method {method!r}; expected one of {', '.join(METHODS)}")
    level = realised_level(delta) if guarantee == "realised" else delta
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
    if guarantee == "realised":  # only the sequence's candidates; the batch: as many returns as the whole history
        cells = tuple(np.array([(i, j) for _, _, i, j in flat], dtype=int).reshape(-1, 2).T)
        p_b[cells] = violation_statistic(b_err[cells], b_app[cells], np.round(b_app[cells] * n / n_b), alpha)
    rejected: list[tuple[int, int]] = []
    tested = 0
    for _, _, i, j in flat:
        tested += 1
        if p_b[i, j] > level:
            break
        rejected.append((i, j))
    frontier = [{"min_reason_confidence": float(conf_grid[i]), "max_fraud_risk": float(risk_grid[j]),
                 "straight_through": float(b_app[i, j] / n_b),
                 "error": float(b_err[i, j] / max(b_app[i, j], 1)), "p_value": float(p_b[i, j])}
                for _, _, i, j in flat]
    if not rejected:
        return Calibration(None, alpha, delta, tested, n, 0.0, 0.0, 1.0, frontier, guarantee=guarantee)
    i, j = max(rejected, key=lambda ij: (b_app[ij], -b_err[ij]))
    k, m = int(b_err[i, j]), int(b_app[i, j])
    upper = float(binom_upper(k, m, delta))
    return Calibration(Candidate(float(conf_grid[i]), float(risk_grid[j])), alpha, delta, tested, n, m / n_b,
                       k / max(m, 1), upper, frontier, guarantee=guarantee)


def error_estimates(confidence: np.ndarray, risk: np.ndarray) -> np.ndarray:
    """1 − p_reason · (1 − p_fraud) per case: the same arithmetic as the router's ``estimated_error``."""
    return 1.0 - np.asarray(confidence, float) * (1.0 - np.asarray(risk, float))


def error_ladder() -> np.ndarray:
    """Candidate error-gate thresholds, most conservative first: fixed, so the sequence never sees the data."""
    return np.round(np.geomspace(1e-4, 0.5, 600), 7)


def joint_curve(confidence: np.ndarray, risk: np.ndarray, eligible: np.ndarray,
                error: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Straight-through share and error among approved along the error-gate ladder (the risk–coverage curve)."""
    estimate = error_estimates(confidence, risk)[np.asarray(eligible, bool)]
    order = np.argsort(estimate, kind="stable")
    cum_err = np.concatenate([[0], np.cumsum(np.asarray(error, bool)[np.asarray(eligible, bool)][order])])
    approved = np.searchsorted(estimate[order], error_ladder(), side="right")
    return approved / max(np.asarray(confidence).size, 1), cum_err[approved] / np.maximum(approved, 1)


def _calibrate_joint(confidence: np.ndarray, risk: np.ndarray, eligible: np.ndarray, error: np.ndarray, *,
                     alpha: float, delta: float, floors: tuple[float, ...], guarantee: str) -> Calibration:
    """Fixed-sequence testing up the ladder of error-gate thresholds, on all rows, per floor.

    The sequence starts where the estimates themselves (never the labels) predict the clearest pass — the
    threshold whose statistic, with the errors the estimates expect, is smallest — and climbs from there. Below
    it the thresholds approve too few cases to certify, and a sequence started there would end at the first
    early error; which threshold starts it affects only how much is certified, never the guarantee."""
    n = confidence.size
    share = delta / len(floors)  # Bonferroni across the floors
    level = realised_level(share) if guarantee == "realised" else share
    estimate = error_estimates(confidence, risk)
    ladder = error_ladder()
    best: tuple[int, int, float, float] | None = None  # (approved, -errors, floor, t)
    tested_total = 0
    frontier: list[dict[str, float]] = []
    for floor in floors:
        m = eligible & (confidence >= floor)
        order = np.argsort(estimate[m], kind="stable")
        approved = np.searchsorted(estimate[m][order], ladder, side="right")
        errors = np.concatenate([[0], np.cumsum(error[m][order])])[approved]
        expected = np.round(np.concatenate([[0.0], np.cumsum(estimate[m][order])])[approved])

        def statistic(k: np.ndarray, approved: np.ndarray = approved) -> np.ndarray:
            return (violation_statistic(k, approved, approved, alpha) if guarantee == "realised"
                    else binomial_p_value(k, approved, alpha))

        start = int(np.argmin(statistic(expected)))
        p = statistic(errors[start:], approved[start:])
        for t, a, k, pv in zip(ladder[start:], approved[start:], errors[start:], p, strict=True):
            tested_total += 1
            frontier.append({"min_reason_confidence": float(floor), "max_error_estimate": float(t),
                             "straight_through": float(a / max(n, 1)), "error": float(k / max(a, 1)),
                             "p_value": float(pv)})
            if pv > level:
                break
            if best is None or (int(a), -int(k)) > best[:2]:
                best = (int(a), -int(k), float(floor), float(t))
    if best is None:
        return Calibration(None, alpha, delta, tested_total, n, 0.0, 0.0, 1.0, frontier, gate="joint",
                           guarantee=guarantee)
    approved_n, neg_err, floor, t = best
    chosen = Candidate(max(floor, float(np.floor((1.0 - t) * 1e6) / 1e6)), float(np.ceil(t * 1e6) / 1e6), t)
    upper = binom_upper(-neg_err, approved_n, delta)
    return Calibration(chosen, alpha, delta, tested_total, n, approved_n / max(n, 1), -neg_err / approved_n, upper,
                       frontier, gate="joint", guarantee=guarantee)


def violation_statistic(errors: np.ndarray, approved: np.ndarray, batch: np.ndarray, alpha: float) -> np.ndarray:
    """sup over the true error rate p of P(Binomial(n, p) <= k) · P(Binomial(m, p) > α·m): the worst-case chance
    that a threshold with ``errors`` k among ``approved`` n calibration cases is certified while the ``batch`` of
    m auto-approvals it will make shows an error above α. Certifying only where it is <= :func:`realised_level`
    (δ) keeps the chance of a batch above α under δ, fixed sequence included: the chance of a violation is the
    sum over thresholds of (increase in their batch-violation chance s) × (chance of passing them), and the
    certification rule caps the latter by min(1, δ'/s), whose integral over s is δ.

    Both factors are log-concave in p (a Beta survival function and a Beta distribution function), so their
    product is unimodal and a ternary search finds its peak; outside [α/8, 8α] it is bounded by the single
    factor that is already negligible there."""
    k, n = np.asarray(errors, float), np.maximum(np.asarray(approved, float), 1)
    m = np.maximum(np.round(np.asarray(batch, float)), 1)
    allowed = np.floor(alpha * m + 1e-9)

    def log_product(log_p: np.ndarray) -> np.ndarray:
        p = np.exp(log_p)
        return binom.logcdf(k, n, p) + binom.logsf(allowed, m, p)

    lo, hi = np.full(k.shape, np.log(alpha / 8)), np.full(k.shape, np.log(min(1.0, 8 * alpha)))
    for _ in range(40):
        left, right = lo + (hi - lo) / 3, hi - (hi - lo) / 3
        rising = log_product(left) < log_product(right)
        lo, hi = np.where(rising, left, lo), np.where(rising, hi, right)
    edges = np.maximum(binom.sf(allowed, m, alpha / 8), binom.cdf(k, n, min(1.0, 8 * alpha)))
    stat = np.maximum(np.exp(log_product((lo + hi) / 2)), edges)
    return np.where(np.asarray(approved) > 0, stat, 1.0)


def realised_level(delta: float) -> float:
    """δ' with δ' · (1 + ln(1/δ')) = δ, the integral of min(1, δ'/s) over s in [0, 1]."""
    lo, hi = 0.0, delta
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if mid * (1 + np.log(1 / mid)) <= delta else (lo, mid)
    return lo


def binom_upper(k: int, n: int, delta: float) -> float:
    """One-sided Clopper–Pearson upper bound at confidence 1 − δ."""
    from scipy.stats import beta

    return 1.0 if k >= n else float(beta.ppf(1 - delta, k + 1, n - k))


def _on_frontier(cover: np.ndarray, err: np.ndarray, i: int, j: int) -> bool:
    """No other candidate has both more coverage and a lower error (ties keep both)."""
    dominated = (cover > cover[i, j]) & (err < err[i, j])
    return not bool(dominated.any())
