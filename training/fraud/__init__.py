"""Training of the fraud model family: simulate, fit, calibrate, export, bundle."""

from returns_triage.training.fraud.pipeline import train_fraud_bundle

__all__ = ["train_fraud_bundle"]
