"""The calibrated head on its own (no encoder): ONNX parity of probabilities and the out-of-scope score,
abstention with and without out-of-scope examples, conformal coverage. Clustered unit vectors stand in for
sentence embeddings, so these run in seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.utils.estimator_checks import check_estimators_unfitted

from returns_triage.models.bundle import onnx_session
from returns_triage.models.reason.head import CalibratedReasonHead, balanced_oos_threshold
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
