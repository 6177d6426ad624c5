"""The synthetic return-reason corpus: sizes, determinism, coverage, template splits, negations and CSV."""

from __future__ import annotations

import csv
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from returns_triage.datasets.reasons import (
    CHANNELS,
    OUT_OF_SCOPE,
    REASON_CODES,
    REASON_DESCRIPTIONS,
    ReasonExample,
    generate_corpus,
    split_by_template,
    write_csv,
)
from returns_triage.datasets.reasons.generator import render_example
from returns_triage.datasets.reasons.templates import TEMPLATES, compile_pattern, templates_for

LABELS = (*REASON_CODES, OUT_OF_SCOPE)
NEGATION_CUES = ("not", "n't", "nothing", "no ", "fine", "perfect", "intact", "undamaged", "sealed", "right",
                 "correct", "exactly")


@pytest.fixture(scope="module")
def corpus() -> list[ReasonExample]:
    return generate_corpus(seed=7, per_code=120)


def test_taxonomy_is_the_default_one_in_order() -> None:
    assert REASON_CODES == (
        "DAMAGED_IN_TRANSIT", "DEFECTIVE", "WRONG_ITEM_SHIPPED", "ORDERED_WRONG_ITEM", "NOT_AS_DESCRIBED",
        "INCOMPATIBLE", "MISSING_PARTS", "QUANTITY_DISCREPANCY", "NO_LONGER_NEEDED", "LATE_DELIVERY",
        "DUPLICATE_ORDER", "WARRANTY_CLAIM", "EXPIRED_OR_SHORT_DATED", "OTHER",
    )
    assert OUT_OF_SCOPE == "OUT_OF_SCOPE"
    assert CHANNELS == ("portal", "email", "field_sales", "warehouse", "edi")
    assert set(REASON_DESCRIPTIONS) == set(REASON_CODES)
    assert all(REASON_DESCRIPTIONS[code].strip() for code in REASON_CODES)


@pytest.mark.parametrize(("per_code", "ood", "expected_ood"), [(40, 1.0, 40), (30, 0.5, 15), (25, 0.0, 0),
                                                                (10, 2.5, 25), (0, 1.0, 0)])
def test_sizes_are_as_requested(per_code: int, ood: float, expected_ood: int) -> None:
    examples = generate_corpus(seed=1, per_code=per_code, ood_per_code_equivalent=ood)
    counts = Counter(e.label for e in examples)
    assert all(counts[code] == per_code for code in REASON_CODES)
    assert counts[OUT_OF_SCOPE] == expected_ood
    assert len(examples) == 14 * per_code + expected_ood


def test_bad_sizes_are_rejected() -> None:
    with pytest.raises(ValueError):
        generate_corpus(per_code=-1)
    with pytest.raises(ValueError):
        generate_corpus(per_code=10, ood_per_code_equivalent=-0.5)


def test_same_seed_same_corpus_and_other_seed_other_corpus() -> None:
    first = generate_corpus(seed=3, per_code=30)
    assert generate_corpus(seed=3, per_code=30) == first
    assert generate_corpus(seed=4, per_code=30) != first


def test_corpus_does_not_depend_on_the_process_hash_seed() -> None:
    # String hashing is randomised per process; a set iterated somewhere in generation would show up here.
    code = ("from returns_triage.datasets.reasons import generate_corpus;"
            "print(repr([(e.text, e.label, e.template_id) for e in generate_corpus(seed=5, per_code=15)]))")
    outputs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": hash_seed}).stdout
        for hash_seed in ("1", "2")
    }
    assert len(outputs) == 1


def test_every_label_and_channel_is_present(corpus: list[ReasonExample]) -> None:
    assert {e.label for e in corpus} == set(LABELS)
    assert {e.channel for e in corpus} == set(CHANNELS)
    for code in REASON_CODES:
        channels = {e.channel for e in corpus if e.label == code}
        assert channels == set(CHANNELS), f"{code} only arrives through {sorted(channels)}"


def test_every_code_has_many_templates_including_mixed_and_negated() -> None:
    for code in REASON_CODES:
        templates = templates_for(code)
        assert len(templates) >= 25, f"{code} has only {len(templates)} templates"
        kinds = Counter(t.kind for t in templates)
        assert kinds["mixed"] >= 2 and kinds["negation"] >= 2, f"{code}: {dict(kinds)}"
    assert len(templates_for(OUT_OF_SCOPE)) >= 25
    topics = {t.topic for t in templates_for(OUT_OF_SCOPE)}
    assert topics == {"invoice", "address", "account", "status", "gibberish", "spam"}


def test_template_ids_are_unique_and_recorded_on_examples(corpus: list[ReasonExample]) -> None:
    ids = [t.id for t in TEMPLATES]
    assert len(ids) == len(set(ids))
    by_id = {t.id: t for t in TEMPLATES}
    for example in corpus:
        assert by_id[example.template_id].label == example.label
        assert example.channel in by_id[example.template_id].channels


def test_templates_vary_internally() -> None:
    rng = random.Random(0)
    for template in TEMPLATES:
        texts = {render_example(template, rng, channel=template.channels[0], noisy=False).text for _ in range(12)}
        assert len(texts) >= 2, f"{template.id} always renders the same text"


def test_no_text_carries_two_labels(corpus: list[ReasonExample]) -> None:
    owners: dict[str, set[str]] = {}
    for example in corpus:
        owners.setdefault(example.text.lower(), set()).add(example.label)
    clashes = {text: labels for text, labels in owners.items() if len(labels) > 1}
    assert not clashes


def test_texts_are_not_empty(corpus: list[ReasonExample]) -> None:
    assert all(e.text.strip() for e in corpus)


def test_negation_examples_carry_the_primary_label_not_the_negated_one() -> None:
    rng = random.Random(11)
    negations = [t for t in TEMPLATES if t.kind == "negation"]
    assert len(negations) >= 2 * len(REASON_CODES)
    for template in negations:
        assert template.negated_label in REASON_CODES and template.negated_label != template.label
        for _ in range(5):
            example = render_example(template, rng, noisy=False)
            assert example.label == template.label
            assert example.secondary_label is None, "a ruled-out reason is not a secondary reason"
            assert any(cue in example.text.lower() for cue in NEGATION_CUES), example.text


def test_box_was_fine_but_wrong_voltage_is_incompatible() -> None:
    # The example from the brief: a transit-damage cue that is explicitly ruled out.
    rng = random.Random(2)
    texts = [render_example(t, rng, noisy=False).text.lower()
             for t in templates_for("INCOMPATIBLE") if t.negated_label == "DAMAGED_IN_TRANSIT" for _ in range(20)]
    assert texts and all("box" in text or "packaging" in text for text in texts)
    assert any("fine" in text and "wrong" in text for text in texts)


def test_mixed_examples_record_a_different_secondary_reason(corpus: list[ReasonExample]) -> None:
    mixed = [e for e in corpus if e.secondary_label is not None]
    assert mixed
    for example in mixed:
        assert example.secondary_label in REASON_CODES
        assert example.secondary_label != example.label
        assert ".mixed." in example.template_id
    assert all(e.secondary_label is None for e in corpus if ".mixed." not in e.template_id)


def test_split_by_template_holds_out_whole_templates(corpus: list[ReasonExample]) -> None:
    train, test = split_by_template(corpus, test_fraction=0.25, seed=0)
    assert len(train) + len(test) == len(corpus)
    train_ids = {e.template_id for e in train}
    test_ids = {e.template_id for e in test}
    assert not train_ids & test_ids
    assert {e.label for e in train} == set(LABELS) == {e.label for e in test}
    assert 0.15 < len(test) / len(corpus) < 0.35
    assert split_by_template(corpus, test_fraction=0.25, seed=0) == (train, test)
    assert split_by_template(corpus, test_fraction=0.25, seed=1) != (train, test)


def test_split_by_template_keeps_one_template_per_label_on_each_side() -> None:
    # per_code=2 leaves two templates per label: one must go each way whatever the fraction.
    small = generate_corpus(seed=0, per_code=2)
    for fraction in (0.01, 0.99):
        train, test = split_by_template(small, test_fraction=fraction)
        assert {e.label for e in train} == set(LABELS) == {e.label for e in test}


def test_split_by_template_refuses_what_it_cannot_do() -> None:
    one_template = generate_corpus(seed=0, per_code=1)
    with pytest.raises(ValueError, match="two"):
        split_by_template(one_template)
    with pytest.raises(ValueError):
        split_by_template(generate_corpus(seed=0, per_code=5), test_fraction=1.0)


def test_write_csv_round_trips_multiline_texts(tmp_path: Path, corpus: list[ReasonExample]) -> None:
    path = tmp_path / "reasons.csv"
    write_csv(corpus, path)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == ["text", "label", "channel", "template_id", "secondary_label"]
        rows = list(reader)
    restored = [ReasonExample(r["text"], r["label"], r["channel"], r["template_id"], r["secondary_label"] or None)
                for r in rows]
    assert restored == corpus
    assert any("\n" in e.text for e in restored)


def test_patterns_reject_unknown_slots_and_bad_brackets() -> None:
    with pytest.raises(ValueError, match="unknown slots"):
        compile_pattern("the {prodcut} is broken")
    with pytest.raises(ValueError):
        compile_pattern("[broken|cracked")
    with pytest.raises(ValueError):
        compile_pattern("broken|cracked")
