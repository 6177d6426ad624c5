"""Gate calibration: the guarantee holds on synthetic data, and the procedure behaves monotonically."""

from __future__ import annotations

import numpy as np

from returns_triage.training.policy.calibrate import binomial_p_value, calibrate_gates
from returns_triage.training.policy.workflow import ipw_bad_approval_rate


def _synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Calibrated scores: P(reason wrong) = 1 - confidence, P(fraud) = risk; eligible 90 %."""
    rng = np.random.default_rng(seed)
    conf = 1 / (1 + np.exp(-(5.5 + 2.0 * rng.standard_normal(n))))
    risk = np.clip(rng.beta(0.3, 30.0, n), 0, 1)
    error = (rng.random(n) > conf) | (rng.random(n) < risk)
    return conf, risk, rng.random(n) < 0.9, error


def _true_error(c: float, r: float, seed: int = 999) -> float:
    conf, risk, eligible, _ = _synthetic(400_000, seed)
    m = eligible & (conf >= c) & (risk <= r)
    return float((1 - (conf[m]) * (1 - risk[m])).mean())  # exact conditional error of the approved set


def test_the_chosen_gates_keep_the_true_error_below_alpha_with_probability_one_minus_delta() -> None:
    alpha, delta, runs = 0.02, 0.1, 40
    violations = 0
    for seed in range(runs):
        conf, risk, eligible, error = _synthetic(6_000, seed)
        chosen = calibrate_gates(conf, risk, eligible, error, alpha=alpha, delta=delta, seed=seed).chosen
        assert chosen is not None
        violations += _true_error(chosen.min_reason_confidence, chosen.max_fraud_risk) > alpha
    # Binomial(40, 0.1) exceeds 9 with probability < 1 %: a broken procedure fails, a valid one passes.
    assert violations <= 9


def test_a_looser_alpha_never_lowers_the_straight_through_rate_on_average() -> None:
    conf, risk, eligible, error = _synthetic(20_000, 3)
    through = []
    for alpha in (0.01, 0.02, 0.04):
        cal = calibrate_gates(conf, risk, eligible, error, alpha=alpha, delta=0.05, seed=1)
        through.append(cal.calibration_coverage)
        assert cal.upper_bound <= alpha + 1e-9
    assert through == sorted(through) and through[-1] > through[0]


def test_no_certifiable_gate_means_no_auto_approval() -> None:
    conf, risk, eligible, _ = _synthetic(3_000, 5)
    everything_wrong = np.ones(conf.size, bool)
    assert calibrate_gates(conf, risk, eligible, everything_wrong, alpha=0.01, delta=0.05).chosen is None


def test_binomial_p_value_is_monotone_in_errors_and_sample_size() -> None:
    p = binomial_p_value(np.array([0, 5, 10, 20]), np.array([1000, 1000, 1000, 1000]), 0.01)
    assert list(p) == sorted(p) and p[0] < 0.001 and p[-1] > 0.99
    assert binomial_p_value(np.array([5]), np.array([2000]), 0.01)[0] < binomial_p_value(
        np.array([5]), np.array([1000]), 0.01)[0]
    assert binomial_p_value(np.array([0]), np.array([0]), 0.01)[0] == 1.0


def test_inverse_propensity_weighting_recovers_the_bad_approval_rate() -> None:
    rng = np.random.default_rng(4)
    n = 200_000
    propensity = np.where(rng.random(n) < 0.5, 0.01, 0.05)  # two audit rates (e.g. two channels)
    error = rng.random(n) < np.where(propensity == 0.05, 0.002, 0.02)  # the error differs where sampled less
    sampled = rng.random(n) < propensity
    estimate = ipw_bad_approval_rate(propensity, sampled, error)
    naive = float(error[sampled].mean())
    assert abs(estimate - error.mean()) < 0.003 < abs(naive - error.mean())
