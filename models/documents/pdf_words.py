"""Words with positions from a PDF, via pdfplumber. Runs on *trusted* bytes only: untrusted documents go through
:mod:`returns_triage.models.documents.safe_parse`, which calls this inside a resource-limited child process."""

from __future__ import annotations

import io
from typing import Any

__all__ = ["ParseFailure", "words_from_pdf"]


class ParseFailure(Exception):
    """A typed reason the PDF cannot be read (``code`` is a DocumentRejected code)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _declared_page_count(pdf: Any) -> int | None:
    from pdfminer.pdftypes import resolve1

    try:
        pages = resolve1(pdf.doc.catalog.get("Pages"))
        count = resolve1(pages.get("Count")) if isinstance(pages, dict) else None
        return int(count) if isinstance(count, int | float) else None
    except Exception:  # noqa: BLE001 - an unreadable count is checked again while iterating
        return None


def words_from_pdf(data: bytes, *, max_pages: int = 50) -> dict[str, Any]:
    """``{"pages": [{"width", "height"}], "words": [[text, x0, x1, top, bottom, page, size, bold], ...]}``.

    Raises :class:`ParseFailure` with code ``encrypted``, ``corrupt``, ``too_many_pages`` or ``no_text_layer``.
    """
    import pdfplumber
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
    from pdfminer.pdfpage import PDFPage
    from pdfminer.pdfparser import PDFSyntaxError
    from pdfplumber.page import Page
    from pdfplumber.utils.exceptions import PdfminerException

    try:
        pdf = pdfplumber.open(io.BytesIO(data))
    except PdfminerException as exc:
        inner = exc.args[0] if exc.args else exc
        if isinstance(inner, PDFPasswordIncorrect | PDFEncryptionError):
            raise ParseFailure("encrypted", "the PDF is encrypted and needs a password") from None
        if isinstance(inner, MemoryError):
            raise inner from None
        raise ParseFailure("corrupt", f"the PDF structure cannot be read ({type(inner).__name__})") from None
    except (PDFPasswordIncorrect, PDFEncryptionError):
        raise ParseFailure("encrypted", "the PDF is encrypted and needs a password") from None
    except PDFSyntaxError as exc:
        raise ParseFailure("corrupt", f"the PDF structure cannot be read ({exc})") from None
    except RecursionError:
        raise ParseFailure("corrupt", "the PDF nests objects too deeply") from None
    except Exception as exc:  # noqa: BLE001 - any failure to open hostile input is "corrupt"
        raise ParseFailure("corrupt", f"the PDF structure cannot be read ({type(exc).__name__})") from None
    # No `with pdf:` — PDF.close() instantiates every page object, which a 100k-page file turns into a DoS.
    declared = _declared_page_count(pdf)
    if declared is not None and declared > max_pages:
        raise ParseFailure("too_many_pages", f"the PDF has {declared} pages, the limit is {max_pages}")
    pages: list[dict[str, float]] = []
    words: list[list[Any]] = []
    doctop = 0.0
    try:
        for index, page_obj in enumerate(PDFPage.create_pages(pdf.doc)):
            if index >= max_pages:
                raise ParseFailure("too_many_pages", f"the PDF has more than {max_pages} pages")
            page = Page(pdf, page_obj, page_number=index + 1, initial_doctop=doctop)
            doctop += float(page.height)
            pages.append({"width": float(page.width), "height": float(page.height)})
            for w in page.extract_words(extra_attrs=["size", "fontname"], use_text_flow=False):
                words.append(
                    [
                        w["text"],
                        round(float(w["x0"]), 2),
                        round(float(w["x1"]), 2),
                        round(float(w["top"]), 2),
                        round(float(w["bottom"]), 2),
                        index,
                        round(float(w["size"]), 2),
                        int("bold" in str(w["fontname"]).lower()),
                    ]
                )
            page.close()
    except (ParseFailure, MemoryError):
        raise
    except (PDFPasswordIncorrect, PDFEncryptionError):
        raise ParseFailure("encrypted", "the PDF is encrypted and needs a password") from None
    except RecursionError:
        raise ParseFailure("corrupt", "the PDF nests objects too deeply") from None
    except Exception as exc:  # noqa: BLE001 - any parser failure on hostile input is "corrupt"
        inner = exc.args[0] if isinstance(exc, PdfminerException) and exc.args else exc
        if isinstance(inner, MemoryError):
            raise inner from None
        raise ParseFailure("corrupt", f"the PDF content cannot be read ({type(inner).__name__})") from None
    if not pages:
        raise ParseFailure("corrupt", "the PDF has no pages")
    if not words:
        raise ParseFailure("no_text_layer", "the PDF has no text layer (scanned?); OCR is not supported yet")
    return {"pages": pages, "words": words}
