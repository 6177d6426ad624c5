"""The models a serving process holds: loaded once at start-up from verified bundles.

The reason bundle is required (no decision without it); fraud and documents are used when present."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from returns_triage.errors import BundleIntegrityError, ModelUnavailable
from returns_triage.models.bundle import load_manifest
from returns_triage.models.reason import ReasonModel, ReasonPrediction

__all__ = ["ReasonScorer", "FraudRiskScorer", "DocumentExtractorLike", "DispositionRecommender", "LoadedModels",
           "load_models"]


class ReasonScorer(Protocol):
    version: str

    def predict(self, texts: list[str], batch_size: int = 64) -> list[ReasonPrediction]: ...


class FraudRiskScorer(Protocol):
    version: str

    def score(self, request: dict[str, Any], *, reason_code: str | None = None,
              findings: list[dict[str, Any]] | None = None) -> dict[str, Any]: ...


class DocumentExtractorLike(Protocol):
    version: str

    def extract_bytes(self, data: bytes, filename: str = "") -> dict[str, Any]: ...


class DispositionRecommender(Protocol):
    version: str

    def recommend(self, inspection: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]: ...


@dataclass(slots=True)
class LoadedModels:
    reason: ReasonScorer | None = None
    fraud: FraudRiskScorer | None = None
    documents: DocumentExtractorLike | None = None
    load_errors: tuple[str, ...] = ()
    disposition: DispositionRecommender | None = None
    # family -> manifest digest of the loaded bundle: recorded with each decision so a replay can find the bundle.
    digests: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.reason is not None

    def require_reason(self) -> ReasonScorer:
        if self.reason is None:
            raise ModelUnavailable("no verified reason-classifier bundle is loaded")
        return self.reason

    def full_model_path(self) -> LoadedModels:
        """A copy whose reason model sends every text through the encoder (its cascade first stage off, when it
        has one): TRIAGE_REASON_CASCADE=off, and what the cascade is measured against."""
        if self.reason is None or not hasattr(self.reason, "with_cascade"):
            return self
        return replace(self, reason=self.reason.with_cascade(False))

    def versions(self) -> dict[str, str]:
        out = {}
        if self.reason is not None:
            out["reason"] = self.reason.version
        if self.fraud is not None:
            out["fraud"] = self.fraud.version
        if self.documents is not None:
            out["documents"] = self.documents.version
        if self.disposition is not None:
            out["disposition"] = self.disposition.version
        return out

    def close(self) -> None:
        close = getattr(self.documents, "close", None)
        if close is not None:
            close()


def load_models(model_dir: Path, *, bundle_dirs: Mapping[str, Path] | None = None,
                encoder_threads: int = 0, encoder_wide_threads: int = 0) -> LoadedModels:
    """Load every bundle found under ``model_dir``; a bundle that fails verification is skipped and reported.

    ``bundle_dirs`` names another folder for some families (the local model store's champion, see
    serving/service/model_registry.py); the others are read from ``model_dir/<family>``. ``encoder_threads``
    are the reason encoder's onnxruntime threads (0 = one per core), ``encoder_wide_threads`` those of its session
    for lone requests (0 = none; see ``ReasonModel.wide``); the small models run on one thread each."""
    from returns_triage.models.disposition import DispositionModel
    from returns_triage.models.documents import DocumentExtractor
    from returns_triage.models.fraud import FraudScorer

    errors: list[str] = []
    digests: dict[str, str] = {}

    def load(name: str, loader: Callable[[Path], Any], *, required: bool = False) -> Any:
        directory = Path((bundle_dirs or {}).get(name, model_dir / name))
        if not required and not (directory / "manifest.json").is_file():
            return None
        try:
            model = loader(directory)
        except BundleIntegrityError as exc:
            errors.append(f"{name}: {exc.message}")
            return None
        digests[name] = load_manifest(directory, verify=False).digest
        return model

    return LoadedModels(
        reason=load("reason", partial(ReasonModel.load, intra_op_threads=encoder_threads,
                                      wide_threads=encoder_wide_threads), required=True),
        fraud=load("fraud", FraudScorer.load),
        documents=load("documents", DocumentExtractor.load),
        disposition=load("disposition", DispositionModel.load),
        load_errors=tuple(errors),
        digests=digests,
    )
