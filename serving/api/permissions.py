"""Who may call what: the role × operation table, the guard that enforces it, and its mark on the OpenAPI document.

Deny by default: an operation without a row here answers 403 to every role (a test fails until it has one).
The guard authenticates the bearer key (401), checks the table (403), takes a token from the key's bucket (429),
then leaves the principal in the request scope; handlers read the tenant from it, so every query is scoped to the
caller's tenant and another tenant's case, decision, item or document is a plain 404.
"""

from __future__ import annotations

import math
import threading
from typing import Any

import anyio.to_thread
import msgspec
import msgspec.inspect
from litestar import Litestar, Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException, TooManyRequestsException
from litestar.handlers import BaseRouteHandler
from litestar.routes import HTTPRoute
from litestar.openapi.spec import OpenAPIHeader, OpenAPIMediaType, OpenAPIResponse, Reference, Schema
from litestar.openapi.spec.enums import OpenAPIType

from returns_triage.errors import InvalidInput
from returns_triage.serving.domain.access import ROLES, Principal

__all__ = ["PERMISSIONS", "PUBLIC_OPERATIONS", "PSEUDONYMISED_ROLES", "OVERRIDE_ROLES", "enforce_access",
           "provide_principal", "sees_pseudonyms", "is_public", "document_access",
           "record_query_parameters"]

_READERS = frozenset({"workflow_engine", "reviewer", "supervisor", "auditor", "data_scientist", "admin"})
_REVIEW = frozenset({"reviewer", "supervisor", "admin"})
_AUDIT = frozenset({"auditor", "admin"})
_WEBHOOKS = frozenset({"workflow_engine", "admin"})
_MONITORING = frozenset({"data_scientist", "supervisor", "admin"})

PERMISSIONS: dict[str, frozenset[str]] = {
    # scoring and decisions
    "POST /v1/returns/score": frozenset({"workflow_engine", "admin"}),
    "GET /v1/decisions/{decision_id}": _READERS,
    # documents
    "POST /v1/documents": frozenset({"workflow_engine", "reviewer", "supervisor", "admin"}),
    "GET /v1/documents/{document_id}": frozenset({"workflow_engine", "reviewer", "supervisor", "auditor", "admin"}),
    # human review
    "GET /v1/review/items": _REVIEW,
    "GET /v1/review/items/{item_id}": _REVIEW,
    "GET /v1/review/items/{item_id}/history": _REVIEW | {"auditor"},
    "POST /v1/review/claim": _REVIEW,
    "POST /v1/review/items/{item_id}/decision": _REVIEW,
    "POST /v1/review/items/{item_id}/renew": _REVIEW,
    "POST /v1/review/items/{item_id}/release": _REVIEW,
    "POST /v1/review/items/{item_id}/escalate": _REVIEW,
    "POST /v1/review/items/{item_id}/reassign": _REVIEW,
    # outcomes (labels)
    "POST /v1/outcomes": frozenset({"workflow_engine", "supervisor", "admin"}),
    "GET /v1/cases/{case_id}/outcomes": _READERS,
    # the decision log, read-only
    "GET /v1/audit/entries": _AUDIT,
    "GET /v1/audit/entries/{seq}/proof": _AUDIT,
    "GET /v1/audit/checkpoints/latest": _AUDIT,
    "GET /v1/audit/checkpoints": _AUDIT,
    "GET /v1/audit/checkpoints/consistency": _AUDIT,
    "GET /v1/audit/export/jsonl": _AUDIT,
    "GET /v1/audit/export/parquet": _AUDIT,
    # webhooks: the workflow engine subscribes itself; dead letters are redelivered by it or an admin
    "POST /v1/webhooks/subscriptions": _WEBHOOKS,
    "GET /v1/webhooks/subscriptions": _WEBHOOKS,
    "GET /v1/webhooks/subscriptions/{subscription_id}": _WEBHOOKS,
    "PATCH /v1/webhooks/subscriptions/{subscription_id}": _WEBHOOKS,
    "DELETE /v1/webhooks/subscriptions/{subscription_id}": _WEBHOOKS,
    "GET /v1/webhooks/deliveries": _WEBHOOKS,
    "GET /v1/webhooks/deliveries/{delivery_id}": _WEBHOOKS,
    "POST /v1/webhooks/deliveries/{delivery_id}/redeliver": _WEBHOOKS,
    # inspections (warehouse systems record them with the workflow key) and supplier claims (procurement)
    "POST /v1/inspections": frozenset({"workflow_engine", "supervisor", "admin"}),
    "GET /v1/inspections/{inspection_id}": _READERS,
    "GET /v1/supplier-claims": frozenset({"workflow_engine", "supervisor", "auditor", "admin"}),
    "GET /v1/supplier-claims/export.csv": frozenset({"workflow_engine", "supervisor", "auditor", "admin"}),
    "GET /v1/supplier-claims/export.json": frozenset({"workflow_engine", "supervisor", "auditor", "admin"}),
    "GET /v1/supplier-claims/{claim_id}": frozenset({"workflow_engine", "supervisor", "auditor", "admin"}),
    "POST /v1/supplier-claims/{claim_id}/status": frozenset({"workflow_engine", "supervisor", "admin"}),
    # process intelligence and Prometheus metrics (scraped with a key of one of these roles)
    "GET /v1/kpis": frozenset({"supervisor", "auditor", "data_scientist", "admin"}),
    "GET /metrics": frozenset({"supervisor", "data_scientist", "admin"}),
    # model lifecycle: which bundles are served; only an admin hot-swaps them (after `triage promote`)
    "GET /v1/models": frozenset({"data_scientist", "admin"}),
    "POST /v1/models/reload": frozenset({"admin"}),
    # monitoring (read-only; written by `triage monitor`)
    "GET /v1/monitoring/windows": _MONITORING,
    "GET /v1/monitoring/windows/{window_id}": _MONITORING,
    "GET /v1/monitoring/alerts": _MONITORING,
    "GET /v1/monitoring/failsafe": _MONITORING | {"auditor"},
    "GET /v1/monitoring/vetted-inputs": _MONITORING | {"auditor"},
    "GET /v1/monitoring/reports/{window_id}": frozenset({"data_scientist", "admin"}),
}
assert all(roles <= set(ROLES) for roles in PERMISSIONS.values())

PUBLIC_OPERATIONS = frozenset({"GET /healthz", "GET /readyz"})
# The console authenticates its own session cookie (serving/api/console.py), with the same key check.
_PUBLIC_PREFIX = ("/schema", "/console")
# One worker thread builds and marks the OpenAPI document; concurrent first requests wait for it.
_DOCUMENTING = threading.Lock()

PSEUDONYMISED_ROLES = frozenset({"auditor", "data_scientist"})
"""These roles see customers' ids and names as keyed pseudonyms on every read endpoint."""

OVERRIDE_ROLES = frozenset({"supervisor", "admin"})
"""Only these may act on a review item without its fencing token (``override: true``)."""


def operation_of(method: str, path_template: str) -> str:
    # Litestar writes typed path parameters as {name:type} in some places; the table uses the OpenAPI form.
    parts = [p.split(":", 1)[0] + "}" if p.startswith("{") and ":" in p else p for p in path_template.split("/")]
    return f"{method.upper()} {'/'.join(parts)}"


def is_public(operation: str) -> bool:
    return operation in PUBLIC_OPERATIONS or operation.split(" ", 1)[1].startswith(_PUBLIC_PREFIX)


def sees_pseudonyms(principal: Principal) -> bool:
    return principal.role in PSEUDONYMISED_ROLES


_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="returns-triage"'}


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


async def enforce_access(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """The app-wide guard: 401 without a valid key, 403 outside the table, 429 over the key's rate."""
    operation = operation_of(connection.scope["method"], connection.scope.get("path_template") or "")
    if is_public(operation):
        if operation.split(" ", 1)[1].startswith("/schema") and not connection.app.state.get("openapi_documented"):
            await anyio.to_thread.run_sync(document_access, connection.app)
        return
    ctx = connection.app.state.ctx
    token = _bearer(connection.headers.get("authorization"))
    principal = None
    if token:
        # A key verified moments ago is answered from memory; only a new or expired one costs a thread hop.
        principal = ctx.api_keys.remembered(token) or await anyio.to_thread.run_sync(ctx.api_keys.authenticate, token)
    if principal is None:
        raise NotAuthorizedException(
            detail="a valid API key is required: Authorization: Bearer rt_<prefix>_<secret>", headers=_CHALLENGE)
    if principal.role not in PERMISSIONS.get(operation, frozenset()):
        raise PermissionDeniedException(detail=f"the role {principal.role} may not call {operation}")
    wait = ctx.rate_limiter.take(principal.key_prefix, principal.role)
    if wait > 0:
        raise TooManyRequestsException(detail=f"rate limit of this API key ({principal.role}) exceeded",
                                       headers={"Retry-After": str(max(1, math.ceil(wait)))})
    connection.scope["auth"] = principal
    # Unknown query parameters are refused, not ignored: a misspelt filter must not silently return everything.
    allowed = connection.app.state.get("query_parameters", {}).get(operation, frozenset())
    repeated = sorted(k for k in set(connection.query_params) if len(connection.query_params.getall(k)) > 1)
    if repeated:
        raise InvalidInput(f"query parameter {repeated[0]!r} is given more than once", field=repeated[0],
                           code="repeated_parameter")
    unknown = sorted(set(connection.query_params) - allowed)
    if unknown:
        raise InvalidInput(f"unknown query parameter {unknown[0]!r}; this operation takes "
                           f"{', '.join(sorted(allowed)) or 'none'}", field=unknown[0], code="unknown_parameter")


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    """Dependency ``principal``: the caller the guard authenticated."""
    principal = request.scope.get("auth")
    if not isinstance(principal, Principal):  # a handler asked for it on a public route: a wiring bug
        raise NotAuthorizedException(detail="this operation needs an API key", headers=_CHALLENGE)
    return principal


# ------------------------------------------------------------------------------------------------ OpenAPI

_PROBLEM_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["type", "title", "status", "detail"],
    properties={
        "type": Schema(type=OpenAPIType.STRING),
        "title": Schema(type=OpenAPIType.STRING),
        "status": Schema(type=OpenAPIType.INTEGER),
        "detail": Schema(type=OpenAPIType.STRING),
        "code": Schema(type=OpenAPIType.STRING),
        "errors": Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.OBJECT)),
    },
    description="RFC 9457 problem details",
)

_ERRORS = {
    "400": "Invalid request (the problem names the field)",
    "404": "Not found (or another tenant's)",
    "409": "Conflict (e.g. a stale fencing token)",
    "413": "Request body too large",
    "415": "Unsupported media type",
    "422": "Well-formed but refused (e.g. an Idempotency-Key reused with another body)",
    "503": "Model or database unavailable",
}
_AUTH_ERRORS = {
    "401": "Missing, malformed, unknown or revoked API key",
    "403": "The key's role may not call this operation",
    "429": "The key's rate limit is exceeded; retry after Retry-After seconds",
}


def _problem(description: str, status: str) -> OpenAPIResponse:
    headers: dict[str, OpenAPIHeader | Reference] | None = None
    if status == "401":
        headers = {"WWW-Authenticate": OpenAPIHeader(schema=Schema(type=OpenAPIType.STRING), required=True)}
    elif status == "429":
        headers = {"Retry-After": OpenAPIHeader(schema=Schema(type=OpenAPIType.STRING), required=True)}
    return OpenAPIResponse(description=description, headers=headers,
                           content={"application/problem+json": OpenAPIMediaType(schema=_PROBLEM_SCHEMA)})


def _our_structs() -> dict[str, type]:
    """Our wire structs by name (names used by two structs are left out: their component is ambiguous)."""
    found: dict[str, list[type]] = {}
    stack: list[type] = [msgspec.Struct]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.startswith("returns_triage."):
            found.setdefault(cls.__name__, []).append(cls)
    return {name: classes[0] for name, classes in found.items() if len(classes) == 1}


_SCHEMA_KEYS = {"$ref", "anyOf", "oneOf", "allOf", "items", "properties", "additionalProperties", "type", "enum",
                "const", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength",
                "pattern", "maxItems", "minItems", "required", "format", "description", "default"}


# Days stop at 28 and years at 0001: the pattern documents dates the server always parses (a subset of them).
_DATE = r"([1-9]\d{3}|0[1-9]\d{2}|00[1-9]\d|000[1-9])-(0[1-9]|1[0-2])-(0[1-9]|1\d|2[0-8])"
_TIME = r"([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)"
_FORMAT_PATTERNS = {"date-time": f"^{_DATE}T{_TIME}$", "date": f"^{_DATE}$"}


def _to_spec(data: Any) -> Schema | Reference:
    """A JSON Schema dict (msgspec's) as Litestar's spec object."""
    if "$ref" in data:
        return Reference(ref=data["$ref"])
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in _SCHEMA_KEYS:
            continue
        name = "".join("_" + c.lower() if c.isupper() else c for c in key)
        if key in ("anyOf", "oneOf", "allOf"):
            value = [_to_spec(v) for v in value]
        elif key == "items" or (key == "additionalProperties" and isinstance(value, dict)):
            value = _to_spec(value)
        elif key == "properties":
            value = {k: _to_spec(v) for k, v in value.items()}
        elif key == "type":
            value = OpenAPIType(value) if isinstance(value, str) else [OpenAPIType(v) for v in value]
        kwargs[name] = value
    return Schema(**kwargs)


def _mark_dates(struct: type, schema: dict[str, Any]) -> None:
    """msgspec writes dates and timestamps as plain strings; say which strings the server parses."""
    info = msgspec.inspect.type_info(struct)
    for field in getattr(info, "fields", ()):
        kind = field.type
        if isinstance(kind, msgspec.inspect.UnionType):
            kind = next((t for t in kind.types if not isinstance(t, msgspec.inspect.NoneType)), kind)
        fmt = ("date-time" if isinstance(kind, msgspec.inspect.DateTimeType)
               else "date" if isinstance(kind, msgspec.inspect.DateType) else None)
        prop = schema.get("properties", {}).get(field.encode_name)
        if fmt is None or prop is None:
            continue
        for branch in prop.get("anyOf", [prop]):
            if branch.get("type") == "string":
                branch["format"] = fmt
                if struct.__name__.endswith(("In", "Request", "Patch")):  # inputs only: outputs use every day
                    branch["pattern"] = _FORMAT_PATTERNS[fmt]


def _exact_components(openapi: Any) -> None:
    """Replace our structs' component schemas with msgspec's own: Litestar drops falsy constraints (``ge=0``,
    ``min_length`` inside an optional list), so the document would promise to accept what the API refuses."""
    ours = _our_structs()
    schemas = openapi.components.schemas if openapi.components else None
    names = [name for name in (schemas or {}) if name in ours]
    if not schemas or not names:
        return
    _, components = msgspec.json.schema_components([ours[n] for n in names],
                                                   ref_template="#/components/schemas/{name}")
    for name, schema in components.items():
        if name in schemas:
            _mark_dates(ours[name], schema)
            spec = _to_spec(schema)
            if isinstance(spec, Schema) and ours[name].__struct_config__.forbid_unknown_fields:
                spec.additional_properties = False
            schemas[name] = spec


def record_query_parameters(app: Litestar) -> None:
    """Record each operation's query parameters for the guard, from the routes Litestar built (no OpenAPI
    document needed: building that costs about 0.25 s of CPU, which every worker would pay before it is ready)."""
    query: dict[str, frozenset[str]] = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for method, (_, kwargs_model) in route.route_handler_map.items():
                query[operation_of(method, route.path_format or "/")] = frozenset(
                    p.field_alias for p in kwargs_model.expected_query_params)
    app.state["query_parameters"] = query


def document_access(app: Litestar) -> None:
    """Mark every operation in the app's OpenAPI document with its security and its problem+json errors, and say
    which bodies refuse unknown fields. Runs once, on the first request for the document (:func:`enforce_access`
    calls it for paths under ``/schema``), so start-up does not build the document."""
    with _DOCUMENTING:
        if app.state.get("openapi_documented"):
            return
        _document_access(app)
        app.state["openapi_documented"] = True


def _document_access(app: Litestar) -> None:
    openapi = app.openapi_schema  # built once and cached: what /schema/openapi.json serves
    _exact_components(openapi)
    for path, item in (openapi.paths or {}).items():
        for method in ("get", "put", "post", "delete", "patch"):
            operation = getattr(item, method, None)
            if operation is None:
                continue
            public = is_public(operation_of(method, path))
            responses = operation.responses = dict(operation.responses or {})
            errors = dict(_ERRORS) if public else {**_ERRORS, **_AUTH_ERRORS}
            for status, description in errors.items():
                if status not in responses or status == "400":  # Litestar's own 400 says application/json
                    responses[status] = _problem(description, status)
            if not public:
                operation.security = [{"bearer": []}]
                roles = sorted(PERMISSIONS.get(operation_of(method, path), ()))
                note = f"Roles: {', '.join(roles) if roles else 'none (denied)'}."
                operation.description = f"{operation.description}\n\n{note}" if operation.description else note
