"""The reason classifier's head: a calibrated linear classifier over sentence embeddings, with abstention
and split-conformal prediction sets. An sklearn estimator (training side); serving runs its ONNX export."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted

__all__ = ["CalibratedReasonHead", "softmax", "fit_temperature", "selective_threshold", "conformal_quantile"]


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """Temperature that minimises the negative log-likelihood of held-out logits (Guo et al. 2017)."""

    def nll(log_t: float) -> float:
        p = softmax(logits / np.exp(log_t))
        return float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)).mean())

    res = minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded")
    return float(np.exp(res.x))


def selective_threshold(confidence: np.ndarray, correct: np.ndarray, target_accuracy: float) -> float:
    """Smallest confidence threshold whose accepted set is at least ``target_accuracy`` correct.

    Out-of-scope rows count as incorrect wherever they are accepted, so the threshold also bounds how much
    out-of-scope text slips through. Returns 1.0 (abstain on everything) when no threshold reaches the target.
    """
    order = np.argsort(-confidence, kind="stable")
    conf = confidence[order]
    cum_correct = np.cumsum(correct[order])
    accepted = np.arange(1, len(conf) + 1)
    accuracy = cum_correct / accepted
    # Only cut between distinct confidence values.
    distinct = np.r_[conf[1:] < conf[:-1], True]
    ok = (accuracy >= target_accuracy) & distinct
    if not ok.any():
        return 1.0
    return float(conf[np.flatnonzero(ok)[-1]])


def conformal_quantile(p_true: np.ndarray, coverage: float) -> float:
    """Split-conformal threshold on the non-conformity score 1 - p(true label)."""
    scores = 1.0 - p_true
    n = len(scores)
    level = min(1.0, np.ceil((n + 1) * coverage) / n)
    return float(np.quantile(scores, level, method="higher"))


class CalibratedReasonHead(ClassifierMixin, BaseEstimator):
    """Multinomial logistic regression + temperature scaling + a calibrated abstention threshold.

    ``fit(X, y)`` takes embeddings and string labels. Rows labelled ``ood_label`` are never a class: they only
    calibrate abstention. Calibration uses ``X_valid``/``y_valid`` when given, else out-of-fold predictions.
    """

    def __init__(
        self,
        C: float = 10.0,
        max_iter: int = 3000,
        cv: int = 5,
        target_selective_accuracy: float = 0.95,
        coverage: float = 0.90,
        ood_label: str | None = None,
        random_state: int = 0,
    ) -> None:
        self.C = C
        self.max_iter = max_iter
        self.cv = cv
        self.target_selective_accuracy = target_selective_accuracy
        self.coverage = coverage
        self.ood_label = ood_label
        self.random_state = random_state

    def _new_lr(self) -> LogisticRegression:
        return LogisticRegression(C=self.C, max_iter=self.max_iter)

    def fit(self, X: np.ndarray, y: Any, X_valid: np.ndarray | None = None, y_valid: Any = None) -> CalibratedReasonHead:
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y).astype(str)
        in_scope = y != self.ood_label if self.ood_label is not None else np.ones(len(y), dtype=bool)
        self.classes_ = np.unique(y[in_scope])
        index = {c: i for i, c in enumerate(self.classes_)}
        lr = self._new_lr().fit(X[in_scope], y[in_scope])

        if X_valid is not None and y_valid is not None:
            Xc = np.asarray(X_valid, dtype=np.float32)
            yc = np.asarray(y_valid).astype(str)
            logits_c = lr.decision_function(Xc)
        else:
            # Out-of-fold logits for in-scope rows; out-of-scope rows were never trained on, so the full model
            # scores them as it will in production.
            Xi, yi = X[in_scope], y[in_scope]
            logits_i = np.zeros((len(yi), len(self.classes_)), dtype=np.float64)
            folds = StratifiedKFold(n_splits=self.cv, shuffle=True, random_state=self.random_state)
            for tr, te in folds.split(Xi, yi):
                fold_lr = self._new_lr().fit(Xi[tr], yi[tr])
                cols = [index[c] for c in fold_lr.classes_]
                fold_logits = np.full((len(te), len(self.classes_)), -1e4)
                fold_logits[:, cols] = fold_lr.decision_function(Xi[te])
                logits_i[te] = fold_logits
            Xo, yo = X[~in_scope], y[~in_scope]
            logits_c = np.vstack([logits_i, lr.decision_function(Xo)]) if len(yo) else logits_i
            yc = np.concatenate([yi, yo])

        known = np.isin(yc, self.classes_)
        y_idx = np.array([index.get(c, -1) for c in yc])
        self.temperature_ = fit_temperature(logits_c[known], y_idx[known]) if known.any() else 1.0
        proba = softmax(logits_c / self.temperature_)
        confidence = proba.max(axis=1)
        correct = known & (proba.argmax(axis=1) == y_idx)
        self.abstain_threshold_ = selective_threshold(confidence, correct.astype(float), self.target_selective_accuracy)
        self.conformal_q_ = conformal_quantile(proba[known, y_idx[known]], self.coverage) if known.any() else 1.0
        self.coef_ = lr.coef_.astype(np.float32)
        self.intercept_ = lr.intercept_.astype(np.float32)
        self.calibration_summary_ = {
            "n_calibration": int(len(yc)),
            "n_out_of_scope": int((~known).sum()),
            "calibration_accuracy": float(correct[known].mean()) if known.any() else None,
        }
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "coef_")
        return np.asarray(X, dtype=np.float32) @ self.coef_.T + self.intercept_

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return softmax(self.decision_function(X).astype(np.float64) / self.temperature_)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
