"""The monitor's calculators on small real data: the inverse-propensity estimate on a simulated world, the
confidence-based estimate on calibrated probabilities, prediction drift, alert ranking, and the fail-safe rules."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from returns_triage.evaluation.monitoring.alerts import AlertRules, window_alerts
from returns_triage.evaluation.monitoring.estimate import ConfidenceBasedEstimator
from returns_triage.evaluation.monitoring.evidence import NoveltyRate, error_evidence, error_upper_bound, \
    exceeds_target
from returns_triage.evaluation.monitoring.frames import FRAME_COLUMNS
from returns_triage.evaluation.monitoring.performance import RealisedPerformanceCalculator, ipw_error_rate
from returns_triage.evaluation.monitoring.prediction_drift import PredictionDriftCalculator
from returns_triage.serving.domain.failsafe import FailsafeBoard, FailsafeState, reason_scope, tightened_gates


def _frame(n: int, rng: np.random.Generator, **columns: object) -> pd.DataFrame:
    base: dict[str, object] = {c: [None] * n for c in FRAME_COLUMNS}
    base.update(route="auto_approve", reason_code="DEFECTIVE", segment="consumer", audit_propensity=np.nan,
                risk_score=rng.uniform(0, 0.05, n), labelled=False, label_fraud=np.nan, label_reason=None,
                error=np.nan, failsafe_held=False)
    base.update(columns)
    return pd.DataFrame({c: (v if isinstance(v, list | np.ndarray | pd.Series) else [v] * n)
                         for c, v in base.items()})


def test_ipw_is_unbiased_where_the_naive_rate_is_not_on_a_simulated_world() -> None:
    from returns_triage.datasets.returns_world import WorldConfig, simulate_world

    world = simulate_world(WorldConfig(seed=3, customers=1500, months=4))
    truth = world.labels()["is_fraud"].astype(float)  # the "error" of approving each return
    segment = np.array([r for r in world.case_column("segment")])
    # Audit sampling that is heavier where errors are rarer (a policy that trusts one segment less).
    p = np.where(segment == 0, 0.1, 0.6)
    rng = np.random.default_rng(0)
    ipw, naive = [], []
    for _ in range(300):
        sampled = rng.random(truth.size) < p
        est, se = ipw_error_rate(truth[sampled], p[sampled])
        assert est is not None and se is not None
        ipw.append(est)
        naive.append(truth[sampled].mean())
    true_rate = truth.mean()
    assert abs(np.mean(ipw) - true_rate) < 0.1 * true_rate
    assert abs(np.mean(naive) - true_rate) > 2 * abs(np.mean(ipw) - true_rate)


def test_realised_performance_weights_audit_samples_and_keeps_failsafe_holds_apart() -> None:
    rng = np.random.default_rng(1)
    n = 400
    prop = np.where(np.arange(n) < 100, 0.1, np.where(np.arange(n) < 120, 1.0, np.nan))
    err = np.where(np.arange(n) < 100, (np.arange(n) % 20 == 0).astype(float),
                   np.where(np.arange(n) < 120, 1.0, np.nan))
    frame = _frame(n, rng, audit_propensity=prop, error=err, labelled=~np.isnan(err),
                   route=np.where(np.isnan(prop), "auto_approve", "review"))
    result = RealisedPerformanceCalculator().calculate(frame)
    assert result.auto_approval_error == pytest.approx(0.05)  # held cases (propensity 1) are not approvals
    assert result.audit_labelled == 120
    assert result.would_be_error is not None and result.would_be_error > result.auto_approval_error
    assert result.to_dict()["straight_through_rate"] == pytest.approx(280 / 400)


def test_confidence_based_estimate_tracks_realised_accuracy_on_calibrated_probabilities() -> None:
    rng = np.random.default_rng(2)

    def window(n: int, lo: float) -> pd.DataFrame:
        conf = rng.uniform(lo, 1.0, n)
        right = rng.random(n) < conf
        return _frame(n, rng, reason_confidence=conf, label_reason=np.where(right, "DEFECTIVE", "OTHER"),
                      labelled=True)

    estimator = ConfidenceBasedEstimator().fit(window(3000, 0.4))
    for lo in (0.4, 0.7, 0.9):
        current = window(2000, lo)
        realised = (current["label_reason"] == current["reason_code"]).mean()
        unlabelled = current.assign(label_reason=None, labelled=False)
        estimate = estimator.calculate(unlabelled)
        assert estimate.estimated_reason_accuracy == pytest.approx(realised, abs=0.03)
        assert estimate.estimated_auto_approval_error is not None


def test_prediction_drift_flags_a_new_reason_mix_and_risk_shift() -> None:
    rng = np.random.default_rng(4)
    reference = _frame(500, rng, reason_code=rng.choice(["DEFECTIVE", "DAMAGED_IN_TRANSIT"], 500))
    calc = PredictionDriftCalculator().fit(reference)
    same = calc.calculate(_frame(500, rng, reason_code=rng.choice(["DEFECTIVE", "DAMAGED_IN_TRANSIT"], 500)))
    assert not same.drifted
    moved = calc.calculate(_frame(500, rng, reason_code="WARRANTY_CLAIM", risk_score=rng.uniform(0.2, 0.6, 500)))
    assert moved.drifted and moved.reason_mix_js > 0.5 and moved.risk_psi > 0.2


def test_alerts_rank_performance_loss_above_harmless_drift() -> None:
    rules = AlertRules(alpha=0.02, min_audit_labels=10)
    drift_only = window_alerts("*", {"performance": {"straight_through_rate": 0.4},
                                     "estimate": {"estimated_auto_approval_error": 0.005},
                                     "prediction_drift": {"drifted": True}},
                               {"estimated_auto_approval_error": 0.005}, rules, "w1")
    harmful = window_alerts("consumer", {"performance": {"straight_through_rate": 0.3, "would_be_error": 0.2,
                                                         "audit_labelled": 40, "would_be_n_eff": 40.0,
                                                         "would_be_errors_eff": 8.0}}, {}, rules, "w2")
    ranked = sorted(drift_only + harmful, key=lambda a: -a.impact)
    assert [a.kind for a in ranked] == ["performance", "drift"]
    assert ranked[0].impact == pytest.approx((0.2 - 0.02) * 0.3 * 1000)


def test_an_error_a_shade_above_the_target_on_few_labels_is_no_alert() -> None:
    rules = AlertRules(alpha=0.02)
    # One wrong approval among twenty audit labels: 5 % measured, but 2 % explains it (p ≈ 0.33).
    noisy = window_alerts("consumer", {"performance": {"straight_through_rate": 0.3, "would_be_error": 0.05,
                                                       "audit_labelled": 20, "would_be_n_eff": 20.0,
                                                       "would_be_errors_eff": 1.0}}, {}, rules, "w")
    assert noisy == []
    clear = window_alerts("consumer", {"performance": {"straight_through_rate": 0.3, "would_be_error": 0.25,
                                                       "audit_labelled": 20, "would_be_n_eff": 20.0,
                                                       "would_be_errors_eff": 5.0}}, {}, rules, "w")
    assert [a.metric for a in clear] == ["auto_approval_error"] and "p=" in clear[0].message


def test_error_evidence_tests_and_bounds() -> None:
    # Holds (propensity 1) and 30 % audit samples: the effective sample size is below the count.
    ev = error_evidence(np.array([0.0] * 30 + [1.0] * 3), np.array([0.3] * 20 + [1.0] * 13))
    assert ev.labelled == 33 and ev.n < 33 and ev.rate is not None
    assert exceeds_target(error_evidence(np.ones(3), np.ones(3)), 0.02) == pytest.approx(0.02**3)
    assert exceeds_target(error_evidence(np.zeros(50), np.ones(50)), 0.02) == 1.0
    # No errors in 80 labels bounds the error below 2 % at 80 % confidence, not at 95 %.
    clean = error_evidence(np.zeros(80), np.ones(80))
    assert error_upper_bound(clean, 0.8) <= 0.02 < error_upper_bound(clean, 0.95)


def test_novelty_rate_fires_on_unseen_inputs_only() -> None:
    rng = np.random.default_rng(5)

    def traffic(n: int, new_accounts: float) -> pd.DataFrame:
        age = np.where(rng.random(n) < new_accounts, rng.integers(0, 5, n), rng.integers(200, 3000, n))
        return _frame(n, rng, account_age_days=age.astype(float), refund_amount=rng.lognormal(4, 0.5, n),
                      unit_price=rng.lognormal(4, 0.5, n), returns_last_365d=rng.poisson(2, n).astype(float),
                      prior_fraud_flags=0.0, text_length=rng.normal(60, 10, n), channel="portal",
                      facility="DC-1", category=rng.choice(["tools", "garden"], n), claimed_condition="unopened")

    novelty = NoveltyRate().fit(traffic(2000, 0.0))
    ordinary = novelty.calculate(traffic(40, 0.0))
    assert ordinary is not None and ordinary.p_value > 0.01
    ring = novelty.calculate(traffic(40, 0.5))
    assert ring is not None and ring.p_value < 1e-4 and ring.features["account_age_days"] >= 10


def test_tightened_gates_and_the_cached_failsafe_board() -> None:
    assert tightened_gates(0.9, 0.05, 0.5) == pytest.approx((0.95, 0.025))
    assert tightened_gates(0.9, 0.05, 0.0) == pytest.approx((1.0, 0.0))
    opened = datetime(2026, 1, 5, tzinfo=UTC)
    states = [FailsafeState("a" * 36, "t1", "consumer", 0.5, "auto_approval_error", 0.05, 0.02, "why", opened),
              FailsafeState("b" * 36, "t1", "*", 0.0, "auto_approval_error", 0.06, 0.02, "why", opened)]
    loads: list[int] = []
    now = [0.0]

    def load() -> list[FailsafeState]:
        loads.append(1)
        return states

    board = FailsafeBoard(load, refresh_seconds=5.0, clock=lambda: now[0])
    assert board.for_case("t1", "consumer").state_id == "b" * 36  # the most restrictive wins
    assert board.for_case("t2", "consumer") is None
    assert len(loads) == 1
    states.pop()  # the "*" state is cleared in the database
    now[0] = 6.0
    assert board.for_case("t1", "consumer").state_id == "a" * 36
    assert "segment consumer" in board.for_case("t1", "consumer").clause()


def test_a_reason_scoped_failsafe_covers_one_code_in_every_segment() -> None:
    opened = datetime(2026, 1, 5, tzinfo=UTC)
    state = FailsafeState("c" * 36, "t1", reason_scope("NO_LONGER_NEEDED"), 0.0, "reason_error", 0.2, 0.02, "why",
                          opened)
    assert state.reason_code == "NO_LONGER_NEEDED"
    assert state.applies_to("consumer", "NO_LONGER_NEEDED") and state.applies_to("contract", "NO_LONGER_NEEDED")
    assert not state.applies_to("consumer", "DEFECTIVE") and not state.applies_to("consumer")
    assert "reason NO_LONGER_NEEDED, all segments" in state.clause()
    board = FailsafeBoard(lambda: [state], refresh_seconds=0)
    assert board.for_case("t1", "consumer", "NO_LONGER_NEEDED") is not None
    assert board.for_case("t1", "consumer", "DEFECTIVE") is None
    segment = FailsafeState("d" * 36, "t1", "consumer", 0.0, "auto_approval_error", 0.05, 0.02, "why", opened)
    assert segment.reason_code is None and segment.applies_to("consumer", "DEFECTIVE")


def test_estimated_reason_accuracy_is_over_the_legitimate_returns_it_is_later_confirmed_on() -> None:
    """A fraud gets no confirmed reason, so the realised accuracy counts legitimate returns only; frauds whose text
    the model reads poorly must not drag the estimate below it."""
    rng = np.random.default_rng(5)

    def window(n: int) -> pd.DataFrame:
        risk = rng.choice([0.01, 0.98], n, p=[0.7, 0.3])
        fraud = rng.random(n) < risk
        conf = np.where(fraud, rng.uniform(0.2, 0.5, n), rng.uniform(0.8, 1.0, n))
        right = rng.random(n) < conf
        reason = np.where(fraud, None, np.where(right, "DEFECTIVE", "OTHER"))
        return _frame(n, rng, reason_confidence=conf, risk_score=risk, label_fraud=fraud.astype(float),
                      label_reason=reason, labelled=True)

    estimator = ConfidenceBasedEstimator().fit(window(4000))
    current = window(3000)
    legit = current["label_reason"].notna()
    realised = (current.loc[legit, "label_reason"] == current.loc[legit, "reason_code"]).mean()
    estimate = estimator.calculate(current.assign(label_reason=None, labelled=False, label_fraud=np.nan))
    assert estimate.estimated_reason_accuracy == pytest.approx(realised, abs=0.02)
    assert realised - estimator.p_reason_right(current).mean() > 0.05  # what an unweighted mean would miss
