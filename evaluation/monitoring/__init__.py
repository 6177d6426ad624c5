"""Monitoring of the served models and the policy, per time window and segment: input drift (Evidently), prediction
drift, outcome-tied performance (with inverse-propensity weights for audit samples), a confidence-based estimate
of performance for windows whose outcomes have not arrived, alerts ranked by impact, and the routing fail-safe.

`triage monitor` and `triage worker monitor` run :class:`Monitor`; the API reads what it stored.
"""

from returns_triage.evaluation.monitoring.estimate import ConfidenceBasedEstimator, EstimateResult
from returns_triage.evaluation.monitoring.frames import window_frame
from returns_triage.evaluation.monitoring.monitor import Monitor, MonitorConfig, MonitorRun
from returns_triage.evaluation.monitoring.performance import PerformanceResult, RealisedPerformanceCalculator
from returns_triage.evaluation.monitoring.prediction_drift import PredictionDriftCalculator, PredictionDriftResult

__all__ = [
    "ConfidenceBasedEstimator", "EstimateResult", "Monitor", "MonitorConfig", "MonitorRun", "PerformanceResult",
    "PredictionDriftCalculator", "PredictionDriftResult", "RealisedPerformanceCalculator", "window_frame",
]
