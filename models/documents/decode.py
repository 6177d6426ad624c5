"""From per-candidate class probabilities to fields: one candidate per field (serials: several), calibrated."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from returns_triage.models.documents.candidates import CandidateSet
from returns_triage.models.documents.lexicon import AMOUNT_FIELDS, DATE_FIELDS, FIELDS, ID_FIELDS, TEXT_FIELDS

__all__ = ["CLASSES", "COMPATIBLE_TYPES", "TYPE_CLASSES", "Calibrator", "decode_fields",
           "candidate_probabilities_mask", "assemble_probabilities", "complete_amounts", "COMPLETION_FACTOR"]

CLASSES: tuple[str, ...] = ("none", *FIELDS)
COMPATIBLE_TYPES: dict[str, str] = {
    **{f: "identifier" for f in ID_FIELDS},
    **{f: "date" for f in DATE_FIELDS},
    **{f: "amount" for f in AMOUNT_FIELDS},
    **{f: "text" for f in TEXT_FIELDS},
    "currency": "currency",
    "carrier": "carrier",
    "serial_numbers": "identifier",
}
# One scorer per candidate type, each choosing among the fields that type can fill (or none).
TYPE_CLASSES: dict[str, tuple[str, ...]] = {
    t: ("none", *(f for f in FIELDS if COMPATIBLE_TYPES[f] == t))
    for t in ("identifier", "date", "amount", "text", "currency", "carrier")
}


@dataclass(frozen=True, slots=True)
class Calibrator:
    """Monotone map from a raw scorer probability to the observed share correct (isotonic, stored as points)."""

    x: tuple[float, ...] = (0.0, 1.0)
    y: tuple[float, ...] = (0.0, 1.0)

    def __call__(self, p: float) -> float:
        return float(np.interp(p, self.x, self.y))

    def to_dict(self) -> dict[str, list[float]]:
        return {"x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Calibrator:
        return cls(tuple(float(v) for v in raw["x"]), tuple(float(v) for v in raw["y"]))


def candidate_probabilities_mask(cset: CandidateSet) -> np.ndarray:
    """[n, len(CLASSES)] booleans: which fields each candidate's type can fill ('none' always)."""
    mask = np.zeros((len(cset.candidates), len(CLASSES)), dtype=bool)
    mask[:, 0] = True
    for j, name in enumerate(CLASSES[1:], start=1):
        wanted = COMPATIBLE_TYPES[name]
        mask[:, j] = [c.type == wanted for c in cset.candidates]
    return mask


def _entry(cset: CandidateSet, i: int, value: Any, raw: float, calibrate: Calibrator) -> dict[str, Any]:
    c = cset.candidates[i]
    return {"value": value, "confidence": round(calibrate(raw), 4), "page": c.page + 1,
            "bbox": [round(v, 1) for v in (c.bbox[0], c.bbox[1], c.bbox[2], c.bbox[3])], "_raw": raw}


def decode_fields(cset: CandidateSet, probs: np.ndarray, calibrate: Calibrator, *, accept: float = 0.5
                  ) -> dict[str, dict[str, Any]]:
    """Greedy best-first assignment: each candidate fills at most one field, each field at most one candidate
    (``serial_numbers`` takes every candidate above ``accept``). Entries carry ``_raw`` (uncalibrated score)."""
    if not cset.candidates:
        return {}
    p = np.where(candidate_probabilities_mask(cset), probs, 0.0)
    fields: dict[str, dict[str, Any]] = {}
    used: set[int] = set()
    serial_col = CLASSES.index("serial_numbers")
    order = np.dstack(np.unravel_index(np.argsort(-p[:, 1:], axis=None), p[:, 1:].shape))[0]
    for i, j in order:
        score = float(p[i, j + 1])
        if score < accept:
            break
        name = CLASSES[j + 1]
        if j + 1 == serial_col or name in fields or i in used:
            continue
        fields[name] = _entry(cset, int(i), cset.candidates[i].value, score, calibrate)
        used.add(int(i))
    serial_rows = [int(i) for i in np.flatnonzero(p[:, serial_col] >= accept) if int(i) not in used]
    if serial_rows:
        values: list[str] = []
        for i in sorted(serial_rows, key=lambda r: (cset.candidates[r].page, cset.candidates[r].bbox[1])):
            if cset.candidates[i].value not in values:
                values.append(str(cset.candidates[i].value))
        weakest = min(serial_rows, key=lambda r: p[r, serial_col])
        fields["serial_numbers"] = _entry(cset, weakest, values, float(p[weakest, serial_col]), calibrate)
    return fields


def assemble_probabilities(cset: CandidateSet, predict: Callable[[str, np.ndarray], np.ndarray]) -> np.ndarray:
    """``[n, len(CLASSES)]`` from the per-type scorers; ``predict(type, X)`` returns ``[m, len(TYPE_CLASSES[type])]``."""
    probs = np.zeros((len(cset.candidates), len(CLASSES)), dtype=np.float64)
    probs[:, 0] = 1.0
    types = np.array([c.type for c in cset.candidates])
    for ctype, classes in TYPE_CLASSES.items():
        rows = np.flatnonzero(types == ctype)
        if rows.size == 0:
            continue
        typed = predict(ctype, cset.features[rows])
        probs[rows, 0] = 0.0
        for k, name in enumerate(classes):
            probs[rows, CLASSES.index(name)] = typed[:, k]
    return probs


# A field recovered from arithmetic rather than from its label is trusted less than the fields it comes from.
COMPLETION_FACTOR = 0.85


def complete_amounts(cset: CandidateSet, fields: dict[str, dict[str, Any]]) -> list[str]:
    """Fill a missing total (or subtotal) with the printed amount that makes subtotal + tax = total hold.

    Labels like "Bedrag inclusief BTW" name both a total and a tax; when the scorer leaves the total out but
    found subtotal and tax, the arithmetic says which printed amount it is. Returns the completed field names.
    """
    names = ("subtotal_amount", "tax_amount", "total_amount")
    present = {n: fields[n] for n in names if n in fields}
    if len(present) != 2:
        return []
    missing = next(n for n in names if n not in present)
    if missing == "tax_amount":
        return []  # "tax = total - subtotal" would turn any two amounts into a tax; too weak
    sub_or_tot = present.get("subtotal_amount") or present["total_amount"]
    tax = present["tax_amount"]["value"]
    target = round(sub_or_tot["value"] + tax, 2) if missing == "total_amount" else round(sub_or_tot["value"] - tax, 2)
    used = {(e["page"], tuple(e["bbox"])) for e in fields.values()}
    rows = [i for i, c in enumerate(cset.candidates)
            if c.type == "amount" and abs(float(c.value) - target) < 0.005
            and (c.page + 1, tuple(round(v, 1) for v in c.bbox)) not in used]
    if not rows or target <= 0:
        return []
    # Totals are printed below what they add up; take the lowest match on the page of the other amounts.
    anchor_page = sub_or_tot["page"] - 1
    best = max(rows, key=lambda i: (cset.candidates[i].page == anchor_page, cset.candidates[i].page,
                                    cset.candidates[i].bbox[1]))
    c = cset.candidates[best]
    conf = COMPLETION_FACTOR * min(present[n]["confidence"] for n in present)
    fields[missing] = {"value": c.value, "confidence": round(conf, 4), "page": c.page + 1,
                       "bbox": [round(v, 1) for v in c.bbox], "_raw": 0.0, "_completed": True}
    return [missing]
