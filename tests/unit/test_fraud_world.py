"""The returns-world simulator: deterministic, realistic base rates, drift knobs, and an exact Bayes posterior."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from returns_triage.datasets.returns_world import (
    REASON_CODES, TYPOLOGIES, FraudRing, WorldConfig, bayes_posterior, simulate_world,
)

SMALL = WorldConfig(seed=3, customers=3_000, months=12)
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "score-request.json"


@pytest.fixture(scope="module")
def world():
    return simulate_world(SMALL)


def _auc(score: np.ndarray, y: np.ndarray) -> float:
    order = np.argsort(score, kind="stable")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    pos = y.astype(bool)
    return float((ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum()))


def test_same_config_gives_the_same_world(world):
    again = simulate_world(SMALL)
    assert again.requests(limit=300) == world.requests(limit=300)
    assert np.array_equal(again.labels()["is_fraud"], world.labels()["is_fraud"])
    other = simulate_world(WorldConfig(seed=4, customers=3_000))
    assert other.requests(limit=50) != world.requests(limit=50)


def test_requests_have_the_api_shape(world):
    example = json.loads(EXAMPLE.read_text())
    request = world.requests(limit=1)[0]
    for key, value in example.items():
        assert key in request
        if isinstance(value, dict):
            assert set(value) <= set(request[key]), key


def test_fraud_is_a_few_percent_and_every_typology_occurs(world):
    labels = world.labels()
    assert 0.02 <= labels["is_fraud"].mean() <= 0.06
    assert set(TYPOLOGIES) <= set(labels["typology"][labels["is_fraud"]])
    reasons = Counter(world.reason_codes())
    assert set(reasons) == set(REASON_CODES)
    assert reasons.most_common(1)[0][0] == "NO_LONGER_NEEDED"


def test_typology_weights_set_base_rates():
    def rate(weights: dict[str, float]) -> float:
        labels = simulate_world(WorldConfig(seed=3, customers=3_000, typology_weights=weights)).labels()
        return float(np.mean(labels["typology"] == "item_switch"))

    assert rate({"item_switch": 0.0}) == 0.0
    assert rate({"item_switch": 3.0}) > 1.5 * rate({})  # fraudsters saturate, so not quite 3x


def test_outcomes_arrive_late_or_never(world):
    labels = world.labels()
    arrived = ~np.isnan(labels["outcome_day"])
    assert 0.3 < arrived.mean() < 0.95
    assert np.all(labels["outcome_day"][arrived] > labels["requested_day"][arrived])
    fraud = labels["is_fraud"] & arrived
    assert np.median(labels["outcome_day"][fraud] - labels["requested_day"][fraud]) > 5


def test_bayes_posterior_is_a_calibrated_probability_that_ranks_well(world):
    p = bayes_posterior(world)
    y = world.labels()["is_fraud"]
    assert p.shape == y.shape and np.all((p >= 0) & (p <= 1))
    assert _auc(p, y) > 0.9  # random ranks at 0.5
    assert abs(p.mean() - y.mean()) < 0.25 * y.mean()  # exact posterior: expected = observed fraud count
    high = p > 0.5
    assert abs(p[high].mean() - y[high].mean()) < 0.1


def test_fraud_ring_and_new_product_line_drift():
    cfg = WorldConfig(seed=3, customers=3_000, fraud_ring=FraudRing(start_day=200, accounts=40),
                      new_product_line_day=150)
    world = simulate_world(cfg)
    day = world.labels()["requested_day"]
    ring = world.case_column("ctype") == 4
    assert ring.sum() > 40 and day[ring].min() >= 200
    requests = world.requests()
    e_mobility = np.array([r["line"]["category"] == "e_mobility" for r in requests])
    assert e_mobility.any() and day[e_mobility].min() >= 150
    p = bayes_posterior(world)
    assert np.all(np.isfinite(p)) and p[ring].mean() > 0.5
