"""Seeded synthetic business documents (invoices, packing slips, RMA forms, credit memos, delivery receipts,
inspection reports) as PDFs with ground truth, across layout families that benchmarks hold out whole."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from returns_triage.datasets.documents.families import FAMILIES, HELDOUT_FAMILIES, TRAIN_FAMILIES, LayoutFamily, family
from returns_triage.datasets.documents.render import FieldBox, render_document, render_other, truth_with_boxes
from returns_triage.datasets.documents.values import FIELDS_BY_TYPE, DocumentTruth, sample_truth

__all__ = ["SyntheticDocument", "generate_documents", "FAMILIES", "HELDOUT_FAMILIES", "TRAIN_FAMILIES",
           "LayoutFamily", "family", "DOCUMENT_TYPES"]

DOCUMENT_TYPES: tuple[str, ...] = (*FIELDS_BY_TYPE, "other")
# Invoices dominate real return paperwork; the other types still get a fair share; "other" pages (reports,
# minutes, data sheets) teach the models what no field looks like.
_TYPE_WEIGHTS = (4, 2, 2, 2, 1, 1, 1)


@dataclass(frozen=True, slots=True)
class SyntheticDocument:
    pdf: bytes
    family: str
    document_type: str
    truth: DocumentTruth
    boxes: list[FieldBox]

    def truth_json(self) -> dict[str, Any]:
        data = truth_with_boxes(self.truth, self.boxes)
        data["family"] = self.family
        return data


def generate_documents(n: int, *, seed: int = 0, families: Sequence[str] | None = None) -> Iterator[SyntheticDocument]:
    """``n`` documents, round-robin over ``families`` (all by default); the same seed gives the same PDFs."""
    names = list(families) if families is not None else [f.name for f in FAMILIES]
    rng = random.Random(seed)
    for i in range(n):
        fam = family(names[i % len(names)])
        doc_type = rng.choices(DOCUMENT_TYPES, weights=_TYPE_WEIGHTS)[0]
        if doc_type == "other":
            truth = DocumentTruth("other", {}, [], [], [], 0.0)
            pdf, boxes = render_other(fam, rng), []
        else:
            truth = sample_truth(rng, doc_type, rng.choice(fam.currencies))
            pdf, boxes = render_document(truth, fam, rng)
        yield SyntheticDocument(pdf, fam.name, doc_type, truth, boxes)
