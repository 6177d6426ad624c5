"""The disposition model family: what happens to returned goods after inspection (restock, refurbish,
quarantine, return_to_vendor, liquidate, scrap), with a calibrated confidence, factors and abstention.
Serving side: numpy and onnxruntime only."""

from returns_triage.models.disposition.features import DISPOSITIONS, FEATURE_NAMES, structured_features
from returns_triage.models.disposition.notes import note_vector, normalise_note
from returns_triage.models.disposition.recommender import BUNDLE_NAME, DispositionModel

__all__ = ["BUNDLE_NAME", "DISPOSITIONS", "FEATURE_NAMES", "DispositionModel", "normalise_note", "note_vector",
           "structured_features"]
