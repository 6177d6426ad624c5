"""Content-addressed document storage: a document's id is the sha256 of its bytes.

Files live under ``TRIAGE_DOCUMENTS_DIR`` (``ab/abcdef….bin``) with their extraction beside them
(``….extraction.json``). Both are written atomically; equal bytes are stored once.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["DocumentStore", "is_document_id"]

_ID = re.compile(r"^[0-9a-f]{64}$")


def is_document_id(value: str) -> bool:
    return bool(_ID.match(value))


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class DocumentStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _base(self, document_id: str) -> Path:
        if not is_document_id(document_id):
            raise ValueError(f"not a document id: {document_id!r}")
        return self.root / document_id[:2] / document_id

    def put(self, data: bytes) -> str:
        document_id = hashlib.sha256(data).hexdigest()
        path = self._base(document_id).with_suffix(".bin")
        if not path.exists():
            _atomic_write(path, data)
        return document_id

    def exists(self, document_id: str) -> bool:
        return is_document_id(document_id) and self._base(document_id).with_suffix(".bin").is_file()

    def read(self, document_id: str) -> bytes:
        return self._base(document_id).with_suffix(".bin").read_bytes()

    def save_extraction(self, document_id: str, record: dict[str, Any]) -> None:
        path = self._base(document_id).with_suffix(".extraction.json")
        _atomic_write(path, json.dumps(record, sort_keys=True).encode())

    def extraction(self, document_id: str) -> dict[str, Any] | None:
        if not is_document_id(document_id):
            return None
        path = self._base(document_id).with_suffix(".extraction.json")
        if not path.is_file():
            return None
        return json.loads(path.read_text())  # type: ignore[no-any-return]
