"""Training of the disposition model: simulate inspections, fit notes model and trees, calibrate, export, bundle."""

from returns_triage.training.disposition.pipeline import train_disposition_bundle

__all__ = ["train_disposition_bundle"]
