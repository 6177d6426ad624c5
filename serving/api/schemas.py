"""Wire formats of the HTTP API (msgspec structs). Separate in and out types: clients never set server fields."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

__all__ = ["ScoreRequest", "DecisionOut", "Problem", "Health"]

Id = Annotated[str, Meta(min_length=1, max_length=128)]
ShortText = Annotated[str, Meta(min_length=1, max_length=64)]
Money = Annotated[float, Meta(ge=0, le=1e9)]
Count = Annotated[int, Meta(ge=0, le=10_000_000)]
Currency = Annotated[str, Meta(pattern="^[A-Z]{3}$")]
SerialList = Annotated[list[Annotated[str, Meta(max_length=128)]], Meta(max_length=1000)]


class OrderIn(Struct, kw_only=True):
    order_id: Id
    order_date: date | None = None
    currency: Currency = "EUR"
    delivered_at: date | None = None


class LineIn(Struct, kw_only=True):
    sku: Id
    unit_price: Money
    line_id: Id | None = None
    description: Annotated[str, Meta(max_length=1000)] = ""
    category: Annotated[str, Meta(max_length=64)] = "general"
    quantity: Annotated[int, Meta(ge=1, le=1_000_000)] = 1
    serial_numbers: SerialList = []
    # What came back, when the warehouse already knows (null: not yet scanned / weighed).
    returned_serial_numbers: SerialList | None = None
    weight_shipped_kg: Annotated[float, Meta(ge=0, le=100_000)] | None = None
    weight_received_kg: Annotated[float, Meta(ge=0, le=100_000)] | None = None
    refunded_quantity_before: Annotated[int, Meta(ge=0, le=1_000_000)] = 0


class DeliveryIn(Struct, kw_only=True):
    status: Literal["delivered_signed", "delivered_unsigned", "delivered_locker", "carrier_exception"] | None = None
    tracking_number: Annotated[str, Meta(max_length=64)] | None = None
    carrier: Annotated[str, Meta(max_length=64)] | None = None


class CustomerIn(Struct, kw_only=True):
    """The customer's history as the ERP knew it when the return was requested (point in time)."""

    customer_id: Id
    account_age_days: Count = 0
    orders_last_365d: Count = 0
    returns_last_30d: Count = 0
    returns_last_365d: Count = 0
    return_value_last_365d: Money = 0.0
    prior_fraud_flags: Count = 0


class ScoreRequest(Struct, kw_only=True):
    case_id: Id
    facility: ShortText
    channel: ShortText
    segment: ShortText
    reason_text: Annotated[str, Meta(min_length=1, max_length=5000)]
    order: OrderIn
    line: LineIn
    customer: CustomerIn
    refund_amount: Money
    requested_at: datetime | None = None
    delivery: DeliveryIn | None = None
    claimed_condition: Literal["unopened", "opened", "used", "damaged"] | None = None
    document_ids: Annotated[list[Annotated[str, Meta(pattern="^[0-9a-f]{64}$")]], Meta(max_length=20)] = []

    def to_payload(self) -> dict[str, Any]:
        return msgspec.to_builtins(self)  # type: ignore[no-any-return]


class ReasonOut(Struct):
    code: str
    confidence: float
    prediction_set: list[str]
    out_of_scope_score: float
    abstain: bool
    model_version: str


class RiskOut(Struct):
    score: float
    band: str
    factors: list[dict[str, Any]]
    model_version: str


class ReviewOut(Struct):
    queue: str
    priority: int
    sla_due_at: datetime


class DocumentsOut(Struct):
    document_ids: list[str]
    extractions: list[dict[str, Any]]
    findings: list[dict[str, Any]]
    document_confidence: float | None
    model_version: str | None


class DecisionOut(Struct):
    decision_id: str
    case_id: str
    created_at: datetime
    route: Literal["auto_approve", "review", "auto_decline"]
    review: ReviewOut | None
    reasons: list[str]
    explanation: str
    reason: ReasonOut
    risk: RiskOut | None
    documents: DocumentsOut | None
    policy_version: str
    model_versions: dict[str, str]
    inputs_sha256: str
    # What `triage audit replay` needs to find the exact bundles and policy again (absent on older decisions).
    model_digests: dict[str, str] | None = None
    policy_sha256: str | None = None


class Problem(Struct, omit_defaults=True):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    code: str | None = None
    errors: list[dict[str, Any]] | None = None


class Health(Struct):
    status: str
    checks: dict[str, Any]
