"""Service layer: use cases that join the domain, the models and storage.

The names below load on first use, so importing one light module of this package (the rate limiter, when the
settings validate themselves) does not import scoring, storage and SQLAlchemy with it."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["LoadedModels", "ScoreResult", "ScoringService", "load_models"]

_WHERE = {"LoadedModels": "models", "load_models": "models", "ScoreResult": "scoring", "ScoringService": "scoring"}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
