"""Field confidence on scanned documents: a field is only as trustworthy as the OCR'd words it was read from.

The learned scorer says how likely a candidate is, say, the invoice total; it cannot tell that OCR may have
misread a digit. :func:`apply_word_confidence` multiplies each field's confidence by a factor of the joint OCR
confidence of the words the value was read from (their product: a value is right only if every word is), so a
field printed in a smudge is sent to a human while a crisp one keeps its confidence.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from returns_triage.models.documents.candidates import Candidate, CandidateSet

__all__ = ["WORD_CONFIDENCE_POINTS", "word_confidence_factor", "field_word_confidence", "apply_word_confidence"]

# (joint word confidence, factor) — piecewise linear, monotone. Tesseract rates a clean word 0.93-0.97; below
# ~0.6 a value is more often misread than not. Chosen on scanned copies of held-out layout families so that
# fields at confidence >= 0.9 stay right >= 97 % of the time (`triage bench documents`,
# metric precision_at_conf_0_9_ocr).
WORD_CONFIDENCE_POINTS: tuple[tuple[float, float], ...] = ((0.0, 0.3), (0.5, 0.45), (0.7, 0.75), (0.85, 0.93),
                                                           (0.92, 1.0), (1.0, 1.0))


def word_confidence_factor(word_confidence: float) -> float:
    """The multiplier for a field whose words have joint OCR confidence ``word_confidence`` (1.0: a text
    layer)."""
    xs, ys = zip(*WORD_CONFIDENCE_POINTS, strict=True)
    return float(np.interp(word_confidence, xs, ys))


def _candidate_words_confidence(candidate: Candidate) -> float:
    words = candidate.line.words[candidate.start : candidate.start + candidate.n_words]
    return math.prod(w.confidence for w in words)


def field_word_confidence(cset: CandidateSet, name: str, entry: dict[str, Any]) -> float:
    """The joint OCR confidence of the words a decoded field was read from (1.0 when not found); for serial
    numbers, of every serial in the list, since the list is right only if each of them is."""
    key = (int(entry["page"]) - 1, tuple(round(float(v), 1) for v in entry["bbox"]))
    if name == "serial_numbers" and isinstance(entry.get("value"), list):
        values = {str(v) for v in entry["value"]}
        serials = {id(c): c for c in cset.candidates if c.type == "identifier" and str(c.value) in values}
        return math.prod(_candidate_words_confidence(c) for c in serials.values())
    matches = [c for c in cset.candidates if (c.page, tuple(round(v, 1) for v in c.bbox)) == key]
    return min((_candidate_words_confidence(c) for c in matches), default=1.0)


def apply_word_confidence(cset: CandidateSet, fields: dict[str, dict[str, Any]]) -> None:
    """Lower each field's ``confidence`` in place by the OCR confidence of its words; records ``_ocr`` (their
    joint confidence). A document from a text layer (every word at 1.0) is left unchanged."""
    for name, entry in fields.items():
        weakest = field_word_confidence(cset, name, entry)
        entry["_ocr"] = weakest
        entry["confidence"] = round(float(entry["confidence"]) * word_confidence_factor(weakest), 4)
