"""Service layer: use cases that join the domain, the models and storage.

The names below load on first use, so importing one light module of this package (the rate limiter, when the
settings validate themselves) does not import scoring, storage and SQLAlchemy with it."""

from __future__ import annotations

from returns_triage.lazy import lazy_exports

__all__ = ["LoadedModels", "ScoreResult", "ScoringService", "load_models"]

_WHERE = {"LoadedModels": "models", "load_models": "models", "ScoreResult": "scoring", "ScoringService": "scoring"}

__getattr__ = lazy_exports(__name__, _WHERE)
