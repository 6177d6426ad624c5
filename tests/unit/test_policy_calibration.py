"""Gate calibration: the guarantee holds on synthetic data, and the procedure behaves monotonically."""

from __future__ import annotations

import numpy as np

import pytest

from returns_triage.serving.domain.policy_routing import estimated_error
from returns_triage.training.policy.calibrate import (
    METHODS,
    Candidate,
    binomial_p_value,
    calibrate_gates,
    error_estimates,
    realised_level,
    violation_statistic,
)
from returns_triage.training.policy.workflow import ipw_bad_approval_rate


def _synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Calibrated scores: P(reason wrong) = 1 - confidence, P(fraud) = risk; eligible 90 %."""
    rng = np.random.default_rng(seed)
    conf = 1 / (1 + np.exp(-(5.5 + 2.0 * rng.standard_normal(n))))
    risk = np.clip(rng.beta(0.3, 30.0, n), 0, 1)
    error = (rng.random(n) > conf) | (rng.random(n) < risk)
    return conf, risk, rng.random(n) < 0.9, error


def _true_error(chosen: Candidate, seed: int = 999) -> tuple[float, float]:
    """Exact conditional error of what the gates approve, and the share they approve, on a large fresh sample."""
    conf, risk, eligible, _ = _synthetic(400_000, seed)
    m = chosen.approves(conf, risk, eligible)
    return float((1 - (conf[m]) * (1 - risk[m])).mean()), float(m.mean())


@pytest.mark.parametrize("method", METHODS)
def test_the_chosen_gates_keep_the_true_error_below_alpha_with_probability_one_minus_delta(method: str) -> None:
    alpha, delta, runs = 0.02, 0.1, 40
    violations = 0
    for seed in range(runs):
        conf, risk, eligible, error = _synthetic(6_000, seed)
        chosen = calibrate_gates(conf, risk, eligible, error, alpha=alpha, delta=delta, seed=seed,
                                 method=method).chosen
        assert chosen is not None
        violations += _true_error(chosen)[0] > alpha
    # Binomial(40, 0.1) exceeds 9 with probability < 1 %: a broken procedure fails, a valid one passes.
    assert violations <= 9


@pytest.mark.parametrize("method", METHODS)
def test_a_looser_alpha_never_lowers_the_straight_through_rate_on_average(method: str) -> None:
    conf, risk, eligible, error = _synthetic(20_000, 3)
    through = []
    for alpha in (0.01, 0.02, 0.04):
        cal = calibrate_gates(conf, risk, eligible, error, alpha=alpha, delta=0.05, seed=1, method=method)
        through.append(cal.calibration_coverage)
        assert cal.upper_bound <= alpha + 1e-9
    assert through == sorted(through) and through[-1] > through[0]


@pytest.mark.parametrize("method", METHODS)
def test_the_error_counted_in_a_fresh_batch_stays_below_alpha_with_probability_one_minus_delta(method: str) -> None:
    alpha, delta, runs = 0.02, 0.1, 40
    violations = 0
    for seed in range(runs):
        conf, risk, eligible, error = _synthetic(6_000, seed)
        chosen = calibrate_gates(conf, risk, eligible, error, alpha=alpha, delta=delta, seed=seed, method=method,
                                 guarantee="realised").chosen
        assert chosen is not None
        conf, risk, eligible, error = _synthetic(6_000, 10_000 + seed)  # the batch it is then used on
        approved = chosen.approves(conf, risk, eligible)
        violations += float(error[approved].mean()) > alpha
    assert violations <= 9


def test_the_realised_guarantee_costs_straight_through_but_never_certifies_more() -> None:
    conf, risk, eligible, error = _synthetic(20_000, 11)
    for method in METHODS:
        realised, expected = (calibrate_gates(conf, risk, eligible, error, alpha=0.01, delta=0.05, seed=2,
                                              method=method, guarantee=g) for g in ("realised", "risk"))
        assert 0 < realised.calibration_coverage <= expected.calibration_coverage
    with pytest.raises(ValueError, match="unknown guarantee"):
        calibrate_gates(conf, risk, eligible, error, alpha=0.01, delta=0.05, guarantee="hopeful")


def test_the_violation_statistic_grows_with_errors_and_its_level_integrates_to_delta() -> None:
    stat = violation_statistic(np.array([0, 50, 80, 100, 140]), np.full(5, 10_000), np.full(5, 10_000), 0.01)
    assert list(stat) == sorted(stat) and stat[0] < 1e-6 and stat[-1] > 0.2
    level = realised_level(0.05)
    assert level * (1 + np.log(1 / level)) == pytest.approx(0.05, rel=1e-6) and level < 0.05


def test_the_joint_gate_certifies_more_straight_through_than_the_rectangle_at_the_same_guarantee() -> None:
    gains = []
    for seed in range(8):
        conf, risk, eligible, error = _synthetic(10_000, 100 + seed)
        joint, rect = (calibrate_gates(conf, risk, eligible, error, alpha=0.02, delta=0.05, seed=seed,
                                       method=m).chosen for m in ("joint", "rectangle"))
        assert joint is not None and rect is not None
        gains.append(_true_error(joint)[1] - _true_error(rect)[1])
    assert np.mean(gains) > 0.01


def test_the_joint_gates_bounds_change_no_approval_and_match_the_router() -> None:
    conf, risk, eligible, error = _synthetic(20_000, 7)
    chosen = calibrate_gates(conf, risk, eligible, error, alpha=0.02, delta=0.05, method="joint").chosen
    assert chosen is not None and chosen.max_error_estimate is not None
    unbounded = Candidate(0.0, 1.0, chosen.max_error_estimate)
    assert (chosen.approves(conf, risk, eligible) == unbounded.approves(conf, risk, eligible)).all()
    assert chosen.min_reason_confidence <= 1 - chosen.max_error_estimate <= chosen.min_reason_confidence + 1e-6
    estimates = error_estimates(conf[:500], risk[:500])
    assert all(e == estimated_error(float(c), float(r)) for e, c, r in zip(estimates, conf[:500], risk[:500]))


def test_a_confidence_floor_is_calibrated_alongside_when_offered() -> None:
    conf, risk, eligible, error = _synthetic(20_000, 9)
    cal = calibrate_gates(conf, risk, eligible, error, alpha=0.02, delta=0.05, method="joint", floors=(0.0, 0.995))
    assert cal.chosen is not None and cal.upper_bound <= 0.02 + 1e-9
    assert {row["min_reason_confidence"] for row in cal.frontier} == {0.0, 0.995}  # both sequences were tested
    certified = [row for row in cal.frontier if row["p_value"] <= realised_level(0.05 / 2)]  # each at δ / 2
    assert max(row["straight_through"] for row in certified) == pytest.approx(cal.calibration_coverage)


def test_an_unknown_method_is_refused() -> None:
    conf, risk, eligible, error = _synthetic(1_000, 1)
    with pytest.raises(ValueError, match="unknown calibration method"):
        calibrate_gates(conf, risk, eligible, error, alpha=0.01, delta=0.05, method="ellipse")


@pytest.mark.parametrize("method", METHODS)
def test_no_certifiable_gate_means_no_auto_approval(method: str) -> None:
    conf, risk, eligible, _ = _synthetic(3_000, 5)
    everything_wrong = np.ones(conf.size, bool)
    assert calibrate_gates(conf, risk, eligible, everything_wrong, alpha=0.01, delta=0.05,
                           method=method).chosen is None


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
