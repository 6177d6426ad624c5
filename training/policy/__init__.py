"""Policy calibration, cost-aware tuning, audit-sample estimation and simulation (`triage policy ...`)."""

from returns_triage.training.policy.calibrate import Calibration, Candidate, binomial_p_value, calibrate_gates

__all__ = ["Calibration", "Candidate", "binomial_p_value", "calibrate_gates"]
