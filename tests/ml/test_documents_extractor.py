"""The document extractor end to end: a small bundle trained once per session, measured on held-out layout
families, served through onnxruntime only."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from returns_triage.datasets.documents import HELDOUT_FAMILIES, TRAIN_FAMILIES, generate_documents
from returns_triage.datasets.documents.families import family
from returns_triage.datasets.documents.render import render_document
from returns_triage.errors import BundleIntegrityError
from returns_triage.models.bundle import load_manifest
from returns_triage.models.documents import DocumentExtractor, match_documents
from returns_triage.training.documents import train_document_bundle
from returns_triage.training.documents.metrics import score_fields
from returns_triage.training.documents.pipeline import TrainConfig

TINY = TrainConfig(n_documents=100, max_iter=40, folds=2)
EXAMPLE_REQUEST = Path(__file__).resolve().parents[2] / "examples" / "score-request.json"


@pytest.fixture(scope="session")
def bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("documents-bundle")
    train_document_bundle(out, seed=0, families=TRAIN_FAMILIES, config=TINY)
    return out


@pytest.fixture(scope="session")
def extractor(bundle_dir: Path) -> Iterator[DocumentExtractor]:
    with DocumentExtractor.load(bundle_dir) as ex:
        yield ex


@pytest.fixture(scope="session")
def heldout_results(extractor: DocumentExtractor) -> list[tuple[dict, object]]:
    docs = list(generate_documents(24, seed=4321, families=HELDOUT_FAMILIES))
    return [(extractor.extract_bytes(d.pdf, filename=f"{d.family}.pdf"), d) for d in docs]


def test_bundle_is_onnx_only_and_verified(bundle_dir: Path) -> None:
    manifest = load_manifest(bundle_dir, expected_name="documents")
    assert manifest.files and all(name.endswith(".onnx") for name in manifest.files)
    assert set(manifest.lineage["heldout_families"]) == set(HELDOUT_FAMILIES)
    assert all(v >= 0.995 for v in manifest.metrics["onnx_argmax_agreement"].values())


def test_heldout_families_are_extracted_far_above_chance(heldout_results) -> None:
    tally = score_fields([(r["fields"], d.truth_json()["fields"]) for r, d in heldout_results])
    assert tally.f1 >= 0.8, tally.field_f1()
    type_acc = sum(r["document_type"] == d.document_type for r, d in heldout_results) / len(heldout_results)
    assert type_acc >= 0.8


def test_confident_fields_are_mostly_right(heldout_results) -> None:
    tally = score_fields([(r["fields"], d.truth_json()["fields"]) for r, d in heldout_results])
    assert tally.confident >= 20
    assert tally.precision_at_0_9 is not None and tally.precision_at_0_9 >= 0.9


def test_result_shape_is_the_public_contract(heldout_results) -> None:
    result, _ = next((r, d) for r, d in heldout_results if d.document_type == "invoice")
    assert set(result) == {"file", "document_type", "document_confidence", "fields", "line_items", "checks", "error"}
    assert result["error"] is None and 0.0 <= result["document_confidence"] <= 1.0
    for entry in result["fields"].values():
        assert set(entry) == {"value", "confidence", "page", "bbox"} and len(entry["bbox"]) == 4
    json.dumps(result)  # JSON-serialisable as the CLI prints it
    if "total_amount" in result["fields"]:
        assert isinstance(result["fields"]["total_amount"]["value"], float)
    assert all({"name", "passed", "detail"} == set(c) for c in result["checks"])


def test_a_failed_check_lowers_confidence(extractor: DocumentExtractor) -> None:
    doc = next(d for d in generate_documents(30, seed=8, families=HELDOUT_FAMILIES) if d.document_type == "invoice")
    good = extractor.extract_bytes(doc.pdf)
    # Print a total that no longer equals subtotal + tax, everything else unchanged.
    doc.truth.fields["total_amount"] = round(doc.truth.fields["total_amount"] + 100.0, 2)
    pdf, _ = render_document(doc.truth, family(doc.family), random.Random(1))
    bad = extractor.extract_bytes(pdf)
    assert {"total_amount", "subtotal_amount", "tax_amount"} <= set(bad["fields"])
    check = next(c for c in bad["checks"] if c["name"] == "subtotal_plus_tax_equals_total")
    assert not check["passed"]
    assert bad["fields"]["total_amount"]["confidence"] <= 0.5
    assert bad["document_confidence"] < good["document_confidence"]


def test_bad_files_never_raise(extractor: DocumentExtractor, tmp_path: Path) -> None:
    assert extractor.extract_bytes(b"")["error"]["code"] == "empty_file"
    assert extractor.extract_bytes(b"GIF89a...", filename="x.gif")["error"] == {
        "code": "not_a_pdf", "message": "the file is not a PDF (no %PDF- header)"}
    missing = extractor.extract_path(tmp_path / "nope.pdf")
    assert missing["error"]["code"] == "unreadable" and missing["fields"] == {}


def test_three_way_match_on_extracted_documents(extractor: DocumentExtractor) -> None:
    request = json.loads(EXAMPLE_REQUEST.read_text())
    doc = next(d for d in generate_documents(30, seed=9, families=HELDOUT_FAMILIES) if d.document_type == "invoice")
    findings = match_documents(request, [extractor.extract_bytes(doc.pdf, filename="invoice.pdf")])
    codes = {f["code"] for f in findings}
    # The synthetic invoice is for another order and other SKUs than the example request.
    assert "order_number_mismatch" in codes and "sku_not_on_documents" in codes


def test_tampered_bundle_is_refused(bundle_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(bundle_dir, copy)
    target = next(copy.glob("field_scorer_amount.onnx"))
    target.write_bytes(target.read_bytes() + b"\0")
    with pytest.raises(BundleIntegrityError):
        DocumentExtractor.load(copy)


def test_serving_side_never_imports_scikit_learn(bundle_dir: Path) -> None:
    code = (
        "import sys, pathlib\n"
        "from returns_triage.models.documents import DocumentExtractor\n"
        "from returns_triage.datasets.documents.hostile import simple_text_pdf\n"
        f"ex = DocumentExtractor.load(pathlib.Path({str(bundle_dir)!r}))\n"
        "r = ex.extract_bytes(simple_text_pdf())\n"
        "ex.close()\n"
        "assert r['error'] is None, r\n"
        "assert 'sklearn' not in sys.modules and 'skl2onnx' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
