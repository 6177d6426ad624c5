"""Documents end to end: upload (content-addressed), sandboxed extraction, and the three-way match in a decision."""

from __future__ import annotations

import copy

import pytest

from returns_triage.datasets.documents import generate_documents


@pytest.fixture(scope="module")
def invoice():  # type: ignore[no-untyped-def]
    for doc in generate_documents(40, seed=11):
        if doc.document_type == "invoice" and doc.truth.fields.get("order_number"):
            return doc
    raise AssertionError("the generator made no invoice with an order number")


def _upload(client, data: bytes, name: str = "invoice.pdf"):  # type: ignore[no-untyped-def]
    return client.post("/v1/documents", files={"file": (name, data, "application/pdf")})


def test_upload_is_content_addressed_and_extracted_once(client, invoice) -> None:  # type: ignore[no-untyped-def]
    first = _upload(client, invoice.pdf)
    assert first.status_code == 201, first.text
    record = first.json()
    import hashlib

    assert record["document_id"] == hashlib.sha256(invoice.pdf).hexdigest()
    extraction = record["extraction"]
    assert extraction["error"] is None and extraction["document_type"] == "invoice"
    assert extraction["fields"]["order_number"]["value"] == invoice.truth.fields["order_number"]
    again = _upload(client, invoice.pdf, "same-bytes.pdf")
    assert again.json()["document_id"] == record["document_id"]
    assert client.get(f"/v1/documents/{record['document_id']}").json()["extraction"] == extraction


@pytest.mark.parametrize(
    ("data", "code"),
    [(b"this is not a pdf at all", "not_a_pdf"), (b"%PDF-1.7\n1 0 obj <<", "corrupt")],
)
def test_unreadable_files_are_stored_with_a_typed_error_not_a_5xx(client, data, code) -> None:  # type: ignore[no-untyped-def]
    resp = _upload(client, data, "bad.pdf")
    assert resp.status_code == 201
    error = resp.json()["extraction"]["error"]
    assert error["code"] in {code, "corrupt", "not_a_pdf"} and error["message"]


def test_empty_upload_is_a_422(client) -> None:  # type: ignore[no-untyped-def]
    resp = _upload(client, b"")
    assert resp.status_code == 422 and resp.json()["code"] == "empty_file"


def test_a_decision_carries_fields_and_findings_of_its_documents(client, invoice, score_body) -> None:  # type: ignore[no-untyped-def]
    document_id = _upload(client, invoice.pdf).json()["document_id"]
    matching = copy.deepcopy(score_body)
    matching["order"]["order_id"] = invoice.truth.fields["order_number"]
    matching["document_ids"] = [document_id]
    decision = client.post("/v1/returns/score", json=matching, headers={"Idempotency-Key": "doc-match"}).json()
    docs = decision["documents"]
    assert docs["document_ids"] == [document_id]
    assert docs["extractions"][0]["fields"]["order_number"]["value"] == invoice.truth.fields["order_number"]
    assert not [f for f in docs["findings"] if f["code"] == "order_number_mismatch"]

    mismatched = copy.deepcopy(matching)
    mismatched["order"]["order_id"] = "SO-DOES-NOT-MATCH"
    decision = client.post("/v1/returns/score", json=mismatched, headers={"Idempotency-Key": "doc-mismatch"}).json()
    codes = [f["code"] for f in decision["documents"]["findings"]]
    assert "order_number_mismatch" in codes
    assert decision["route"] == "review"
    assert any("order_number_mismatch" in r for r in decision["reasons"])


def test_an_unknown_document_id_is_a_422_naming_it(client, score_body) -> None:  # type: ignore[no-untyped-def]
    score_body["document_ids"] = ["0" * 64]
    resp = client.post("/v1/returns/score", json=score_body, headers={"Idempotency-Key": "doc-unknown"})
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "document_ids[0]"
