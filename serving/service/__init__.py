"""Service layer: use cases that join the domain, the models and storage."""

from returns_triage.serving.service.models import LoadedModels, load_models
from returns_triage.serving.service.scoring import ScoreResult, ScoringService

__all__ = ["LoadedModels", "ScoreResult", "ScoringService", "load_models"]
