"""The reason classifier. Serving imports :class:`ReasonModel`; the sklearn head lives in ``head`` (training side)."""

from returns_triage.models.reason.runtime import BUNDLE_NAME, ReasonModel, ReasonPrediction

__all__ = ["BUNDLE_NAME", "ReasonModel", "ReasonPrediction"]
