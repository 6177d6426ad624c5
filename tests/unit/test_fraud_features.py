"""Fraud features: numeric, stable, point-in-time (no leakage from later events), honest about absent inputs."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from returns_triage.datasets.returns_world import WorldConfig, simulate_world
from returns_triage.datasets.returns_world import generative as g
from returns_triage.errors import InvalidInput
from returns_triage.models.fraud import features as f
from returns_triage.models.fraud import request_features
from returns_triage.training.fraud.pipeline import OPTIONAL_INPUTS, blank_optional_inputs

EXAMPLE = json.loads((Path(__file__).resolve().parents[2] / "examples" / "score-request.json").read_text())


@pytest.fixture(scope="module")
def world():
    return simulate_world(WorldConfig(seed=5, customers=2_000, months=12))


def test_feature_names_are_unique_and_vocabularies_match_the_simulator():
    assert len(set(f.FEATURE_NAMES)) == len(f.FEATURE_NAMES)
    assert f.SEGMENTS == g.SEGMENTS and f.CHANNELS == g.CHANNELS and f.REASON_CODES == g.REASON_CODES
    assert f.CATEGORIES == tuple(g.CATALOGUE) and f.CONDITIONS == g.CONDITIONS
    assert f.DELIVERY_STATUSES == g.DELIVERY_STATUSES and f.FINDING_CODES == g.FINDING_CODES


def test_the_example_request_gives_one_numeric_row():
    x = request_features(EXAMPLE)
    assert x.dtype == np.float32 and x.shape == (len(f.FEATURE_NAMES),) and np.all(np.isfinite(x))
    named = dict(zip(f.FEATURE_NAMES, x, strict=True))
    assert named["days_delivery_to_request"] == 6 and named["refund_to_line_value"] == 1.0
    assert named["reason=unknown"] == 1 and named["delivery=unknown"] == 1 and named["findings_known"] == 0


def test_features_do_not_change_when_later_events_are_added(world):
    cut = 200.0
    rng = np.random.default_rng(0)
    r = world.returns
    copied = np.flatnonzero((r["t"] >= 0) & (r["t"] < cut))[:800]  # same customers return again later
    later_returns = {k: np.concatenate([v, v[copied]]) for k, v in r.items()}
    later_returns["t"][-copied.size:] = cut + rng.uniform(0.5, 150, copied.size)
    later_returns["outcome_at"] = np.zeros_like(later_returns["outcome_at"])  # outcomes must not matter either
    customers = rng.choice(world.customers["created"].size, 3_000)
    later_orders = {"customer": np.concatenate([world.orders["customer"], customers]),
                    "t": np.concatenate([world.orders["t"], cut + rng.uniform(0.5, 150, customers.size)])}
    later_flags = {"customer": np.concatenate([world.flags["customer"], customers]),
                   "t": np.concatenate([world.flags["t"], cut + rng.uniform(0.5, 150, customers.size)])}
    grown = replace(world, returns=later_returns, orders=later_orders, flags=later_flags)

    def before_cut(w):
        day = w.labels()["requested_day"]
        rows = zip(w.requests(), w.reason_codes(), w.findings(), day, strict=True)
        return {req["case_id"]: request_features(req, reason_code=c, findings=fi) for req, c, fi, d in rows if d < cut}

    old, new = before_cut(world), before_cut(grown)
    assert len(old) > 1_000 and old.keys() == new.keys()
    assert all(np.array_equal(old[k], new[k]) for k in old)
    assert len(grown) > len(world)  # the later events are really there


def test_blanking_in_training_matches_absent_inputs_at_serving(world):
    req = world.requests(limit=1)[0]
    complete = request_features(req, reason_code=world.reason_codes()[0], findings=[])
    for key in ("delivery", "claimed_condition"):
        del req[key]
    req["line"].pop("weight_received_kg")
    req["line"].pop("returned_serial_numbers")
    absent = request_features(req, reason_code=None, findings=None)
    blanked = blank_optional_inputs(complete[None, :], np.random.default_rng(0), share=1.0)[0]
    assert len(OPTIONAL_INPUTS) == 6 and np.array_equal(absent, blanked)


@pytest.mark.parametrize(("path", "value"), [
    (("customer", "returns_last_30d"), -1), (("line", "unit_price"), "cheap"), (("requested_at",), "yesterday"),
    (("order",), None),
])
def test_unusable_input_is_rejected_with_the_field_named(path, value):
    r = copy.deepcopy(EXAMPLE)
    target = r
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(InvalidInput) as err:
        request_features(r)
    assert err.value.field is not None and path[-1] in err.value.field


def test_a_segment_or_channel_the_model_never_saw_scores_with_no_indicator_set():
    seen = request_features(copy.deepcopy(EXAMPLE))
    r = copy.deepcopy(EXAMPLE)
    r["segment"], r["channel"] = "wholesale", "warehouse"
    unseen = request_features(r)
    names = list(f.FEATURE_NAMES)
    for prefix in ("segment=", "channel="):
        cols = [i for i, n in enumerate(names) if n.startswith(prefix)]
        assert seen[cols].sum() == 1.0 and unseen[cols].sum() == 0.0


def test_field_sales_is_the_field_rep_channel():
    r = copy.deepcopy(EXAMPLE)
    r["channel"] = "field_sales"
    x = request_features(r)
    assert x[list(f.FEATURE_NAMES).index("channel=field_rep")] == 1.0
