"""The disposition bundle end to end: ONNX parity, calibration, far cheaper mistakes than the grade-A rule,
recommendations that move the right way, verifiable factors, and a serving path without scikit-learn."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from returns_triage.datasets.returns_world import WorldConfig, simulate_world
from returns_triage.datasets.returns_world.inspections import (
    DISPOSITIONS, disposition_cost, rule_baseline, simulate_inspections,
)
from returns_triage.errors import BundleIntegrityError, InvalidInput
from returns_triage.evaluation.metrics import expected_calibration_error, macro_f1
from returns_triage.models.disposition import DispositionModel
from returns_triage.training.disposition.export import onnx_parity
from returns_triage.training.disposition.pipeline import (
    fit_disposition_model, full_features, labels_of, notes_sparse, write_disposition_bundle,
)

pytestmark = pytest.mark.slow
CONTEXT = {"category": "power_tools", "sku": "POW-00012", "unit_price": 180.0, "quantity": 1,
           "reason_code": "DEFECTIVE", "days_since_delivery": 60,
           "supplier": {"supplier_id": "SUP-001", "warranty_days": 365, "accepts_returns": True},
           "segment": "consumer", "channel": "portal", "fraud_score": 0.01}


@pytest.fixture(scope="module")
def world_inspections():
    return simulate_inspections(simulate_world(WorldConfig(seed=21, customers=3_500, months=12)))


@pytest.fixture(scope="module")
def trained(world_inspections, tmp_path_factory):
    ins, day = world_inspections, world_inspections.inspected_day
    model = fit_disposition_model(ins.select(day < 255), ins.select((day >= 255) & (day < 300)), seed=0,
                                  max_iter=60, folds=3)
    bundle = tmp_path_factory.mktemp("disposition_bundle")
    manifest = write_disposition_bundle(bundle, model, ins.select((day >= 255) & (day < 300)))
    return {"model": model, "bundle": bundle, "manifest": manifest}


@pytest.fixture(scope="module")
def unseen(world_inspections):
    """The later months the model never saw, as in the benchmark (same catalogue and suppliers)."""
    return world_inspections.select(world_inspections.inspected_day >= 300)


@pytest.fixture(scope="module")
def model(trained):
    return DispositionModel.load(trained["bundle"])


def test_onnx_agrees_with_scikit_learn_on_every_label(trained, model, unseen):
    sk = trained["model"]
    notes = onnx_parity(sk.notes_model, trained["bundle"] / "disposition_notes.onnx",
                        notes_sparse([i["notes"] for i in unseen.inspections]))
    trees = onnx_parity(sk.model, trained["bundle"] / "disposition.onnx", full_features(sk, unseen))
    assert notes["onnx_label_agreement"] == 1.0 and trees["onnx_label_agreement"] == 1.0
    assert notes["onnx_max_proba_diff"] < 1e-5 and trees["onnx_max_proba_diff"] < 1e-5
    serving = model.probabilities(unseen.inspections, unseen.contexts).argmax(axis=1)
    assert np.array_equal(serving, sk.model.predict(full_features(sk, unseen)))  # the whole path, end to end
    assert trained["manifest"].metrics["onnx_label_agreement"] == 1.0


def test_confidence_is_calibrated_and_mistakes_cost_far_less_than_the_rule(model, unseen):
    p = model.probabilities(unseen.inspections, unseen.contexts)
    y, pred = labels_of(unseen), p.argmax(axis=1)
    assert expected_calibration_error(p.max(axis=1), pred == y) < 0.05
    assert macro_f1(y, pred, np.arange(len(DISPOSITIONS))) > 0.8
    value = np.array([c["unit_price"] for c in unseen.contexts])
    model_cost = disposition_cost(y, pred, value).mean()
    rule_cost = disposition_cost(y, rule_baseline(unseen.inspections), value).mean()
    assert model_cost < 0.5 * rule_cost


def test_a_recommendation_has_the_documented_shape(model, unseen):
    for i in range(0, 400, 40):
        r = model.recommend(unseen.inspections[i], unseen.contexts[i])
        assert set(r) == {"disposition", "confidence", "abstain", "alternatives", "factors", "model_version"}
        assert r["disposition"] in DISPOSITIONS and 0.0 <= r["confidence"] <= 1.0
        assert r["abstain"] == (r["confidence"] < model.abstain_below)
        assert all(a["probability"] <= r["confidence"] and a["disposition"] != r["disposition"]
                   for a in r["alternatives"])
        assert r["factors"] and all(f["code"] and f["text"] for f in r["factors"])
        assert r["model_version"] == model.version


def test_recommendations_move_with_the_evidence(model):
    defective = {"grade": "C", "notes": "startet nicht, defekt bestätigt, SN passt", "serial_check": "match",
                 "packaging": "opened_intact", "photos": {"count": 1, "flags": []}}
    assert model.recommend(defective, CONTEXT)["disposition"] == "return_to_vendor"
    no_warranty = {**CONTEXT, "unit_price": 19.0, "supplier": {"warranty_days": 0, "accepts_returns": False}}
    assert model.recommend(defective, no_warranty)["disposition"] == "scrap"
    empty = {"grade": "D", "notes": "EMPTY BOX / SN MISMATCH", "serial_check": "mismatch",
             "packaging": "opened_intact", "photos": {"count": 3, "flags": ["label_mismatch"]}}
    swapped = model.recommend(empty, {**CONTEXT, "fraud_score": 0.7})  # a switch rarely scores low at intake
    assert swapped["disposition"] == "quarantine"
    assert "fraud_risk" in {f["code"] for f in swapped["factors"]}
    sealed = {"grade": "A", "notes": "Unopened, factory seal intact.", "serial_check": "match",
              "packaging": "sealed", "photos": {"count": 0, "flags": []}}
    fresh = model.recommend(sealed, {**CONTEXT, "reason_code": "NO_LONGER_NEEDED", "days_since_delivery": 9})
    assert fresh["disposition"] == "restock" and not fresh["abstain"]


def test_bad_input_is_refused_with_the_field_named(model):
    with pytest.raises(InvalidInput):
        model.recommend({"grade": "Z"}, CONTEXT)


def test_a_tampered_bundle_is_refused(trained, tmp_path):
    for item in trained["bundle"].iterdir():
        (tmp_path / item.name).write_bytes(item.read_bytes())
    data = bytearray((tmp_path / "disposition.onnx").read_bytes())
    data[-1] ^= 1
    (tmp_path / "disposition.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError):
        DispositionModel.load(tmp_path)


def test_serving_never_imports_scikit_learn(trained):
    code = (
        "import sys; from pathlib import Path; from returns_triage.models.disposition import DispositionModel; "
        f"m = DispositionModel.load(Path({str(trained['bundle'])!r})); "
        "r = m.recommend({'grade': 'B', 'notes': 'USED LIGHT SCUFFS'}, {'unit_price': 30.0}); "
        "assert r['disposition']; "
        "assert 'sklearn' not in sys.modules and 'skl2onnx' not in sys.modules and 'scipy' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
