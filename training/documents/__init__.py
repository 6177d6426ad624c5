"""Training for the documents model family."""

from returns_triage.training.documents.pipeline import train_document_bundle

__all__ = ["train_document_bundle"]
