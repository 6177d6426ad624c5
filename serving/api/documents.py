"""Document upload and look-up. The handler is built per app so its body limit follows the settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.enums import RequestEncodingType
from litestar.handlers import HTTPRouteHandler
from litestar.params import Body

from returns_triage.errors import InvalidInput
from returns_triage.serving.api.permissions import sees_pseudonyms
from returns_triage.serving.domain.access import Principal

__all__ = ["document_handlers", "DocumentUpload"]


@dataclass
class DocumentUpload:
    """The multipart form: one part named ``file``; a form without it is a 400 naming it."""

    file: UploadFile


def document_handlers(max_document_bytes: int) -> list[HTTPRouteHandler]:
    # Multipart framing adds a little to the file itself.
    limit = max_document_bytes + 64 * 1024

    @post("/v1/documents", sync_to_thread=True, status_code=201, request_max_body_size=limit,
          summary="Upload a document (PDF, PNG or JPEG) attached to a return",
          description="Stores the file under its sha256 (the document id) and extracts its fields in a sandboxed "
          "parser. Scans (PNG, JPEG, PDFs without a text layer) are read by OCR in the same sandbox; their "
          "extraction carries an `ocr` summary and field confidences lowered where the OCR was unsure. "
          "A file that cannot be read is stored with a typed error; it is never a 5xx.",
          tags=["documents"])
    def upload_document(
        data: Annotated[DocumentUpload, Body(media_type=RequestEncodingType.MULTI_PART)], state: State,
        principal: Principal,
    ) -> Response[dict[str, Any]]:
        upload = data.file
        if not isinstance(upload, UploadFile):  # a plain form field named "file", not a file part
            raise InvalidInput("the form part 'file' must be a file", field="file", code="not_a_file")
        payload = upload.file.read(max_document_bytes + 1)
        record = state.ctx.documents.upload(payload, upload.filename or "", tenant=principal.tenant)
        return Response(record, status_code=201)

    @get("/v1/documents/{document_id:str}", sync_to_thread=True, summary="A document's stored extraction",
         tags=["documents"])
    def get_document(document_id: str, state: State, principal: Principal) -> dict[str, Any]:
        record = state.ctx.documents.get(document_id, tenant=principal.tenant)
        return state.ctx.pseudonymiser.apply(record) if sees_pseudonyms(principal) else record  # type: ignore[no-any-return]

    return [upload_document, get_document]
