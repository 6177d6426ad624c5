"""Disposition features from one inspection and its case context. Numeric only: categoricals are one-hot
encoded so the ONNX tree ensemble never sees a native categorical (STACK.md trap 5). Absent optional inputs
get their own indicator or the value ``UNKNOWN``.

The notes enter as the six disposition probabilities of the notes model (``note_p=…``, filled in by the
runtime after the notes ONNX model has run), rounded to 0.01 so that the float32 arithmetic of onnxruntime
and the float64 arithmetic of scikit-learn land on the same tree branches.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from returns_triage.errors import InvalidInput
from returns_triage.models.vocabulary import CATEGORIES, REASON_CODES, SEGMENTS

__all__ = [
    "DISPOSITIONS", "GRADES", "SERIAL_CHECKS", "PACKAGING", "PHOTO_FLAGS", "CATEGORIES", "REASON_CODES",
    "SEGMENTS", "STRUCTURED_NAMES", "NOTE_NAMES", "FEATURE_NAMES", "UNKNOWN", "structured_features",
    "round_note_probabilities",
]

DISPOSITIONS = ("restock", "refurbish", "quarantine", "return_to_vendor", "liquidate", "scrap")
GRADES = ("A", "B", "C", "D")
SERIAL_CHECKS = ("match", "mismatch", "unreadable", "not_serialised", "not_checked")
PACKAGING = ("sealed", "opened_intact", "damaged", "missing")
PHOTO_FLAGS = ("damage_visible", "wear_visible", "label_mismatch", "leak_or_burn", "blurry")
UNKNOWN = -1.0

_NUMERIC = (
    "grade_rank", "photo_count", "note_words", "unit_price", "quantity", "line_value", "days_since_delivery",
    "supplier_warranty_days", "supplier_accepts_returns", "warranty_days_left", "under_supplier_warranty",
    "fraud_score",
)
STRUCTURED_NAMES: tuple[str, ...] = (
    _NUMERIC
    + tuple(f"grade={g}" for g in GRADES) + ("grade=unknown",)
    + tuple(f"serial={s}" for s in SERIAL_CHECKS) + ("serial=unknown",)
    + tuple(f"packaging={p}" for p in PACKAGING) + ("packaging=unknown",)
    + tuple(f"photo_flag={f}" for f in PHOTO_FLAGS)
    + tuple(f"category={c}" for c in CATEGORIES) + ("category=other",)
    + tuple(f"reason={r}" for r in REASON_CODES) + ("reason=unknown",)
    + tuple(f"segment={s}" for s in SEGMENTS) + ("segment=unknown",)
)
NOTE_NAMES: tuple[str, ...] = tuple(f"note_p={d}" for d in DISPOSITIONS)
FEATURE_NAMES: tuple[str, ...] = STRUCTURED_NAMES + NOTE_NAMES
_INDEX = {name: i for i, name in enumerate(STRUCTURED_NAMES)}
_NO_WARRANTY_INFO = -10_000.0  # warranty_days_left when the supplier terms are unknown


def structured_features(inspection: Mapping[str, Any], context: Mapping[str, Any]) -> np.ndarray:
    """One float32 row in STRUCTURED_NAMES order. Raises InvalidInput naming the first unusable field."""
    if not isinstance(inspection, Mapping):
        raise InvalidInput("inspection must be an object", field="inspection")
    if not isinstance(context, Mapping):
        raise InvalidInput("context must be an object", field="context")
    x = np.zeros(len(STRUCTURED_NAMES), dtype=np.float64)
    grade = _choice(inspection, "grade", GRADES, "inspection", upper=True)
    x[0] = GRADES.index(grade) + 1 if grade else UNKNOWN
    photos = inspection.get("photos")
    if photos is not None and not isinstance(photos, Mapping):
        raise InvalidInput("inspection.photos must be an object with count and flags", field="inspection.photos")
    photos = photos or {}
    x[1] = _number(photos, "count", "inspection.photos", required=False, default=UNKNOWN)
    notes = inspection.get("notes")
    if notes is not None and not isinstance(notes, str):
        raise InvalidInput("inspection.notes must be a string", field="inspection.notes")
    x[2] = len((notes or "").split())
    unit_price = _number(context, "unit_price", "context", required=True)
    quantity = _number(context, "quantity", "context", required=False, default=1.0)
    x[3], x[4], x[5] = unit_price, quantity, unit_price * quantity
    age = _number(context, "days_since_delivery", "context", required=False, default=UNKNOWN)
    x[6] = age
    supplier = context.get("supplier")
    if supplier is not None and not isinstance(supplier, Mapping):
        raise InvalidInput("context.supplier must be an object", field="context.supplier")
    warranty = _number(supplier or {}, "warranty_days", "context.supplier", required=False, default=UNKNOWN)
    accepts = (supplier or {}).get("accepts_returns")
    x[7] = warranty
    x[8] = UNKNOWN if accepts is None else float(bool(accepts))
    if warranty >= 0 and age >= 0:
        x[9] = warranty - age
        x[10] = float(bool(accepts) and age <= warranty) if accepts is not None else UNKNOWN
    else:
        x[9], x[10] = _NO_WARRANTY_INFO, UNKNOWN
    score = context.get("fraud_score")
    if score is None:
        x[11] = UNKNOWN
    elif isinstance(score, bool) or not isinstance(score, (int, float)) or not 0.0 <= float(score) <= 1.0:
        raise InvalidInput(f"context.fraud_score must be a probability; got {score!r}", field="context.fraud_score")
    else:
        x[11] = float(score)

    _one_hot(x, "grade", grade)
    _one_hot(x, "serial", _choice(inspection, "serial_check", SERIAL_CHECKS, "inspection"))
    _one_hot(x, "packaging", _choice(inspection, "packaging", PACKAGING, "inspection"))
    flags = photos.get("flags") or []
    if not isinstance(flags, (list, tuple)):
        raise InvalidInput("inspection.photos.flags must be a list", field="inspection.photos.flags")
    for flag in flags:
        i = _INDEX.get(f"photo_flag={flag}")
        if i is not None:  # flags this model does not know are ignored, not an error
            x[i] = 1.0
    category = context.get("category")
    _one_hot(x, "category", category if category in CATEGORIES else "other")
    reason = context.get("reason_code")
    _one_hot(x, "reason", reason if reason in REASON_CODES else None)
    segment = context.get("segment")
    _one_hot(x, "segment", segment if segment in SEGMENTS else None)
    return x.astype(np.float32)


def round_note_probabilities(p: np.ndarray) -> np.ndarray:
    """The notes model's probabilities as the trees see them (float32, rounded to 0.01)."""
    return np.round(np.asarray(p, dtype=np.float32).astype(np.float64), 2).astype(np.float32)


def _one_hot(x: np.ndarray, prefix: str, value: str | None) -> None:
    x[_INDEX[f"{prefix}={value if value is not None else 'unknown'}"]] = 1.0


def _choice(section: Mapping[str, Any], key: str, vocabulary: tuple[str, ...], where: str,
            upper: bool = False) -> str | None:
    value = section.get(key)
    if value is None or value == "":
        return None
    text = str(value).strip()
    text = text.upper() if upper else text.lower()
    if text not in vocabulary:
        raise InvalidInput(f"{where}.{key} must be one of {', '.join(vocabulary)}; got {value!r}",
                           field=f"{where}.{key}")
    return text


def _number(section: Mapping[str, Any], key: str, where: str, *, required: bool, default: float = 0.0) -> float:
    value = section.get(key)
    if value is None and not required:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
        raise InvalidInput(f"{where}.{key} must be a non-negative number; got {value!r}", field=f"{where}.{key}")
    return float(value)
