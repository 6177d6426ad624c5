"""`triage reason predict`: one output row per input row, in order."""

from __future__ import annotations

import csv
from pathlib import Path

from returns_triage.errors import InvalidInput
from returns_triage.models.reason.runtime import ReasonModel

__all__ = ["predict_csv"]


def predict_csv(model_dir: Path, input_csv: Path, output_csv: Path, *, text_col: str = "text",
                batch_size: int = 64) -> int:
    model = ReasonModel.load(model_dir)
    csv.field_size_limit(10_000_000)
    with input_csv.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if text_col not in (reader.fieldnames or []):
            raise InvalidInput(f"{input_csv}: no column {text_col!r}; found {reader.fieldnames}")
        texts = [(row[text_col] or "") for row in reader]
    output_csv.parent.mkdir(parents=True, exist_ok=True)
    with output_csv.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["text", "label", "confidence", "abstain", "prediction_set", "out_of_scope_score"])
        for start in range(0, len(texts), 1024):
            chunk = texts[start : start + 1024]
            # An empty text has no reason in it: the model abstains rather than guessing.
            for text, pred in zip(chunk, model.predict([t if t.strip() else "-" for t in chunk], batch_size),
                                  strict=True):
                abstain = pred.abstain or not text.strip()
                writer.writerow([text, pred.code, f"{pred.confidence:.6f}", "true" if abstain else "false",
                                 "|".join(pred.prediction_set), f"{pred.out_of_scope_score:.6f}"])
    return len(texts)
