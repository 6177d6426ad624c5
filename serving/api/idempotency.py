"""The Idempotency-Key header every idempotent write takes: one declaration, one check."""

from __future__ import annotations

from typing import Annotated

from litestar.params import Parameter

from returns_triage.errors import InvalidInput

__all__ = ["IdempotencyKey", "KEY_MAX", "check_idempotency_key"]

KEY_MAX = 255
# Visible ASCII, spaces allowed inside: what fits in an HTTP header without escaping.
_KEY_PATTERN = r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$"

IdempotencyKey = Annotated[str, Parameter(
    header="Idempotency-Key", min_length=1, max_length=KEY_MAX, pattern=_KEY_PATTERN,
    description="Your id for this attempt: visible ASCII (spaces inside allowed), at most 255. A repeat with the "
    "same body returns the stored response byte for byte; with another body it is a 422.")]


def check_idempotency_key(key: str | None) -> str:
    """The key as given, or an :class:`InvalidInput` naming the header."""
    if key is None or not key.strip():
        raise InvalidInput("the Idempotency-Key header is required on this endpoint", field="Idempotency-Key",
                           code="idempotency_key_missing")
    if len(key) > KEY_MAX or not key.isprintable():
        raise InvalidInput(f"Idempotency-Key must be 1–{KEY_MAX} printable characters", field="Idempotency-Key",
                           code="idempotency_key_invalid")
    return key
