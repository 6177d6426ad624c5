"""Line items and candidates read back from generated PDFs (trusted input, parsed in-process)."""

from __future__ import annotations

from returns_triage.datasets.documents import generate_documents
from returns_triage.models.documents.candidates import FEATURE_NAMES, build_candidates
from returns_triage.models.documents.layout import group_lines
from returns_triage.models.documents.pdf_words import words_from_pdf
from returns_triage.models.documents.safe_parse import ParsedDocument
from returns_triage.models.documents.tables import parse_line_items


def test_line_items_match_ground_truth_including_multi_page_tables() -> None:
    docs = [d for d in generate_documents(40, seed=11) if d.document_type != "other"]
    multi_page = 0
    for doc in docs:
        parsed = ParsedDocument.from_raw(words_from_pdf(doc.pdf))
        multi_page += len(parsed.page_sizes) > 1
        got = [(li["sku"], li["quantity"], li["unit_price"], li["amount"]) for li in parse_line_items(group_lines(parsed))]
        want = [(li.sku, li.quantity, li.unit_price, li.amount) for li in doc.truth.line_items]
        assert got == want, doc.family
    assert multi_page >= 1


def test_every_printed_field_value_is_a_candidate() -> None:
    for doc in generate_documents(14, seed=5):
        cset = build_candidates(ParsedDocument.from_raw(words_from_pdf(doc.pdf)))
        assert cset.features.shape == (len(cset.candidates), len(FEATURE_NAMES))
        values = {str(c.value) for c in cset.candidates}
        for name, value in doc.truth_json()["fields"].items():
            if name in ("serial_numbers", "currency"):
                continue
            expected = f"{value}" if not isinstance(value, float) else f"{round(value, 2)}"
            assert expected in values or " ".join(str(value).split()) in values, (doc.family, name, value)


def test_missing_total_is_completed_from_subtotal_plus_tax() -> None:
    from returns_triage.models.documents.decode import COMPLETION_FACTOR, complete_amounts

    doc = next(d for d in generate_documents(20, seed=2) if d.document_type == "invoice"
               and d.truth.fields["tax_amount"] > 0)
    cset = build_candidates(ParsedDocument.from_raw(words_from_pdf(doc.pdf)))

    def entry(name: str) -> dict[str, object]:
        c = next(c for c in reversed(cset.candidates) if c.type == "amount" and c.value == doc.truth.fields[name])
        return {"value": c.value, "confidence": 0.96, "page": c.page + 1, "bbox": [round(v, 1) for v in c.bbox]}

    fields = {"subtotal_amount": entry("subtotal_amount"), "tax_amount": entry("tax_amount")}
    assert complete_amounts(cset, fields) == ["total_amount"]
    assert fields["total_amount"]["value"] == doc.truth.fields["total_amount"]
    assert fields["total_amount"]["confidence"] == round(0.96 * COMPLETION_FACTOR, 4)
    # Nothing to complete when all three are there, and a tax is never guessed.
    assert complete_amounts(cset, fields) == []
    del fields["tax_amount"]
    assert complete_amounts(cset, fields) == []
