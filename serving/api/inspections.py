"""HTTP edge of inspections and supplier recovery: ``POST /v1/inspections`` (the disposition recommendation) and
``/v1/supplier-claims`` (list, read, export, status). Every call acts for the tenant of the caller's API key."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.datastructures import State
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, Parameter
from msgspec import Meta, Struct

from returns_triage.errors import InvalidInput
from returns_triage.serving.api.idempotency import IdempotencyKey, check_idempotency_key
from returns_triage.serving.domain.access import Principal
from returns_triage.serving.domain.supplier_claims import DefectPatternRule
from returns_triage.serving.service.inspections import InspectionService
from returns_triage.serving.service.supplier_claims import SupplierClaimService
from returns_triage.serving.storage.inspections import SqlInspectionStore
from returns_triage.serving.storage.supplier_claims import SqlSupplierClaimStore

__all__ = ["inspection_router", "InspectionIn", "InspectionOut", "only_known_query"]

Id = Annotated[str, Meta(min_length=1, max_length=128)]
Money = Annotated[float, Meta(ge=0, le=1e9)]
Serial = Annotated[str, Meta(max_length=128)]
ClaimStatus = Literal["open", "submitted", "accepted", "rejected", "recovered"]
PhotoFlag = Literal["damage_visible", "wear_visible", "label_mismatch", "leak_or_burn", "blurry"]


class PhotosIn(Struct, kw_only=True, forbid_unknown_fields=True):
    """Metadata of the photos taken at inspection (the images themselves go to ``POST /v1/documents``)."""

    count: Annotated[int, Meta(ge=0, le=1000)] = 0
    flags: Annotated[list[PhotoFlag], Meta(max_length=20)] = []


class SupplierIn(Struct, kw_only=True, forbid_unknown_fields=True):
    supplier_id: Annotated[str, Meta(min_length=1, max_length=64)]
    warranty_days: Annotated[int, Meta(ge=0, le=36_500)] | None = None
    accepts_returns: bool | None = None


class InspectionIn(Struct, kw_only=True, forbid_unknown_fields=True):
    """One inspection of a scored case's goods. Item values default to the scored request's line."""

    case_id: Id
    inspector: Id
    grade: Literal["A", "B", "C", "D"]
    notes: Annotated[str, Meta(max_length=5000)] = ""
    serial_check: Literal["match", "mismatch", "unreadable", "not_serialised", "not_checked"] = "not_checked"
    serial_numbers: Annotated[list[Serial], Meta(max_length=1000)] = []
    packaging: Literal["sealed", "opened_intact", "damaged", "missing"] | None = None
    photos: PhotosIn | None = None
    received_at: datetime | None = None
    inspected_at: datetime | None = None
    supplier: SupplierIn | None = None
    sku: Id | None = None
    category: Annotated[str, Meta(max_length=64)] | None = None
    unit_price: Money | None = None
    quantity: Annotated[int, Meta(ge=1, le=1_000_000)] | None = None
    currency: Annotated[str, Meta(pattern="^[A-Z]{3}$")] | None = None
    document_ids: Annotated[list[Annotated[str, Meta(pattern="^[0-9a-f]{64}$")]], Meta(max_length=20)] = []


class RecommendationOut(Struct):
    disposition: str
    confidence: float
    abstain: bool
    alternatives: list[dict[str, Any]]
    factors: list[dict[str, Any]]
    model_version: str


class InspectionOut(Struct):
    inspection_id: str
    case_id: str
    decision_id: str
    created_at: datetime
    inspected_at: datetime
    route: Literal["auto_approve", "review"]
    recommendation: RecommendationOut
    review: dict[str, Any] | None
    supplier_claim: dict[str, Any] | None


class ClaimStatusIn(Struct, kw_only=True, forbid_unknown_fields=True):
    status: Literal["submitted", "accepted", "rejected", "recovered"]
    recovered_amount: Money | None = None
    note: Annotated[str, Meta(max_length=2000)] | None = None


class ClaimOut(Struct):
    claim_id: str
    supplier_id: str
    sku: str | None
    trigger: str
    status: str
    currency: str
    quantity: int
    claimed_amount: float
    recovered_amount: float | None
    note: str | None
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    resolved_at: datetime | None
    evidence: list[dict[str, Any]] | None = None
    history: list[dict[str, Any]] | None = None


class ClaimList(Struct):
    claims: list[ClaimOut]


def _inspections(state: State) -> InspectionService:
    ctx = state.ctx
    s = ctx.settings
    rule = DefectPatternRule(count=s.defect_pattern_count, window=timedelta(days=s.defect_pattern_days))
    # The models being served now (another process may have hot-swapped them since start-up).
    registry = getattr(ctx, "registry", None)
    models = registry.current if registry is not None else ctx.models
    return InspectionService(SqlInspectionStore(ctx.engine), models, rule=rule,
                             review_hours=s.disposition_review_hours)


def _claims(state: State) -> SupplierClaimService:
    return SupplierClaimService(SqlSupplierClaimStore(state.ctx.engine))


def only_known_query(request: Request[Any, Any, Any], allowed: tuple[str, ...]) -> None:
    """A misspelt filter is an error, not a silently wider answer (and the OpenAPI document says so)."""
    unknown = sorted(set(request.query_params) - set(allowed))
    if unknown:
        raise InvalidInput(f"unknown query parameter {unknown[0]}; known: {', '.join(allowed)}", field=unknown[0],
                           code="unknown_parameter")


@post("/inspections", sync_to_thread=True, status_code=201, tags=["inspections"],
      summary="Record an inspection and get the disposition recommendation",
      description="Stores the inspection of a scored case's goods (grade, notes, photo metadata, serial check, "
      "inspector) and returns the recommended disposition with its calibrated confidence and factors. Below the "
      "model's threshold the recommendation becomes a review item in the `disposition` queue. A "
      "`return_to_vendor` disposition or a defect pattern of one supplier's SKU opens a supplier claim. "
      "Requires an Idempotency-Key: a repeat with the same body returns the stored response byte for byte.",
      responses={201: ResponseSpec(data_container=InspectionOut, description="The inspection and recommendation")})
def record_inspection(
    data: JSONBody[InspectionIn],
    state: State,
    principal: Principal,
    idempotency_key: IdempotencyKey,
) -> Response[bytes]:
    result = _inspections(state).record(principal.tenant, check_idempotency_key(idempotency_key),
                                        msgspec.to_builtins(data), actor=principal.actor)
    return Response(content=result.body, status_code=result.status_code, media_type="application/json",
                    headers={"Idempotent-Replayed": "true"} if result.replayed else {})


@get("/inspections/{inspection_id:str}", sync_to_thread=True, tags=["inspections"],
     summary="One recorded inspection with its recommendation")
def get_inspection(inspection_id: str, state: State, principal: Principal) -> dict[str, Any]:
    return _inspections(state).get(principal.tenant, inspection_id)


@get("/supplier-claims", sync_to_thread=True, tags=["supplier claims"], summary="Supplier claims, newest first")
def list_claims(
    request: Request[Any, Any, Any],
    state: State,
    principal: Principal,
    status: ClaimStatus | None = None,
    supplier_id: str | None = None,
    limit: Annotated[int, Parameter(ge=1, le=1000)] = 100,
) -> ClaimList:
    only_known_query(request, ("status", "supplier_id", "limit"))
    claims = _claims(state).list_claims(principal.tenant, status=status, supplier_id=supplier_id, limit=limit)
    return ClaimList(claims=[ClaimOut(**c) for c in claims])


def _export(state: State, principal: Principal, fmt: str, status: str | None,
            supplier_id: str | None) -> Response[bytes]:
    body, media_type = _claims(state).export(principal.tenant, fmt, status=status, supplier_id=supplier_id)
    return Response(content=body, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="supplier-claims.{fmt}"'})



@get("/supplier-claims/export.csv", sync_to_thread=True, tags=["supplier claims"],
     summary="Export claims with their evidence as CSV (one row per inspected unit)",
     description="One row per evidence line with the claim's columns repeated; lists are `;`-joined.",
     responses={200: ResponseSpec(data_container=str, media_type="text/csv", description="CSV")})
def export_claims_csv(request: Request[Any, Any, Any], state: State, principal: Principal,
                      status: ClaimStatus | None = None, supplier_id: str | None = None) -> Response[bytes]:
    only_known_query(request, ("status", "supplier_id"))
    return _export(state, principal, "csv", status, supplier_id)


@get("/supplier-claims/export.json", sync_to_thread=True, tags=["supplier claims"],
     summary="Export claims with their evidence as JSON (a list of claims, each with its evidence lines)")
def export_claims_json(request: Request[Any, Any, Any], state: State, principal: Principal,
                       status: ClaimStatus | None = None, supplier_id: str | None = None) -> list[dict[str, Any]]:
    only_known_query(request, ("status", "supplier_id"))
    return _claims(state).with_evidence(principal.tenant, status=status, supplier_id=supplier_id)


@get("/supplier-claims/{claim_id:str}", sync_to_thread=True, tags=["supplier claims"],
     summary="One supplier claim with its evidence and status history")
def get_claim(claim_id: str, state: State, principal: Principal) -> ClaimOut:
    return ClaimOut(**_claims(state).get_claim(principal.tenant, claim_id))


@post("/supplier-claims/{claim_id:str}/status", sync_to_thread=True, status_code=200, tags=["supplier claims"],
      summary="Move a claim: open → submitted → accepted | rejected; accepted → recovered (with the amount)")
def claim_status(claim_id: str, data: JSONBody[ClaimStatusIn], state: State, principal: Principal) -> ClaimOut:
    claim = _claims(state).transition(principal.tenant, claim_id, status=data.status, actor=principal.actor,
                                      recovered_amount=data.recovered_amount, note=data.note)
    return ClaimOut(**claim)


def inspection_router() -> Router:
    """The inspection and supplier-claim routes, mounted under ``/v1`` by ``create_app``."""
    return Router(path="/v1", route_handlers=[record_inspection, get_inspection, list_claims, export_claims_csv,
                                              export_claims_json, get_claim, claim_status])
