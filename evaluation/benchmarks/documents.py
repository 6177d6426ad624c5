"""Benchmark ``documents``: template-free extraction on held-out layout families, calibration, robustness on
real and hostile PDFs, and cost against raw pdfplumber on the same files; then the OCR path on scanned copies
(rasterised, skewed, noisy PNG / JPEG / image-only PDF) of held-out documents, through the sandboxed parser.

Targets (set by the issue, never lowered here): field F1 on held-out families >= 0.97; on OCR copies >= 0.90;
precision of fields with confidence >= 0.9 >= 0.97 (text PDFs and OCR copies alike); cost ratio vs pdfplumber
``extract_words`` <= 1.5; every real PDF and every hostile file handled (extracted, or rejected with a typed
code) == 1.0.
"""

from __future__ import annotations

import io
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from returns_triage.evaluation.benchmarks.base import BenchResult, Target, output_dir, register

__all__ = ["run", "REAL_PDFS", "TYPED_CODES"]

REAL_PDFS = Path("/work/shared/data/real_pdfs")
TYPED_CODES = frozenset({"empty_file", "not_a_pdf", "encrypted", "corrupt", "too_large", "too_many_pages", "timeout",
                         "memory_limit", "no_text_layer", "image_too_large", "ocr_unavailable", "ocr_failed"})
TARGETS = [
    Target("field_f1_heldout", ">=", 0.97),
    Target("precision_at_conf_0_9", ">=", 0.97),
    Target("cost_ratio_vs_pdfplumber", "<=", 1.5),
    Target("real_pdfs_handled", "==", 1.0),
    Target("hostile_handled", "==", 1.0),
    Target("field_f1_ocr", ">=", 0.90),
    Target("precision_at_conf_0_9_ocr", ">=", 0.97),
]


def _handled(result: dict[str, Any], seconds: float, wall_limit: float) -> bool:
    """Extracted, or rejected with one of our typed codes, within the wall-clock limit (plus restart slack)."""
    ok = result["error"] is None or result["error"]["code"] in TYPED_CODES
    return ok and seconds <= wall_limit + 5.0


def _raw_pdfplumber(data: bytes) -> int:
    import pdfplumber

    with pdfplumber.open(io.BytesIO(data)) as pdf:
        pages = 0
        for page in pdf.pages:
            page.extract_words()
            pages += 1
    return pages


def _heldout_quality(extractor: Any, docs: list[Any]) -> tuple[dict[str, Any], list[tuple[bytes, int]]]:
    from returns_triage.training.documents.metrics import score_fields

    pairs_by_family: dict[str, list[Any]] = defaultdict(list)
    all_pairs = []
    type_correct = 0
    items_correct = 0
    timed: list[tuple[bytes, int]] = []
    for doc in docs:
        result = extractor.extract_bytes(doc.pdf, filename=f"{doc.family}.pdf")
        truth = doc.truth_json()
        pair = (result["fields"], truth["fields"])
        pairs_by_family[doc.family].append(pair)
        all_pairs.append(pair)
        type_correct += result["document_type"] == doc.document_type
        got = [(li["sku"], li["quantity"], li["amount"]) for li in result["line_items"]]
        want = [(li["sku"], li["quantity"], li["amount"]) for li in truth["line_items"]]
        items_correct += got == want
        timed.append((doc.pdf, result.get("error") is None))
    tally = score_fields(all_pairs)
    scored = tally.scored
    confident = [ok for conf, ok in scored if conf >= 0.9]
    metrics = {
        "field_f1_heldout": round(tally.f1, 4),
        "field_f1_by_field": tally.field_f1(),
        "field_f1_by_family": {fam: round(score_fields(p).f1, 4) for fam, p in sorted(pairs_by_family.items())},
        "precision_at_conf_0_9": round(sum(confident) / len(confident), 4) if confident else None,
        "coverage_at_conf_0_9": round(len(confident) / len(scored), 4) if scored else 0.0,
        "document_type_accuracy": round(type_correct / len(docs), 4),
        "line_items_exact_share": round(items_correct / len(docs), 4),
        "heldout_documents": len(docs),
    }
    return metrics, timed


def _ocr_quality(extractor: Any, docs: list[Any], seed: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Scanned copies of ``docs`` through the whole upload path (sniffing, sandboxed OCR, extraction)."""
    from returns_triage.datasets.documents.scans import scanned_copies
    from returns_triage.training.documents.metrics import score_fields

    scans = list(scanned_copies(docs, seed=seed))
    pairs_by_family: dict[str, list[Any]] = defaultdict(list)
    all_pairs = []
    rows = []
    pages = 0
    seconds = 0.0
    skew_errors: list[float] = []
    for scan in scans:
        started = time.perf_counter()
        result = extractor.extract_bytes(scan.data, filename=scan.filename)
        took = time.perf_counter() - started
        seconds += took
        err = result["error"]
        truth = scan.truth_json()
        pair = (result["fields"], truth["fields"])
        pairs_by_family[scan.family].append(pair)
        all_pairs.append(pair)
        ocr = result.get("ocr") or {}
        pages += int(ocr.get("pages", 0))
        if ocr.get("skew_degrees"):
            skew_errors.append(abs(float(ocr["skew_degrees"][0]) - scan.style.skew_degrees))
        rows.append({"file": scan.filename, "family": scan.family, "format": scan.style.format, "dpi": scan.style.dpi,
                     "skew_degrees": scan.style.skew_degrees, "noise": scan.style.noise,
                     "status": "extracted" if err is None else f"rejected:{err['code']}", "seconds": round(took, 2),
                     "mean_word_confidence": ocr.get("mean_word_confidence"),
                     "field_f1": round(score_fields([pair]).f1, 4)})
    tally = score_fields(all_pairs)
    confident = [ok for conf, ok in tally.scored if conf >= 0.9]
    metrics = {
        "field_f1_ocr": round(tally.f1, 4),
        "field_f1_ocr_by_field": tally.field_f1(),
        "field_f1_ocr_by_family": {fam: round(score_fields(p).f1, 4) for fam, p in sorted(pairs_by_family.items())},
        "precision_at_conf_0_9_ocr": round(sum(confident) / len(confident), 4) if confident else None,
        "coverage_at_conf_0_9_ocr": round(len(confident) / len(tally.scored), 4) if tally.scored else 0.0,
        "ocr_documents": len(scans),
        "ocr_rejected": sum(r["status"] != "extracted" for r in rows),
        "ocr_pages": pages,
        # Wall clock of the whole path (render, deskew, Tesseract, extraction) on this machine, one worker.
        "ocr_pages_per_second": round(pages / seconds, 3) if seconds else None,
        "ocr_skew_abs_error_degrees": round(sum(skew_errors) / len(skew_errors), 3) if skew_errors else None,
    }
    return metrics, rows


def _real_pdfs(extractor: Any, wall_limit: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rows = []
    for path in sorted(REAL_PDFS.glob("*.pdf")):
        started = time.perf_counter()
        result = extractor.extract_path(path)
        seconds = time.perf_counter() - started
        err = result["error"]
        rows.append({"file": path.name, "status": "extracted" if err is None else f"rejected:{err['code']}",
                     "seconds": round(seconds, 3), "document_type": result["document_type"],
                     "document_confidence": result["document_confidence"], "fields": sorted(result["fields"]),
                     "handled": _handled(result, seconds, wall_limit)})
    share = sum(r["handled"] for r in rows) / len(rows) if rows else None
    return {"real_pdfs_handled": share, "real_pdfs_count": len(rows)}, rows


def _hostile(extractor: Any, wall_limit: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from returns_triage.datasets.documents.hostile import HOSTILE_BUILDERS

    rows = []
    for name, build in HOSTILE_BUILDERS.items():
        data = build()
        started = time.perf_counter()
        try:
            result = extractor.extract_bytes(data, filename=f"{name}.pdf")
        except Exception as exc:  # noqa: BLE001 - a crash is exactly what this benchmark counts
            result = {"error": {"code": f"crash:{type(exc).__name__}", "message": str(exc)}}
        seconds = time.perf_counter() - started
        err = result["error"]
        rows.append({"file": name, "bytes": len(data),
                     "status": "extracted" if err is None else f"rejected:{err['code']}",
                     "seconds": round(seconds, 3), "handled": _handled(result, seconds, wall_limit)})
    return {"hostile_handled": sum(r["handled"] for r in rows) / len(rows)}, rows


def _cost(extractor: Any, files: list[bytes], repeats: int) -> dict[str, Any]:
    """Wall time of our full extraction (child-process parse, features, ONNX, checks) vs raw pdfplumber
    ``extract_words`` in this process, file by file, interleaved so machine load hits both alike."""
    ours = raw = 0.0
    pages = 0
    extractor.extract_bytes(files[0])  # the worker starts once per process; not part of steady state
    _raw_pdfplumber(files[0])
    for _ in range(repeats):
        for data in files:
            t0 = time.perf_counter()
            pages += _raw_pdfplumber(data)
            t1 = time.perf_counter()
            extractor.extract_bytes(data)
            t2 = time.perf_counter()
            raw += t1 - t0
            ours += t2 - t1
    return {
        "cost_ratio_vs_pdfplumber": round(ours / raw, 3),
        "pages_per_second_ours": round(pages / ours, 1),
        "pages_per_second_pdfplumber": round(pages / raw, 1),
        "cost_files": len(files),
        "cost_pages": pages,
    }


@register("documents")
def run(quick: bool = False) -> BenchResult:
    from returns_triage.datasets.documents import HELDOUT_FAMILIES, TRAIN_FAMILIES, generate_documents
    from returns_triage.models.documents import DocumentExtractor
    from returns_triage.training.documents import train_document_bundle

    out = output_dir("documents")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="documents-bench-") as tmp:
        bundle_dir = Path(tmp) / "bundle"
        manifest = train_document_bundle(bundle_dir, seed=0, quick=quick, families=TRAIN_FAMILIES)
        train_seconds = time.perf_counter() - started
        extractor = DocumentExtractor.load(bundle_dir)
        try:
            wall_limit = extractor.limits.timeout_seconds
            docs = list(generate_documents(45 if quick else 240, seed=1234, families=HELDOUT_FAMILIES))
            metrics: dict[str, Any] = {"train_seconds": round(train_seconds, 1), "bundle_version": manifest.version,
                                       "heldout_families": list(HELDOUT_FAMILIES),
                                       "train_families": list(TRAIN_FAMILIES),
                                       "oof_field_f1_train_families": manifest.metrics.get("oof_field_f1")}
            quality, timed = _heldout_quality(extractor, docs)
            metrics.update(quality)
            real_metrics, real_rows = _real_pdfs(extractor, wall_limit)
            metrics.update(real_metrics)
            hostile_metrics, hostile_rows = _hostile(extractor, wall_limit)
            metrics.update(hostile_metrics)
            # --quick skips real files above 200 kB (the 16-page report) to stay within a minute.
            real_ok = [p.read_bytes() for p, r in zip(sorted(REAL_PDFS.glob("*.pdf")), real_rows, strict=True)
                       if r["status"] == "extracted" and (not quick or p.stat().st_size < 200_000)]
            synthetic = [data for data, ok in timed[: 15 if quick else 60] if ok]
            metrics.update(_cost(extractor, synthetic + real_ok, repeats=1 if quick else 2))
            # OCR is ~1 s of CPU per page: --quick reads a handful of scans to stay within about a minute.
            ocr_docs = list(generate_documents(6 if quick else 45, seed=4242, families=HELDOUT_FAMILIES))
            ocr_metrics, ocr_rows = _ocr_quality(extractor, ocr_docs, seed=4242)
            metrics.update(ocr_metrics)
        finally:
            extractor.close()
    metrics["seconds"] = round(time.perf_counter() - started, 1)
    detail = out / ("detail-quick.json" if quick else "detail.json")
    detail.write_text(json.dumps({"real_pdfs": real_rows, "hostile": hostile_rows, "ocr": ocr_rows, "metrics": metrics},
                                 indent=2))
    metrics["real_pdfs"] = {r["file"]: f"{r['status']} {r['seconds']}s" for r in real_rows}
    metrics["hostile"] = {r["file"]: f"{r['status']} {r['seconds']}s" for r in hostile_rows}
    return BenchResult("documents", metrics, TARGETS, [str(detail)])
