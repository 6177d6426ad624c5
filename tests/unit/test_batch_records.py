"""Batch rows ↔ score requests: the flat CSV form round-trips, types are converted as the API would, and a row the
API would refuse names its field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from returns_triage.batch.records import FLAT_COLUMNS, flatten_request, request_from_row
from returns_triage.errors import InvalidInput

EXAMPLE = json.loads((Path(__file__).resolve().parents[2] / "examples" / "score-request.json").read_text())


def _as_csv_cells(row: dict) -> dict:
    return {k: "" if v is None else str(v) for k, v in row.items()}


def test_the_flat_form_round_trips_to_the_apis_payload() -> None:
    flat = flatten_request(EXAMPLE)
    assert tuple(flat) == FLAT_COLUMNS
    assert flat["order.order_id"] == "SO-88123" and flat["line.serial_numbers"] == "DRL18-7731902"
    from_csv = request_from_row(_as_csv_cells(flat))  # every cell a string, as csv gives them
    from_json = request_from_row(EXAMPLE)
    assert from_csv == from_json
    assert from_csv["refund_amount"] == 129.0 and from_csv["line"]["quantity"] == 1
    assert from_csv["line"]["serial_numbers"] == ["DRL18-7731902"] and from_csv["document_ids"] == []
    assert from_csv["requested_at"] == "2026-11-20T09:14:00Z" and from_csv["delivery"] is None


@pytest.mark.parametrize(("change", "field"), [
    ({"refund_amount": "lots"}, "refund_amount"),
    ({"reason_text": ""}, "reason_text"),
    ({"order.order_id": ""}, "order.order_id"),
    ({"order.delivered_at": "14/11/2026"}, "order.delivered_at"),
    ({"line.quantity": "0"}, "line.quantity"),
    ({"claimed_condition": "mint"}, "claimed_condition"),
])
def test_a_row_the_api_would_refuse_names_its_field(change: dict, field: str) -> None:
    row = {**_as_csv_cells(flatten_request(EXAMPLE)), **change}
    with pytest.raises(InvalidInput) as caught:
        request_from_row(row)
    assert caught.value.field == field and caught.value.code == "invalid_row"
