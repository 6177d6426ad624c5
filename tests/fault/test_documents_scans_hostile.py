"""Hostile and broken images through the sandboxed OCR path: typed rejections, within the limits, and no
Tesseract left running after a timeout."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator

import pytest

from returns_triage.datasets.documents import generate_documents
from returns_triage.datasets.documents.hostile import (
    huge_blank_page,
    jpeg_bomb,
    png_bomb,
    png_image,
    truncated_png,
)
from returns_triage.datasets.documents.scans import ScanStyle, rasterise
from returns_triage.errors import DocumentRejected
from returns_triage.models.documents.safe_parse import ParseLimits, PdfParser

LIMITS = ParseLimits()


@pytest.fixture(scope="module")
def parser() -> Iterator[PdfParser]:
    with PdfParser(LIMITS) as p:
        yield p


@pytest.fixture(scope="module")
def scanned_page() -> bytes:
    doc = next(generate_documents(1, seed=5, families=["en_us_classic"]))
    return rasterise(doc.pdf, ScanStyle(dpi=200, format="png"), seed=5)


def _rejection(parser: PdfParser, data: bytes) -> tuple[str, float]:
    started = time.perf_counter()
    with pytest.raises(DocumentRejected) as info:
        parser.parse(data)
    return info.value.code, time.perf_counter() - started


@pytest.mark.parametrize(
    ("build", "code"),
    [
        (png_bomb, "image_too_large"),  # 10 gigapixels declared in a few hundred bytes
        (lambda: png_image(7_000, 7_000), "image_too_large"),  # 49 MP: over our limit, under Pillow's own
        (jpeg_bomb, "image_too_large"),
        (huge_blank_page, "image_too_large"),  # a 200-inch PDF page with no text layer
        (truncated_png, "corrupt"),
        (lambda: b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "corrupt"),
        (lambda: b"\xff\xd8\xff\xe0" + b"\x00" * 100, "corrupt"),
        (lambda: png_image(), "no_text_layer"),  # a blank page: nothing to read
    ],
    ids=["png_bomb", "png_49mp", "jpeg_bomb", "huge_blank_page", "truncated_png", "png_garbage", "jpeg_garbage",
         "blank_png"],
)
def test_hostile_images_get_a_typed_rejection_fast(parser: PdfParser, build, code: str) -> None:  # type: ignore[no-untyped-def]
    got, seconds = _rejection(parser, build())
    assert got == code
    assert seconds < 15  # refused from the header or a tiny decode, never by running into a limit


def _children_named(pid: int, name: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid=,ppid=,comm="], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line.split()[1:] == [str(pid), name]]


def test_an_ocr_timeout_is_typed_and_leaves_no_tesseract_behind() -> None:
    doc = next(generate_documents(1, seed=5, families=["en_us_classic"]))
    page = rasterise(doc.pdf, ScanStyle(dpi=300, noise=10.0, format="png"), seed=6)
    # The worker stops OCR 2 s before the parent's deadline: 0.5 s is far less than Tesseract needs for a page.
    limits = ParseLimits(ocr_timeout_seconds=2.5)
    with PdfParser(limits) as parser:
        code, seconds = _rejection(parser, page)
        assert code == "timeout"
        assert seconds < limits.ocr_timeout_seconds + 5
        worker = parser._proc
        assert worker is not None and worker.poll() is None  # a typed answer from a live worker
        assert _children_named(worker.pid, "tesseract") == []


def test_without_tesseract_scans_are_rejected_as_ocr_unavailable(monkeypatch: pytest.MonkeyPatch,
                                                                 scanned_page: bytes) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")  # the worker inherits PATH: no tesseract to be found
    with PdfParser(LIMITS) as parser:
        code, _ = _rejection(parser, scanned_page)
    assert code == "ocr_unavailable"


def test_with_ocr_off_images_are_not_documents_and_scans_have_no_text(scanned_page: bytes) -> None:
    doc = next(generate_documents(1, seed=5, families=["en_us_classic"]))
    image_only_pdf = rasterise(doc.pdf, ScanStyle(dpi=100, format="pdf"), seed=5)
    with PdfParser(ParseLimits(ocr=False)) as parser:
        assert _rejection(parser, scanned_page)[0] == "not_a_pdf"
        assert _rejection(parser, image_only_pdf)[0] == "no_text_layer"
