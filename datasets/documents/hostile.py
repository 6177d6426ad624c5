"""Hostile PDFs and images for fault tests and benchmarks: each must end in a typed rejection (or a harmless
extraction), never a crash and never beyond the parser's limits. Built by hand so the structure is exactly what
we claim."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

__all__ = ["build_pdf", "truncated", "deeply_nested", "huge_page_count", "lying_page_count",
           "decompression_bomb", "flate_bomb", "slow_text_pdf", "not_a_pdf", "garbage_after_header", "HOSTILE_BUILDERS",
           "png_image", "png_bomb", "truncated_png", "jpeg_bomb", "huge_blank_page"]


def build_pdf(objects: list[bytes]) -> bytes:
    """Serialise ``objects`` (bodies of objects 1..n; object 1 must be the catalog) with a valid xref table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def _stream(data: bytes, *, flate: bool = False) -> bytes:
    extra = b" /Filter /FlateDecode" if flate else b""
    return b"<< /Length %d%s >>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def _one_page(content: bytes, *, flate: bool = False) -> list[bytes]:
    return [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        _stream(content, flate=flate),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]


def simple_text_pdf(text: str = "Invoice No. INV-1001 Total 12.50") -> bytes:
    return build_pdf(_one_page(b"BT /F1 12 Tf 72 700 Td (" + text.encode("latin-1") + b") Tj ET"))


def truncated(fraction: float = 0.6) -> bytes:
    data = simple_text_pdf()
    return data[: int(len(data) * fraction)]


def deeply_nested(depth: int = 200_000) -> bytes:
    """An array nested ``depth`` levels deep inside the page's resources."""
    nested = b"[" * depth + b"]" * depth
    objs = _one_page(b"BT /F1 12 Tf 72 700 Td (nested) Tj ET")
    objs[2] = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> /X " + nested + b" >> >>")
    return build_pdf(objs)


def huge_page_count(pages: int = 100_000) -> bytes:
    """``pages`` page objects sharing one content stream, honestly counted."""
    kids = b" ".join(b"%d 0 R" % (5 + i) for i in range(pages))
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages,
        _stream(b"BT /F1 12 Tf 72 700 Td (page) Tj ET"),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    page = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R "
            b"/Resources << /Font << /F1 4 0 R >> >> >>")
    objs.extend(page for _ in range(pages))
    return build_pdf(objs)


def lying_page_count(pages: int = 5_000) -> bytes:
    """Like :func:`huge_page_count`, but ``/Count`` claims a single page."""
    data = huge_page_count(pages)
    return data.replace(b"/Count %d" % pages, b"/Count 1" + b" " * (len(str(pages)) - 1), 1)


def flate_bomb(inflated_bytes: int) -> bytes:
    """A valid zlib stream of ``inflated_bytes`` spaces (rounded to 4 MiB), built in milliseconds: after a full
    flush the compressor starts from scratch, so every further 4 MiB unit compresses to the same bytes."""
    chunk = b" " * (1 << 22)
    units = max(2, inflated_bytes // len(chunk))
    comp = zlib.compressobj(9)
    head = comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    unit = comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    if comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH) != unit:
        raise RuntimeError("zlib output is not periodic after a full flush")
    final_block = comp.flush(zlib.Z_FINISH)[:-4]  # drop the checksum of 3 units; append the real one
    adler = 1
    unit_adler = zlib.adler32(chunk)
    for _ in range(units):  # adler32 is cheap; combining keeps the stream valid end to end
        adler = zlib.adler32(chunk, adler) if units <= 8 else _adler_combine(adler, unit_adler, len(chunk))
    return head + unit * (units - 1) + final_block + adler.to_bytes(4, "big")


def _adler_combine(adler1: int, adler2: int, len2: int) -> int:
    base = 65521
    rem = len2 % base
    sum1 = adler1 & 0xFFFF
    sum2 = (rem * sum1) % base
    sum1 += (adler2 & 0xFFFF) + base - 1
    sum2 += ((adler1 >> 16) & 0xFFFF) + ((adler2 >> 16) & 0xFFFF) + base - rem
    if sum1 >= base:
        sum1 -= base
    if sum1 >= base:
        sum1 -= base
    if sum2 >= (base << 1):
        sum2 -= base << 1
    if sum2 >= base:
        sum2 -= base
    return sum1 | (sum2 << 16)


def decompression_bomb(inflated_bytes: int = 4 << 30) -> bytes:
    """A page whose Flate content stream inflates to ``inflated_bytes`` of spaces (4 GiB by default, ~4 MB)."""
    return build_pdf(_one_page(flate_bomb(inflated_bytes), flate=True))


def slow_text_pdf(operations: int = 400_000) -> bytes:
    """One page drawing ``operations`` tiny strings: legal, small when compressed, slow to lay out."""
    body = b"BT /F1 1 Tf " + b"(x) Tj 0.01 0 Td " * operations + b"ET"
    return build_pdf(_one_page(zlib.compress(body, 9), flate=True))


def not_a_pdf() -> bytes:
    """Neither a PDF nor an image we read: a ZIP archive's signature followed by noise."""
    return b"PK\x03\x04" + bytes(range(256)) * 8


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_image(width: int = 64, height: int = 32, rows: bytes | None = None) -> bytes:
    """A valid 8-bit greyscale PNG (white unless ``rows`` — filter byte + pixels per row — is given)."""
    raw = rows if rows is not None else (b"\x00" + b"\xff" * width) * height
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(raw, 9))
            + _png_chunk(b"IEND", b""))


def png_bomb(side: int = 100_000) -> bytes:
    """A PNG that declares ``side`` x ``side`` pixels (10 gigapixels by default) in a few hundred bytes."""
    # One compressed run of zero rows is enough to look plausible; the size check must fire before decoding.
    rows = zlib.compress(b"\x00" * (side + 1) * 4, 9)
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", rows)
            + _png_chunk(b"IEND", b""))


def truncated_png(fraction: float = 0.5) -> bytes:
    """A real PNG (a grey ramp, poorly compressible) cut off part-way through its pixel data."""
    width, height = 300, 200
    rows = b"".join(b"\x00" + bytes((x * 7 + y * 13) % 256 for x in range(width)) for y in range(height))
    data = png_image(width, height, rows)
    return data[: int(len(data) * fraction)]


def jpeg_bomb(side: int = 65_000) -> bytes:
    """A JPEG whose frame header declares ``side`` x ``side`` pixels, with no image data behind it."""
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, side, side, 1) + b"\x01\x11\x00"
    quant = b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + bytes([1] * 64)
    return b"\xff\xd8" + quant + sof + b"\xff\xd9"


def huge_blank_page(side_pt: int = 14_400) -> bytes:
    """A PDF page of 200 x 200 inches with no text layer: rendering it for OCR would need gigapixels."""
    objs = _one_page(b"0 0 m 10 10 l S")
    objs[2] = objs[2].replace(b"[0 0 612 792]", b"[0 0 %d %d]" % (side_pt, side_pt))
    return build_pdf(objs)


def garbage_after_header() -> bytes:
    return b"%PDF-1.4\n" + bytes((i * 37 + 11) % 256 for i in range(20_000))


HOSTILE_BUILDERS: dict[str, Callable[[], bytes]] = {
    "truncated": truncated,
    "deeply_nested": deeply_nested,
    "huge_page_count": huge_page_count,
    "lying_page_count": lying_page_count,
    "decompression_bomb": decompression_bomb,
    "slow_text": lambda: slow_text_pdf(30_000),
    "not_a_pdf": not_a_pdf,
    "garbage_after_header": garbage_after_header,
    "empty": lambda: b"",
    "too_large": lambda: b"%PDF-1.4\n" + b" " * (21 * 1024 * 1024),
    "png_bomb": png_bomb,
    "jpeg_bomb": jpeg_bomb,
    "truncated_png": truncated_png,
    "huge_blank_page": huge_blank_page,
}
