"""Fraud risk for a whole chunk of returns in one model call, answered row by row as the scoring service asks.

The API scores one return at a time, and with its risk it computes the factors behind it: one occluded copy of
the row per factor, all through the fraud model (see models/occlusion.py), then a sentence per factor. A batch
output row carries the risk score and band and the route's explanation, never those factors, so over a batch
file that work — three quarters of the fraud model's rows and most of its Python — would be thrown away.
:class:`ChunkRisk` computes every row's features, runs the model once for the whole chunk on those rows alone,
calibrates and bands them, and then hands :meth:`ScoringService.decide` each row's result through the ordinary
``FraudRiskScorer`` interface, so the decision logic (and its errors) stays the service's own. The policy routes
on the score and band, not on the factors, so every output column is what the per-row scorer gives, to the last
digit: the tree ensemble scores each row on its own (tests/integration/test_score_batch.py compares them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from returns_triage.errors import InvalidInput
from returns_triage.models.fraud.features import request_features
from returns_triage.serving.service.models import FraudRiskScorer

__all__ = ["ChunkRisk"]


class ChunkRisk:
    """A ``FraudRiskScorer`` that answers from scores computed for a chunk (:meth:`prepare`), without factors;
    a request it was not prepared for (or prepared with another reason code, or asked with findings) goes to
    the wrapped scorer, factors and all."""

    def __init__(self, scorer: FraudRiskScorer) -> None:
        self._scorer = scorer
        self.version = scorer.version
        # id(request) -> (request, reason code, result): the request is kept so its id cannot be reused.
        self._ready: dict[int, tuple[Mapping[str, Any], str | None, dict[str, Any]]] = {}

    @property
    def vectorised(self) -> bool:
        """Whether the wrapped scorer exposes its model and calibration (FraudScorer does); others are called
        row by row."""
        return all(hasattr(self._scorer, name) for name in ("raw_probabilities", "calibrate", "band"))

    def prepare(self, requests: Sequence[Mapping[str, Any]], reason_codes: Sequence[str | None]) -> None:
        """Score these requests (as :meth:`score` will be asked for them, without findings) in one model call.

        Only requests that say when they were requested are prepared: for the others the service fills in its
        clock's time first, and that copy is scored row by row. A request whose features cannot be computed is
        left to the row-by-row call too, which raises the same error there."""
        self._ready.clear()
        if not self.vectorised or not requests:
            return
        kept: list[tuple[Mapping[str, Any], str | None]] = []
        rows: list[np.ndarray] = []
        for request, code in zip(requests, reason_codes, strict=True):
            if not request.get("requested_at"):
                continue
            try:
                rows.append(request_features(request, reason_code=code, findings=None))
            except InvalidInput:
                continue
            kept.append((request, code))
        if not rows:
            return
        scorer: Any = self._scorer
        scores = scorer.calibrate(scorer.raw_probabilities(np.vstack(rows)))
        for (request, code), value in zip(kept, scores.tolist(), strict=True):
            result = {"score": value, "band": scorer.band(value), "factors": [], "model_version": self.version}
            self._ready[id(request)] = (request, code, result)

    def score(self, request: Mapping[str, Any], *, reason_code: str | None = None,
              findings: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
        ready = self._ready.get(id(request))
        if ready is not None and ready[0] is request and ready[1] == reason_code and findings is None:
            return ready[2]
        return self._scorer.score(request, reason_code=reason_code, findings=findings)
