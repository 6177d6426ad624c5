"""The default bundles a fresh install serves: trained from the seeded synthetic corpora in `datasets/`."""

from __future__ import annotations

import sys
from pathlib import Path

from returns_triage.models.bundle import MANIFEST_NAME
from returns_triage.settings import Settings

__all__ = ["train_default_bundles", "train_default_reason_bundle", "DEFAULT_BUNDLES"]

# Every bundle a default deployment serves; `reason` is required, the others enrich the decision.
DEFAULT_BUNDLES = ("reason", "fraud", "documents", "disposition")


def _present(directory: Path) -> bool:
    return (directory / MANIFEST_NAME).is_file()


def train_default_reason_bundle(out_dir: Path, *, cache_dir: Path | None = None, quick: bool = False,
                                seed: int = 0, cascade: bool = True) -> None:
    from returns_triage.datasets.reasons import OUT_OF_SCOPE, generate_corpus
    from returns_triage.training.reason.pipeline import ReasonTrainingData, fit_reason_bundle

    examples = generate_corpus(seed=seed, per_code=80 if quick else 300)
    data = ReasonTrainingData([e.text for e in examples], [e.label for e in examples])
    # With the cascade's first stage (cascade.onnx): the default bundle answers confident texts without the encoder.
    fit_reason_bundle(data, out_dir, ood_label=OUT_OF_SCOPE, cache_dir=cache_dir, seed=seed, cascade=cascade)


def train_default_bundles(settings: Settings, *, force: bool = False, quick: bool = False,
                          only: tuple[str, ...] = DEFAULT_BUNDLES) -> list[str]:
    """Train each default bundle in ``only`` that is absent (or all with ``force``); returns the names trained."""
    trained: list[str] = []
    cache = settings.home / "cache"
    reason_dir = settings.model_dir / "reason"
    if "reason" in only and (force or not _present(reason_dir)):
        print(f"training the default reason classifier into {reason_dir}", file=sys.stderr)
        train_default_reason_bundle(reason_dir, cache_dir=cache, quick=quick)
        trained.append("reason")
    fraud_dir = settings.model_dir / "fraud"
    if "fraud" in only and (force or not _present(fraud_dir)):
        from returns_triage.training.fraud import train_fraud_bundle

        print(f"training the default fraud-risk model into {fraud_dir}", file=sys.stderr)
        train_fraud_bundle(fraud_dir, seed=0, quick=quick)
        trained.append("fraud")
    documents_dir = settings.model_dir / "documents"
    if "documents" in only and (force or not _present(documents_dir)):
        from returns_triage.training.documents import train_document_bundle

        print(f"training the default document extractor into {documents_dir}", file=sys.stderr)
        train_document_bundle(documents_dir, seed=0, quick=quick)
        trained.append("documents")
    disposition_dir = settings.model_dir / "disposition"
    if "disposition" in only and (force or not _present(disposition_dir)):
        from returns_triage.training.disposition import train_disposition_bundle

        print(f"training the default disposition model into {disposition_dir}", file=sys.stderr)
        train_disposition_bundle(disposition_dir, seed=0, quick=quick)
        trained.append("disposition")
    return trained
