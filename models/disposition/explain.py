"""Why a disposition was recommended: groups of features with a sentence built from the inspection, weighted by
how much the recommended disposition's log-probability drops when the group is replaced by a typical restocked
return (occlusion, all groups in one ONNX call). Positive weights support the recommendation."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from returns_triage.models.disposition.features import FEATURE_NAMES
from returns_triage.models.occlusion import OcclusionGroups

__all__ = ["Factor", "FACTORS", "occlusion_rows", "select_factors"]

_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}
Text = Callable[[Mapping[str, Any], Mapping[str, Any]], str]


@dataclass(frozen=True, slots=True)
class Factor:
    code: str
    features: tuple[int, ...]
    text: Text


def _group(*names: str) -> tuple[int, ...]:
    return tuple(_INDEX[n] for n in names)


def _prefixed(*prefixes: str) -> tuple[int, ...]:
    return tuple(i for n, i in _INDEX.items() if "=" in n and n.split("=", 1)[0] in prefixes)


def _grade(i: Mapping[str, Any], c: Mapping[str, Any]) -> str:
    return f"condition grade {i.get('grade') or 'not recorded'}"


def _notes(i: Mapping[str, Any], c: Mapping[str, Any]) -> str:
    note = str(i.get("notes") or "").strip()
    return f'inspection notes: "{note[:120]}"' if note else "no inspection notes"


def _serial(i: Mapping[str, Any], c: Mapping[str, Any]) -> str:
    return f"serial check: {str(i.get('serial_check') or 'not recorded').replace('_', ' ')}"


def _packaging(i: Mapping[str, Any], c: Mapping[str, Any]) -> str:
    return f"packaging: {str(i.get('packaging') or 'not recorded').replace('_', ' ')}"


def _photos(i: Mapping[str, Any], c: Mapping[str, Any]) -> str:
    photos = i.get("photos") or {}
    flags = [str(f).replace("_", " ") for f in photos.get("flags") or []]
    count = photos.get("count")
    head = f"{count} photo{'' if count == 1 else 's'}" if count is not None else "photos not recorded"
    return f"{head}, flagged: {', '.join(flags)}" if flags else f"{head}, nothing flagged"


def _value(i: Mapping[str, Any], c: Mapping[str, Any]) -> str:
    return f"unit value {float(c.get('unit_price', 0.0)):,.2f} x {c.get('quantity', 1)}"


def _warranty(i: Mapping[str, Any], c: Mapping[str, Any]) -> str:
    age = c.get("days_since_delivery")
    supplier = c.get("supplier") or {}
    days = supplier.get("warranty_days")
    head = f"delivered {age} days ago" if age is not None else "delivery date unknown"
    if days is None:
        return f"{head}, supplier warranty unknown"
    accepts = "accepts returns" if supplier.get("accepts_returns") else "takes no returns"
    return f"{head}; supplier warranty {days} days, supplier {accepts}"


def _reason(i: Mapping[str, Any], c: Mapping[str, Any]) -> str:
    return f"return reason {c.get('reason_code') or 'unknown'}"


def _category(i: Mapping[str, Any], c: Mapping[str, Any]) -> str:
    return f"category {str(c.get('category') or 'unknown').replace('_', ' ')}"


def _fraud(i: Mapping[str, Any], c: Mapping[str, Any]) -> str:
    score = c.get("fraud_score")
    return f"fraud risk at intake {float(score):.2f}" if score is not None else "fraud risk not scored"


FACTORS: tuple[Factor, ...] = (
    Factor("inspection_notes", _group("note_words") + _prefixed("note_p"), _notes),
    Factor("condition_grade", _group("grade_rank") + _prefixed("grade"), _grade),
    Factor("serial_check", _prefixed("serial"), _serial),
    Factor("packaging", _prefixed("packaging"), _packaging),
    Factor("photos", _group("photo_count") + _prefixed("photo_flag"), _photos),
    Factor("item_value", _group("unit_price", "quantity", "line_value"), _value),
    Factor("age_and_warranty", _group("days_since_delivery", "supplier_warranty_days", "supplier_accepts_returns",
                                      "warranty_days_left", "under_supplier_warranty"), _warranty),
    Factor("return_reason", _prefixed("reason"), _reason),
    Factor("category", _prefixed("category"), _category),
    Factor("fraud_risk", _group("fraud_score"), _fraud),
)


_GROUPS = OcclusionGroups([factor.features for factor in FACTORS], len(FEATURE_NAMES))


def occlusion_rows(x: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """The row itself followed by one row per factor that differs from the reference (see models/occlusion.py)."""
    return _GROUPS.rows(x, reference)


def select_factors(inspection: Mapping[str, Any], context: Mapping[str, Any], weights: Sequence[float],
                   used: Sequence[int], *, top: int = 3, min_weight: float = 0.05,
                   note_words: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Up to ``top`` factors that support the recommendation; if none does by ``min_weight``, the strongest
    one; never empty. The notes factor names the words that weigh most, when there are any."""
    ranked = sorted(zip(weights, used, strict=True), key=lambda wu: -wu[0])
    chosen = [(w, k) for w, k in ranked if w >= min_weight][:top] or ranked[:1]
    out = []
    for w, k in chosen:
        factor = {"code": FACTORS[k].code, "text": FACTORS[k].text(inspection, context), "weight": round(float(w), 4)}
        if FACTORS[k].code == "inspection_notes" and note_words:
            factor["words"] = list(note_words)
        out.append(factor)
    if not out:
        out = [{"code": "typical_case", "text": "nothing in the inspection differs from a typical restocked return",
                "weight": 0.0}]
    return out
