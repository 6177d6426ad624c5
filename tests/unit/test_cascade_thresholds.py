"""How the cascade's first stage earns the right to answer: the threshold search (pure logic, synthetic views)."""

from __future__ import annotations

import numpy as np

from returns_triage.models.reason.cascade import accept_rule, acceptance_score
from returns_triage.training.reason.cascade import choose_thresholds


def _views(n: int, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    conf = rng.uniform(0.3, 1.0, n)
    # The more confident the first stage, the likelier it is right.
    right = rng.uniform(size=n) < conf
    pred = np.where(right, y, (y + 1) % 4)
    proba = np.full((n, 4), 0.0)
    proba[np.arange(n), pred] = conf
    proba += (1.0 - conf)[:, None] / 4
    oos = rng.uniform(0.0, 0.5, n)
    views = {"probabilities": proba, "lexical_probabilities": proba, "static_probabilities": proba,
             "out_of_scope_score": oos}
    return views, y


def test_answers_stay_within_the_accuracy_budget() -> None:
    views, y = _views(4000)
    full_pred = y.copy()  # a full model that is always right: every first-stage error is a loss
    is_oos = np.zeros(len(y), dtype=bool)
    chosen = choose_thresholds(views, y, full_pred, is_oos, max_accuracy_drop=0.005, max_oos_recall_drop=0.005)
    accept = accept_rule(views["lexical_probabilities"], views["static_probabilities"],
                         views["out_of_scope_score"], chosen.accept_at_confidence, chosen.defer_at_oos_score)
    losses = (views["probabilities"].argmax(1) != y) & accept
    assert losses.sum() <= 0.005 * len(y)
    assert chosen.share == accept.mean() > 0.05


def test_out_of_scope_rows_are_never_answered_with_no_budget_for_them() -> None:
    views, y = _views(2000, seed=1)
    is_oos = np.zeros(len(y), dtype=bool)
    is_oos[:100] = True
    y[is_oos] = -1
    # Out-of-scope rows that look confident to the first stage but sit far from every class centroid.
    views["out_of_scope_score"][:50] = 0.9
    chosen = choose_thresholds(views, y, np.where(is_oos, -2, y), is_oos, max_accuracy_drop=0.01,
                               max_oos_recall_drop=0.0)
    accept = accept_rule(views["lexical_probabilities"], views["static_probabilities"],
                         views["out_of_scope_score"], chosen.accept_at_confidence, chosen.defer_at_oos_score)
    assert not accept[is_oos].any()
    assert accept[~is_oos].any()


def test_views_that_disagree_never_answer() -> None:
    lexical = np.array([[0.99, 0.01], [0.99, 0.01]])
    static = np.array([[0.98, 0.02], [0.02, 0.98]])
    assert list(acceptance_score(lexical, static)) == [0.98, 0.0]
    assert list(accept_rule(lexical, static, np.zeros(2), 0.9, 1.0)) == [True, False]
