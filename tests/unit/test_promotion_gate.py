"""The gate's rule on measured figures: better overall is not enough when a slice with evidence drops too far."""

from __future__ import annotations

import numpy as np
import pytest

from returns_triage.training.lifecycle.families import Evaluation
from returns_triage.training.lifecycle.promote import _compare, _weighted_metric, in_gate_holdout


def _ev(overall: float, slices: dict[str, tuple[float, int, int]]) -> Evaluation:
    return Evaluation(
        {"average_precision": overall, "n": 5000.0, "positives": 200.0},
        {"segment": {k: {"average_precision": v, "n": float(n), "positives": float(p)}
                     for k, (v, n, p) in slices.items()}})


def test_better_overall_but_one_slice_worse_than_the_margin_is_refused() -> None:
    champion = _ev(0.60, {"consumer": (0.62, 3000, 120), "contract": (0.50, 900, 30), "tiny": (0.9, 20, 1)})
    challenger = _ev(0.64, {"consumer": (0.70, 3000, 120), "contract": (0.44, 900, 30), "tiny": (0.1, 20, 1)})
    rows = _compare("fraud", "holdout", champion, challenger, margin=0.05, min_gain=0.0)
    verdicts = {r.slice: r.verdict for r in rows}
    assert verdicts == {"overall": "ok", "segment=contract": "worse", "segment=consumer": "ok",
                        "segment=tiny": "insufficient"}
    assert rows[1].slice == "segment=contract"  # the worst offender is listed first


def test_a_drop_within_the_margin_passes_and_a_lost_headline_does_not() -> None:
    champion = _ev(0.60, {"contract": (0.50, 900, 30)})
    within = _compare("fraud", "holdout", champion, _ev(0.61, {"contract": (0.48, 900, 30)}), margin=0.05,
                      min_gain=0.0)
    assert {r.verdict for r in within} == {"ok"}
    lost = _compare("fraud", "holdout", champion, _ev(0.59, {"contract": (0.50, 900, 30)}), margin=0.05,
                    min_gain=0.0)
    assert lost[0].verdict == "lost"


def test_noise_sized_losses_pass_on_the_holdout_and_small_slices() -> None:
    champion = _ev(0.60, {"contract": (0.50, 900, 30)})
    challenger = _ev(0.595, {"contract": (0.45, 900, 30)})
    # Without a measured standard error a raw comparison refuses both.
    raw = _compare("fraud", "holdout", champion, challenger, margin=0.03, min_gain=0.0, noninferior=True)
    assert [r.verdict for r in raw] == ["lost", "worse"]
    noisy = _compare("fraud", "holdout", champion, challenger, margin=0.03, min_gain=0.0,
                     se={"overall": 0.01, "segment=contract": 0.04}, noninferior=True)
    assert [r.verdict for r in noisy] == ["ok", "ok"] and noisy[0].allowance == pytest.approx(0.01645)
    # The non-inferiority margin is capped: a big loss on a noisy holdout is still lost.
    big = _compare("fraud", "holdout", champion, _ev(0.57, {"contract": (0.50, 900, 30)}), margin=0.03,
                   min_gain=0.0, se={"overall": 0.05}, noninferior=True)
    assert big[0].verdict == "lost" and big[0].allowance == pytest.approx(0.02)
    # Recent outcomes must be won outright.
    recent = _compare("fraud", "outcomes", champion, challenger, margin=0.03, min_gain=0.0, se={"overall": 0.01})
    assert recent[0].verdict == "lost"


def test_the_bootstrap_metric_is_scikit_learns_average_precision() -> None:
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.1
    scores = np.round(np.clip(y * 0.3 + rng.random(500) * 0.7, 0, 1), 2)  # ties included
    ours = _weighted_metric("fraud", y, scores, np.ones((1, 500)))[0]
    assert ours == pytest.approx(average_precision_score(y, scores))


def test_gate_holdout_membership_is_fixed_and_about_its_share() -> None:
    ids = [f"RMA-{i}" for i in range(5000)]
    share = np.mean([in_gate_holdout(i) for i in ids])
    assert abs(share - 0.2) < 0.02
    assert [in_gate_holdout(i) for i in ids[:50]] == [in_gate_holdout(i) for i in ids[:50]]
