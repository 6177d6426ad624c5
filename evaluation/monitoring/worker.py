"""`triage monitor` and `triage worker monitor`: a :class:`Monitor` built from the settings, run once or on a
schedule. Runs outside the API process (it imports Evidently and the encoder runtime)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Engine

from returns_triage.evaluation.monitoring.monitor import Monitor, MonitorConfig, MonitorRun
from returns_triage.settings import Settings

__all__ = ["policy_alpha", "build_monitor", "MonitorWorker"]

log = logging.getLogger("returns_triage.monitor")
_DEFAULT_ALPHA = 0.02


def policy_alpha(settings: Settings) -> float:
    """The auto-approval error target: ``TRIAGE_MONITOR_ALPHA`` if set, else the alpha the live policy was
    calibrated for (`triage policy calibrate` records it), else 2 %."""
    if settings.monitor_alpha > 0:
        return settings.monitor_alpha
    from returns_triage.serving.domain.policy_document import load_policy_document

    doc = load_policy_document(None if settings.policy_file == "default" else settings.policy_file)
    alpha = (doc.content.get("calibration") or {}).get("alpha")
    return float(alpha) if isinstance(alpha, int | float) and 0 < alpha < 1 else _DEFAULT_ALPHA


def _encoder(settings: Settings) -> Any:
    """Texts → embeddings with the served reason encoder, or None when no reason bundle is installed."""
    from returns_triage.models.bundle import MANIFEST_NAME

    directory = settings.model_dir / "reason"
    if not (directory / MANIFEST_NAME).is_file():
        log.warning("no reason bundle at %s: text drift is skipped", directory)
        return None
    from returns_triage.models.reason.runtime import ReasonModel

    model = ReasonModel.load(directory)

    def embed(texts: list[str]) -> np.ndarray:
        return model.encoder.encode(texts)

    return embed


def build_monitor(settings: Settings, engine: Engine, *, input_drift: bool = True, text_drift: bool = True,
                  **overrides: Any) -> Monitor:
    from returns_triage.serving.api.monitoring import reports_dir

    config = MonitorConfig(alpha=policy_alpha(settings), window_days=settings.monitor_window_days,
                           failsafe_factor=settings.failsafe_factor, failsafe_days=settings.monitor_window_days,
                           input_drift=input_drift, reports_dir=reports_dir(settings.home), **overrides)
    return Monitor(engine, config, embed=_encoder(settings) if input_drift and text_drift else None)


@dataclass(slots=True)
class MonitorWorker:
    """Runs a monitoring round for every tenant each ``interval_seconds`` until stopped."""

    monitor: Monitor
    interval_seconds: float = 3600.0

    def run_once(self, as_of: datetime | None = None) -> list[MonitorRun]:
        runs = self.monitor.run_all(as_of)
        for run in runs:
            log.info("monitoring round for %s: %d windows, %d alerts, %d fail-safe changes", run.tenant,
                     len(run.windows), len(run.alerts), len(run.failsafe))
        return runs

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - a failed round is logged; the next one runs on schedule
                log.exception("monitoring round failed")
            stop.wait(self.interval_seconds)
