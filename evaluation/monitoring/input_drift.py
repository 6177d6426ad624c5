"""Input drift of one window against a reference, through Evidently: the only module that imports it.

Numeric and categorical request features go through Evidently's ``DataDriftPreset`` (its per-column tests and the
share of drifted columns); the reason texts go through the served encoder's embeddings and Evidently's
``EmbeddingsDrift`` metric. The embeddings are projected on the reference's first principal components first:
drift between phrasings shows there, and Evidently's embedding metrics slow down with width. The self-contained
HTML report is written per window for data scientists (served by ``GET /v1/monitoring/reports/{id}``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from returns_triage.evaluation.monitoring.frames import CATEGORICAL_FEATURES, NUMERIC_FEATURES

__all__ = ["InputDriftCalculator", "InputDriftResult"]

Embed = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True, slots=True)
class InputDriftResult:
    drift_share: float | None  # share of tabular features whose test says drifted
    drifted_columns: list[str] = field(default_factory=list)
    column_p_values: dict[str, float] = field(default_factory=dict)
    text_embedding_drift: float | None = None  # Evidently's EmbeddingsDrift score
    text_drifted: bool | None = None
    report_file: str | None = None

    @property
    def drifted(self) -> bool:
        return bool(self.text_drifted) or (self.drift_share is not None and self.drift_share >= 0.5)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "drifted": self.drifted}


class InputDriftCalculator:
    """``fit(reference_frame)`` then ``calculate(frame, html=path)``. ``embed`` maps texts to embeddings (the
    served encoder); None skips text drift. At most ``max_rows`` rows of each side are compared (a seeded
    sample), which keeps a window's report to seconds."""

    def __init__(self, embed: Embed | None = None, *, components: int = 8, max_rows: int = 600,
                 text_threshold: float = 0.2, seed: int = 0) -> None:
        self.embed = embed
        self.components = components
        self.max_rows = max_rows
        self.text_threshold = text_threshold
        self.seed = seed

    def _sample(self, frame: pd.DataFrame) -> pd.DataFrame:
        if len(frame) <= self.max_rows:
            return frame
        return frame.sample(self.max_rows, random_state=self.seed)

    def _table(self, frame: pd.DataFrame) -> pd.DataFrame:
        table = frame[NUMERIC_FEATURES + CATEGORICAL_FEATURES].copy().reset_index(drop=True)
        if self.embed is not None:
            emb = np.asarray(self.embed(frame["reason_text"].tolist()), dtype=float)
            proj = (emb - self.mean_) @ self.basis_.T
            for i in range(proj.shape[1]):
                table[f"text_pc{i}"] = proj[:, i]
        return table

    def fit(self, reference: pd.DataFrame) -> InputDriftCalculator:
        ref = self._sample(reference)
        if self.embed is not None:
            emb = np.asarray(self.embed(ref["reason_text"].tolist()), dtype=float)
            self.mean_ = emb.mean(axis=0)
            # Principal directions of the reference texts (SVD of the centred embeddings).
            _, _, vt = np.linalg.svd(emb - self.mean_, full_matrices=False)
            self.basis_ = vt[: self.components]
        self.reference_ = self._table(ref)
        return self

    def calculate(self, frame: pd.DataFrame, *, html: Path | None = None) -> InputDriftResult:
        if len(frame) < 10 or len(self.reference_) < 10:
            return InputDriftResult(drift_share=None)
        os.environ.setdefault("DO_NOT_TRACK", "true")  # Evidently's usage telemetry stays off
        from evidently import DataDefinition, Dataset, Report
        from evidently.metrics import EmbeddingsDrift
        from evidently.metrics.embeddings import DistanceDriftMethod
        from evidently.presets import DataDriftPreset

        current = self._table(self._sample(frame))
        text_cols = [c for c in current.columns if c.startswith("text_pc")]
        definition = DataDefinition(numerical_columns=NUMERIC_FEATURES + text_cols,
                                    categorical_columns=CATEGORICAL_FEATURES,
                                    embeddings={"reason_text": text_cols} if text_cols else None)
        metrics: list[Any] = [DataDriftPreset(columns=NUMERIC_FEATURES + CATEGORICAL_FEATURES)]
        if text_cols:
            metrics.append(EmbeddingsDrift(embeddings_name="reason_text", drift_method=DistanceDriftMethod(
                dist="cosine", threshold=self.text_threshold, bootstrap=False)))
        from threadpoolctl import threadpool_limits

        # One native thread: EmbeddingsDrift fits a t-SNE for its plot, whose OpenMP threads spin for minutes on a
        # busy 2-core host.
        with threadpool_limits(limits=1):
            snapshot = Report(metrics).run(
                current_data=Dataset.from_pandas(current, data_definition=definition),
                reference_data=Dataset.from_pandas(self.reference_, data_definition=definition))
        share, p_values, text_score = None, {}, None
        for m in snapshot.dict()["metrics"]:
            kind = m["config"].get("type", "")
            if kind.endswith("DriftedColumnsCount"):
                share = float(m["value"]["share"])
            elif kind.endswith("ValueDrift"):
                p_values[m["config"]["column"]] = float(m["value"])
            elif kind.endswith("EmbeddingsDrift"):
                text_score = float(m["value"])
        report_file = None
        if html is not None:
            html.parent.mkdir(parents=True, exist_ok=True)
            snapshot.save_html(str(html))
            report_file = str(html)
        return InputDriftResult(
            drift_share=share, drifted_columns=sorted(c for c, p in p_values.items() if p < 0.05),
            column_p_values=p_values, text_embedding_drift=text_score,
            text_drifted=None if text_score is None else text_score > self.text_threshold, report_file=report_file)
