"""Page images for OCR: sniffing the file type, decoding PNG/JPEG under a pixel budget, rasterising PDF pages
with pypdfium2, and straightening skewed scans.

Runs on untrusted bytes inside the parse worker (see :mod:`safe_parse`): every decoder is guarded so a broken
or hostile image ends in a :class:`~returns_triage.models.documents.pdf_words.ParseFailure`, and the pixel count
is checked from the header *before* anything is decoded (an image bomb declares a huge size in a tiny file).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from returns_triage.models.documents.pdf_words import ParseFailure

__all__ = ["PNG_MAGIC", "JPEG_MAGIC", "PageImage", "sniff_format", "image_pages", "pdf_pages", "deskew",
           "estimate_skew"]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
# A scan without resolution metadata is taken to be a page about as wide as A4 / Letter (8.3 in), so distances
# in points (label gaps, line spacing) stay comparable with text PDFs.
_ASSUMED_PAGE_WIDTH_IN = 8.27
_MAX_OCR_SIDE_PX = 3600  # ~300 DPI on A4; larger images are scaled down: more pixels only slow Tesseract


@dataclass(slots=True)
class PageImage:
    """One greyscale page ready for OCR and the scale that maps its pixels back to PDF points."""

    image: Any  # PIL.Image.Image, mode "L"
    width_pt: float
    height_pt: float
    dpi: float
    skew_degrees: float = 0.0

    @property
    def points_per_pixel(self) -> float:
        return 72.0 / self.dpi


def sniff_format(data: bytes) -> str | None:
    """``"pdf"``, ``"png"``, ``"jpeg"`` or ``None`` from the leading bytes (never from a file name)."""
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if data.startswith(PNG_MAGIC):
        return "png"
    if data.startswith(JPEG_MAGIC):
        return "jpeg"
    return None


def _too_large(pixels: int, max_pixels: int) -> ParseFailure:
    return ParseFailure("image_too_large", f"the image has {pixels:,} pixels, the limit is {max_pixels:,}")


def _open_image(data: bytes, max_pixels: int) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Pillow's own bomb guard warns, then raises, at fixed sizes; ours below is the one that decides.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            width, height = im.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ParseFailure("image_too_large", f"the image declares more pixels than the limit ({max_pixels:,})"
                           ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ParseFailure("corrupt", f"the image cannot be read ({type(exc).__name__})") from None
    if width <= 0 or height <= 0:
        raise ParseFailure("corrupt", "the image has no pixels")
    if width * height > max_pixels:
        raise _too_large(width * height, max_pixels)
    if getattr(im, "n_frames", 1) > 1:
        raise ParseFailure("corrupt", "multi-frame images are not supported; send one page per file or a PDF")
    return im


def _resolution(im: Any) -> float | None:
    dpi = im.info.get("dpi")
    if isinstance(dpi, tuple) and dpi and isinstance(dpi[0], int | float) and 70 <= float(dpi[0]) <= 1200:
        return float(dpi[0])
    return None


def image_pages(data: bytes, *, max_pixels: int) -> list[PageImage]:
    """A PNG or JPEG as one greyscale page. Raises ``ParseFailure`` (``corrupt``, ``image_too_large``)."""
    from PIL import Image, ImageOps

    im = _open_image(data, max_pixels)
    try:
        im.load()
        stated_dpi = _resolution(im)
        # Phone photos store "which way is up" as an EXIF tag rather than in the pixels.
        im = ImageOps.exif_transpose(im) or im
        if im.mode in ("LA", "RGBA", "PA") or "transparency" in im.info:
            # Transparent pixels are paper, not ink: composite onto white before dropping alpha.
            rgba = im.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            gray = Image.alpha_composite(white, rgba).convert("L")
        else:
            gray = im.convert("L")
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ParseFailure("corrupt", f"the image cannot be decoded ({exc})") from None
    dpi = stated_dpi or gray.size[0] / _ASSUMED_PAGE_WIDTH_IN
    longest = max(gray.size)
    if longest > _MAX_OCR_SIDE_PX:
        factor = _MAX_OCR_SIDE_PX / longest
        gray = gray.resize((max(1, round(gray.size[0] * factor)), max(1, round(gray.size[1] * factor))),
                           Image.Resampling.LANCZOS)
        dpi *= factor
    return [PageImage(gray, gray.size[0] * 72.0 / dpi, gray.size[1] * 72.0 / dpi, dpi)]


def pdf_pages(data: bytes, *, dpi: int, max_pages: int, max_pixels: int) -> Iterator[PageImage]:
    """Each page of a PDF rendered to greyscale at ``dpi`` (lower for pages too big for ``max_pixels``).

    Raises ``ParseFailure`` (``corrupt``, ``encrypted``, ``too_many_pages``, ``image_too_large``).
    """
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        message = str(exc).lower()
        if "password" in message:
            raise ParseFailure("encrypted", "the PDF is encrypted and needs a password") from None
        raise ParseFailure("corrupt", f"the PDF cannot be rendered ({exc})") from None
    try:
        n_pages = len(pdf)
        if n_pages > max_pages:
            raise ParseFailure("too_many_pages", f"the scanned PDF has {n_pages} pages, the OCR limit is {max_pages}")
        if n_pages == 0:
            raise ParseFailure("corrupt", "the PDF has no pages")
        for index in range(n_pages):
            page = pdf[index]
            try:
                width_pt, height_pt = (float(v) for v in page.get_size())
                if width_pt <= 0 or height_pt <= 0:
                    raise ParseFailure("corrupt", f"page {index + 1} has no area")
                page_dpi = float(dpi)
                pixels = width_pt * height_pt * (page_dpi / 72.0) ** 2
                if pixels > max_pixels:
                    # An oversized page (a poster, or a hostile MediaBox) is read at a lower resolution, down to
                    # what still holds text; beyond that it is refused rather than rendered.
                    page_dpi = 72.0 * (max_pixels / (width_pt * height_pt)) ** 0.5
                    if page_dpi < 100:
                        raise _too_large(int(pixels), max_pixels)
                bitmap = page.render(scale=page_dpi / 72.0, grayscale=True)
                image = bitmap.to_pil().convert("L")
            finally:
                page.close()
            yield PageImage(image, width_pt, height_pt, page_dpi)
    except pdfium.PdfiumError as exc:
        raise ParseFailure("corrupt", f"a PDF page cannot be rendered ({exc})") from None
    finally:
        pdf.close()


def _ink_points(gray: np.ndarray, max_points: int = 60_000) -> np.ndarray:
    """Coordinates (x, y) of dark pixels, thinned to at most ``max_points`` (the skew estimate needs few)."""
    threshold = min(128.0, float(gray.mean()) - 2 * float(gray.std()) + 60.0)
    ys, xs = np.nonzero(gray < threshold)
    if xs.size > max_points:
        step = xs.size // max_points + 1
        xs, ys = xs[::step], ys[::step]
    return np.stack([xs, ys]).astype(np.float64)


def _profile_score(points: np.ndarray, angle_deg: float, bins: int) -> float:
    """Sharpness of the horizontal projection after rotating by ``angle_deg``: text lines give tall, narrow peaks
    only when they are level."""
    a = np.deg2rad(angle_deg)
    y = points[1] * np.cos(a) - points[0] * np.sin(a)
    hist, _ = np.histogram(y, bins=bins)
    return float(np.sum(hist.astype(np.float64) ** 2))


def estimate_skew(image: Any, max_degrees: float = 6.0) -> float:
    """The rotation (degrees, counter-clockwise positive as in PIL) that levels the text lines, or 0.0."""
    small = image
    if max(image.size) > 1400:  # the estimate needs only line structure: work on a smaller copy
        factor = 1400 / max(image.size)
        small = image.resize((max(1, int(image.size[0] * factor)), max(1, int(image.size[1] * factor))))
    gray = np.asarray(small, dtype=np.float32)
    points = _ink_points(gray)
    if points.shape[1] < 200:
        return 0.0
    bins = max(64, gray.shape[0] // 2)
    coarse = np.arange(-max_degrees, max_degrees + 1e-9, 0.5)
    best = max(coarse, key=lambda d: _profile_score(points, float(d), bins))
    fine = np.arange(best - 0.5, best + 0.5 + 1e-9, 0.05)
    level_at = float(max(fine, key=lambda d: _profile_score(points, float(d), bins)))
    # Rotating the ink by ``level_at`` in image coordinates (y down) levels it: the page was turned by the
    # opposite angle in PIL's counter-clockwise convention. Tiny estimates are noise, not skew.
    return 0.0 if abs(level_at) < 0.1 else round(-level_at, 2)


def deskew(page: PageImage, max_degrees: float = 6.0) -> PageImage:
    """The page rotated so its text lines are level (same size, white fill); records the angle it removed."""
    from PIL import Image

    angle = estimate_skew(page.image, max_degrees)
    if angle == 0.0:
        return page
    rotated = page.image.rotate(-angle, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=255)
    return PageImage(rotated, page.width_pt, page.height_pt, page.dpi, angle)
