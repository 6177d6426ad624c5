"""A seeded returns world with fraud: customers, orders, deliveries, returns and late outcomes over months,
with the exact Bayes fraud posterior of every return. See DATA_CARD.md."""

from returns_triage.datasets.returns_world.config import FraudRing, WorldConfig
from returns_triage.datasets.returns_world.generative import CLASSES, REASON_CODES, TYPOLOGIES
from returns_triage.datasets.returns_world.posterior import bayes_posterior
from returns_triage.datasets.returns_world.simulate import simulate_world
from returns_triage.datasets.returns_world.world import World

__all__ = [
    "CLASSES", "REASON_CODES", "TYPOLOGIES", "FraudRing", "World", "WorldConfig", "bayes_posterior",
    "simulate_world",
]
