"""How much the monitor may conclude from a few labels: one-sided tests of an error rate against the policy's
target, and the novelty of a segment's recent traffic against what its models were vetted on.

A window's auto-approval error comes from a few dozen audit labels, so a point estimate above the target is
mostly noise and one below it proves little. The rules here turn the inverse-propensity estimate into effective
counts (Kish's effective sample size, so a propensity-1 hold and a 30 % audit sample weigh what they should) and
use exact binomial tail probabilities on them:

* :func:`exceeds_target` — the p-value of "the error is at most the target"; a small value is evidence of harm
  (performance alerts, opening a fail-safe).
* :func:`error_upper_bound` — a one-sided Clopper–Pearson upper bound; at most the target means the labels
  vouch for the router (clearing a fail-safe).

Labels arrive days after a shift; the traffic itself changes at once. :class:`NoveltyRate` counts the share of a
segment's recent cases whose features lie outside what the reference held (numeric values beyond its 0.5–99.5 %
range, categories it saw in under 0.5 % of cases) and tests that share against the reference's own rate. It is
one-sided on purpose: traffic moving back into familiar territory is not a risk, traffic moving where the
models were never checked is.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special, stats

from returns_triage.evaluation.monitoring.frames import CATEGORICAL_FEATURES, NUMERIC_FEATURES

__all__ = ["ErrorEvidence", "error_evidence", "exceeds_target", "error_upper_bound", "NoveltyRate",
           "NoveltyResult"]


@dataclass(frozen=True, slots=True)
class ErrorEvidence:
    """An inverse-propensity error rate as effective binomial counts: ``errors`` out of ``n``."""

    rate: float | None
    n: float
    errors: float
    labelled: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def error_evidence(errors: np.ndarray, propensities: np.ndarray) -> ErrorEvidence:
    """Hájek rate of 0/1 ``errors`` sampled with ``propensities``, with Kish's effective sample size."""
    e = np.asarray(errors, dtype=float)
    p = np.asarray(propensities, dtype=float)
    keep = np.isfinite(e) & np.isfinite(p) & (p > 0)
    if not keep.any():
        return ErrorEvidence(None, 0.0, 0.0, 0)
    w = 1.0 / p[keep]
    rate = float(np.sum(w * e[keep]) / np.sum(w))
    n_eff = float(np.sum(w) ** 2 / np.sum(w**2))
    return ErrorEvidence(rate, n_eff, rate * n_eff, int(keep.sum()))


def exceeds_target(evidence: ErrorEvidence, target: float) -> float:
    """One-sided p-value of H0 "error ≤ target": P(X ≥ errors) for X ~ Binomial(n, target), continuous in the
    counts (regularised incomplete beta). 1.0 without errors."""
    if evidence.n <= 0 or evidence.errors <= 0:
        return 1.0
    k = min(evidence.errors, evidence.n)
    return float(special.betainc(k, evidence.n - k + 1.0, target))


def error_upper_bound(evidence: ErrorEvidence, confidence: float) -> float:
    """One-sided Clopper–Pearson upper bound of the error at ``confidence`` (1.0 without labels)."""
    if evidence.n <= 0:
        return 1.0
    k = min(evidence.errors, evidence.n)
    if evidence.n - k <= 0:
        return 1.0
    return float(stats.beta.ppf(confidence, k + 1.0, evidence.n - k))


@dataclass(frozen=True, slots=True)
class NoveltyResult:
    cases: int
    novel: int
    rate: float | None
    reference_rate: float
    p_value: float
    features: dict[str, int]  # novel cases per feature, what a person looks at first

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class NoveltyRate:
    """``fit(reference)`` then ``calculate(frame)``. The reference's own novelty rate is measured out of sample
    (two halves, each judged by bounds fitted on the other), so the test does not fire on ordinary traffic."""

    def __init__(self, *, tail: float = 0.005, rare: float = 0.005, min_reference: int = 60) -> None:
        self.tail = tail
        self.rare = rare
        self.min_reference = min_reference

    def _bounds(self, frame: pd.DataFrame) -> tuple[dict[str, tuple[float, float]], dict[str, set[str]]]:
        numeric = {}
        for c in NUMERIC_FEATURES:
            x = frame[c].to_numpy(float)
            x = x[np.isfinite(x)]
            if len(x):
                numeric[c] = (float(np.quantile(x, self.tail)), float(np.quantile(x, 1.0 - self.tail)))
        known = {}
        for c in CATEGORICAL_FEATURES:
            share = frame[c].astype(str).value_counts(normalize=True)
            known[c] = {str(v) for v, s in share.items() if s >= self.rare}
        return numeric, known

    @staticmethod
    def _flags(frame: pd.DataFrame, numeric: dict[str, tuple[float, float]],
               known: dict[str, set[str]]) -> dict[str, np.ndarray]:
        flags = {}
        for c, (lo, hi) in numeric.items():
            x = frame[c].to_numpy(float)
            flags[c] = np.isfinite(x) & ((x < lo) | (x > hi))
        for c, seen in known.items():
            flags[c] = ~frame[c].astype(str).isin(seen).to_numpy()
        return flags

    def flags(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """Per feature, which rows of ``frame`` lie outside the fitted ranges."""
        return self._flags(frame, self.numeric_, self.known_)

    def fit(self, reference: pd.DataFrame) -> NoveltyRate:
        self.fitted_ = len(reference) >= self.min_reference
        self.cases_ = len(reference)
        if not self.fitted_:
            return self
        self.numeric_, self.known_ = self._bounds(reference)
        halves = [reference.iloc[0::2], reference.iloc[1::2]]
        novel = 0
        for judge, judged in ((halves[0], halves[1]), (halves[1], halves[0])):
            flags = self._flags(judged, *self._bounds(judge))
            novel += int(np.logical_or.reduce(list(flags.values())).sum())
        # Half-sized references draw tighter bounds, so this rate errs on the high side: a conservative null.
        self.reference_rate_ = max(novel / len(reference), 1.0 / len(reference))
        return self

    def calculate(self, frame: pd.DataFrame) -> NoveltyResult | None:
        if not getattr(self, "fitted_", False) or len(frame) == 0:
            return None
        flags = self._flags(frame, self.numeric_, self.known_)
        any_novel = np.logical_or.reduce(list(flags.values()))
        k, n = int(any_novel.sum()), len(frame)
        p = float(stats.binom.sf(k - 1, n, self.reference_rate_)) if k else 1.0
        return NoveltyResult(n, k, k / n, self.reference_rate_, p,
                             {c: int(f.sum()) for c, f in flags.items() if f.any()})
