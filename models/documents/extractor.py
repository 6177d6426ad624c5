"""The document extractor at serving time: onnxruntime only (no scikit-learn), bundles verified before load."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from returns_triage.errors import BundleIntegrityError, DocumentRejected
from returns_triage.models.bundle import load_manifest, onnx_session
from returns_triage.models.documents.candidates import FEATURE_NAMES, build_candidates
from returns_triage.models.documents.checks import FAILED_CHECK_FACTOR, run_checks
from returns_triage.models.documents.decode import (
    CLASSES,
    TYPE_CLASSES,
    Calibrator,
    assemble_probabilities,
    complete_amounts,
    decode_fields,
)
from returns_triage.models.documents.doctype import N_FEATURES, doctype_features
from returns_triage.models.documents.ocr_confidence import apply_word_confidence
from returns_triage.models.documents.safe_parse import ParsedDocument, ParseLimits, PdfParser
from returns_triage.models.documents.tables import parse_line_items

__all__ = ["DocumentExtractor", "BUNDLE_NAME", "scorer_file", "DOCTYPE_FILE", "error_result"]

log = logging.getLogger(__name__)

BUNDLE_NAME = "documents"


def scorer_file(candidate_type: str) -> str:
    return f"field_scorer_{candidate_type}.onnx"

DOCTYPE_FILE = "document_type.onnx"


def error_result(filename: str, code: str, message: str) -> dict[str, Any]:
    return {"file": filename, "document_type": None, "document_confidence": 0.0, "fields": {}, "line_items": [],
            "checks": [], "error": {"code": code, "message": message}}


def _probabilities(session: Any, x: np.ndarray) -> np.ndarray:
    outputs = session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})
    return np.asarray(outputs[1], dtype=np.float64)


class DocumentExtractor:
    """Load with :meth:`load`; ``extract_bytes`` never raises for a bad file (the result carries ``error``)."""

    def __init__(self, bundle_dir: Path, *, limits: ParseLimits | None = None) -> None:
        manifest = load_manifest(bundle_dir, expected_name=BUNDLE_NAME, verify=True)
        extra = manifest.extra
        if tuple(extra.get("feature_names", ())) != FEATURE_NAMES or tuple(extra.get("classes", ())) != CLASSES:
            raise BundleIntegrityError(f"bundle {manifest.version} was built for different features or fields")
        if int(extra.get("doctype_features", -1)) != N_FEATURES:
            raise BundleIntegrityError(f"bundle {manifest.version} was built for a different document-type encoder")
        self.manifest = manifest
        self.version: str = manifest.version
        self.document_types: list[str] = list(extra["document_types"])
        self.accept = float(manifest.thresholds.get("accept", 0.5))
        self.calibrate = Calibrator.from_dict(manifest.calibration["field_confidence"])
        # Small models: one thread each avoids thread-pool spinning on a shared machine.
        self._scorers = {t: onnx_session(bundle_dir / scorer_file(t), intra_op_threads=1) for t in TYPE_CLASSES}
        self._doctype = onnx_session(bundle_dir / DOCTYPE_FILE, intra_op_threads=1)
        self._parser = PdfParser(limits)

    @classmethod
    def load(cls, bundle_dir: Path) -> DocumentExtractor:
        return cls(Path(bundle_dir))

    @property
    def limits(self) -> ParseLimits:
        """The resource limits every document is parsed under."""
        return self._parser.limits

    def close(self) -> None:
        self._parser.close()

    def __enter__(self) -> DocumentExtractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public API ------------------------------------------------------------------------------------------

    def extract_path(self, path: Path) -> dict[str, Any]:
        path = Path(path)
        try:
            size = path.stat().st_size
        except OSError as exc:
            return error_result(path.name, "unreadable", f"cannot read {path.name}: {exc.strerror}")
        if size > self.limits.max_bytes:
            return error_result(path.name, "too_large",
                                f"the file has {size} bytes, the limit is {self.limits.max_bytes}")
        return self.extract_bytes(path.read_bytes(), filename=path.name)

    def extract_bytes(self, data: bytes, filename: str = "") -> dict[str, Any]:
        try:
            parsed = self._parser.parse(data)
        except DocumentRejected as exc:
            return error_result(filename, exc.code, exc.message)
        except (OSError, RuntimeError) as exc:  # the worker could not be started: still a typed answer
            return error_result(filename, "parser_unavailable", f"the PDF parser is unavailable: {exc}")
        try:
            return self.extract_parsed(parsed, filename)
        except Exception:  # noqa: BLE001 - a bug on one odd document must not fail the whole request
            log.exception("extraction failed after a successful parse of %s", filename or "a document")
            return error_result(filename, "extraction_failed", "the document was parsed but could not be read")

    def extract_parsed(self, parsed: ParsedDocument, filename: str = "") -> dict[str, Any]:
        """Extraction from already parsed words (used by training and benchmarks on trusted documents)."""
        doc_probs = _probabilities(self._doctype, doctype_features(parsed))[0]
        type_index = int(np.argmax(doc_probs))
        cset = build_candidates(parsed)
        fields: dict[str, dict[str, Any]] = {}
        if cset.candidates:
            probs = assemble_probabilities(cset, lambda t, x: _probabilities(self._scorers[t], x))
            fields = decode_fields(cset, probs, self.calibrate, accept=self.accept)
            complete_amounts(cset, fields)
            if parsed.ocr is not None:  # a scan: a field is no surer than the OCR'd words it was read from
                apply_word_confidence(cset, fields)
        line_items = parse_line_items(cset.lines)
        # Fields read off something that is probably not a commercial document are not to be trusted.
        business = max(float(p) for t, p in zip(self.document_types, doc_probs, strict=True) if t != "other")
        for entry in fields.values():
            entry["confidence"] = round(entry["confidence"] * business, 4)
        checks = run_checks(fields, line_items, today=datetime.now(UTC).date())
        for check in checks:
            if not check.passed:
                for name in check.fields:
                    if name in fields:
                        fields[name]["confidence"] = round(fields[name]["confidence"] * FAILED_CHECK_FACTOR, 4)
        confs = [f["confidence"] for f in fields.values()]
        failed = sum(not c.passed for c in checks)
        field_part = math.exp(sum(math.log(max(c, 1e-6)) for c in confs) / len(confs)) if confs else 0.0
        # How sure we are this is a returns document we read correctly: an "other" page scores low by design.
        document_confidence = business * field_part * (FAILED_CHECK_FACTOR ** failed)
        result = {
            "file": filename,
            "document_type": self.document_types[type_index],
            "document_confidence": round(document_confidence, 4),
            "fields": {k: {kk: vv for kk, vv in v.items() if not kk.startswith("_")} for k, v in fields.items()},
            "line_items": line_items,
            "checks": [c.to_dict() for c in checks],
            "error": None,
        }
        if parsed.ocr is not None:
            result["ocr"] = parsed.ocr  # pages, skew removed, languages, mean word confidence
        return result
