"""The one table that maps errors to RFC 9457 problem+json responses. A 5xx never leaks internals."""

from __future__ import annotations

import logging
import re
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from returns_triage.errors import (
    BundleIntegrityError,
    Conflict,
    DocumentRejected,
    Forbidden,
    IdempotencyConflict,
    InvalidInput,
    ModelUnavailable,
    NotFound,
    RuleViolation,
    TriageError,
)

__all__ = ["problem_response", "exception_handlers"]

log = logging.getLogger("returns_triage.api")

MEDIA_TYPE = "application/problem+json"

_STATUS: list[tuple[type[TriageError], int, str]] = [
    (IdempotencyConflict, 422, "Idempotency key reused with a different body"),
    (RuleViolation, 422, "Request breaks a rule"),
    (InvalidInput, 400, "Invalid request"),
    (DocumentRejected, 422, "Document rejected"),
    (NotFound, 404, "Not found"),
    (Forbidden, 403, "Forbidden"),
    (Conflict, 409, "Conflict"),
    (ModelUnavailable, 503, "Model unavailable"),
    (BundleIntegrityError, 503, "Model unavailable"),
]


def problem_response(status: int, title: str, detail: str, *, code: str | None = None,
                     errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None) -> Response[bytes]:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if code:
        body["code"] = code
    if errors:
        body["errors"] = errors
    return Response(content=msgspec.json.encode(body), status_code=status, media_type=MEDIA_TYPE,
                    headers=headers)


def _triage_error(_: Request[Any, Any, Any], exc: TriageError) -> Response[bytes]:
    for cls, status, title in _STATUS:
        if isinstance(exc, cls):
            errors = None
            if isinstance(exc, InvalidInput) and exc.field:
                errors = [{"field": exc.field, "message": exc.message}]
            return problem_response(status, title, exc.message, code=exc.code, errors=errors)
    log.exception("unmapped TriageError")
    return problem_response(500, "Internal error", "the request could not be completed", code="internal")


_MISSING = re.compile(r"missing required field `([^`]+)`")
_MISSING_PARAMETER = re.compile(r"[Mm]issing required \w+ parameter '([^']+)'")
_AT = re.compile(r" - at `\$\.?([^`]*)`")


def _field_of(key: str, message: str) -> tuple[str, str]:
    """Name the offending field the way the client wrote it (``line.sku``), not the handler's argument."""
    path = "" if key in ("data", "body", "") else key
    at = _AT.search(message)
    if at:
        path = ".".join(p for p in (path, at.group(1)) if p)
        message = _AT.sub("", message)
    missing = _MISSING.search(message)
    if missing:
        path = ".".join(p for p in (path, missing.group(1)) if p)
    return path or "body", message


def _validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[bytes]:
    errors: list[dict[str, Any]] = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            name, message = _field_of(str(item.get("key") or ""), str(item.get("message", "")))
            if item.get("source") == "header":
                name = str(item.get("key"))
            errors.append({"field": name, "message": message})
    detail = exc.detail or "the request is invalid"
    missing = _MISSING_PARAMETER.search(detail)
    if not errors and missing:
        errors.append({"field": missing.group(1), "message": "this parameter is required"})
    if errors:
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem_response(400, "Invalid request", detail, code="validation_error", errors=errors or None)


# Litestar reports a client that hangs up while its body is being read as an internal error with this detail.
_CLIENT_GONE = "client disconnected prematurely"
CLIENT_CLOSED_REQUEST = 499  # no client reads it; it keeps a hang-up out of the 5xx counts and the error log


def _http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    if status >= 500 and exc.detail == _CLIENT_GONE:
        log.info("client closed the connection before its request body arrived")
        return problem_response(CLIENT_CLOSED_REQUEST, "Client closed request", "the client closed the connection "
                                "before its request body arrived", code="client_closed_request")
    if status >= 500:
        log.error("HTTP %s: %s", status, exc.detail)
        return problem_response(status, "Internal error", "the request could not be completed", code="internal")
    if status == 400 and _is_decode_error(exc):
        return problem_response(400, "Malformed JSON body", f"the request body is malformed JSON: {exc.detail}",
                                code="malformed_json")
    return problem_response(status, _TITLES.get(status, "Client error"), exc.detail, headers=exc.headers)


def _is_decode_error(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, msgspec.DecodeError) and not isinstance(seen, msgspec.ValidationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


_TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
           409: "Conflict", 413: "Request body too large", 415: "Unsupported media type", 429: "Too many requests"}


def _unexpected(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.exception("unhandled error", exc_info=exc)
    return problem_response(500, "Internal error", "the request could not be completed", code="internal")


exception_handlers: dict[type[Exception], Any] = {
    TriageError: _triage_error,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}
