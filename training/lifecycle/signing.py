"""Ed25519 signatures of model bundles, with the same key handling as the audit log's checkpoints.

The key lives at ``$TRIAGE_HOME/keys/model-signing.pem`` (created on first use, 0600; its public half beside it as
``.pub``). Serving verifies with that public key when ``TRIAGE_MODEL_PUBLIC_KEY`` names it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from returns_triage.serving.service.audit import CheckpointSigner, generate_signing_key
from returns_triage.serving.service.model_registry import SIGNATURE_NAME, signed_message
from returns_triage.settings import Settings

__all__ = ["model_signer", "sign_bundle"]


def model_signer(settings: Settings) -> CheckpointSigner:
    """The deployment's bundle signing key, created under TRIAGE_HOME the first time it is needed."""
    path = settings.model_signing_key
    if not path.exists():
        try:
            return generate_signing_key(path)
        except Exception:  # noqa: BLE001 - another process created it first: use theirs
            if not path.exists():
                raise
    return CheckpointSigner.from_file(path)


def sign_bundle(settings: Settings, bundle_dir: Path) -> dict[str, str]:
    """Sign the bundle in ``bundle_dir`` (manifest name, version, digest and bytes) and write ``signature.json``."""
    signer = model_signer(settings)
    message = signed_message(Path(bundle_dir))
    signature = {
        "algorithm": "ed25519",
        "key_id": signer.verifier.key_id,
        "message_sha256": hashlib.sha256(message).hexdigest(),
        "signature": signer.private_key.sign(message).hex(),
    }
    (Path(bundle_dir) / SIGNATURE_NAME).write_text(json.dumps(signature, indent=2) + "\n")
    return signature
