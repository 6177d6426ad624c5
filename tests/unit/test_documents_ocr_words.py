"""OCR output to positioned words, skew estimation and the word-confidence factor: pure functions, no Tesseract."""

from __future__ import annotations

import random

import pytest
from PIL import Image, ImageDraw

from returns_triage.models.documents.ocr import words_from_tsv
from returns_triage.models.documents.ocr_confidence import word_confidence_factor
from returns_triage.models.documents.raster import PageImage, deskew, estimate_skew, sniff_format

HEADER = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"


def _row(level: int, line: int, word: int, box: tuple[int, int, int, int], conf: float, text: str) -> str:
    left, top, width, height = box
    return f"{level}\t1\t1\t1\t{line}\t{word}\t{left}\t{top}\t{width}\t{height}\t{conf}\t{text}"


def test_tsv_words_share_their_line_box_and_carry_confidence_in_points() -> None:
    # 200 DPI: 1 px = 0.36 pt. "Total" (cap height) and "gross" (x-height + descender) on one printed line.
    tsv = "\n".join([
        HEADER,
        _row(4, 1, 0, (100, 500, 400, 40), -1, ""),
        _row(5, 1, 1, (100, 505, 90, 30), 96.5, "Total"),
        _row(5, 1, 2, (200, 512, 95, 30), 58.0, "gross"),
        _row(5, 1, 3, (320, 505, 120, 30), 91.0, "1.234,56"),
        _row(5, 1, 4, (460, 505, 10, 30), 95.0, " "),  # Tesseract emits blanks for rules and specks
        _row(5, 2, 1, (100, 600, 80, 30), -1, "junk"),  # conf -1: not a recognised word
    ])
    words = words_from_tsv(tsv, page=2, points_per_pixel=72 / 200)
    assert [w[0] for w in words] == ["Total", "gross", "1.234,56"]
    tops, bottoms, sizes = {w[3] for w in words}, {w[4] for w in words}, {w[6] for w in words}
    assert len(tops) == len(bottoms) == len(sizes) == 1  # one printed line, one box, one size
    size = sizes.pop()
    assert 10 <= size <= 20  # ~42 px em at 200 DPI -> ~15 pt
    assert bottoms.pop() - tops.pop() == pytest.approx(size, abs=0.05)
    assert words[0][1] == pytest.approx(36.0) and words[0][2] == pytest.approx(68.4)
    assert all(w[5] == 2 for w in words)
    assert [w[8] for w in words] == [0.965, 0.58, 0.91]


def test_tsv_text_is_normalised_to_what_documents_print() -> None:
    tsv = "\n".join([HEADER, _row(5, 1, 1, (10, 10, 50, 20), 90, "14’470.34"), _row(5, 1, 2, (70, 10, 50, 20), 90,
                                                                                  "ﬁle—no")])
    assert [w[0] for w in words_from_tsv(tsv, page=0, points_per_pixel=1.0)] == ["14'470.34", "file-no"]
    legal = "\n".join([HEADER, *(_row(5, 1, i, (10 + 60 * i, 10, 50, 20), 93, t)
                                 for i, t in enumerate(["Sp.", "z", "0.0.", "0.0."], start=1))])
    assert [w[0] for w in words_from_tsv(legal, page=0, points_per_pixel=1.0)] == ["Sp.", "z", "o.o.", "0.0."]


def _text_like_page(seed: int = 3) -> Image.Image:
    """Bars of varying length on a regular line pitch: the structure a page of print has."""
    rng = random.Random(seed)
    im = Image.new("L", (1200, 1600), 255)
    draw = ImageDraw.Draw(im)
    for y in range(150, 1450, 36):
        x = 120
        while x < 1000:
            w = rng.randint(30, 140)
            draw.rectangle([x, y, x + w, y + 14], fill=20)
            x += w + rng.randint(12, 40)
    return im


@pytest.mark.parametrize("angle", [0.0, 1.5, -2.8, 4.0])
def test_skew_is_estimated_and_removed(angle: float) -> None:
    page = _text_like_page().rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=255)
    assert estimate_skew(page) == pytest.approx(angle, abs=0.15)
    straight = deskew(PageImage(page, 432.0, 576.0, 200.0))
    assert straight.skew_degrees == pytest.approx(angle, abs=0.15)
    assert straight.image.size == page.size
    assert abs(estimate_skew(straight.image)) <= 0.15


def test_word_confidence_factor_is_monotone_and_leaves_clean_print_alone() -> None:
    grid = [i / 100 for i in range(101)]
    factors = [word_confidence_factor(c) for c in grid]
    assert all(a <= b for a, b in zip(factors, factors[1:], strict=False))
    assert word_confidence_factor(1.0) == 1.0 and word_confidence_factor(0.95) == 1.0
    assert word_confidence_factor(0.6) < 0.75 and word_confidence_factor(0.2) < 0.5


def test_file_type_comes_from_the_bytes() -> None:
    assert sniff_format(b"%PDF-1.7\n...") == "pdf"
    assert sniff_format(b"\x89PNG\r\n\x1a\n....") == "png"
    assert sniff_format(b"\xff\xd8\xff\xe0....") == "jpeg"
    assert sniff_format(b"GIF89a....") is None
