"""The reason cascade as served: the ONNX first stage computes what its estimator computes, answers only texts
it is sure of (never out-of-scope-looking ones), leaves the prediction format unchanged, can be switched off,
and is covered by the bundle's integrity check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from returns_triage.errors import BundleIntegrityError, ConfigurationError
from returns_triage.models.reason import ReasonModel, ReasonPrediction
from returns_triage.settings import Settings

REPO = Path(__file__).resolve().parents[2]

OUT_OF_SCOPE_LOOKING = [
    "what will the weather be like in Lisbon tomorrow",
    "tell me a joke about penguins",
    "how many calories are in a banana",
    "set an alarm for 6am please",
    "who won the football match last night",
    "translate good morning into Japanese",
    "asdf qwerty zxcv",
    "",
]


@pytest.fixture(scope="module")
def model(reason_bundle: Path) -> ReasonModel:
    return ReasonModel.load(reason_bundle)


@pytest.fixture(scope="module")
def in_scope_texts() -> list[str]:
    from returns_triage.datasets.reasons import OUT_OF_SCOPE, generate_corpus

    examples = [e for e in generate_corpus(seed=7, per_code=20) if e.label != OUT_OF_SCOPE]
    return [e.text for e in examples]


def test_bundle_lists_and_hashes_the_first_stage(reason_bundle: Path) -> None:
    manifest = json.loads((reason_bundle / "manifest.json").read_text())
    assert "cascade.onnx" in manifest["files"]
    config = manifest["extra"]["cascade"]
    assert 0.5 <= config["accept_at_confidence"] <= 1.0
    assert manifest["metrics"]["onnx_cascade_top1_agreement"] == 1.0
    assert manifest["metrics"]["onnx_cascade_accept_agreement"] >= 0.995


def test_onnx_first_stage_matches_its_estimator(reason_bundle: Path, in_scope_texts: list[str],
                                                tmp_path: Path) -> None:
    from returns_triage.datasets.reasons import OUT_OF_SCOPE, generate_corpus
    from returns_triage.models.reason.cascade import CascadeStage
    from returns_triage.training.reason.cascade import (
        FirstStageClassifier,
        export_first_stage_onnx,
        static_token_table,
    )

    tokenizer = reason_bundle / "tokenizer.json"
    # The session fixture distilled this table already; the cache makes this a file read.
    table = static_token_table(reason_bundle / "encoder.onnx", tokenizer, REPO / "var" / "cache")
    train = [e for e in generate_corpus(seed=3, per_code=25) if e.label != OUT_OF_SCOPE]
    stage = FirstStageClassifier(str(tokenizer), table, static_dim=64).fit([e.text for e in train],
                                                                           [e.label for e in train])
    stage.temperature_ = 1.7  # a non-trivial temperature must be folded in the same way
    export_first_stage_onnx(stage, tmp_path / "cascade.onnx")
    texts = in_scope_texts[:150] + OUT_OF_SCOPE_LOOKING + ["the the the the", "RCVD 3 OF 5 CTN"]
    ref = stage.views(texts)
    got = CascadeStage(tmp_path / "cascade.onnx", tokenizer,
                       {"accept_at_confidence": 0.9, "defer_at_oos_score": 0.5}).raw(texts)
    for key in ("probabilities", "lexical_probabilities", "static_probabilities", "out_of_scope_score"):
        assert np.abs(ref[key] - got[key]).max() < 1e-4, key
    assert (ref["probabilities"].argmax(1) == got["probabilities"].argmax(1)).all()


def _assert_well_formed(pred: ReasonPrediction, labels: set[str]) -> None:
    assert pred.code in labels and pred.code in pred.prediction_set
    assert set(pred.prediction_set) <= labels
    assert 0.0 <= pred.confidence <= 1.0 and 0.0 <= pred.out_of_scope_score
    assert isinstance(pred.abstain, bool) and pred.stage in {"first_stage", "encoder"}
    assert pred.top[0][0] == pred.code and len(pred.top) == min(3, len(labels))


def test_cascade_keeps_the_prediction_format_and_mostly_the_answers(model: ReasonModel,
                                                                    in_scope_texts: list[str]) -> None:
    texts = in_scope_texts + OUT_OF_SCOPE_LOOKING
    labels = set(model.manifest.labels)
    full = model.with_cascade(False).predict(texts)
    cascade = model.predict(texts, batch_size=16)
    assert len(cascade) == len(texts)
    answered = [i for i, p in enumerate(cascade) if p.stage == "first_stage"]
    assert len(answered) >= 0.2 * len(in_scope_texts), "the first stage should answer a share of easy texts"
    for pred in cascade:
        _assert_well_formed(pred, labels)
    for i in answered:
        assert not cascade[i].abstain
        assert cascade[i].out_of_scope_score < model.oos_threshold
    agree = np.mean([cascade[i].code == full[i].code for i in answered])
    # The small test bundle's first stage answers ~10 of these; one disagreement is tolerated, two are not.
    assert agree >= 0.9
    # Deferred texts get the full model's answer (batched differently: int8 activation scales are per batch).
    for i, pred in enumerate(cascade):
        if pred.stage == "encoder":
            assert pred.code == full[i].code
            assert pred.confidence == pytest.approx(full[i].confidence, abs=0.02)


def test_out_of_scope_looking_text_is_deferred_to_the_encoder(model: ReasonModel) -> None:
    preds = model.predict(OUT_OF_SCOPE_LOOKING)
    assert all(p.stage == "encoder" for p in preds)
    full = model.with_cascade(False).predict(OUT_OF_SCOPE_LOOKING)
    assert [p.abstain for p in preds] == [p.abstain for p in full]


def test_the_setting_switches_the_first_stage_off(reason_bundle: Path, in_scope_texts: list[str]) -> None:
    assert Settings.from_env({}).reason_cascade is True
    settings = Settings.from_env({"TRIAGE_REASON_CASCADE": "off"})
    assert settings.reason_cascade is False
    with pytest.raises(ConfigurationError, match="TRIAGE_REASON_CASCADE"):
        Settings.from_env({"TRIAGE_REASON_CASCADE": "sometimes"})
    off = ReasonModel.load(reason_bundle, cascade=settings.reason_cascade)
    assert not off.uses_cascade
    assert all(p.stage == "encoder" for p in off.predict(in_scope_texts[:40]))
    assert off.with_cascade(True).uses_cascade


def test_a_tampered_first_stage_is_refused(reason_bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "reason"
    shutil.copytree(reason_bundle, copy)
    with (copy / "cascade.onnx").open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(BundleIntegrityError, match="cascade.onnx"):
        ReasonModel.load(copy)
    (copy / "cascade.onnx").unlink()
    with pytest.raises(BundleIntegrityError, match="missing"):
        ReasonModel.load(copy)


def test_length_grouped_encoding_matches_one_text_at_a_time(model: ReasonModel, in_scope_texts: list[str]) -> None:
    texts = in_scope_texts[:24] + ["short", "a much longer reason text " * 12]
    grouped = model.embed(texts, batch_size=16)
    alone = np.vstack([model.encoder.encode([t]) for t in texts])
    assert grouped.shape == alone.shape
    # Each row is its own text's embedding (an int8 encoder scales activations per batch, hence not exact).
    cosine = (grouped * alone).sum(axis=1) / (np.linalg.norm(grouped, axis=1) * np.linalg.norm(alone, axis=1))
    assert cosine.min() > 0.99
