"""Documents attached to a return: upload (content-addressed), extraction in the sandboxed parser, look-up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from returns_triage.errors import InvalidInput, ModelUnavailable, NotFound, RuleViolation
from returns_triage.serving.service.models import DocumentExtractorLike
from returns_triage.serving.storage.documents import DocumentStore, is_document_id

__all__ = ["DocumentService", "DocumentOwnership"]


class DocumentOwnership(Protocol):
    """Which tenants uploaded a document (the bytes are stored once, whoever sends them)."""

    def claim(self, tenant: str, document_id: str) -> None: ...

    def owns(self, tenant: str, document_id: str) -> bool: ...


class DocumentService:
    """With ``owners``, a tenant sees only documents it uploaded itself: another tenant's id is unknown to it.
    ``extractor`` names the extractor to use at each upload: the champion serving now, which a hot swap changes."""

    def __init__(self, store: DocumentStore, extractor: Callable[[], DocumentExtractorLike | None], *, max_bytes: int,
                 owners: DocumentOwnership | None = None) -> None:
        self.store = store
        self._extractor = extractor
        self.max_bytes = max_bytes
        self.owners = owners

    @property
    def extractor(self) -> DocumentExtractorLike | None:
        return self._extractor()

    def _visible(self, tenant: str | None, document_id: str) -> bool:
        return self.owners is None or tenant is None or self.owners.owns(tenant, document_id)

    def upload(self, data: bytes, filename: str, *, tenant: str | None = None) -> dict[str, Any]:
        """Store the bytes and extract them once; a file that cannot be read is stored with its typed error."""
        if not data:
            raise RuleViolation("the uploaded file is empty", field="file", code="empty_file")
        if len(data) > self.max_bytes:
            raise InvalidInput(f"the file has {len(data)} bytes; the limit is {self.max_bytes}", field="file",
                               code="too_large")
        extractor = self.extractor  # one extractor for the whole upload, whatever a hot swap does meanwhile
        if extractor is None:
            raise ModelUnavailable("no verified document-extraction bundle is loaded")
        document_id = self.store.put(data)
        record = self.store.extraction(document_id)
        if record is None or record.get("extractor_version") != extractor.version:
            extraction = extractor.extract_bytes(data, filename=filename)
            record = {"document_id": document_id, "filename": filename, "bytes": len(data),
                      "extractor_version": extractor.version, "extraction": extraction}
            self.store.save_extraction(document_id, record)
        if self.owners is not None and tenant is not None:
            self.owners.claim(tenant, document_id)
        return record

    def get(self, document_id: str, *, tenant: str | None = None) -> dict[str, Any]:
        visible = is_document_id(document_id) and self._visible(tenant, document_id)
        record = self.store.extraction(document_id) if visible else None
        if record is None:
            raise NotFound(f"document {document_id} not found")
        return record

    def extractions_for(self, document_ids: list[str], *, tenant: str | None = None) -> list[dict[str, Any]]:
        """The stored extraction of each id, in order; an id never uploaded (by this tenant) is the caller's
        mistake (400)."""
        out = []
        for i, document_id in enumerate(document_ids):
            record = self.store.extraction(document_id) if self._visible(tenant, document_id) else None
            if record is None:
                raise RuleViolation(f"document {document_id} was never uploaded (POST /v1/documents first)",
                                   field=f"document_ids[{i}]", code="unknown_document")
            out.append(record["extraction"])
        return out
