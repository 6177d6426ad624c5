"""Parse untrusted PDFs and scanned images in a resource-limited child process.

pdfminer (under pdfplumber) decompresses streams without a size cap and has super-linear fallbacks on broken
files, so a hostile upload must not run in the serving process. A :class:`PdfParser` keeps one worker process
(``python -m returns_triage.models.documents._parse_worker``) with an address-space limit (RLIMIT_AS), gives each
document a CPU budget (RLIMIT_CPU) and a wall-clock deadline, and replaces the worker whenever it is killed or
runs out of memory. Reusing the worker keeps the per-document cost close to pdfplumber's own.

Scans go through OCR in the same worker: a PNG or JPEG directly, a PDF when it turns out to have no text layer
(a second request with the OCR budget: ``ocr_cpu_seconds``, ``ocr_timeout_seconds``). Images are refused above
``max_pixels`` before they are decoded; Tesseract runs as the worker's child, so it shares its memory limit and
dies with it.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from returns_triage.errors import DocumentRejected
from returns_triage.models.documents.raster import JPEG_MAGIC, PNG_MAGIC

__all__ = ["ParseLimits", "ParsedDocument", "Word", "PdfParser", "parse_pdf_safely", "check_envelope"]

_LEN_BYTES = 8


@dataclass(frozen=True, slots=True)
class ParseLimits:
    max_bytes: int = 20 * 1024 * 1024
    max_pages: int = 50
    cpu_seconds: int = 20
    memory_bytes: int = 1024 * 1024 * 1024
    timeout_seconds: float = 30.0
    # The OCR route (PNG / JPEG uploads, PDFs without a text layer); see returns_triage.models.documents.ocr.
    ocr: bool = True
    ocr_languages: str = "eng+deu+fra+nld+spa"
    ocr_dpi: int = 200  # PDF pages are rendered at this resolution before OCR
    max_ocr_pages: int = 10
    max_pixels: int = 40_000_000  # per page image; a bigger image (or image bomb) is refused undecoded
    ocr_cpu_seconds: int = 60  # worker and Tesseract together, per document
    ocr_timeout_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    x0: float
    x1: float
    top: float
    bottom: float
    page: int
    size: float
    bold: bool
    confidence: float = 1.0  # OCR's confidence in the word's text; 1.0 for a PDF's text layer


@dataclass(frozen=True, slots=True)
class ParsedDocument:
    words: list[Word]
    page_sizes: list[tuple[float, float]]
    # For scans: {"pages", "skew_degrees", "languages", "mean_word_confidence"}; None for a text layer.
    ocr: dict[str, Any] | None = None

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> ParsedDocument:
        words = [Word(str(w[0]), float(w[1]), float(w[2]), float(w[3]), float(w[4]), int(w[5]), float(w[6]),
                      bool(w[7]), float(w[8]) if len(w) > 8 else 1.0) for w in raw["words"]]
        ocr = raw.get("ocr")
        return cls(words=words, page_sizes=[(float(p["width"]), float(p["height"])) for p in raw["pages"]],
                   ocr=dict(ocr) if isinstance(ocr, dict) else None)


def check_envelope(data: bytes, limits: ParseLimits) -> str:
    """The checks that need no parser: empty, size, magic bytes. Returns ``"pdf"`` or ``"image"`` (PNG, JPEG;
    only when OCR is on); raises :class:`DocumentRejected`."""
    if not data:
        raise DocumentRejected("the file is empty", code="empty_file")
    if len(data) > limits.max_bytes:
        raise DocumentRejected(f"the file has {len(data)} bytes, the limit is {limits.max_bytes}", code="too_large")
    # The PDF spec lets "%PDF-" start anywhere in the first 1024 bytes.
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if limits.ocr and (data.startswith(PNG_MAGIC) or data.startswith(JPEG_MAGIC)):
        return "image"
    raise DocumentRejected("the file is not a PDF (no %PDF- header)", code="not_a_pdf")


class PdfParser:
    """One reusable, resource-limited parse worker. Thread-safe (documents are parsed one at a time)."""

    def __init__(self, limits: ParseLimits | None = None) -> None:
        self.limits = limits or ParseLimits()
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> PdfParser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._stop()

    def parse(self, data: bytes) -> ParsedDocument:
        """Words and page sizes (read by OCR for images and PDFs without a text layer), or
        :class:`DocumentRejected` with a typed ``code``."""
        kind = check_envelope(data, self.limits)
        with self._lock:
            reply = self._request(data, "image" if kind == "image" else "pdf")
            if reply.get("needs_ocr"):
                reply = self._request(data, "scanned_pdf")
        if "error" in reply:
            err = reply["error"]
            raise DocumentRejected(str(err["message"]), code=str(err["code"]))
        return ParsedDocument.from_raw(reply["ok"])

    # -- worker management -------------------------------------------------------------------------------

    def _start(self) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items()
               if k in ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "HOME", "TMPDIR", "TESSDATA_PREFIX")}
        env["PYTHONHASHSEED"] = "0"
        proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, "-I", "-m", "returns_triage.models.documents._parse_worker",
             str(self.limits.memory_bytes)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        self._proc = proc
        ready = self._read_reply(proc, time.monotonic() + max(self.limits.timeout_seconds, 30.0))
        if ready is None or not ready.get("ready"):
            self._stop()
            raise RuntimeError("the PDF parse worker did not start")
        return proc

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            # The worker leads its own process group: Tesseract, its child, must not outlive it.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()

    def _request(self, data: bytes, mode: str) -> dict[str, Any]:
        proc = self._proc if self._proc is not None and self._proc.poll() is None else self._start()
        limits = self.limits
        ocr = mode != "pdf"
        cpu_seconds, wall_seconds = (limits.ocr_cpu_seconds, limits.ocr_timeout_seconds) if ocr else (
            limits.cpu_seconds, limits.timeout_seconds)
        header = json.dumps({
            "mode": mode, "cpu_seconds": cpu_seconds, "max_pages": limits.max_pages, "ocr": limits.ocr,
            # The worker stops OCR itself a little before the parent's deadline, so the answer is a typed one.
            "ocr_settings": {"languages": limits.ocr_languages, "dpi": limits.ocr_dpi,
                             "max_pages": limits.max_ocr_pages, "max_pixels": limits.max_pixels,
                             "wall_seconds": max(wall_seconds - 2.0, 0.5), "cpu_seconds": cpu_seconds},
        }).encode()
        deadline = time.monotonic() + wall_seconds
        assert proc.stdin is not None
        try:
            proc.stdin.write(len(header).to_bytes(_LEN_BYTES, "big") + header)
            proc.stdin.write(len(data).to_bytes(_LEN_BYTES, "big"))
            proc.stdin.write(data)
            proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return self._died(proc, cpu_seconds)
        reply = self._read_reply(proc, deadline)
        if reply is None:
            if time.monotonic() >= deadline:  # still running at the deadline: kill it
                self._stop()
                what = "OCR" if ocr else "parsing"
                return {"error": {"code": "timeout", "message": f"{what} took longer than {wall_seconds:g} s"}}
            return self._died(proc, cpu_seconds)  # end of output before the deadline: the worker died
        if reply.get("recycle"):
            self._stop()
        return reply

    def _died(self, proc: subprocess.Popen[bytes], cpu_seconds: int) -> dict[str, Any]:
        try:
            code = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        if code is None:
            self._stop()
            return {"error": {"code": "corrupt", "message": "the parse worker stopped answering"}}
        self._stop()
        if code == -signal.SIGXCPU:
            return {"error": {"code": "timeout", "message": f"parsing used more than {cpu_seconds} s CPU"}}
        # Allocation failures below Python (zlib, C extensions) end the process instead of raising MemoryError.
        return {"error": {"code": "memory_limit", "message": f"the parse worker died (exit {code}), "
                          f"most likely at the {self.limits.memory_bytes >> 20} MiB memory limit"}}

    def _read_reply(self, proc: subprocess.Popen[bytes], deadline: float) -> dict[str, Any] | None:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        buf = bytearray()
        need = _LEN_BYTES
        have_len = False
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(fd, max(need - len(buf), 1 << 16))
            if not chunk:
                return None
            buf.extend(chunk)
            if not have_len and len(buf) >= _LEN_BYTES:
                need = _LEN_BYTES + int.from_bytes(buf[:_LEN_BYTES], "big")
                have_len = True
            if have_len and len(buf) >= need:
                return dict(json.loads(bytes(buf[_LEN_BYTES:need])))


_DEFAULT: PdfParser | None = None
_DEFAULT_LOCK = threading.Lock()


def parse_pdf_safely(data: bytes, limits: ParseLimits | None = None) -> ParsedDocument:
    """Parse with a process-wide default worker (or a one-off worker when ``limits`` differ from the default)."""
    global _DEFAULT
    if limits is not None and limits != ParseLimits():
        with PdfParser(limits) as parser:
            return parser.parse(data)
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = PdfParser()
        parser = _DEFAULT
    return parser.parse(data)
