"""`triage bench disposition`: the disposition model against the experts' dispositions on a later period of a
simulated world (train on earlier months, calibrate on the next, test on the last), with the cost of wrong
dispositions against the rule "restock if grade A else quarantine".

Writes ``var/bench/disposition/`` (result JSON, the bundle it trained, a confusion matrix and a reliability plot).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from returns_triage.datasets.returns_world import WorldConfig, simulate_world
from returns_triage.datasets.returns_world.inspections import (
    DISPOSITIONS, EXPERT_DEVIATION_P, Inspections, disposition_cost, rule_baseline, simulate_inspections,
)
from returns_triage.evaluation.benchmarks.base import BenchResult, Target, output_dir, register
from returns_triage.evaluation.metrics import expected_calibration_error, macro_f1, reliability_bins
from returns_triage.models.disposition import DispositionModel
from returns_triage.training.disposition.pipeline import fit_disposition_model, labels_of, write_disposition_bundle

__all__ = ["run", "TARGETS", "REVIEW_COST"]

TARGETS = [
    Target("macro_f1", ">=", 0.90),
    Target("cost_ratio_vs_rule", "<=", 0.5),
    Target("dashboard_render_s", "<=", 1.0),  # the KPI dashboard over KPI_CASES stored cases on PostgreSQL
]
KPI_CASES, KPI_CASES_QUICK = 1_000_000, 20_000
REVIEW_COST = 6.0  # EUR for a person to decide an abstained case (who then decides as the expert would)
_TRAIN_END, _CALIBRATION_END = 240, 300  # inspection day: train [0, 240), calibrate [240, 300), test [300, end)
_LATENCY_CASES = 300


@register("disposition")
def run(quick: bool) -> BenchResult:
    started = time.perf_counter()
    config = WorldConfig(seed=7, customers=6_000 if quick else 20_000, months=12)
    ins = simulate_inspections(simulate_world(config))
    day = ins.inspected_day
    train = ins.select(day < _TRAIN_END)
    calibration = ins.select((day >= _TRAIN_END) & (day < _CALIBRATION_END))
    test = ins.select(day >= _CALIBRATION_END)

    out = output_dir("disposition")
    trained = fit_disposition_model(train, calibration, seed=config.seed, max_iter=100 if quick else 200)
    manifest = write_disposition_bundle(out / "bundle", trained, test,
                                        lineage={"bench": "disposition", "world_seed": config.seed})
    model = DispositionModel.load(out / "bundle")
    p = model.probabilities(test.inspections, test.contexts)  # the serving path: both ONNX models
    y = labels_of(test)
    pred = p.argmax(axis=1)
    confidence = p.max(axis=1)
    abstain = confidence < model.abstain_below
    value = np.array([float(c["unit_price"]) for c in test.contexts])
    labels = np.arange(len(DISPOSITIONS))

    cost_model = disposition_cost(y, pred, value)
    cost_rule = disposition_cost(y, rule_baseline(test.inspections), value)
    cost_policy = disposition_cost(y, test.policy, value)
    cost_with_review = np.where(abstain, REVIEW_COST, cost_model)
    policy_idx = np.array([DISPOSITIONS.index(d) for d in test.policy])
    metrics: dict[str, Any] = {
        "macro_f1": round(macro_f1(y, pred, labels), 4),
        "cost_ratio_vs_rule": round(float(cost_model.mean() / cost_rule.mean()), 4),
        "accuracy": round(float(np.mean(pred == y)), 4),
        "per_class_f1": {d: round(macro_f1(y, pred, np.array([k])), 4) for k, d in enumerate(DISPOSITIONS)},
        "ece": round(expected_calibration_error(confidence, pred == y), 4),
        "expected_cost_per_case": {
            "model": round(float(cost_model.mean()), 3), "rule_grade_a_restock_else_quarantine": round(
                float(cost_rule.mean()), 3),
            "model_with_review_of_abstentions": round(float(cost_with_review.mean()), 3),
            "written_policy_on_true_state": round(float(cost_policy.mean()), 3),
        },
        "abstain_below": model.abstain_below,
        "abstain_rate": round(float(abstain.mean()), 4),
        "accuracy_when_not_abstaining": round(float(np.mean(pred[~abstain] == y[~abstain])), 4),
        "accuracy_when_abstaining": round(float(np.mean(pred[abstain] == y[abstain])), 4) if abstain.any() else None,
        "ceiling": {
            "expert_deviation_rate": round(float(np.mean(policy_idx != y)), 4),
            "expert_deviation_p": EXPERT_DEVIATION_P,
            "written_policy_on_true_state_macro_f1": round(macro_f1(y, policy_idx, labels), 4),
            "model_agreement_with_written_policy": round(float(np.mean(pred == policy_idx)), 4),
        },
        "rule_macro_f1": round(macro_f1(y, np.array([DISPOSITIONS.index(d) for d in rule_baseline(test.inspections)]),
                                        labels), 4),
        "macro_f1_by_note_style": _by_slice(test, y, pred, lambda i, c: i["note_style"]),
        "macro_f1_by_facility": _by_slice(test, y, pred, lambda i, c: i["facility"]),
        "macro_f1_by_category": _by_slice(test, y, pred, lambda i, c: c["category"]),
        "onnx_label_agreement": manifest.metrics["onnx_label_agreement"],
        "notes_onnx_label_agreement": manifest.metrics["notes_onnx_label_agreement"],
        "onnx_max_proba_diff": manifest.metrics["onnx_max_proba_diff"],
        "recommend_latency_ms_p50": round(statistics.median(_latencies(model, test)), 3),
        "cases": {"train": len(train), "calibration": len(calibration), "test": len(test),
                  "test_by_disposition": {d: int(np.sum(y == k)) for k, d in enumerate(DISPOSITIONS)}},
        "fit": trained.metrics,
        "model_version": model.version,
        "quick": quick,
    }
    metrics["other_world_later_period"] = _other_world(model, config)
    if not quick:
        metrics["ablation_macro_f1_without_notes"] = _without_notes(train, calibration, test, config.seed)
    artifacts = _plots(out, y, pred, confidence)
    metrics.update(_kpis_at_scale(KPI_CASES_QUICK if quick else KPI_CASES))
    metrics["seconds"] = round(time.perf_counter() - started, 1)
    return BenchResult("disposition", metrics, TARGETS, artifacts)


def _kpis_at_scale(n_cases: int) -> dict[str, Any]:
    """Dashboard render and KPI query times with ``n_cases`` stored cases on PostgreSQL (a throw-away schema)."""
    from returns_triage.evaluation.benchmarks.kpi_scale import measure_kpis_at_scale

    try:
        figures = measure_kpis_at_scale(n_cases)
    except Exception as exc:  # noqa: BLE001 - no PostgreSQL is a missed target, not a crashed benchmark
        return {"kpi_at_scale": {"cases": n_cases, "error": f"{type(exc).__name__}: {exc}"}}
    # The target: the warm render (median of repeated requests); the first, cold render is reported beside it.
    return {"dashboard_render_s": figures["dashboard_render_s_median"], "kpi_at_scale": figures}


def _other_world(model: DispositionModel, config: WorldConfig) -> dict[str, float | int]:
    """The same bundle on the test months of a world with another seed: other catalogue prices, other supplier
    terms. The benchmark's target is the later period of the training world; this shows how far it carries."""
    other_config = WorldConfig(seed=config.seed + 1, customers=config.customers, months=config.months)
    ins = simulate_inspections(simulate_world(other_config))
    test = ins.select(ins.inspected_day >= _CALIBRATION_END)
    p = model.probabilities(test.inspections, test.contexts)
    y, pred = labels_of(test), p.argmax(axis=1)
    value = np.array([float(c["unit_price"]) for c in test.contexts])
    return {
        "world_seed": other_config.seed, "cases": len(test),
        "macro_f1": round(macro_f1(y, pred, np.arange(len(DISPOSITIONS))), 4),
        "accuracy": round(float(np.mean(pred == y)), 4),
        "ece": round(expected_calibration_error(p.max(axis=1), pred == y), 4),
        "cost_ratio_vs_rule": round(float(disposition_cost(y, pred, value).mean()
                                          / disposition_cost(y, rule_baseline(test.inspections), value).mean()), 4),
    }


def _by_slice(test: Inspections, y: np.ndarray, pred: np.ndarray, key: Any) -> dict[str, dict[str, float | int]]:
    values = np.array([key(i, c) for i, c in zip(test.inspections, test.contexts, strict=True)])
    out: dict[str, dict[str, float | int]] = {}
    for v in sorted(set(values)):
        m = values == v
        out[str(v)] = {"cases": int(m.sum()), "macro_f1": round(macro_f1(y[m], pred[m]), 4),
                       "accuracy": round(float(np.mean(y[m] == pred[m])), 4)}
    return out


def _latencies(model: DispositionModel, test: Inspections) -> list[float]:
    """Batch-1 latency of the whole serving path (features, both ONNX models, factors, note words)."""
    n = min(_LATENCY_CASES, len(test))
    for i in range(min(30, n)):
        model.recommend(test.inspections[i], test.contexts[i])
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        model.recommend(test.inspections[i], test.contexts[i])
        out.append((time.perf_counter() - t0) * 1000)
    return out


def _without_notes(train: Inspections, calibration: Inspections, test: Inspections, seed: int) -> float:
    """Macro-F1 of the same pipeline when every note is blank: what the free text is worth."""
    from returns_triage.training.disposition.pipeline import predict_raw

    def blank(ins: Inspections) -> Inspections:
        return Inspections([{**i, "notes": ""} for i in ins.inspections], ins.contexts, ins.disposition, ins.policy,
                           ins.state, ins.inspected_day)

    trained = fit_disposition_model(blank(train), blank(calibration), seed=seed, max_iter=200)
    pred = predict_raw(trained, blank(test)).argmax(axis=1)
    return round(macro_f1(labels_of(test), pred, np.arange(len(DISPOSITIONS))), 4)


def _plots(out: Path, y: np.ndarray, pred: np.ndarray, confidence: np.ndarray) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(DISPOSITIONS)
    matrix = np.zeros((k, k), dtype=int)
    np.add.at(matrix, (y, pred), 1)
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center",
                    color="white" if share[i, j] > 0.5 else "black", fontsize=8)
    ax.set_xticks(range(k), DISPOSITIONS, rotation=35, ha="right")
    ax.set_yticks(range(k), DISPOSITIONS)
    ax.set(xlabel="model", ylabel="expert", title="Disposition: confusion on the test months (counts)")
    confusion_path = out / "confusion_matrix.png"
    fig.savefig(confusion_path, dpi=110, bbox_inches="tight")
    plt.close(fig)

    bins = reliability_bins(confidence, pred == y, n_bins=10)
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker="o", label="model")
    ax.set(xlabel="confidence (calibrated top probability)", ylabel="accuracy",
           title="Disposition: reliability on the test months")
    ax.legend()
    reliability_path = out / "reliability.png"
    fig.savefig(reliability_path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return [str(confusion_path), str(reliability_path)]
