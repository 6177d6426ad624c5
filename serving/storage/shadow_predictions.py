"""Where the challenger's shadow predictions are stored (table ``shadow_predictions``, migration 0009)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from returns_triage.serving.storage.tables import shadow_predictions

__all__ = ["SqlShadowPredictionStore"]


class SqlShadowPredictionStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def save(self, rows: list[dict[str, Any]]) -> None:
        with self.engine.begin() as conn:
            conn.execute(shadow_predictions.insert(), rows)
