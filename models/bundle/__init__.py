"""Model bundles: a folder of ONNX files and a ``manifest.json`` with a sha256 per file.

Serving loads a bundle only after every hash matches (:func:`load_manifest` with ``verify=True``); it never
unpickles anything.
"""

from returns_triage.models.bundle.manifest import (
    MANIFEST_NAME,
    Manifest,
    file_sha256,
    load_manifest,
    write_manifest,
)
from returns_triage.models.bundle.runtime import onnx_session

__all__ = ["MANIFEST_NAME", "Manifest", "file_sha256", "load_manifest", "write_manifest", "onnx_session"]
