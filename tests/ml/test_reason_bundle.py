"""The reason bundle as served: parity with the training pipeline, integrity, and behaviour a user would notice."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from returns_triage.errors import BundleIntegrityError
from returns_triage.models.reason import ReasonModel

TEXTS = [
    "The drill arrived with the casing cracked and the box crushed on one corner.",
    "box was fine, it's just the wrong voltage for our machines",
    "RCVD 3 OF 5 CTN, 2 MISSING VS PACKING SLIP",
    "we ordered this twice by mistake, pls cancel the second one",
]


@pytest.fixture(scope="module")
def model(reason_bundle: Path) -> ReasonModel:
    return ReasonModel.load(reason_bundle)


def test_onnx_encoder_matches_sentence_transformers(model: ReasonModel) -> None:
    from returns_triage.training.reason.encoder import encode

    ref = encode(TEXTS)
    got = model.encoder.encode(TEXTS, batch_size=3)  # mixed lengths in one batch: padding must not leak
    # Per-channel int8 keeps cosine ≥ 0.97 against fp32 (STACK.md, trap 4); fp32 is exact up to float noise.
    floor = 0.9999 if model.manifest.extra.get("encoder_precision", "fp32") == "fp32" else 0.97
    assert np.min(np.sum(ref * got, axis=1)) > floor


def test_served_scores_match_the_estimator_at_export(reason_bundle: Path) -> None:
    manifest = json.loads((reason_bundle / "manifest.json").read_text())
    metrics = manifest["metrics"]
    assert metrics["onnx_head_abstain_agreement"] == 1.0
    assert metrics["onnx_fp32_top1_agreement"] == 1.0
    assert metrics["onnx_fp32_max_prob_diff"] < 1e-3
    precision = manifest["extra"]["encoder_precision"]
    if precision != "fp32":
        assert metrics[f"onnx_{precision}_top1_agreement"] >= 0.995
    assert "onnx_int8_max_prob_diff" in metrics  # the quantised encoder is always measured and reported


def test_manifest_records_labels_thresholds_and_parity(reason_bundle: Path) -> None:
    manifest = json.loads((reason_bundle / "manifest.json").read_text())
    assert "OUT_OF_SCOPE" not in manifest["labels"] and "DEFECTIVE" in manifest["labels"]
    assert manifest["metrics"]["onnx_head_top1_agreement"] == 1.0
    thresholds = manifest["thresholds"]
    assert 0.0 <= thresholds["abstain_below_confidence"] <= 1.0 and "abstain_at_oos_score" in thresholds
    assert 0.0 < thresholds["conformal_q"] <= 1.0
    # cascade.onnx is the optional first stage (absent from bundles fitted with --no-cascade).
    assert set(manifest["files"]) - {"cascade.onnx"} == {"encoder.onnx", "head.onnx", "tokenizer.json"}


def test_a_tampered_bundle_is_refused(reason_bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "reason"
    shutil.copytree(reason_bundle, copy)
    with (copy / "head.onnx").open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(BundleIntegrityError, match="head.onnx"):
        ReasonModel.load(copy)
    (copy / "head.onnx").unlink()
    with pytest.raises(BundleIntegrityError, match="missing"):
        ReasonModel.load(copy)


def test_probabilities_are_a_distribution_and_sets_contain_the_top_code(model: ReasonModel) -> None:
    proba = model.probabilities(TEXTS)
    assert np.allclose(proba.sum(1), 1.0, atol=1e-5)
    for pred in model.predict(TEXTS):
        assert pred.prediction_set and pred.prediction_set[0] == pred.code


def test_minimum_functionality(model: ReasonModel) -> None:
    expected = ["DAMAGED_IN_TRANSIT", "INCOMPATIBLE", "QUANTITY_DISCREPANCY", "DUPLICATE_ORDER"]
    got = [p.code for p in model.predict(TEXTS)]
    assert sum(g == e for g, e in zip(got, expected, strict=True)) >= 3, got


def test_invariant_to_casing_and_a_typo(model: ReasonModel) -> None:
    base = "The drill arrived with the casing cracked and the box crushed"
    variants = [base.upper(), base.lower(), base.replace("arrived", "arived")]
    codes = {p.code for p in model.predict([base, *variants])}
    assert codes == {"DAMAGED_IN_TRANSIT"}


def test_adding_arrived_crushed_moves_towards_damaged_in_transit(model: ReasonModel) -> None:
    labels = list(model.labels)
    i = labels.index("DAMAGED_IN_TRANSIT")
    before, after = model.probabilities(["the lamp does not work", "the lamp does not work, arrived crushed"])
    assert after[i] > before[i]


def test_out_of_scope_text_is_sent_to_a_human(model: ReasonModel) -> None:
    preds = model.predict(["Can you send me a copy of last month's invoice please?",
                           "asdkj qwe zzxq lorem ipsum 12345",
                           "Please change my delivery address to Keizersgracht 12, Amsterdam"])
    assert sum(p.abstain for p in preds) >= 2, [(p.code, p.confidence) for p in preds]
