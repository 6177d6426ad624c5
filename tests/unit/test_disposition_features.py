"""Disposition features: stable hashed notes, robust to case, umlauts and typos; strict about bad input;
explicit about what is unknown."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from returns_triage.errors import InvalidInput
from returns_triage.models.disposition.features import (
    STRUCTURED_NAMES, round_note_probabilities, structured_features,
)
from returns_triage.models.disposition.notes import NOTE_DIM, normalise_note, note_vector

_IX = {n: i for i, n in enumerate(STRUCTURED_NAMES)}
INSPECTION = {"grade": "B", "notes": "Kratzer am Gehäuse, funktioniert noch", "serial_check": "match",
              "packaging": "opened_intact", "photos": {"count": 2, "flags": ["damage_visible"]}}
CONTEXT = {"category": "power_tools", "unit_price": 129.0, "quantity": 1, "reason_code": "DAMAGED_IN_TRANSIT",
           "days_since_delivery": 40, "supplier": {"warranty_days": 365, "accepts_returns": True},
           "segment": "consumer", "fraud_score": 0.02}


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_notes_are_normalised_and_hashed_stably_across_processes():
    assert normalise_note("OVP beschädigt!!  S/N: ok") == "ovp beschaedigt s n ok"
    v = note_vector("Motor dreht nicht, Fehler reproduziert")
    assert v.shape == (NOTE_DIM,) and v.dtype == np.float32
    assert abs(float(np.linalg.norm(v)) - 1.0) < 1e-5
    code = ("from returns_triage.models.disposition.notes import note_vector; import numpy as np; "
            "v = note_vector('Motor dreht nicht, Fehler reproduziert'); print(int(np.flatnonzero(v).sum()))")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert int(other.stdout) == int(np.flatnonzero(v).sum())  # crc32, not the salted built-in hash


def test_typos_and_spelling_variants_stay_close():
    clean = note_vector("Shows normal signs of use, works.")
    assert _cos(clean, note_vector("shows normal sings of use, owrks")) > 0.6
    assert _cos(note_vector("OVP beschädigt"), note_vector("ovp beschaedigt")) == pytest.approx(1.0)
    assert _cos(clean, note_vector("EMPTY BOX")) < 0.2
    assert not note_vector("").any() and not note_vector(None).any()


def test_structured_features_encode_the_inspection_and_context():
    x = structured_features(INSPECTION, CONTEXT)
    assert x.dtype == np.float32 and x.shape == (len(STRUCTURED_NAMES),)
    assert x[_IX["grade_rank"]] == 2 and x[_IX["grade=B"]] == 1
    assert x[_IX["photo_flag=damage_visible"]] == 1 and x[_IX["photo_count"]] == 2
    assert x[_IX["warranty_days_left"]] == 325 and x[_IX["under_supplier_warranty"]] == 1
    assert x[_IX["category=power_tools"]] == 1 and x[_IX["reason=DAMAGED_IN_TRANSIT"]] == 1
    assert x[_IX["fraud_score"]] == pytest.approx(0.02)


def test_absent_optional_inputs_are_marked_unknown():
    x = structured_features({"notes": "see photos"}, {"unit_price": 10.0, "category": "toys"})
    for name in ("grade=unknown", "serial=unknown", "packaging=unknown", "reason=unknown", "segment=unknown",
                 "category=other"):
        assert x[_IX[name]] == 1, name
    assert x[_IX["fraud_score"]] == -1 and x[_IX["under_supplier_warranty"]] == -1


@pytest.mark.parametrize(("inspection", "context", "field"), [
    ({"grade": "E"}, {"unit_price": 10.0}, "inspection.grade"),
    ({"serial_check": "maybe"}, {"unit_price": 10.0}, "inspection.serial_check"),
    ({"notes": 42}, {"unit_price": 10.0}, "inspection.notes"),
    ({}, {}, "context.unit_price"),
    ({}, {"unit_price": -3}, "context.unit_price"),
    ({}, {"unit_price": 3, "fraud_score": 1.5}, "context.fraud_score"),
])
def test_unusable_input_is_rejected_with_the_field_named(inspection, context, field):
    with pytest.raises(InvalidInput) as err:
        structured_features(inspection, context)
    assert err.value.field == field


def test_note_probabilities_are_rounded_for_tree_parity():
    p = np.array([[0.123456, 0.876544]], dtype=np.float32)
    assert round_note_probabilities(p).tolist() == [[pytest.approx(0.12), pytest.approx(0.88)]]
