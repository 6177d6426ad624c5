"""Rows of a batch file ↔ score requests, and decisions → output rows.

A row is the body of ``POST /v1/returns/score`` (``examples/score-request.json``). JSONL and Parquet rows may
carry it nested (``{"order": {"order_id": …}}``, Parquet struct columns); CSV, and any format that prefers flat
columns, spells each nested field as ``OBJECT.FIELD``:

- top level, same name: ``case_id``, ``facility``, ``channel``, ``segment``, ``reason_text``, ``refund_amount``,
  ``requested_at``, ``claimed_condition``;
- ``order.order_id``, ``order.order_date``, ``order.currency``, ``order.delivered_at``;
- ``line.sku``, ``line.unit_price``, ``line.line_id``, ``line.description``, ``line.category``, ``line.quantity``,
  ``line.serial_numbers``, ``line.returned_serial_numbers``, ``line.weight_shipped_kg``, ``line.weight_received_kg``,
  ``line.refunded_quantity_before``;
- ``customer.customer_id``, ``customer.account_age_days``, ``customer.orders_last_365d``,
  ``customer.returns_last_30d``, ``customer.returns_last_365d``, ``customer.return_value_last_365d``,
  ``customer.prior_fraud_flags``;
- ``delivery.status``, ``delivery.tracking_number``, ``delivery.carrier``;
- ``document_ids``.

List fields in a flat file (``line.serial_numbers``, ``line.returned_serial_numbers``, ``document_ids``) are
``|``-separated. An empty cell means the field is absent. Text cells are converted to the schema's types
(numbers, dates) exactly as the API's validation would; a row the API would refuse gets a per-row error.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from returns_triage.errors import InvalidInput
from returns_triage.serving.domain.model import Decision

__all__ = ["FLAT_COLUMNS", "OUTPUT_COLUMNS", "LIST_FIELDS", "request_from_row", "flatten_request",
           "decision_row", "error_row"]

_TOP = ("case_id", "facility", "channel", "segment", "reason_text", "refund_amount", "requested_at",
        "claimed_condition")
_NESTED = {
    "order": ("order_id", "order_date", "currency", "delivered_at"),
    "line": ("sku", "unit_price", "line_id", "description", "category", "quantity", "serial_numbers",
             "returned_serial_numbers", "weight_shipped_kg", "weight_received_kg", "refunded_quantity_before"),
    "customer": ("customer_id", "account_age_days", "orders_last_365d", "returns_last_30d", "returns_last_365d",
                 "return_value_last_365d", "prior_fraud_flags"),
    "delivery": ("status", "tracking_number", "carrier"),
}
LIST_FIELDS = frozenset({"line.serial_numbers", "line.returned_serial_numbers", "document_ids"})
#: Every column of the flat (CSV) form, in the order :func:`flatten_request` writes them.
FLAT_COLUMNS: tuple[str, ...] = (*_TOP, *(f"{obj}.{f}" for obj, fields in _NESTED.items() for f in fields),
                                 "document_ids")

#: One output row per input row, in input order; error rows carry only ``row``, ``case_id`` and ``error_*``.
OUTPUT_COLUMNS: tuple[str, ...] = (
    "row", "case_id", "route", "queue", "priority", "reason_code", "reason_confidence", "reason_abstain",
    "reason_prediction_set", "reason_out_of_scope_score", "risk_score", "risk_band", "explanation",
    "policy_version", "model_versions", "error_code", "error_field", "error_message",
)


def _schema() -> type:
    # The API's own request schema: a row is valid here exactly when the API would accept it.
    from returns_triage.serving.api.schemas import ScoreRequest

    return ScoreRequest


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _unflatten(row: dict[str, Any]) -> dict[str, Any]:
    """Dotted keys (``order.order_id``) → nested objects; ``|``-separated strings → lists; blanks dropped."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key is None or _blank(value):
            continue
        if key in LIST_FIELDS and isinstance(value, str):
            value = [v for v in value.split("|") if v]
        if "." in key:
            obj, _, field = key.partition(".")
            target = out.setdefault(obj, {})
            if not isinstance(target, dict):
                raise InvalidInput(f"column {key!r} conflicts with column {obj!r}", field=key)
            target[field] = value
        else:
            if isinstance(value, dict):
                value = {k: v for k, v in value.items() if not _blank(v)}
            out[key] = value
    return out


def _field_of(message: str) -> str | None:
    """The dotted field a msgspec validation message points at ("… - at `$.order.delivered_at`")."""
    path = message.rsplit("at `$.", 1)[1].rstrip("`") if "at `$." in message else ""
    if "missing required field `" in message:
        missing = message.split("missing required field `", 1)[1].split("`", 1)[0]
        return f"{path}.{missing}" if path else missing
    return path or None


def request_from_row(row: dict[str, Any]) -> dict[str, Any]:
    """A validated score request (the API's payload form) from a flat or nested row; InvalidInput naming the
    field when the API would refuse it."""
    try:
        parsed = msgspec.convert(_unflatten(row), _schema(), strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInput(str(exc), field=_field_of(str(exc)), code="invalid_row") from None
    return parsed.to_payload()  # type: ignore[no-any-return]


def flatten_request(request: dict[str, Any]) -> dict[str, Any]:
    """The flat (CSV) form of a request: :data:`FLAT_COLUMNS` as keys, ``None`` where absent."""
    out: dict[str, Any] = {c: request.get(c) for c in _TOP}
    for obj, fields in _NESTED.items():
        nested = request.get(obj) or {}
        for f in fields:
            out[f"{obj}.{f}"] = nested.get(f)
    out["document_ids"] = request.get("document_ids")
    for key in LIST_FIELDS:
        if isinstance(out.get(key), list):
            out[key] = "|".join(out[key])
    return out


def decision_row(row: int, decision: Decision) -> dict[str, Any]:
    route, reason, risk = decision.route, decision.reason, decision.risk
    return {
        "row": row, "case_id": decision.case.case_id, "route": route.route, "queue": route.queue,
        "priority": route.priority, "reason_code": reason.code, "reason_confidence": reason.confidence,
        "reason_abstain": reason.abstain, "reason_prediction_set": "|".join(reason.prediction_set),
        "reason_out_of_scope_score": reason.out_of_scope_score,
        "risk_score": None if risk is None else risk.score, "risk_band": None if risk is None else risk.band,
        "explanation": route.explanation, "policy_version": decision.policy_version,
        "model_versions": json.dumps(decision.model_versions, sort_keys=True, separators=(",", ":")),
        "error_code": None, "error_field": None, "error_message": None,
    }


def error_row(row: int, case_id: Any, code: str, message: str, field: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = dict.fromkeys(OUTPUT_COLUMNS)
    out.update(row=row, case_id=None if _blank(case_id) else str(case_id), error_code=code, error_field=field,
               error_message=message)
    return out
