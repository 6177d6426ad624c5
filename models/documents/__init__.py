"""Template-free document extraction: safe PDF parsing, typed candidates, a learned field scorer (ONNX),
line items, plausibility checks, and the three-way match of a return request against its documents."""

from returns_triage.models.documents.extractor import BUNDLE_NAME, DocumentExtractor
from returns_triage.models.documents.lexicon import DOCUMENT_TYPES, FIELDS
from returns_triage.models.documents.matching import match_documents
from returns_triage.models.documents.safe_parse import ParsedDocument, ParseLimits, PdfParser, parse_pdf_safely

__all__ = [
    "BUNDLE_NAME",
    "DOCUMENT_TYPES",
    "FIELDS",
    "DocumentExtractor",
    "ParseLimits",
    "ParsedDocument",
    "PdfParser",
    "match_documents",
    "parse_pdf_safely",
]
