"""The returns domain: plain dataclasses and functions, standard library only."""

from returns_triage.serving.domain.model import (
    Decision,
    DocumentAssessment,
    ReasonAssessment,
    ReturnCase,
    ReviewItem,
    RiskAssessment,
    Route,
)
from returns_triage.serving.domain.policy import DocumentPolicy, RoutingPolicy

__all__ = [
    "Decision",
    "DocumentAssessment",
    "ReasonAssessment",
    "ReturnCase",
    "ReviewItem",
    "RiskAssessment",
    "Route",
    "DocumentPolicy",
    "RoutingPolicy",
]
