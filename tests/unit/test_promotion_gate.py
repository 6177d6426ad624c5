"""The gate's rule on measured figures: better overall is not enough when a slice with evidence drops too far."""

from __future__ import annotations

from returns_triage.training.lifecycle.families import Evaluation
from returns_triage.training.lifecycle.promote import _compare


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
