"""Scanned copies of synthetic documents for the OCR path: rasterised at a scanner's resolution, turned a few
degrees, with sensor noise and specks, saved as PNG, JPEG or an image-only PDF — and the same ground truth.

Field boxes keep the coordinates of the original page; the extractor deskews before it reads, so values (not
boxes) are what a benchmark compares.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from returns_triage.datasets.documents import SyntheticDocument

__all__ = ["ScanStyle", "ScannedDocument", "SCAN_FORMATS", "rasterise", "sample_scan_style", "scanned_copies"]

SCAN_FORMATS: tuple[str, ...] = ("png", "jpeg", "pdf")


@dataclass(frozen=True, slots=True)
class ScanStyle:
    """How a page was scanned. ``format`` png / jpeg hold the first page only; pdf holds every page."""

    dpi: int = 200
    skew_degrees: float = 0.0  # counter-clockwise, as the page lay on the scanner
    noise: float = 0.0  # standard deviation of grey-level noise (0-255 scale)
    specks: float = 0.0  # share of pixels turned into dust specks
    jpeg_quality: int = 85
    format: str = "png"


@dataclass(frozen=True, slots=True)
class ScannedDocument:
    """A scan (``data`` in ``style.format``) of ``source``; ``truth_json`` is the source's ground truth."""

    data: bytes
    source: SyntheticDocument
    style: ScanStyle

    @property
    def family(self) -> str:
        return self.source.family

    @property
    def document_type(self) -> str:
        return self.source.document_type

    @property
    def filename(self) -> str:
        return f"{self.source.family}.{'jpg' if self.style.format == 'jpeg' else self.style.format}"

    def truth_json(self) -> dict[str, Any]:
        data = self.source.truth_json()
        data["scan"] = {"dpi": self.style.dpi, "skew_degrees": self.style.skew_degrees, "noise": self.style.noise,
                        "format": self.style.format}
        return data


def sample_scan_style(rng: random.Random) -> ScanStyle:
    """An office scanner or a phone app: 150-300 DPI, up to ±4°, light to moderate noise, PNG / JPEG / PDF."""
    return ScanStyle(
        dpi=rng.choice((150, 200, 200, 300)),
        skew_degrees=round(rng.uniform(-4.0, 4.0), 2) if rng.random() < 0.75 else 0.0,
        noise=round(rng.uniform(0.0, 14.0), 1),
        specks=round(rng.uniform(0.0, 0.0015), 5),
        jpeg_quality=rng.randint(70, 92),
        format=rng.choice(SCAN_FORMATS),
    )


def _scan_page(page_image: Any, style: ScanStyle, rng: np.random.Generator) -> Any:
    from PIL import Image

    im = page_image.convert("L")
    if style.skew_degrees:
        im = im.rotate(style.skew_degrees, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=255)
    pixels = np.asarray(im, dtype=np.float32)
    if style.noise:
        pixels = pixels + rng.normal(0.0, style.noise, pixels.shape).astype(np.float32)
    if style.specks:
        mask = rng.random(pixels.shape) < style.specks
        pixels[mask] = rng.uniform(0, 90, int(mask.sum()))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="L")


def rasterise(pdf: bytes, style: ScanStyle, *, seed: int = 0) -> bytes:
    """The scan of ``pdf`` in ``style``: PNG / JPEG bytes of the first page, or an image-only PDF of all pages."""
    import pypdfium2 as pdfium

    rng = np.random.default_rng(seed)
    doc = pdfium.PdfDocument(pdf)
    try:
        count = len(doc) if style.format == "pdf" else 1
        pages = []
        for index in range(count):
            page = doc[index]
            try:
                pages.append(_scan_page(page.render(scale=style.dpi / 72.0, grayscale=True).to_pil(), style, rng))
            finally:
                page.close()
    finally:
        doc.close()
    buf = io.BytesIO()
    if style.format == "png":
        pages[0].save(buf, "PNG", dpi=(style.dpi, style.dpi))
    elif style.format == "jpeg":
        pages[0].save(buf, "JPEG", quality=style.jpeg_quality, dpi=(style.dpi, style.dpi))
    elif style.format == "pdf":
        pages[0].save(buf, "PDF", save_all=True, append_images=pages[1:], resolution=float(style.dpi))
    else:
        raise ValueError(f"unknown scan format {style.format!r}")
    return buf.getvalue()


def _page_count(pdf: bytes) -> int:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf)
    try:
        return len(doc)
    finally:
        doc.close()


def scanned_copies(docs: Iterable[SyntheticDocument], *, seed: int = 0,
                   style: ScanStyle | None = None) -> Iterator[ScannedDocument]:
    """One scan per document, styles drawn from ``seed`` (or all in ``style``). A multi-page document always
    becomes a PDF, since an image holds one page and the ground truth covers them all."""
    rng = random.Random(seed)
    for i, doc in enumerate(docs):
        chosen = style or sample_scan_style(rng)
        if chosen.format != "pdf" and _page_count(doc.pdf) > 1:
            chosen = replace(chosen, format="pdf")
        yield ScannedDocument(rasterise(doc.pdf, chosen, seed=seed * 100_003 + i), doc, chosen)
