"""Batch scoring: a file of returns in, one decision (or error) per row out — `triage score-batch`."""

from returns_triage.batch.score_batch import BatchSummary, encoder_layout, score_batch

__all__ = ["BatchSummary", "encoder_layout", "score_batch"]
