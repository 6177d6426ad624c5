"""Scanned documents end to end: rasterised and skewed copies of a generated invoice go through the sandboxed
OCR path (pypdfium2, deskew, Tesseract) and the real extractor, which must read the same key fields as from the
text PDF — with field confidence that drops where the OCR was unsure."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from returns_triage.datasets.documents import SyntheticDocument, generate_documents
from returns_triage.datasets.documents.scans import ScanStyle, rasterise
from returns_triage.models.documents import DocumentExtractor
from returns_triage.models.documents.safe_parse import ParsedDocument, PdfParser
from returns_triage.training.documents.metrics import value_matches

pytestmark = pytest.mark.slow  # every test here runs Tesseract on at least one page

KEY_FIELDS = ("invoice_number", "document_date", "total_amount", "currency")


@pytest.fixture(scope="module")
def extractor(model_dir: Path) -> Iterator[DocumentExtractor]:
    with DocumentExtractor.load(model_dir / "documents") as ex:
        yield ex


@pytest.fixture(scope="module")
def invoice(extractor: DocumentExtractor) -> SyntheticDocument:
    """A one-page invoice whose key fields the extractor reads correctly from the text PDF."""
    for doc in generate_documents(60, seed=21, families=["en_us_classic", "de_window", "nl_classic"]):
        if doc.document_type != "invoice" or not all(doc.truth.fields.get(f) for f in KEY_FIELDS):
            continue
        if _pages(doc.pdf) != 1:  # a PNG / JPEG scan holds one page
            continue
        if _key_fields_right(extractor.extract_bytes(doc.pdf)["fields"], doc):
            return doc
    raise AssertionError("no invoice in the sample is read correctly from its text layer")


def _pages(pdf: bytes) -> int:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf)
    try:
        return len(doc)
    finally:
        doc.close()


def _key_fields_right(fields: dict, doc: SyntheticDocument) -> bool:
    truth = doc.truth_json()["fields"]
    return all(name in fields and value_matches(name, fields[name]["value"], truth[name]) for name in KEY_FIELDS)


def _assert_key_fields(result: dict, doc: SyntheticDocument) -> None:
    assert result["error"] is None, result["error"]
    truth = doc.truth_json()["fields"]
    for name in KEY_FIELDS:
        assert name in result["fields"], (name, sorted(result["fields"]))
        assert value_matches(name, result["fields"][name]["value"], truth[name]), (name, result["fields"][name],
                                                                                  truth[name])


@pytest.fixture(scope="module")
def png_scan(invoice: SyntheticDocument) -> bytes:
    return rasterise(invoice.pdf, ScanStyle(dpi=200, noise=4.0, format="png"), seed=1)


def test_a_rasterised_invoice_is_read_by_ocr(extractor: DocumentExtractor, invoice: SyntheticDocument,
                                             png_scan: bytes) -> None:
    result = extractor.extract_bytes(png_scan, filename="invoice.png")
    _assert_key_fields(result, invoice)
    assert result["document_type"] == "invoice"
    assert result["ocr"]["pages"] == 1 and 0.8 <= result["ocr"]["mean_word_confidence"] <= 1.0
    for entry in result["fields"].values():  # same contract as a text PDF: page, box in points, confidence
        assert set(entry) == {"value", "confidence", "page", "bbox"} and entry["page"] == 1
        assert 0.0 <= entry["confidence"] <= 1.0 and 0 <= entry["bbox"][0] < entry["bbox"][2] <= 620
    json.dumps(result)


def test_a_skewed_noisy_jpeg_copy_is_straightened_and_read(extractor: DocumentExtractor,
                                                            invoice: SyntheticDocument) -> None:
    scan = rasterise(invoice.pdf, ScanStyle(dpi=200, skew_degrees=3.0, noise=6.0, specks=0.0003,
                                            jpeg_quality=85, format="jpeg"), seed=2)
    result = extractor.extract_bytes(scan, filename="invoice.jpg")
    _assert_key_fields(result, invoice)
    assert result["ocr"]["skew_degrees"][0] == pytest.approx(3.0, abs=0.3)


def test_a_pdf_without_text_layer_goes_through_ocr(extractor: DocumentExtractor, invoice: SyntheticDocument) -> None:
    scan = rasterise(invoice.pdf, ScanStyle(dpi=200, skew_degrees=-1.5, noise=5.0, format="pdf"), seed=3)
    assert scan.startswith(b"%PDF-")
    result = extractor.extract_bytes(scan, filename="scan.pdf")
    _assert_key_fields(result, invoice)
    assert result["ocr"]["pages"] == 1


def test_fields_read_from_low_confidence_words_get_lower_confidence(extractor: DocumentExtractor,
                                                                     png_scan: bytes) -> None:
    with PdfParser(extractor.limits) as parser:
        parsed = parser.parse(png_scan)
    assert parsed.ocr is not None
    sure = extractor.extract_parsed(parsed)["fields"]
    total = sure["total_amount"]
    x0, top, x1, bottom = total["bbox"]
    # The same OCR'd page, but the words of the printed total read with the confidence of a smudged scan.
    smudged = [dataclasses.replace(w, confidence=0.55)
               if w.page == total["page"] - 1 and w.x0 >= x0 - 0.1 and w.x1 <= x1 + 0.1 and w.top >= top - 0.1
               and w.bottom <= bottom + 0.1 else w for w in parsed.words]
    unsure = extractor.extract_parsed(ParsedDocument(smudged, parsed.page_sizes, parsed.ocr))["fields"]
    assert unsure["total_amount"]["value"] == total["value"]
    assert unsure["total_amount"]["confidence"] < 0.75 * total["confidence"]
    assert unsure["total_amount"]["confidence"] < 0.9  # below the auto-approve bar, whatever the scorer said
    assert unsure["invoice_number"]["confidence"] == pytest.approx(sure["invoice_number"]["confidence"])
    # A text layer carries no OCR doubt: the same words at confidence 1.0 never score lower than the scan.
    crisp = [dataclasses.replace(w, confidence=1.0) for w in parsed.words]
    clean = extractor.extract_parsed(ParsedDocument(crisp, parsed.page_sizes, parsed.ocr))["fields"]
    assert all(clean[n]["confidence"] >= sure[n]["confidence"] for n in sure if n in clean)


def test_triage_extract_reads_png_and_jpeg(model_dir: Path, invoice: SyntheticDocument, png_scan: bytes,
                                           tmp_path: Path) -> None:
    png = tmp_path / "invoice.png"
    png.write_bytes(png_scan)
    jpg = tmp_path / "invoice.jpg"
    jpg.write_bytes(rasterise(invoice.pdf, ScanStyle(dpi=200, format="jpeg"), seed=4))
    env = {**os.environ, "TRIAGE_MODEL_DIR": str(model_dir), "TRIAGE_HOME": str(tmp_path / "home")}
    proc = subprocess.run([sys.executable, "-m", "returns_triage.cli", "extract", "--json", str(png), str(jpg)],
                          capture_output=True, text=True, env=env, timeout=300, check=True)
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [r["file"] for r in results] == [str(png), str(jpg)]
    for result in results:
        _assert_key_fields(result, invoice)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_api_upload_accepts_a_png_scan(client, invoice: SyntheticDocument, png_scan: bytes) -> None:  # type: ignore[no-untyped-def]
    resp = client.post("/v1/documents", files={"file": ("scan.png", png_scan, "image/png")})
    assert resp.status_code == 201, resp.text
    record = resp.json()
    assert record["document_id"] == hashlib.sha256(png_scan).hexdigest()
    _assert_key_fields(record["extraction"], invoice)
    assert record["extraction"]["ocr"]["pages"] == 1
