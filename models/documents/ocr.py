"""OCR of scanned pages with the ``tesseract`` binary (Debian's ``tesseract-ocr`` and its language packs).

Produces the same positioned words as :mod:`pdf_words` — ``[text, x0, x1, top, bottom, page, size, bold]`` in
PDF points — plus a ninth column, the word's OCR confidence in [0, 1], which lowers the confidence of fields
read from it. Runs inside the parse worker (see :mod:`safe_parse`): Tesseract is a child of the worker, under
the worker's memory limit, with its own CPU limit and a wall-clock deadline.
"""

from __future__ import annotations

import math
import os
import resource
import shutil
import statistics
import subprocess
import time
import unicodedata
from collections.abc import Iterable
from typing import Any

from returns_triage.models.documents.pdf_words import ParseFailure
from returns_triage.models.documents.raster import PageImage, deskew, image_pages, pdf_pages

__all__ = ["DEFAULT_LANGUAGES", "tesseract_path", "available_languages", "words_from_tsv", "run_tesseract",
           "ocr_pages", "words_from_scan"]

DEFAULT_LANGUAGES = "eng+deu+fra+nld+spa"
# Page segmentation: fully automatic layout analysis (columns, blocks) suits invoices and forms.
_PSM = 3
_TSV_COLUMNS = 12
# Parts of the font size (em) that a word's ink spans, for Helvetica-like faces: from the baseline up to the
# cap / ascender height or the x-height, and down to the descender.
_CAP, _XHEIGHT, _DESCENDER = 0.72, 0.52, 0.21
_TALL = frozenset("bdfhklt/\\()[]{}|!?%&@#$€£¥'\"0123456789")
_DESCENDING = frozenset("gjpqyQ()[]{}|;,")
# Typographic variants Tesseract emits for characters documents print plainly.
_PLAIN = str.maketrans({"‘": "'", "’": "'", "´": "'", "`": "'", "“": '"', "”": '"', "—": "-", "–": "-",
                        "‐": "-", "‑": "-", "−": "-"})


def tesseract_path() -> str | None:
    """The ``tesseract`` executable on ``PATH``, or ``None`` when it is not installed."""
    return shutil.which("tesseract")


_LANG_CACHE: dict[str, frozenset[str]] = {}


def available_languages(binary: str) -> frozenset[str]:
    """The installed language packs (``tesseract --list-langs``), cached per binary."""
    if binary not in _LANG_CACHE:
        try:
            out = subprocess.run([binary, "--list-langs"], capture_output=True, timeout=30, check=False)  # noqa: S603
            lines = out.stdout.decode("utf-8", "replace").splitlines()
            _LANG_CACHE[binary] = frozenset(line.strip() for line in lines[1:] if line.strip())
        except (OSError, subprocess.TimeoutExpired):
            _LANG_CACHE[binary] = frozenset()
    return _LANG_CACHE[binary]


def _clean(text: str) -> str:
    return unicodedata.normalize("NFKC", text).translate(_PLAIN).strip()


# Misreadings that a word's neighbour settles: the Polish legal form "Sp. z o.o." comes out as "z 0.0.", and no
# number is printed as "0.0." after a lone "z".
_AFTER_Z = {"0.0.": "o.o.", "0.o.": "o.o.", "o.0.": "o.o.", "0.0": "o.o"}


def _in_context(texts: list[str]) -> list[str]:
    return [_AFTER_Z.get(t, t) if i and texts[i - 1] == "z" else t for i, t in enumerate(texts)]


def _size_from_height(text: str, height: float) -> float:
    """Font size that makes a word's ink ``height`` tall, from which of its characters rise and descend."""
    top = _CAP if any(c.isupper() or c in _TALL for c in text) else _XHEIGHT
    bottom = _DESCENDER if any(c in _DESCENDING for c in text) else 0.0
    return height / (top + bottom)


def words_from_tsv(tsv: str, *, page: int, points_per_pixel: float) -> list[list[Any]]:
    """Words from Tesseract's TSV output, in PDF points, grouped by Tesseract's text lines.

    Every word of a line gets the line's font size estimate and a box from the line's baseline, the way a text
    PDF's words carry their font's ascent and descent: words on one printed line share ``top`` and ``bottom``.
    """
    lines: dict[tuple[str, str, str], list[tuple[str, float, float, float, float, float]]] = {}
    for row in tsv.splitlines()[1:]:
        cols = row.split("\t")
        if len(cols) < _TSV_COLUMNS or cols[0] != "5":
            continue
        text = _clean(cols[11])
        try:
            left, top, width, height, conf = (float(cols[i]) for i in (6, 7, 8, 9, 10))
        except ValueError:
            continue
        if not text or conf < 0 or width <= 0 or height <= 0:
            continue
        lines.setdefault((cols[2], cols[3], cols[4]), []).append((text, left, top, left + width, top + height,
                                                                   conf / 100.0))
    words: list[list[Any]] = []
    for members in lines.values():
        size_px = statistics.median(_size_from_height(t, b - tp) for t, _, tp, _, b, _ in members)
        plain = [b for t, _, _, _, b, _ in members if not any(c in _DESCENDING for c in t)]
        baseline = statistics.median(plain) if plain else max(b for *_, b, _ in members) - _DESCENDER * size_px
        bottom_px = baseline + _DESCENDER * size_px
        top_px = bottom_px - size_px
        members.sort(key=lambda m: m[1])
        texts = _in_context([m[0] for m in members])
        for text, (_, x0, _, x1, _, conf) in zip(texts, members, strict=True):
            words.append([
                text,
                round(x0 * points_per_pixel, 2),
                round(x1 * points_per_pixel, 2),
                round(top_px * points_per_pixel, 2),
                round(bottom_px * points_per_pixel, 2),
                page,
                round(size_px * points_per_pixel, 2),
                0,
                round(min(max(conf, 0.0), 1.0), 3),
            ])
    return words


def _cpu_limit(seconds: int) -> Any:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds))

    return apply


def run_tesseract(image: Any, *, binary: str, languages: str, dpi: float, timeout: float, cpu_seconds: int) -> str:
    """TSV for one greyscale page (a PIL image). Raises ``ParseFailure`` (``timeout``, ``ocr_failed``)."""
    width, height = image.size
    # Uncompressed PGM on stdin: no temporary files, no PNG encoding cost.
    pgm = b"P5\n%d %d\n255\n" % (width, height) + image.tobytes()
    cmd = [binary, "stdin", "stdout", "-l", languages, "--psm", str(_PSM), "--dpi", str(round(dpi)), "tsv"]
    # One thread: the machine is shared, and the worker's budget is per document, not per core.
    env = {"OMP_THREAD_LIMIT": "1", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    if os.environ.get("TESSDATA_PREFIX"):
        env["TESSDATA_PREFIX"] = os.environ["TESSDATA_PREFIX"]
    try:
        done = subprocess.run(  # noqa: S603 - fixed binary and arguments; the image goes through stdin
            cmd, input=pgm, capture_output=True, timeout=max(timeout, 0.1), check=False, env=env,
            preexec_fn=_cpu_limit(max(1, cpu_seconds)),  # noqa: PLW1509 - the worker is single-threaded
        )
    except subprocess.TimeoutExpired:
        raise ParseFailure("timeout", "OCR took longer than the time allowed for a document") from None
    if done.returncode < 0:
        raise ParseFailure("timeout", "OCR used more CPU time than allowed for a document")
    if done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        raise ParseFailure("ocr_failed", f"OCR failed on a page ({detail[0][:200]})")
    return done.stdout.decode("utf-8", "replace")


def ocr_pages(pages: Iterable[PageImage], *, binary: str, languages: str, deadline: float,
              cpu_deadline: float) -> dict[str, Any]:
    """Deskew and OCR each page; ``deadline`` is a ``time.monotonic()`` value, ``cpu_deadline`` one of CPU time
    used by this process plus its children. Returns the :func:`words_from_pdf` shape plus an ``ocr`` summary."""
    out_pages: list[dict[str, float]] = []
    words: list[list[Any]] = []
    skews: list[float] = []
    for index, raw in enumerate(pages):
        page = deskew(raw)
        skews.append(page.skew_degrees)
        remaining = deadline - time.monotonic()
        cpu_left = cpu_deadline - _cpu_used()
        if remaining <= 0 or cpu_left <= 0:
            raise ParseFailure("timeout", "OCR took longer than the time allowed for a document")
        tsv = run_tesseract(page.image, binary=binary, languages=languages, dpi=page.dpi, timeout=remaining,
                            cpu_seconds=math.ceil(cpu_left))
        out_pages.append({"width": round(page.width_pt, 2), "height": round(page.height_pt, 2)})
        words.extend(words_from_tsv(tsv, page=index, points_per_pixel=page.points_per_pixel))
        del page, raw
    if not out_pages:
        raise ParseFailure("corrupt", "the document has no pages")
    if not words:
        raise ParseFailure("no_text_layer", "no text was found on the scanned pages")
    confidences = [w[8] for w in words]
    return {"pages": out_pages, "words": words,
            "ocr": {"pages": len(out_pages), "skew_degrees": skews, "languages": languages,
                    "mean_word_confidence": round(sum(confidences) / len(confidences), 4)}}


def _cpu_used() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def words_from_scan(data: bytes, *, kind: str, languages: str = DEFAULT_LANGUAGES, dpi: int = 200,
                    max_pages: int = 10, max_pixels: int = 40_000_000, wall_seconds: float = 60.0,
                    cpu_seconds: float = 60.0) -> dict[str, Any]:
    """Words of a scanned PDF (``kind="pdf"``) or a PNG / JPEG image (``kind="image"``).

    Raises ``ParseFailure`` with ``ocr_unavailable``, ``corrupt``, ``encrypted``, ``image_too_large``,
    ``too_many_pages``, ``timeout``, ``ocr_failed`` or ``no_text_layer``.
    """
    deadline = time.monotonic() + wall_seconds
    cpu_deadline = _cpu_used() + cpu_seconds
    binary = tesseract_path()
    if binary is None:
        raise ParseFailure("ocr_unavailable", "OCR is not installed (the tesseract-ocr package)")
    installed = available_languages(binary)
    wanted = [lang for lang in languages.split("+") if lang in installed]
    if not wanted:
        raise ParseFailure("ocr_unavailable", f"none of the OCR languages {languages} is installed")
    pages: Iterable[PageImage]
    if kind == "pdf":
        pages = pdf_pages(data, dpi=dpi, max_pages=max_pages, max_pixels=max_pixels)
    else:
        pages = image_pages(data, max_pixels=max_pixels)
    return ocr_pages(pages, binary=binary, languages="+".join(wanted), deadline=deadline, cpu_deadline=cpu_deadline)
