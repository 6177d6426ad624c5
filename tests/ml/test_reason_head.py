"""The calibrated head on its own (no encoder): ONNX parity of probabilities and the out-of-scope score,
abstention with and without out-of-scope examples, conformal coverage. Clustered unit vectors stand in for
sentence embeddings, so these run in seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.utils.estimator_checks import check_estimators_unfitted

from returns_triage.models.bundle import onnx_session
from returns_triage.models.reason.head import (
    MIN_OOS_FOR_RECALL_FLOOR,
    CalibratedReasonHead,
    balanced_oos_threshold,
    count_weighted_oos_threshold,
    oos_recall_floor,
    recall_floor_oos_threshold,
)
from returns_triage.training.reason.export import export_head_onnx, head_parity

DIM = 24
CODES = np.array(["DEFECTIVE", "LATE_DELIVERY", "MISSING_PARTS", "WRONG_ITEM_SHIPPED"])


def _embeddings(n_per_class: int, seed: int, noise: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(len(CODES), DIM))
    rng = np.random.default_rng(seed)
    X = np.vstack([c + noise * rng.normal(size=(n_per_class, DIM)) for c in centres])
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32), np.repeat(CODES, n_per_class)


def _out_of_scope(n: int, seed: int) -> np.ndarray:
    X = np.random.default_rng(seed).normal(size=(n, DIM))
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def fitted() -> CalibratedReasonHead:
    X, y = _embeddings(150, seed=1)
    Xv, yv = _embeddings(100, seed=2)
    Xo = _out_of_scope(100, seed=3)
    return CalibratedReasonHead(C=1.0, ood_label="OOS").fit(
        X, y, np.vstack([Xv, Xo]), np.r_[yv, np.repeat("OOS", len(Xo))])


def test_unfitted_head_refuses_to_predict() -> None:
    check_estimators_unfitted("CalibratedReasonHead", CalibratedReasonHead())


def test_onnx_export_matches_probabilities_scores_and_abstention(fitted: CalibratedReasonHead, tmp_path: Path) -> None:
    path = tmp_path / "head.onnx"
    export_head_onnx(fitted, path)
    X = np.vstack([_embeddings(30, seed=9)[0], _out_of_scope(40, seed=10)])
    parity = head_parity(fitted, path, X)
    assert parity["top1_agreement"] == 1.0 and parity["abstain_agreement"] == 1.0
    assert parity["max_prob_diff"] < 1e-5 and parity["max_oos_score_diff"] < 1e-4
    proba, score = onnx_session(path).run(None, {"embedding": X})
    assert proba.shape == (len(X), len(CODES)) and score.shape == (len(X),)


def test_out_of_scope_examples_are_mostly_sent_to_a_human(fitted: CalibratedReasonHead) -> None:
    X, y = _embeddings(100, seed=4)
    Xo = _out_of_scope(200, seed=5)
    accepted_correct = ((fitted.predict(X) == y) & ~fitted.abstain(X)).mean()
    assert fitted.abstain(Xo).mean() > 0.7
    assert accepted_correct > 0.85
    # The combined score separates better than max-probability alone.
    assert fitted.oos_link_ == "sigmoid"


def test_without_out_of_scope_examples_abstention_keeps_selective_accuracy() -> None:
    X, y = _embeddings(150, seed=1, noise=1.6)
    head = CalibratedReasonHead(C=1.0, target_selective_accuracy=0.95).fit(X, y)
    Xt, yt = _embeddings(300, seed=6, noise=1.6)
    keep = ~head.abstain(Xt)
    assert 0.0 < head.abstain_threshold_ < 1.0
    assert (head.predict(Xt)[keep] == yt[keep]).mean() >= 0.92
    assert (head.predict(Xt) == yt).mean() < 0.95  # the threshold had work to do


def test_conformal_sets_reach_nominal_coverage(fitted: CalibratedReasonHead) -> None:
    Xt, yt = _embeddings(500, seed=7)
    proba = fitted.predict_proba(Xt)
    in_set = proba >= 1.0 - fitted.conformal_q_
    covered = in_set[np.arange(len(yt)), np.searchsorted(fitted.classes_, yt)].mean()
    assert abs(covered - fitted.coverage) < 0.03


def test_balanced_threshold_separates_clean_scores() -> None:
    score = np.r_[np.linspace(0.0, 0.4, 50), np.linspace(0.6, 1.0, 50)]
    is_oos = np.r_[np.zeros(50, bool), np.ones(50, bool)]
    t = balanced_oos_threshold(score, ~is_oos, is_oos)
    assert 0.4 < t <= 0.6


def _overlapping_scores(n_in: int, n_oos: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """In-scope scores low, out-of-scope high, with an overlapping tail either side (as on CLINC150)."""
    rng = np.random.default_rng(seed)
    score = np.r_[rng.beta(2, 8, n_in), rng.beta(6, 3, n_oos)]
    is_oos = np.r_[np.zeros(n_in, bool), np.ones(n_oos, bool)]
    return score, ~is_oos, is_oos


def test_recall_floor_threshold_answers_more_in_scope_text_than_the_balanced_one() -> None:
    score, correct, is_oos = _overlapping_scores(3000, 150, seed=0)
    floor = oos_recall_floor(0.75, int(is_oos.sum()))
    constrained = recall_floor_oos_threshold(score, correct, is_oos, floor)
    balanced = balanced_oos_threshold(score, correct, is_oos)
    assert 0.80 < floor < 0.82  # the margin a 150-row calibration set needs
    assert (score[is_oos] >= constrained).mean() >= floor
    assert (score[~is_oos] < constrained).mean() > (score[~is_oos] < balanced).mean()


def test_recall_floor_threshold_is_the_highest_that_keeps_the_floor() -> None:
    score, correct, is_oos = _overlapping_scores(1000, 100, seed=1)
    t = recall_floor_oos_threshold(score, correct, is_oos, 0.8)
    higher = np.sort(score[is_oos & (score >= t)])[0] + 1e-9
    assert (score[is_oos] >= t).mean() >= 0.8
    assert (score[is_oos] >= higher).mean() < 0.8


def test_count_weighted_threshold_does_not_let_few_oos_rows_outweigh_many_in_scope_rows() -> None:
    score, correct, is_oos = _overlapping_scores(3000, 30, seed=2)
    counted = count_weighted_oos_threshold(score, correct, is_oos)
    balanced = balanced_oos_threshold(score, correct, is_oos)
    assert counted > balanced
    decisions = lambda t: ((score < t) & correct & ~is_oos).sum() + ((score >= t) & is_oos).sum()  # noqa: E731
    assert decisions(counted) >= decisions(balanced)


def test_the_rule_follows_how_many_oos_rows_calibrate() -> None:
    X, y = _embeddings(150, seed=1)
    Xv, yv = _embeddings(100, seed=2)
    many, few = _out_of_scope(MIN_OOS_FOR_RECALL_FLOOR, seed=3), _out_of_scope(25, seed=3)
    rules = {}
    for name, Xo in (("many", many), ("few", few)):
        head = CalibratedReasonHead(C=1.0, ood_label="OOS").fit(
            X, y, np.vstack([Xv, Xo]), np.r_[yv, np.repeat("OOS", len(Xo))])
        rules[name] = head.oos_threshold_rule_
    assert rules == {"many": "in_scope_accuracy_at_recall_floor", "few": "count_weighted"}


def test_fitted_head_meets_its_oos_recall_floor_on_new_out_of_scope_text(fitted: CalibratedReasonHead) -> None:
    assert fitted.calibration_summary_["calibration_oos_recall"] >= fitted.calibration_summary_[
        "calibration_oos_recall_floor"]
    assert fitted.abstain(_out_of_scope(400, seed=11)).mean() >= fitted.min_oos_recall


def test_recalibrating_on_shifted_embeddings_refits_calibration_and_keeps_the_classifier(
        fitted: CalibratedReasonHead) -> None:
    """What the pipeline does with the served (int8) encoder: same texts, slightly moved embeddings."""
    import copy

    Xv, yv = _embeddings(100, seed=2)
    Xo = _out_of_scope(100, seed=3)
    Xc = np.vstack([Xv, Xo])
    rng = np.random.default_rng(12)
    moved = Xc + 0.15 * rng.normal(size=Xc.shape) / np.sqrt(DIM)
    moved = (moved / np.linalg.norm(moved, axis=1, keepdims=True)).astype(np.float32)
    head = copy.deepcopy(fitted).recalibrate(moved, np.r_[yv, np.repeat("OOS", len(Xo))])
    np.testing.assert_array_equal(head.coef_, fitted.coef_)
    assert head.temperature_ != fitted.temperature_
    assert head.oos_threshold_ != fitted.oos_threshold_
    assert head.calibration_summary_["calibration_oos_recall"] >= head.calibration_summary_["calibration_oos_recall_floor"]



def test_out_of_fold_recalibration_on_shifted_embeddings_keeps_the_classifier() -> None:
    """A head without held-out rows (the default bundle's): calibrated out of fold, then recalibrated out of fold
    on the same training rows as another encoder embeds them. The classifier stays the one trained; on unmoved
    embeddings the recalibration reproduces ``fit``'s own."""
    import copy

    X, y = _embeddings(150, seed=1)
    Xo = _out_of_scope(120, seed=3)
    Xa, ya = np.vstack([X, Xo]), np.r_[y, np.repeat("OOS", len(Xo))]
    head = CalibratedReasonHead(C=1.0, ood_label="OOS").fit(Xa, ya)
    same = copy.deepcopy(head).recalibrate_out_of_fold(Xa, ya)
    assert same.temperature_ == head.temperature_ and same.oos_threshold_ == head.oos_threshold_
    rng = np.random.default_rng(12)
    moved = Xa + 0.15 * rng.normal(size=Xa.shape) / np.sqrt(DIM)
    moved = (moved / np.linalg.norm(moved, axis=1, keepdims=True)).astype(np.float32)
    shifted = copy.deepcopy(head).recalibrate_out_of_fold(moved, ya)
    np.testing.assert_array_equal(shifted.coef_, head.coef_)
    np.testing.assert_array_equal(shifted.centroids_, head.centroids_)
    assert shifted.temperature_ != head.temperature_
    assert shifted.calibration_summary_["n_calibration"] == len(ya)


def _lexical_logits(y: np.ndarray, seed: int, strength: float) -> np.ndarray:
    """A second view's logits: a noisy vote for the true code, independent of the embedding noise."""
    rng = np.random.default_rng(seed)
    onehot = (np.asarray(y)[:, None] == CODES[None, :]).astype(float)
    return strength * onehot + rng.normal(size=onehot.shape)


def test_fusion_with_an_informative_lexical_view_beats_the_embeddings_alone() -> None:
    X, y = _embeddings(150, seed=1, noise=1.6)
    Xv, yv = _embeddings(150, seed=2, noise=1.6)
    Xt, yt = _embeddings(400, seed=6, noise=1.6)
    alone = CalibratedReasonHead(C=1.0).fit(X, y, Xv, yv)
    fused = CalibratedReasonHead(C=1.0).fit(X, y, Xv, yv, lexical_valid=_lexical_logits(yv, 3, 2.0))
    assert not alone.uses_lexical_ and fused.uses_lexical_ and fused.lexical_weight_ > 0.1
    lexical_t = _lexical_logits(yt, 4, 2.0)
    assert (fused.predict(Xt, lexical_t) == yt).mean() > (alone.predict(Xt) == yt).mean() + 0.03
    with pytest.raises(ValueError, match="lexical"):
        fused.predict_proba(Xt)


def test_an_uninformative_lexical_view_gets_almost_no_weight() -> None:
    X, y = _embeddings(150, seed=1, noise=1.2)
    Xv, yv = _embeddings(200, seed=2, noise=1.2)
    fused = CalibratedReasonHead(C=1.0).fit(X, y, Xv, yv, lexical_valid=_lexical_logits(yv, 3, 0.0))
    assert fused.lexical_weight_ < 0.15


def test_resplit_coverage_of_calibrated_probabilities_is_nominal() -> None:
    from returns_triage.evaluation.benchmarks.reason import resplit_coverage

    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.full(6, 0.4), size=2000)
    y = np.array([rng.choice(6, p=p) for p in proba])  # labels drawn from the probabilities: calibrated
    got = resplit_coverage(proba, y, 1000, 0.9, splits=200)
    assert abs(got["conformal_coverage_resplit_mean"] - 0.9) < 0.006
    assert 0.003 < got["conformal_coverage_resplit_sd"] < 0.02
    # One split by hand: temperature and quantile from the first rows of the permutation, coverage on the rest.
    from returns_triage.models.reason.head import conformal_quantile, fit_temperature, softmax

    order = np.random.default_rng(5).permutation(len(y))
    cal, test = order[:1000], order[1000:]
    log_p = np.log(proba)
    t = fit_temperature(log_p[cal], y[cal])
    q = conformal_quantile(softmax(log_p[cal] / t)[np.arange(1000), y[cal]], 0.9)
    by_hand = (softmax(log_p[test] / t)[np.arange(len(test)), y[test]] >= 1.0 - q).mean()
    one = resplit_coverage(proba, y, 1000, 0.9, splits=1, seed=5)
    assert one["conformal_coverage_resplit_mean"] == pytest.approx(by_hand)


def test_a_head_without_out_of_scope_examples_serves_without_the_neighbour_product(tmp_path: Path) -> None:
    import onnx

    X, y = _embeddings(150, seed=1, noise=1.6)
    head = CalibratedReasonHead(C=1.0).fit(X, y)
    path = tmp_path / "head.onnx"
    export_head_onnx(head, path)
    assert "refs_T" not in {i.name for i in onnx.load(str(path)).graph.initializer}
    Xt = np.vstack([_embeddings(30, seed=9, noise=1.6)[0], _out_of_scope(40, seed=10)])
    parity = head_parity(head, path, Xt)
    assert parity["top1_agreement"] == 1.0 and parity["abstain_agreement"] == 1.0
    assert parity["max_oos_score_diff"] < 1e-5
