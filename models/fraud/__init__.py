"""The fraud and abuse risk model family: point-in-time features, the ONNX scorer with calibrated scores and
verifiable factors, and the rules baseline. Serving side: numpy and onnxruntime only."""

from returns_triage.models.fraud.features import FEATURE_NAMES, feature_matrix, request_features
from returns_triage.models.fraud.rules import rules_fired, rules_score
from returns_triage.models.fraud.scorer import BUNDLE_NAME, FraudScorer

__all__ = [
    "BUNDLE_NAME", "FEATURE_NAMES", "FraudScorer", "feature_matrix", "request_features", "rules_fired",
    "rules_score",
]
