"""Explanations: which facts of the case moved the fraud score, as reason codes a supervisor can check.

Each *factor* is a group of features with a sentence built from the request. Its weight is the change in the
model's log-odds when the group is replaced by the reference value of a typical legitimate return (occlusion,
all groups in one ONNX call). Positive weights raise the risk.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from returns_triage.models.fraud.features import FEATURE_NAMES
from returns_triage.models.occlusion import OcclusionGroups

__all__ = ["Factor", "FACTORS", "occlusion_rows", "select_factors"]

_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_STATUS_TEXT = {
    "delivered_signed": "delivered with a signature", "delivered_unsigned": "delivered without a signature",
    "delivered_locker": "delivered to a parcel locker", "carrier_exception": "a delivery exception",
}
_FINDING_TEXT = {
    "finding=quantity_mismatch": "the document's quantity differs from the order",
    "finding=amount_mismatch": "the document's amount differs from the order",
    "finding=order_number_mismatch": "the document's order number differs from the order",
    "finding=no_matching_purchase": "no matching purchase was found for the document",
}

Text = Callable[[Mapping[str, Any], np.ndarray], str]


@dataclass(frozen=True, slots=True)
class Factor:
    code: str
    features: tuple[int, ...]
    text: Text


def _f(x: np.ndarray, name: str) -> float:
    return float(x[_INDEX[name]])


def _money(value: float, request: Mapping[str, Any]) -> str:
    currency = (request.get("order") or {}).get("currency", "")
    return f"{value:,.2f} {currency}".strip()


def _plural(n: float, word: str) -> str:
    n = int(n)
    return f"{n} {word}{'' if n == 1 else 's'}"


def _returns_30(r: Mapping[str, Any], x: np.ndarray) -> str:
    return f"{_plural(_f(x, 'returns_last_30d'), 'return')} in the last 30 days"


def _history(r: Mapping[str, Any], x: np.ndarray) -> str:
    return (f"{_plural(_f(x, 'returns_last_365d'), 'return')} worth {_money(_f(x, 'return_value_last_365d'), r)} "
            f"against {_plural(_f(x, 'orders_last_365d'), 'order')} in the last 365 days")


def _account(r: Mapping[str, Any], x: np.ndarray) -> str:
    return f"account opened {int(_f(x, 'account_age_days'))} days ago"


def _flags(r: Mapping[str, Any], x: np.ndarray) -> str:
    return f"{_plural(_f(x, 'prior_fraud_flags'), 'prior fraud flag')} on the account"


def _refund(r: Mapping[str, Any], x: np.ndarray) -> str:
    refund, value = _f(x, "refund_amount"), _f(x, "line_value")
    if refund > value + 0.005:
        return f"refund {_money(refund, r)} is above the line value {_money(value, r)}"
    return f"refund {_money(refund, r)} for a line worth {_money(value, r)}"


def _serial(r: Mapping[str, Any], x: np.ndarray) -> str:
    if _f(x, "serial_differs") or _f(x, "finding=serial_mismatch"):
        return "serial number differs from the one shipped"
    if _f(x, "serial_declared"):
        return "serial number matches the one shipped"
    return "serialised item, serial number not declared yet" if _f(x, "serialised") else "item has no serial number"


def _weight(r: Mapping[str, Any], x: np.ndarray) -> str:
    if not _f(x, "weight_known"):
        return "parcel not weighed yet"
    line = r.get("line") or {}
    return (f"parcel weighs {_f(x, 'weight_received_ratio'):.0%} of the shipped weight "
            f"({line.get('weight_received_kg', 0):.2f} kg received, {line.get('weight_shipped_kg', 0):.2f} kg shipped)")


def _refunded(r: Mapping[str, Any], x: np.ndarray) -> str:
    q = _f(x, "refunded_quantity_before")
    return f"this line was already refunded ({_plural(q, 'unit')})" if q else "this line was not refunded before"


def _finding(name: str) -> Text:
    def text(r: Mapping[str, Any], x: np.ndarray) -> str:
        return _FINDING_TEXT[name] if _f(x, name) else "documents checked: " + _FINDING_TEXT[name].replace(
            "differs from", "matches").replace("no matching purchase was found", "a matching purchase was found")

    return text


def _documents(r: Mapping[str, Any], x: np.ndarray) -> str:
    n = _f(x, "documents_attached")
    return f"{_plural(n, 'document')} attached" if n else "no documents attached"


def _timing(r: Mapping[str, Any], x: np.ndarray) -> str:
    return f"return requested {int(_f(x, 'days_delivery_to_request'))} days after delivery"


def _one_hot_value(x: np.ndarray, prefix: str) -> str:
    for name, i in _INDEX.items():
        if name.startswith(prefix + "=") and x[i] > 0:
            return name.split("=", 1)[1]
    return "unknown"


def _delivery(r: Mapping[str, Any], x: np.ndarray) -> str:
    status = _one_hot_value(x, "delivery")
    return f"carrier reports {_STATUS_TEXT.get(status, 'no delivery status')}"


def _condition(r: Mapping[str, Any], x: np.ndarray) -> str:
    return f"customer describes the item as {_one_hot_value(x, 'condition')}"


def _reason(r: Mapping[str, Any], x: np.ndarray) -> str:
    return f"return reason {_one_hot_value(x, 'reason')}"


def _item(r: Mapping[str, Any], x: np.ndarray) -> str:
    category = (r.get("line") or {}).get("category", "unknown")
    return (f"{_plural(_f(x, 'quantity'), 'unit')} of a {str(category).replace('_', ' ')} item at "
            f"{_money(_f(x, 'unit_price'), r)} each")


def _route(r: Mapping[str, Any], x: np.ndarray) -> str:
    return f"{_one_hot_value(x, 'segment')} return via {_one_hot_value(x, 'channel')}"


def _month(r: Mapping[str, Any], x: np.ndarray) -> str:
    return f"requested in {_MONTHS[int(_f(x, 'request_month')) - 1]}"


def _group(*names: str) -> tuple[int, ...]:
    return tuple(_INDEX[n] for n in names)


def _prefixed(*prefixes: str) -> tuple[int, ...]:
    return tuple(i for n, i in _INDEX.items() if n.split("=", 1)[0] in prefixes and "=" in n)


FACTORS: tuple[Factor, ...] = (
    Factor("recent_returns", _group("returns_last_30d"), _returns_30),
    Factor("return_history", _group("returns_last_365d", "return_value_last_365d", "orders_last_365d",
                                    "returns_per_order_365d"), _history),
    Factor("account_age", _group("account_age_days"), _account),
    Factor("prior_fraud_flags", _group("prior_fraud_flags"), _flags),
    Factor("refund_vs_line_value", _group("refund_amount", "refund_to_line_value"), _refund),
    Factor("serial_number", _group("serial_differs", "serial_declared", "finding=serial_mismatch"), _serial),
    Factor("parcel_weight", _group("weight_known", "weight_received_ratio"), _weight),
    Factor("already_refunded", _group("refunded_quantity_before"), _refunded),
    *(Factor(name.split("=", 1)[1], _group(name), _finding(name)) for name in _FINDING_TEXT),
    Factor("documents", _group("documents_attached", "findings_known"), _documents),
    Factor("return_timing", _group("days_delivery_to_request", "days_order_to_delivery"), _timing),
    Factor("delivery_status", _prefixed("delivery"), _delivery),
    Factor("claimed_condition", _prefixed("condition"), _condition),
    Factor("reason_code", _prefixed("reason"), _reason),
    Factor("item", _group("unit_price", "line_value", "quantity", "serialised") + _prefixed("category"), _item),
    Factor("segment_channel", _prefixed("segment", "channel"), _route),
    Factor("season", _group("request_month"), _month),
)


_GROUPS = OcclusionGroups([factor.features for factor in FACTORS], len(FEATURE_NAMES))


def occlusion_rows(x: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """The row itself followed by one row per factor that differs from the reference (see models/occlusion.py)."""
    return _GROUPS.rows(x, reference)


def select_factors(
    request: Mapping[str, Any], x: np.ndarray, weights: Sequence[float], used: Sequence[int], *,
    top: int = 3, min_weight: float = 0.05,
) -> list[dict[str, Any]]:
    """Up to ``top`` factors that raised the risk; if none did, the one that lowered it most; if nothing
    differs from a typical return, a single ``typical_case`` factor. Never empty."""
    ranked = sorted(zip(weights, used, strict=True), key=lambda wu: -wu[0])
    chosen = [(w, k) for w, k in ranked if w >= min_weight][:top]
    if not chosen and ranked:
        chosen = [min(ranked, key=lambda wu: wu[0])]
    out = [{"code": FACTORS[k].code, "text": FACTORS[k].text(request, x), "weight": round(float(w), 4)}
           for w, k in chosen]
    if not out:
        out = [{"code": "typical_case", "text": "nothing in the case differs from a typical legitimate return",
                "weight": 0.0}]
    return out
