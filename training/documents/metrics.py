"""Field-level scoring of extractions against ground truth (shared by training, tests and the benchmark)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from returns_triage.models.documents.lexicon import AMOUNT_FIELDS, FIELDS, TEXT_FIELDS, fold

__all__ = ["value_matches", "FieldTally", "score_fields"]


def _norm_id(v: Any) -> str:
    return "".join(ch for ch in str(v).upper() if ch.isalnum())


def value_matches(name: str, predicted: Any, truth: Any) -> bool:
    if predicted is None or truth is None:
        return False
    if name in AMOUNT_FIELDS:
        try:
            return abs(float(predicted) - float(truth)) < 0.005
        except (TypeError, ValueError):
            return False
    if name in TEXT_FIELDS:
        return " ".join(fold(str(predicted)).split()) == " ".join(fold(str(truth)).split())
    if name == "serial_numbers":
        if isinstance(truth, list) and isinstance(predicted, list):
            return {_norm_id(s) for s in predicted} == {_norm_id(s) for s in truth}
        return isinstance(truth, list) and _norm_id(predicted) in {_norm_id(s) for s in truth}
    if name in ("currency", "carrier"):
        return str(predicted) == str(truth)
    return _norm_id(predicted) == _norm_id(truth)


@dataclass
class FieldTally:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    confident: int = 0  # predictions with confidence >= 0.9
    confident_correct: int = 0
    per_field: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0]))
    scored: list[tuple[float, bool]] = field(default_factory=list)

    def add(self, predicted: dict[str, dict[str, Any]], truth: dict[str, Any]) -> None:
        for name in FIELDS:
            pred = predicted.get(name)
            has_truth = truth.get(name) not in (None, [], "")
            ok = pred is not None and has_truth and value_matches(name, pred["value"], truth[name])
            counts = self.per_field[name]
            if pred is not None:
                self.scored.append((float(pred["confidence"]), ok))
                if pred["confidence"] >= 0.9:
                    self.confident += 1
                    self.confident_correct += ok
            if ok:
                self.tp += 1
                counts[0] += 1
            else:
                if pred is not None:
                    self.fp += 1
                    counts[1] += 1
                if has_truth:
                    self.fn += 1
                    counts[2] += 1

    @staticmethod
    def _f1(tp: int, fp: int, fn: int) -> float:
        return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0

    @property
    def f1(self) -> float:
        return self._f1(self.tp, self.fp, self.fn)

    @property
    def precision_at_0_9(self) -> float | None:
        return self.confident_correct / self.confident if self.confident else None

    def field_f1(self) -> dict[str, float]:
        return {name: round(self._f1(*counts), 4) for name, counts in sorted(self.per_field.items()) if sum(counts)}


def score_fields(pairs: list[tuple[dict[str, dict[str, Any]], dict[str, Any]]]) -> FieldTally:
    tally = FieldTally()
    for predicted, truth in pairs:
        tally.add(predicted, truth)
    return tally
