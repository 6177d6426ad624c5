"""What the reason cascade buys and costs: share answered by the first stage, accuracy and out-of-scope recall
of the full model vs the cascade, and texts/s of both against the raw encoder — measured in one run.

:func:`cascade_metrics` measures one loaded bundle on one labelled set; :func:`measure_cascade` does it on the
real datasets (BANKING77 validation for accuracy, CLINC150 validation for out-of-scope recall), reusing the
bundles the reason benchmarks trained on the same splits when they exist.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from returns_triage.models.reason import ReasonModel

__all__ = ["cascade_metrics", "cascade_throughput", "measure_cascade", "CASCADE_TARGETS"]

# From the performance issue: against the full model, at most 0.5 points of accuracy (BANKING77 validation)
# and of out-of-scope recall (CLINC150 validation); with the cascade ≥ 2× the raw encoder's best throughput.
CASCADE_TARGETS = (
    ("banking77_accuracy_drop_points", "<=", 0.5),
    ("clinc150_oos_recall_drop_points", "<=", 0.5),
    ("cascade_vs_raw_encoder_throughput", ">=", 2.0),
)
ENCODER_BATCH_SIZES = (8, 16, 32, 64, 128)


def _quality(preds: list[Any], labels: np.ndarray, ood_label: str | None) -> dict[str, float | None]:
    code = np.array([p.code for p in preds])
    abstain = np.array([p.abstain for p in preds])
    in_scope = labels != ood_label if ood_label is not None else np.ones(len(labels), dtype=bool)
    correct = code == labels
    return {
        "accuracy": float(correct[in_scope].mean()) if in_scope.any() else None,
        "in_scope_accuracy": float((correct & ~abstain)[in_scope].mean()) if in_scope.any() else None,
        "oos_recall": float(abstain[~in_scope].mean()) if (~in_scope).any() else None,
        "abstain_rate": float(abstain.mean()),
    }


def cascade_throughput(model: ReasonModel, texts: Sequence[str], *, n: int = 512, rounds: int = 4,
                       batch_size: int = 64) -> dict[str, float]:
    """Texts/s of the raw encoder at its best batch, the full predict path and the cascade, in one run.

    The paths alternate in rounds over the same texts so a burst of load from other processes on a shared
    machine hits all of them alike; each figure is the total texts over the total time of its path.
    """
    sample = list((list(texts) * (1 + n // max(1, len(texts))))[:n])
    full, cascade = model.with_cascade(False), model.with_cascade(True)
    full.predict(sample[:64], batch_size=batch_size)  # warm-up: first calls allocate
    cascade.predict(sample[:64], batch_size=batch_size)
    enc_s = {b: 0.0 for b in ENCODER_BATCH_SIZES}
    full_s = cascade_s = 0.0
    for _ in range(rounds):
        for b in ENCODER_BATCH_SIZES:
            t = time.perf_counter()
            model.encoder.encode(sample, batch_size=b)
            enc_s[b] += time.perf_counter() - t
        t = time.perf_counter()
        full.predict(sample, batch_size=batch_size)
        full_s += time.perf_counter() - t
        t = time.perf_counter()
        cascade.predict(sample, batch_size=batch_size)
        cascade_s += time.perf_counter() - t
    total = len(sample) * rounds
    best_batch = min(enc_s, key=enc_s.__getitem__)
    raw = total / enc_s[best_batch]
    return {
        "raw_encoder_texts_per_s": raw,
        "raw_encoder_best_batch": best_batch,
        "full_texts_per_s": total / full_s,
        "cascade_texts_per_s": total / cascade_s,
        "cascade_vs_full_throughput": full_s / cascade_s,
        "cascade_vs_raw_encoder_throughput": (total / cascade_s) / raw,
        "full_vs_raw_encoder_throughput": (total / full_s) / raw,
    }


def cascade_metrics(model: ReasonModel, texts: Sequence[str], labels: Sequence[str], *,
                    ood_label: str | None = None, speed: bool = True) -> dict[str, Any]:
    """Full model vs cascade on one labelled set (keys prefixed ``cascade_`` / ``full_``); drops in points."""
    if model.cascade is None:
        return {"cascade_present": False}
    y = np.asarray(labels)
    full_preds = model.with_cascade(False).predict(list(texts))
    cascade_preds = model.with_cascade(True).predict(list(texts))
    full, casc = _quality(full_preds, y, ood_label), _quality(cascade_preds, y, ood_label)
    out: dict[str, Any] = {"cascade_present": True,
                           "cascade_share_answered": float(np.mean([p.stage == "first_stage" for p in cascade_preds])),
                           "cascade_accept_at_confidence": model.cascade.accept_at_confidence,
                           "cascade_defer_at_oos_score": model.cascade.defer_at_oos_score}
    for key in full:
        out[f"full_{key}"] = full[key]
        out[f"cascade_{key}"] = casc[key]
    out["cascade_accuracy_drop_points"] = 100.0 * (full["accuracy"] - casc["accuracy"]) \
        if full["accuracy"] is not None and casc["accuracy"] is not None else None
    if full["oos_recall"] is not None and casc["oos_recall"] is not None:
        out["cascade_oos_recall_drop_points"] = 100.0 * (full["oos_recall"] - casc["oos_recall"])
        out["cascade_in_scope_accuracy_drop_points"] = 100.0 * (full["in_scope_accuracy"] - casc["in_scope_accuracy"])
    if speed:
        out.update({f"cascade_speed_{k}": v for k, v in cascade_throughput(model, texts).items()})
    return out


def _banking77(quick: bool) -> tuple[list[str], list[str], list[str], list[str], Any]:
    import csv

    from returns_triage.evaluation.benchmarks.reason import SHARED, _stratified_split

    with (SHARED / "banking77" / "train.csv").open(newline="", encoding="utf-8") as fh:
        rows = [(r["text"], r["category"]) for r in csv.DictReader(fh)]
    texts = np.array([t for t, _ in rows], dtype=object)
    labels = np.array([c for _, c in rows])
    train_idx, valid_idx = _stratified_split(labels, 0.10, seed=0)
    if quick:  # the same subsample as `triage bench reason-banking77 --quick`
        rng = np.random.default_rng(0)
        train_idx = rng.choice(train_idx, 1500, replace=False)
        valid_idx = rng.choice(valid_idx, 300, replace=False)
    return list(texts[train_idx]), list(labels[train_idx]), list(texts[valid_idx]), list(labels[valid_idx]), None


def _clinc150(quick: bool) -> tuple[list[str], list[str], list[str], list[str], tuple[list[str], list[str]]]:
    from returns_triage.evaluation.benchmarks.reason import SHARED

    data = json.loads((SHARED / "clinc150" / "clinc150_dev.json").read_text())
    train = data["train"]
    rng = np.random.default_rng(0)
    val, oos_val = list(data["val"]), list(data["oos_val"])
    rng.shuffle(val)
    rng.shuffle(oos_val)
    if quick:  # the same subsample and split as `triage bench reason-clinc150 --quick`
        keep = set(rng.choice(sorted({i for _, i in train}), 30, replace=False))
        train = [r for r in train if r[1] in keep]
        val = [r for r in val if r[1] in keep]
    half_v, half_o = len(val) // 2, len(oos_val) // 2
    calib = val[:half_v] + oos_val[:half_o] + list(data["oos_train"])
    test = val[half_v:] + oos_val[half_o:]
    return ([t for t, _ in train], [i for _, i in train], [t for t, _ in test], [i for _, i in test],
            ([t for t, _ in calib], [i for _, i in calib]))


def _bundle(name: str, train: tuple[list[str], list[str]], valid: tuple[list[str], list[str]] | None,
            ood_label: str | None, quick: bool, finetune: Any) -> Path:
    """The reason benchmark's bundle for these exact rows if it has a first stage, else one trained here."""
    from returns_triage.evaluation.benchmarks.base import output_dir
    from returns_triage.models.bundle import load_manifest
    from returns_triage.training.reason.pipeline import ReasonTrainingData, dataset_hash, fit_reason_bundle

    train_data = ReasonTrainingData(*train)
    valid_data = ReasonTrainingData(*valid) if valid else None
    wanted = dataset_hash(train_data, valid_data)
    for candidate in (output_dir(f"reason-{name}") / "bundle", output_dir("cascade") / name / "bundle"):
        try:
            manifest = load_manifest(candidate, expected_name="reason", verify=False)
        except Exception:  # noqa: BLE001 - absent or unreadable: train below
            continue
        if manifest.lineage.get("dataset_sha256") == wanted and "cascade" in manifest.extra:
            return candidate
    out = output_dir("cascade") / name / "bundle"
    fit_reason_bundle(train_data, out, valid=valid_data, ood_label=ood_label, cache_dir=Path("var") / "cache",
                      finetune=finetune)
    return out


def measure_cascade(quick: bool = False, *, finetune: Any = None) -> dict[str, Any]:
    """The cascade's figures on the real datasets, in one run.

    Returns ``banking77_*`` and ``clinc150_*`` metrics (see :func:`cascade_metrics`), the headline figures
    ``banking77_accuracy_drop_points``, ``clinc150_oos_recall_drop_points``, ``share_answered`` (both sets'
    texts together), ``cascade_vs_raw_encoder_throughput`` (on BANKING77 texts) and ``targets`` (the issue's,
    with ``met``). Bundles come from ``triage bench reason-banking77`` / ``reason-clinc150`` when they were
    trained on the same rows; otherwise one is trained (frozen encoder unless ``finetune`` is a
    ``FinetuneConfig``) under ``var/bench/cascade/``.
    """
    out: dict[str, Any] = {"quick": quick}
    answered = total = 0
    for name, loader, ood_label in (("banking77", _banking77, None), ("clinc150", _clinc150, "oos")):
        tr_x, tr_y, te_x, te_y, valid = loader(quick)
        directory = _bundle(name, (tr_x, tr_y), valid, ood_label, quick, finetune)
        model = ReasonModel.load(directory)
        metrics = cascade_metrics(model, te_x, te_y, ood_label=ood_label, speed=name == "banking77")
        out.update({f"{name}_{k}": v for k, v in metrics.items()})
        out[f"{name}_bundle"] = str(directory)
        out[f"{name}_encoder_finetuned"] = bool(model.manifest.lineage.get("encoder_finetuned"))
        answered += round(metrics.get("cascade_share_answered", 0.0) * len(te_x))
        total += len(te_x)
    out["share_answered"] = answered / max(1, total)
    out["banking77_accuracy_drop_points"] = out.get("banking77_cascade_accuracy_drop_points")
    out["clinc150_oos_recall_drop_points"] = out.get("clinc150_cascade_oos_recall_drop_points")
    out["cascade_vs_raw_encoder_throughput"] = out.get("banking77_cascade_speed_cascade_vs_raw_encoder_throughput")
    out["targets"] = [{"metric": m, "value": out.get(m), "op": op, "target": t,
                       "met": out.get(m) is not None and (out[m] <= t if op == "<=" else out[m] >= t)}
                      for m, op, t in CASCADE_TARGETS]
    return out
