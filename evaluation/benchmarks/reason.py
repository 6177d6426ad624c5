"""Reason-classifier benchmarks on real customer text (BANKING77, CLINC150) and the synthetic corpus.

Each trains through the same pipeline as `triage reason fit`, then evaluates the served ONNX bundle.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import numpy as np

from returns_triage.evaluation.benchmarks.base import BenchResult, Target, output_dir, register
from returns_triage.evaluation.metrics import expected_calibration_error, macro_f1, reliability_bins

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"

# Targets from the reason-classifier issue; never lowered here.
COMMON_TARGETS = [
    Target("ece", "<=", 0.03),
    Target("conformal_coverage_gap", "<=", 0.01),
    Target("onnx_speedup_vs_torch_batch1", ">=", 5.0),
]


def _stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    test = []
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        rng.shuffle(idx)
        test.extend(idx[: max(1, int(round(len(idx) * fraction)))])
    mask = np.zeros(len(labels), dtype=bool)
    mask[test] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def _throughput(model, texts: list[str]) -> dict[str, float]:  # type: ignore[no-untyped-def]
    from returns_triage.training.reason.encoder import load_sentence_encoder

    sample = (texts * 4)[:256]
    model.predict(sample[:8], batch_size=1)  # warm-up
    t = time.perf_counter()
    model.predict(sample[:128], batch_size=1)
    onnx_b1 = 128 / (time.perf_counter() - t)
    t = time.perf_counter()
    model.predict(sample, batch_size=64)
    onnx_b64 = 256 / (time.perf_counter() - t)
    st = load_sentence_encoder()
    st.encode(sample[:8], batch_size=1)
    t = time.perf_counter()
    for text in sample[:64]:
        st.encode([text], batch_size=1, normalize_embeddings=True)
    torch_b1 = 64 / (time.perf_counter() - t)
    return {"onnx_texts_per_s_batch1": onnx_b1, "onnx_texts_per_s_batch64": onnx_b64,
            "torch_texts_per_s_batch1": torch_b1, "onnx_speedup_vs_torch_batch1": onnx_b1 / torch_b1}


def _plot_reliability(bins: list[dict[str, float]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1)
    ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o-")
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _evaluate(name: str, train_texts: list[str], train_labels: list[str], test_texts: list[str],
              test_labels: list[str], *, ood_label: str | None = None, valid: tuple[list[str], list[str]] | None = None,
              extra_slices: dict[str, list[str]] | None = None) -> tuple[dict, list[str]]:
    from returns_triage.models.reason import ReasonModel
    from returns_triage.training.reason.pipeline import ReasonTrainingData, fit_reason_bundle

    out = output_dir(name)
    started = time.perf_counter()
    fit_reason_bundle(
        ReasonTrainingData(train_texts, train_labels), out / "bundle",
        valid=ReasonTrainingData(*valid) if valid else None, ood_label=ood_label,
        cache_dir=Path("var") / "cache", log=False,
    )
    train_seconds = time.perf_counter() - started
    model = ReasonModel.load(out / "bundle")
    proba = model.probabilities(test_texts)
    labels = model.labels
    y = np.array(test_labels)
    pred = labels[proba.argmax(1)]
    conf = proba.max(1)
    abstain = conf < model.abstain_threshold
    in_scope = y != ood_label if ood_label else np.ones(len(y), dtype=bool)
    correct = pred == y
    q = model.conformal_q
    in_set = proba[in_scope] >= 1.0 - q
    label_index = {label: i for i, label in enumerate(labels)}
    covered = np.array([in_set[i, label_index[t]] if t in label_index else False
                        for i, t in enumerate(y[in_scope])])
    coverage = float(covered.mean())
    nominal = float(model.manifest.thresholds["coverage"])
    bins = reliability_bins(conf[in_scope], correct[in_scope].astype(float))
    metrics = {
        "n_train": len(train_texts),
        "n_test": int(len(y)),
        "accuracy": float(correct[in_scope].mean()),
        "macro_f1": macro_f1(y[in_scope], pred[in_scope]),
        "ece": expected_calibration_error(conf[in_scope], correct[in_scope].astype(float)),
        "conformal_nominal_coverage": nominal,
        "conformal_coverage": coverage,
        "conformal_coverage_gap": abs(coverage - nominal),
        "mean_prediction_set_size": float(in_set.sum(1).mean()),
        "abstain_rate": float(abstain.mean()),
        "selective_accuracy": float(correct[in_scope & ~abstain].mean()) if (in_scope & ~abstain).any() else None,
        "train_seconds": train_seconds,
        "train_minutes": train_seconds / 60,
    }
    if ood_label:
        metrics["in_scope_accuracy"] = float((correct & ~abstain)[in_scope].mean())
        metrics["oos_recall"] = float(abstain[~in_scope].mean()) if (~in_scope).any() else None
    for slice_name, values in (extra_slices or {}).items():
        arr = np.array(values)
        for value in np.unique(arr):
            m = (arr == value) & in_scope
            if m.any():
                metrics[f"macro_f1[{slice_name}={value}]"] = macro_f1(y[m], pred[m])
    metrics.update(_throughput(model, test_texts))
    plot = out / "reliability.png"
    _plot_reliability(bins, plot, f"{name}: reliability")
    (out / "reliability.json").write_text(json.dumps(bins, indent=1))
    return metrics, [str(plot)]


@register("reason-banking77")
def banking77(quick: bool) -> BenchResult:
    with (SHARED / "banking77" / "train.csv").open(newline="", encoding="utf-8") as fh:
        rows = [(r["text"], r["category"]) for r in csv.DictReader(fh)]
    texts = np.array([t for t, _ in rows], dtype=object)
    labels = np.array([c for _, c in rows])
    train_idx, valid_idx = _stratified_split(labels, 0.10, seed=0)
    if quick:
        rng = np.random.default_rng(0)
        train_idx = rng.choice(train_idx, 1500, replace=False)
        valid_idx = rng.choice(valid_idx, 300, replace=False)
    metrics, artifacts = _evaluate("reason-banking77", list(texts[train_idx]), list(labels[train_idx]),
                                   list(texts[valid_idx]), list(labels[valid_idx]))
    metrics["split"] = "stratified 10% of the official train split (seed 0), the proxy for the held-back test"
    targets = [Target("accuracy", ">=", 0.94), Target("train_minutes", "<=", 30.0), *COMMON_TARGETS]
    return BenchResult("reason-banking77", metrics, targets, artifacts)


@register("reason-clinc150")
def clinc150(quick: bool) -> BenchResult:
    data = json.loads((SHARED / "clinc150" / "clinc150_dev.json").read_text())
    train = data["train"]
    rng = np.random.default_rng(0)
    val = list(data["val"])
    oos_val = list(data["oos_val"])
    rng.shuffle(val)
    rng.shuffle(oos_val)
    if quick:
        keep = set(rng.choice(sorted({i for _, i in train}), 30, replace=False))
        train = [r for r in train if r[1] in keep]
        val = [r for r in val if r[1] in keep]
    # Calibrate on one half of val + oos_val (plus oos_train), report on the other half.
    half_v, half_o = len(val) // 2, len(oos_val) // 2
    calib = val[:half_v] + oos_val[:half_o] + list(data["oos_train"])
    test = val[half_v:] + oos_val[half_o:]
    metrics, artifacts = _evaluate(
        "reason-clinc150", [t for t, _ in train], [i for _, i in train],
        [t for t, _ in test], [i for _, i in test], ood_label="oos",
        valid=([t for t, _ in calib], [i for _, i in calib]),
    )
    metrics["split"] = "train on train; calibrate on half of val+oos_val (+oos_train); report on the other half"
    targets = [Target("in_scope_accuracy", ">=", 0.965), Target("oos_recall", ">=", 0.75), *COMMON_TARGETS]
    return BenchResult("reason-clinc150", metrics, targets, artifacts)


@register("reason-synthetic")
def synthetic(quick: bool) -> BenchResult:
    from returns_triage.datasets.reasons import OUT_OF_SCOPE, generate_corpus, split_by_template

    examples = generate_corpus(seed=0, per_code=100 if quick else 300)
    train, test = split_by_template(examples, test_fraction=0.25, seed=0)
    metrics, artifacts = _evaluate(
        "reason-synthetic", [e.text for e in train], [e.label for e in train], [e.text for e in test],
        [e.label for e in test], ood_label=OUT_OF_SCOPE, extra_slices={"channel": [e.channel for e in test]},
    )
    metrics["split"] = "held-out generating templates (no test template seen in training)"
    targets = [*COMMON_TARGETS]
    return BenchResult("reason-synthetic", metrics, targets, artifacts)
