"""A reason bundle fitted with calibration rows fuses the lexical view into its head: what is served (ONNX, word
pieces read by the head) must match the estimator, and the `reason predict` contract must hold."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from returns_triage.models.reason import ReasonModel


@pytest.fixture(scope="module")
def fused_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from returns_triage.datasets.reasons import generate_corpus, split_by_template
    from returns_triage.training.reason.pipeline import ReasonTrainingData, fit_reason_bundle

    examples = generate_corpus(seed=3, per_code=25)
    fit, calib = split_by_template(examples, test_fraction=0.3, seed=1)
    out = tmp_path_factory.mktemp("fused") / "reason"
    repo_cache = Path(__file__).resolve().parents[2] / "var" / "cache"
    fit_reason_bundle(ReasonTrainingData([e.text for e in fit], [e.label for e in fit]), out,
                      valid=ReasonTrainingData([e.text for e in calib], [e.label for e in calib]),
                      ood_label="OUT_OF_SCOPE", cache_dir=repo_cache, quantize=False, cascade=False, log=False)
    return out


def test_the_fused_head_reads_word_pieces_and_matches_the_estimator(fused_bundle: Path) -> None:
    manifest = json.loads((fused_bundle / "manifest.json").read_text())
    assert manifest["calibration"]["lexical_weight"] >= 0.0
    assert manifest["extra"]["lexical_view"]["fused_in"] == "head.onnx"
    inputs = {i.name for i in onnx.load(str(fused_bundle / "head.onnx")).graph.input}
    assert inputs == {"embedding", "token_ids", "token_mask"}
    metrics = manifest["metrics"]
    assert metrics["onnx_head_top1_agreement"] == 1.0 and metrics["onnx_head_abstain_agreement"] == 1.0
    assert metrics["onnx_fp32_top1_agreement"] == 1.0 and metrics["onnx_fp32_max_prob_diff"] < 1e-3


def test_the_fused_model_needs_the_texts_of_its_embeddings(fused_bundle: Path) -> None:
    model = ReasonModel.load(fused_bundle)
    texts = ["the drill arrived with the casing cracked", "we ordered this twice by mistake"]
    emb = model.embed(texts)
    assert model.fuses_lexical_view
    with pytest.raises(ValueError, match="texts"):
        model.scores_from_embeddings(emb)
    proba, score = model.scores_from_embeddings(emb, texts)
    np.testing.assert_allclose(proba, model.scores(texts)[0], atol=1e-6)
    # Each text is scored on its own word pieces, whatever else is in the batch.
    np.testing.assert_allclose(model.scores(texts[:1])[0][0], proba[0], atol=1e-5)


def test_reason_predict_contract_with_a_fused_bundle(fused_bundle: Path, tmp_path: Path) -> None:
    from returns_triage.models.reason.batch import predict_csv

    src = tmp_path / "in.csv"
    with src.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text"])
        w.writerows([["box crushed, item broken"], [""], ["wrong voltage, box was fine"]])
    n = predict_csv(fused_bundle, src, tmp_path / "out.csv")
    with (tmp_path / "out.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert n == 3 and [r["text"] for r in rows] == ["box crushed, item broken", "", "wrong voltage, box was fine"]
    assert rows[1]["abstain"] == "true"
    assert all(0.0 <= float(r["confidence"]) <= 1.0 for r in rows)


def test_a_bundle_calibrated_out_of_fold_keeps_the_embedding_head(reason_bundle: Path) -> None:
    manifest = json.loads((reason_bundle / "manifest.json").read_text())
    assert manifest["calibration"].get("lexical_weight") is None and "lexical_view" not in manifest["extra"]
    assert not ReasonModel.load(reason_bundle).fuses_lexical_view
