"""Fraud features, computed point-in-time from one scoring request (+ the reason code and document findings
the service adds). Numeric only: categoricals are one-hot encoded, so the ONNX tree ensemble never sees a
native categorical (STACK.md trap 5). Unknown or absent optional inputs get their own indicator.

Only the request is read: the ERP sends the customer history as of the request, so a feature can never see an
event after ``requested_at``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import numpy as np

from returns_triage.errors import InvalidInput
from returns_triage.models.vocabulary import CATEGORIES, REASON_CODES, SEGMENTS

__all__ = ["FEATURE_NAMES", "SEGMENTS", "CHANNELS", "CATEGORIES", "REASON_CODES", "FINDING_CODES",
           "request_features", "feature_matrix"]

CHANNELS = ("portal", "email", "store", "field_rep", "edi")
# Other names for the same channel: the reason corpus and the API examples say field_sales for a rep's note.
CHANNEL_ALIASES = {"field_sales": "field_rep"}
DELIVERY_STATUSES = ("delivered_signed", "delivered_unsigned", "delivered_locker", "carrier_exception")
CONDITIONS = ("unopened", "opened", "used", "damaged")
FINDING_CODES = (
    "serial_mismatch", "quantity_mismatch", "amount_mismatch", "order_number_mismatch", "no_matching_purchase",
)

_NUMERIC = (
    "account_age_days", "returns_last_30d", "returns_last_365d", "orders_last_365d", "return_value_last_365d",
    "prior_fraud_flags", "returns_per_order_365d", "days_delivery_to_request", "days_order_to_delivery",
    "request_month", "unit_price", "quantity", "line_value", "refund_amount", "refund_to_line_value",
    "weight_known", "weight_received_ratio", "serialised", "serial_declared", "serial_differs",
    "documents_attached", "findings_known", "refunded_quantity_before", "returns_per_day_30d",
    "returns_per_day_365d", "kept_orders_365d", "fraud_flags_per_year",
)
FEATURE_NAMES: tuple[str, ...] = (
    _NUMERIC
    + tuple(f"segment={s}" for s in SEGMENTS)
    + tuple(f"channel={c}" for c in CHANNELS)
    + tuple(f"category={c}" for c in CATEGORIES) + ("category=other",)
    + tuple(f"reason={r}" for r in REASON_CODES) + ("reason=unknown",)
    + tuple(f"delivery={d}" for d in DELIVERY_STATUSES) + ("delivery=unknown",)
    + tuple(f"condition={c}" for c in CONDITIONS) + ("condition=unknown",)
    + tuple(f"finding={f}" for f in FINDING_CODES)
)
_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}
UNKNOWN = -1.0  # value of a numeric feature whose input is absent


_FEATURE_BOUND = 1e30


def request_features(
    request: Mapping[str, Any], *, reason_code: str | None = None,
    findings: Sequence[Mapping[str, Any]] | None = None,
) -> np.ndarray:
    """One float32 row in FEATURE_NAMES order. Raises InvalidInput naming the first unusable field."""
    x = np.zeros(len(FEATURE_NAMES), dtype=np.float64)
    order = _section(request, "order")
    line = _section(request, "line")
    customer = _section(request, "customer")
    requested = _timestamp(request.get("requested_at"), "requested_at")
    delivered = _date(order.get("delivered_at"), "order.delivered_at")
    ordered = _date(order.get("order_date"), "order.order_date")

    returns_365 = _number(customer, "returns_last_365d", "customer")
    orders_365 = _number(customer, "orders_last_365d", "customer")
    unit_price = _number(line, "unit_price", "line")
    quantity = _number(line, "quantity", "line")
    refund = _number(request, "refund_amount", "")
    line_value = unit_price * quantity
    x[0] = _number(customer, "account_age_days", "customer")
    x[1] = _number(customer, "returns_last_30d", "customer")
    x[2] = returns_365
    x[3] = orders_365
    x[4] = _number(customer, "return_value_last_365d", "customer")
    x[5] = _number(customer, "prior_fraud_flags", "customer")
    x[6] = returns_365 / max(orders_365, 1.0)
    x[7] = (requested.date() - delivered).days
    x[8] = (delivered - ordered).days
    x[9] = requested.month
    x[10] = unit_price
    x[11] = quantity
    x[12] = line_value
    x[13] = refund
    x[14] = refund / line_value if line_value > 0 else UNKNOWN
    shipped_kg, received_kg = line.get("weight_shipped_kg"), line.get("weight_received_kg")
    if isinstance(shipped_kg, (int, float)) and isinstance(received_kg, (int, float)) and shipped_kg > 0:
        x[15] = 1.0
        x[16] = received_kg / shipped_kg
    else:
        x[16] = UNKNOWN
    shipped = line.get("serial_numbers") or []
    returned = line.get("returned_serial_numbers")
    x[17] = float(bool(shipped))
    x[18] = float(bool(shipped) and returned is not None)
    x[19] = float(bool(shipped) and returned is not None and sorted(returned) != sorted(shipped))
    x[20] = len(request.get("document_ids") or [])
    x[21] = float(findings is not None)
    x[22] = float(line.get("refunded_quantity_before") or 0)
    # Rates over the part of each window the account existed: a 5-day-old account with 2 returns is busier
    # than a 5-year-old one with 2 returns.
    age = max(x[0], 1.0)
    with np.errstate(over="ignore", invalid="ignore"):  # absurd inputs become inf here, clipped below
        x[23] = x[1] / min(age, 30.0)
        x[24] = returns_365 / min(age, 365.0)
        x[25] = orders_365 - returns_365
        x[26] = x[5] / age * 365.0

    _one_hot(x, "segment", request.get("segment"), SEGMENTS, None)
    _one_hot(x, "channel", CHANNEL_ALIASES.get(request.get("channel"), request.get("channel")), CHANNELS, None)
    _one_hot(x, "category", line.get("category"), CATEGORIES, "other")
    _one_hot(x, "reason", reason_code, REASON_CODES, "unknown")
    delivery = request.get("delivery") or {}
    _one_hot(x, "delivery", delivery.get("status") if isinstance(delivery, Mapping) else None,
             DELIVERY_STATUSES, "unknown")
    _one_hot(x, "condition", request.get("claimed_condition"), CONDITIONS, "unknown")
    for finding in findings or ():
        i = _INDEX.get(f"finding={finding.get('code')}")
        if i is not None:
            x[i] = 1.0
    # An absurd amount or count (1e300 passes the schema) must not overflow the float32 the model reads: past
    # this bound every tree split is decided anyway.
    return np.clip(np.nan_to_num(x, nan=0.0), -_FEATURE_BOUND, _FEATURE_BOUND).astype(np.float32)


def feature_matrix(
    requests: Sequence[Mapping[str, Any]], reason_codes: Sequence[str | None] | None = None,
    findings: Sequence[Sequence[Mapping[str, Any]] | None] | None = None,
) -> np.ndarray:
    """Rows of :func:`request_features` for many requests (float32, shape (n, len(FEATURE_NAMES)))."""
    n = len(requests)
    codes = reason_codes if reason_codes is not None else [None] * n
    found = findings if findings is not None else [None] * n
    if not n:
        return np.zeros((0, len(FEATURE_NAMES)), dtype=np.float32)
    return np.vstack([
        request_features(r, reason_code=c, findings=f) for r, c, f in zip(requests, codes, found, strict=True)
    ])


def _one_hot(x: np.ndarray, prefix: str, value: Any, vocabulary: tuple[str, ...], fallback: str | None) -> None:
    """Set the value's indicator; a value the model never saw sets none (or ``fallback``'s): a deployment's own
    channels and segments must not make scoring fail, they only carry no learned signal."""
    if value in vocabulary:
        x[_INDEX[f"{prefix}={value}"]] = 1.0
    elif fallback is not None:
        x[_INDEX[f"{prefix}={fallback}"]] = 1.0


def _section(request: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = request.get(name)
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{name} must be an object", field=name)
    return value


def _number(section: Mapping[str, Any], key: str, where: str) -> float:
    value = section.get(key)
    name = f"{where}.{key}" if where else key
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
        raise InvalidInput(f"{name} must be a non-negative number; got {value!r}", field=name)
    return float(value)


def _timestamp(value: Any, name: str) -> datetime:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO 8601 timestamp; got {value!r}", field=name) from None


def _date(value: Any, name: str) -> date:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO 8601 date; got {value!r}", field=name) from None
