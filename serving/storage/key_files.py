"""Secrets kept as files under TRIAGE_HOME, created once with owner-only permissions."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["load_or_create_secret"]


def load_or_create_secret(path: Path, nbytes: int = 32) -> bytes:
    """The secret in ``path`` (hex); if absent, a fresh random one written there first (0600, race-safe)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: read theirs
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(nbytes) + "\n")
    text = path.read_text().strip()
    if not text:  # the creator has not written it yet
        raise OSError(f"the secret file {path} is empty")
    return bytes.fromhex(text)
