"""The one exception tree. The API maps each class to an HTTP status in one table (serving/api/problems.py)."""

from __future__ import annotations

__all__ = [
    "TriageError",
    "InvalidInput",
    "RuleViolation",
    "NotFound",
    "Forbidden",
    "Conflict",
    "IdempotencyConflict",
    "ModelUnavailable",
    "BundleIntegrityError",
    "DocumentRejected",
    "ConfigurationError",
]


class TriageError(Exception):
    """Root of every error this package raises on purpose."""

    code: str = "triage_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidInput(TriageError):
    """The caller sent something we cannot use; the message says what."""

    code = "invalid_input"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.field = field


class RuleViolation(InvalidInput):
    """Well-formed input that breaks a rule the schema cannot state (a field needed given another one, an id
    that refers to nothing): a 422, where input of the wrong shape is a 400."""

    code = "rule_violation"


class NotFound(TriageError):
    code = "not_found"


class Forbidden(TriageError):
    """The caller is known, but its role may not do this (e.g. a reviewer overriding a claim)."""

    code = "forbidden"


class Conflict(TriageError):
    code = "conflict"


class IdempotencyConflict(Conflict):
    """The same Idempotency-Key was used with a different request body."""

    code = "idempotency_key_reused"


class ModelUnavailable(TriageError):
    """No verified model bundle is loaded."""

    code = "model_unavailable"


class BundleIntegrityError(TriageError):
    """A bundle file is missing or its sha256 differs from the manifest: the bundle is not loaded."""

    code = "bundle_integrity"


class DocumentRejected(TriageError):
    """A document could not be read safely (encrypted, corrupt, too large, not a PDF...)."""

    code = "document_rejected"


class ConfigurationError(TriageError):
    """Settings or a policy document are invalid; raised at start-up, never mid-request."""

    code = "configuration"
