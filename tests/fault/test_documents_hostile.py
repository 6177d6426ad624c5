"""Hostile and real-world PDFs through the sandboxed parser: a typed result for every file, within limits."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from returns_triage.datasets.documents.hostile import (
    decompression_bomb,
    deeply_nested,
    garbage_after_header,
    huge_page_count,
    lying_page_count,
    not_a_pdf,
    simple_text_pdf,
    slow_text_pdf,
    truncated,
)
from returns_triage.errors import DocumentRejected
from returns_triage.models.documents.safe_parse import ParseLimits, PdfParser

REAL_PDFS = Path("/work/shared/data/real_pdfs")
TYPED = {"empty_file", "not_a_pdf", "encrypted", "corrupt", "too_large", "too_many_pages", "timeout",
         "memory_limit", "no_text_layer"}
LIMITS = ParseLimits()


@pytest.fixture(scope="module")
def parser() -> Iterator[PdfParser]:
    with PdfParser(LIMITS) as p:
        yield p


def _outcome(parser: PdfParser, data: bytes) -> tuple[str, float]:
    started = time.perf_counter()
    try:
        doc = parser.parse(data)
    except DocumentRejected as exc:
        assert exc.code in TYPED, exc.code
        return exc.code, time.perf_counter() - started
    assert doc.words and doc.page_sizes
    return "ok", time.perf_counter() - started


@pytest.mark.skipif(not REAL_PDFS.is_dir(), reason="shared real PDFs not mounted")
@pytest.mark.parametrize("path", sorted(REAL_PDFS.glob("*.pdf")), ids=lambda p: p.name)
def test_real_pdfs_extract_or_are_rejected_with_a_type(parser: PdfParser, path: Path) -> None:
    outcome, seconds = _outcome(parser, path.read_bytes())
    assert seconds < LIMITS.timeout_seconds + 5
    expected = {"empty.pdf": "empty_file", "password-example.pdf": "encrypted"}
    if path.name in expected:
        assert outcome == expected[path.name]


@pytest.mark.parametrize(
    ("build", "allowed"),
    [
        (lambda: b"", {"empty_file"}),
        (not_a_pdf, {"not_a_pdf"}),
        (truncated, {"corrupt", "ok"}),
        (garbage_after_header, {"corrupt"}),
        (deeply_nested, {"ok", "corrupt"}),
        (huge_page_count, {"too_many_pages"}),
        (lying_page_count, {"too_many_pages"}),
        (decompression_bomb, {"memory_limit"}),
        (lambda: b"%PDF-1.4\n" + b" " * (21 * 1024 * 1024), {"too_large"}),
    ],
    ids=["empty", "not_a_pdf", "truncated", "garbage", "deeply_nested", "100k_pages", "lying_count",
         "4GiB_flate_bomb", "too_large"],
)
def test_hostile_files_get_a_typed_outcome_within_limits(parser: PdfParser, build, allowed: set[str]) -> None:
    outcome, seconds = _outcome(parser, build())
    assert outcome in allowed
    assert seconds < LIMITS.timeout_seconds + 5


def test_parser_recovers_after_a_killed_worker(parser: PdfParser) -> None:
    with pytest.raises(DocumentRejected) as info:
        parser.parse(decompression_bomb(2 << 30))
    assert info.value.code == "memory_limit"
    assert parser.parse(simple_text_pdf()).words[0].text == "Invoice"


def test_a_bomb_never_takes_the_worker_past_the_memory_limit() -> None:
    # In a process of its own: RUSAGE_CHILDREN then covers only the parser's workers, not every other child
    # this test session started (servers, pip, training).
    code = (
        "import resource\n"
        "from returns_triage.datasets.documents.hostile import decompression_bomb\n"
        "from returns_triage.errors import DocumentRejected\n"
        "from returns_triage.models.documents.safe_parse import PdfParser\n"
        "p = PdfParser()\n"
        "try:\n"
        "    p.parse(decompression_bomb(2 << 30))\n"
        "except DocumentRejected as e:\n"
        "    print(e.code)\n"
        "p.close()\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    code_line, peak = out.stdout.split()[-2:]
    assert code_line == "memory_limit"
    assert int(peak) <= LIMITS.memory_bytes  # ru_maxrss is in KiB on Linux


def test_wall_clock_timeout_kills_the_worker() -> None:
    with PdfParser(ParseLimits(timeout_seconds=0.5)) as p:
        p.parse(simple_text_pdf())  # warm the worker so the deadline measures parsing only
        started = time.perf_counter()
        with pytest.raises(DocumentRejected) as info:
            p.parse(slow_text_pdf())
        assert info.value.code == "timeout"
        assert time.perf_counter() - started < 3
        assert p.parse(simple_text_pdf()).words


def test_cpu_limit_stops_runaway_parsing() -> None:
    with PdfParser(ParseLimits(cpu_seconds=1, timeout_seconds=60)) as p:
        p.parse(simple_text_pdf())
        with pytest.raises(DocumentRejected) as info:
            p.parse(slow_text_pdf())
        assert info.value.code == "timeout" and "CPU" in info.value.message


def test_page_limit_is_configurable() -> None:
    from returns_triage.datasets.documents import generate_documents

    doc = next(d for d in generate_documents(60, seed=3) if d.pdf.count(b"/Type /Page\n") > 1
               or d.pdf.count(b"/Type /Page ") > 1)
    with PdfParser(ParseLimits(max_pages=1)) as p, pytest.raises(DocumentRejected) as info:
        p.parse(doc.pdf)
    assert info.value.code == "too_many_pages"


def test_no_text_layer_is_reported() -> None:
    from returns_triage.datasets.documents.hostile import _one_page, build_pdf

    blank = build_pdf(_one_page(b"0 0 m 100 100 l S"))
    with PdfParser() as p, pytest.raises(DocumentRejected) as info:
        p.parse(blank)
    assert info.value.code == "no_text_layer"
