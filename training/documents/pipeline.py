"""Train the document bundle: generate seeded PDFs, parse them, label candidates, fit the document-type
classifier and the field scorer, calibrate confidences out-of-family, export ONNX, write the manifest."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from returns_triage.datasets.documents import HELDOUT_FAMILIES, TRAIN_FAMILIES, SyntheticDocument, generate_documents
from returns_triage.models.bundle import Manifest, onnx_session, write_manifest
from returns_triage.models.documents.candidates import FEATURE_NAMES, CandidateSet, build_candidates
from returns_triage.models.documents.decode import (
    CLASSES,
    COMPATIBLE_TYPES,
    TYPE_CLASSES,
    Calibrator,
    assemble_probabilities,
    decode_fields,
)
from returns_triage.models.documents.doctype import N_FEATURES, doctype_features
from returns_triage.models.documents.extractor import BUNDLE_NAME, DOCTYPE_FILE, scorer_file
from returns_triage.models.documents.lexicon import DOCUMENT_TYPES
from returns_triage.models.documents.pdf_words import words_from_pdf
from returns_triage.models.documents.safe_parse import ParsedDocument
from returns_triage.training.documents.metrics import score_fields, value_matches

__all__ = ["PreparedDocument", "prepare_documents", "label_candidates", "train_document_bundle", "TrainConfig"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TrainConfig:
    n_documents: int
    max_iter: int
    folds: int


FULL = TrainConfig(n_documents=600, max_iter=100, folds=3)
QUICK = TrainConfig(n_documents=130, max_iter=40, folds=2)


@dataclass(slots=True)
class PreparedDocument:
    source: SyntheticDocument
    parsed: ParsedDocument
    candidates: CandidateSet
    labels: np.ndarray

    @property
    def truth(self) -> dict[str, Any]:
        return self.source.truth_json()["fields"]


def label_candidates(cset: CandidateSet, doc: SyntheticDocument) -> np.ndarray:
    """Class index per candidate: the field whose printed box holds it and whose value it equals; currency and
    carrier (document-level facts) by value wherever they are printed."""
    truth = doc.truth_json()["fields"]
    labels = np.zeros(len(cset.candidates), dtype=np.int64)
    for i, c in enumerate(cset.candidates):
        if c.type in ("currency", "carrier"):
            name = c.type
            if value_matches(name, c.value, truth.get(name)):
                labels[i] = CLASSES.index(name)
            continue
        cx, cy = (c.bbox[0] + c.bbox[2]) / 2, (c.bbox[1] + c.bbox[3]) / 2
        for box in doc.boxes:
            if box.page != c.page or not (box.x0 <= cx <= box.x1 and box.top <= cy <= box.bottom):
                continue
            if COMPATIBLE_TYPES[box.field] == c.type and value_matches(box.field, c.value, truth.get(box.field)):
                labels[i] = CLASSES.index(box.field)
                break
    return labels


def prepare_documents(docs: Sequence[SyntheticDocument]) -> list[PreparedDocument]:
    out = []
    for doc in docs:
        parsed = ParsedDocument.from_raw(words_from_pdf(doc.pdf))  # our own generated PDFs: trusted
        cset = build_candidates(parsed)
        out.append(PreparedDocument(doc, parsed, cset, label_candidates(cset, doc)))
    return out


def _scorer(config: TrainConfig, seed: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(max_iter=config.max_iter, learning_rate=0.15, max_leaf_nodes=31,
                                          min_samples_leaf=10, l2_regularization=1.0, early_stopping=False,
                                          random_state=seed)


def _stack(docs: Sequence[PreparedDocument], ctype: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows of one candidate type, labels re-indexed into ``TYPE_CLASSES[ctype]``."""
    classes = TYPE_CLASSES[ctype]
    remap = {CLASSES.index(name): k for k, name in enumerate(classes)}
    xs, ys = [], []
    for d in docs:
        rows = [i for i, c in enumerate(d.candidates.candidates) if c.type == ctype]
        if rows:
            xs.append(d.candidates.features[rows])
            ys.append(np.array([remap.get(int(d.labels[i]), 0) for i in rows]))
    if not xs:
        return np.zeros((0, len(FEATURE_NAMES)), dtype=np.float32), np.zeros(0, dtype=np.int64)
    return np.vstack(xs), np.concatenate(ys)


class TypedScorer:
    """One gradient-boosting classifier per candidate type (training side)."""

    def __init__(self, models: dict[str, HistGradientBoostingClassifier]) -> None:
        self.models = models

    def predict(self, ctype: str, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.models[ctype].predict_proba(X))


def _fit_scorer(docs: Sequence[PreparedDocument], config: TrainConfig, seed: int) -> TypedScorer:
    models = {}
    for ctype, classes in TYPE_CLASSES.items():
        X, y = _stack(docs, ctype)
        # Every class must be present so predict_proba has a column per field, whatever the fold holds.
        missing = [k for k in range(len(classes)) if k not in set(y.tolist())]
        if missing:
            X = np.vstack([X, np.zeros((len(missing), X.shape[1]), dtype=np.float32)])
            y = np.concatenate([y, np.array(missing, dtype=np.int64)])
        models[ctype] = _scorer(config, seed).fit(X, y)
    return TypedScorer(models)


def _out_of_family_calibration(prepared: Sequence[PreparedDocument], config: TrainConfig, seed: int
                               ) -> tuple[Calibrator, dict[str, Any]]:
    """Fit the scorer on some families, decode the others: raw scores on unseen layouts vs correctness."""
    families = sorted({d.source.family for d in prepared})
    folds = [families[k:: config.folds] for k in range(config.folds)]
    raw_ok: list[tuple[float, bool]] = []
    pairs = []
    identity = Calibrator()
    for held in folds:
        train = [d for d in prepared if d.source.family not in held]
        test = [d for d in prepared if d.source.family in held]
        model = _fit_scorer(train, config, seed)
        for d in test:
            if not d.candidates.candidates:
                continue
            fields = decode_fields(d.candidates, assemble_probabilities(d.candidates, model.predict), identity)
            truth = d.truth
            for name, entry in fields.items():
                raw_ok.append((entry["_raw"], value_matches(name, entry["value"], truth.get(name))))
            pairs.append((fields, truth))
    scores = np.array([r for r, _ in raw_ok])
    correct = np.array([ok for _, ok in raw_ok], dtype=float)
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip", increasing=True).fit(scores, correct)
    calibrator = Calibrator(tuple(float(v) for v in iso.X_thresholds_), tuple(float(v) for v in iso.y_thresholds_))
    tally = score_fields(pairs)
    return calibrator, {"oof_field_f1": round(tally.f1, 4), "oof_fields": len(raw_ok),
                        "oof_field_f1_by_field": tally.field_f1()}


def _to_onnx(model: Any, n_features: int, path: Path) -> None:
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    with warnings.catch_warnings():
        # skl2onnx 1.20 hands booleans to an int attribute of tree ensembles; protobuf 6 deprecates that. Not ours
        # to fix; the parity check below proves the exported model.
        warnings.filterwarnings("ignore", message=".*Expected an int, got a boolean.*", category=DeprecationWarning)
        onx = convert_sklearn(model, initial_types=[("input", FloatTensorType([None, n_features]))],
                              options={id(model): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3})
    path.write_bytes(onx.SerializeToString())


def _parity(model: Any, path: Path, X: np.ndarray) -> float:
    """Share of rows where the ONNX model and scikit-learn pick the same class (1.0 expected)."""
    session = onnx_session(path)
    onnx_probs = session.run(None, {session.get_inputs()[0].name: X.astype(np.float32)})[1]
    return float(np.mean(np.argmax(onnx_probs, axis=1) == np.argmax(model.predict_proba(X), axis=1)))


def train_document_bundle(out_dir: Path, seed: int = 0, quick: bool = False,
                          families: Sequence[str] | None = None, *, config: TrainConfig | None = None,
                          tracking: Callable[[dict[str, Any]], None] | None = None) -> Manifest:
    """Generate, train, export and write the ``documents`` bundle into ``out_dir``.

    ``families`` defaults to every family not held out for the benchmark, so a default bundle can be
    benchmarked honestly on :data:`HELDOUT_FAMILIES`. ``config`` overrides the size (tests train tiny bundles).
    """
    # One OpenMP thread: on a shared 2-core machine the boosting's thread pool spins and runs up to 50x slower.
    with threadpool_limits(limits=1):
        manifest = _train(Path(out_dir), seed, quick, families, config or (QUICK if quick else FULL))
    if tracking is not None:
        # Slices are per field (out-of-family F1), since documents have no facility or segment of their own.
        tracking({"family": "documents", "manifest": manifest, "bundle_dir": Path(out_dir),
                  "params": {"seed": seed, "quick": quick, **manifest.lineage["config"]},
                  "slices": {"field": {k: {"oof_f1": v} for k, v in
                                       (manifest.metrics.get("oof_field_f1_by_field") or {}).items()}}})
    return manifest


def _train(out_dir: Path, seed: int, quick: bool, families: Sequence[str] | None, config: TrainConfig) -> Manifest:
    started = time.perf_counter()
    train_families = tuple(families) if families is not None else TRAIN_FAMILIES
    out_dir.mkdir(parents=True, exist_ok=True)
    docs = list(generate_documents(config.n_documents, seed=seed, families=train_families))
    prepared = prepare_documents(docs)
    t_prepared = time.perf_counter()

    calibrator, oof = _out_of_family_calibration(prepared, config, seed)
    scorer = _fit_scorer(prepared, config, seed)

    Xd = np.vstack([doctype_features(d.parsed) for d in prepared])
    yd = np.array([DOCUMENT_TYPES.index(d.source.document_type) for d in prepared])
    doctype = LogisticRegression(C=20.0, max_iter=2000)
    doctype.fit(Xd, yd)
    if len(doctype.classes_) != len(DOCUMENT_TYPES):
        raise RuntimeError("every document type must appear in the training documents")

    parity: dict[str, float] = {}
    counts: dict[str, int] = {}
    for ctype, model in scorer.models.items():
        _to_onnx(model, len(FEATURE_NAMES), out_dir / scorer_file(ctype))
        X, y = _stack(prepared, ctype)
        counts[ctype] = int(len(y))
        if len(X):
            parity[ctype] = _parity(model, out_dir / scorer_file(ctype), X[:3000])
    _to_onnx(doctype, N_FEATURES, out_dir / DOCTYPE_FILE)
    parity["document_type"] = _parity(doctype, out_dir / DOCTYPE_FILE, Xd)
    if min(parity.values()) < 0.995:
        raise RuntimeError(f"ONNX export disagrees with scikit-learn: {parity}")

    metrics = {**oof, "onnx_argmax_agreement": parity, "train_documents": len(prepared),
               "train_candidates": counts,
               "seconds": round(time.perf_counter() - started, 1),
               "prepare_seconds": round(t_prepared - started, 1)}
    log.info("documents bundle trained: %s", metrics)
    return write_manifest(
        out_dir,
        BUNDLE_NAME,
        [*(scorer_file(t) for t in TYPE_CLASSES), DOCTYPE_FILE],
        labels=list(CLASSES),
        thresholds={"accept": 0.5},
        calibration={"field_confidence": calibrator.to_dict(), "method": "isotonic, out-of-family folds"},
        metrics=metrics,
        lineage={"generator": "returns_triage.datasets.documents", "seed": seed, "quick": quick,
                 "config": {"n_documents": config.n_documents, "max_iter": config.max_iter, "folds": config.folds},
                 "train_families": list(train_families),
                 "heldout_families": [f for f in HELDOUT_FAMILIES if f not in train_families]},
        extra={"feature_names": list(FEATURE_NAMES), "classes": list(CLASSES), "document_types": list(DOCUMENT_TYPES),
               "doctype_features": N_FEATURES},
    )
