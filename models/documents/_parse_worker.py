"""Child-process side of :mod:`safe_parse`: ``python -m returns_triage.models.documents._parse_worker AS_BYTES``.

Sets its own address-space limit before reading any document, then serves requests on stdin/stdout:
request = 8-byte big-endian length + JSON header, 8-byte length + document bytes; reply = 8-byte length + JSON.
Each request gets a fresh CPU budget (the soft RLIMIT_CPU is moved to "used so far + budget"). Replies are JSON,
so the parent never unpickles anything a hostile document could influence.

The header's ``mode`` says what the bytes are: ``pdf`` (text layer; a PDF without one is answered with
``{"needs_ocr": true}`` when OCR is on, so the parent can grant the OCR budget), ``scanned_pdf`` or ``image``
(OCR, see :mod:`returns_triage.models.documents.ocr`).
"""

from __future__ import annotations

import gc
import json
import math
import resource
import struct
import sys
from typing import Any, BinaryIO

_LEN = struct.Struct(">Q")


def _read_exact(stream: BinaryIO, n: int) -> bytes | None:
    chunks = []
    while n:
        chunk = stream.read(n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _read_frame(stream: BinaryIO) -> bytes | None:
    head = _read_exact(stream, _LEN.size)
    if head is None:
        return None
    return _read_exact(stream, _LEN.unpack(head)[0])


def _write_frame(stream: BinaryIO, payload: dict[str, Any]) -> None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    stream.write(_LEN.pack(len(body)) + body)
    stream.flush()


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _handle(header: dict[str, Any], data: bytes) -> dict[str, Any]:
    from returns_triage.models.documents.pdf_words import ParseFailure, words_from_pdf

    mode = header.get("mode", "pdf")
    if mode == "pdf":
        try:
            return {"ok": words_from_pdf(data, max_pages=int(header["max_pages"]))}
        except ParseFailure as exc:
            if exc.code == "no_text_layer" and header.get("ocr"):
                return {"needs_ocr": True}
            raise
    from returns_triage.models.documents.ocr import words_from_scan  # numpy, Pillow, pdfium: only for scans

    settings = header["ocr_settings"]
    return {"ok": words_from_scan(
        data, kind="pdf" if mode == "scanned_pdf" else "image", languages=str(settings["languages"]),
        dpi=int(settings["dpi"]), max_pages=int(settings["max_pages"]), max_pixels=int(settings["max_pixels"]),
        wall_seconds=float(settings["wall_seconds"]), cpu_seconds=float(settings["cpu_seconds"]))}


def main(argv: list[str]) -> int:
    address_space = int(argv[0])
    if address_space > 0:
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    from returns_triage.models.documents.pdf_words import ParseFailure

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    _, hard_cpu = resource.getrlimit(resource.RLIMIT_CPU)
    _write_frame(stdout, {"ready": True})
    while True:
        header_raw = _read_frame(stdin)
        data = _read_frame(stdin) if header_raw is not None else None
        if header_raw is None or data is None:
            return 0
        header = json.loads(header_raw)
        soft = math.ceil(_cpu_used()) + int(header["cpu_seconds"])
        if hard_cpu != resource.RLIM_INFINITY:
            soft = min(soft, hard_cpu)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard_cpu))
        try:
            reply: dict[str, Any] = _handle(header, data)
        except ParseFailure as exc:
            reply = {"error": {"code": exc.code, "message": exc.message}}
        except MemoryError:
            data = b""
            gc.collect()
            reply = {"error": {"code": "memory_limit", "message": "parsing needed more memory than allowed"},
                     "recycle": True}
        except RecursionError:
            reply = {"error": {"code": "corrupt", "message": "the document nests objects too deeply"},
                     "recycle": True}
        except Exception as exc:  # noqa: BLE001 - last line of defence: a typed answer, then a fresh worker
            reply = {"error": {"code": "corrupt", "message": f"the document cannot be read ({type(exc).__name__})"},
                     "recycle": True}
        del data
        gc.collect()
        _write_frame(stdout, reply)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
