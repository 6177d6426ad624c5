"""The fraud model's calibration map: monotone, faithful to isotonic regression's blocks, and order-keeping."""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression

from returns_triage.training.fraud.pipeline import centred_isotonic_knots


def _sample(seed: int = 0, n: int = 4_000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    raw = rng.beta(0.5, 8.0, n)
    outcome = (rng.random(n) < np.clip(raw * 1.7, 0, 1)).astype(float)
    return raw, outcome


def test_the_map_is_strictly_increasing_and_stays_a_probability():
    raw, outcome = _sample()
    knots = centred_isotonic_knots(raw, outcome)
    x, y = np.array(knots["x"]), np.array(knots["y"])
    assert np.all(np.diff(x) > 0)
    assert np.all(np.diff(y) >= 0) and 0.0 <= y.min() and y.max() <= 1.0
    # Between the end points, distinct raw scores in different blocks keep their order (no steps).
    inside = np.sort(raw[(raw > x[1]) & (raw < x[-2])])
    assert np.all(np.diff(np.interp(inside, x, y)) > 0)


def test_each_block_keeps_its_calibrated_mean_at_its_centre():
    raw, outcome = _sample(1)
    knots = centred_isotonic_knots(raw, outcome)
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, outcome)
    blocks = np.unique(iso.predict(raw))
    interior = np.array(knots["y"][1:-1])
    assert set(np.round(interior, 12)) <= set(np.round(blocks, 12))
    # Calibrated on the same sample: the mean prediction matches the outcome rate closely.
    mapped = np.interp(raw, knots["x"], knots["y"])
    assert abs(mapped.mean() - outcome.mean()) < 0.01


def test_it_ranks_as_well_as_the_raw_score_where_a_step_function_does_not():
    from sklearn.metrics import average_precision_score

    raw, outcome = _sample(2)
    test_raw, test_outcome = _sample(3)
    knots = centred_isotonic_knots(raw, outcome)
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw, outcome)
    ap_raw = average_precision_score(test_outcome, test_raw)
    ap_centred = average_precision_score(test_outcome, np.interp(test_raw, knots["x"], knots["y"]))
    ap_steps = average_precision_score(test_outcome, iso.predict(test_raw))
    assert ap_centred >= ap_raw - 0.005
    assert ap_centred > ap_steps
