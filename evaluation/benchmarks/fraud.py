"""`triage bench fraud`: the fraud model against the rules baseline and the exact Bayes posterior on a
simulated world, split by time (train on earlier months, calibrate on the next, test on the last).

Writes ``var/bench/fraud/`` (result JSON, the bundle it trained, a PR-curve and a reliability plot).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from returns_triage.datasets.returns_world import TYPOLOGIES, WorldConfig, bayes_posterior, simulate_world
from returns_triage.evaluation.benchmarks.base import BenchResult, Target, output_dir, register
from returns_triage.models.fraud import FraudScorer, rules_score
from returns_triage.training.fraud.pipeline import (
    LEGIT_SHARE, fit_fraud_model, training_positions, world_cases, write_fraud_bundle,
)

__all__ = ["run", "TARGETS", "REVIEW_COST"]

TARGETS = [
    Target("pr_auc_ratio_to_bayes", ">=", 0.90),
    Target("pr_auc_ratio_to_rules", ">=", 2.0),
    Target("ece", "<=", 0.02),
    Target("share_scores_with_factor", ">=", 1.0),
    Target("score_latency_ms_p50", "<=", 2.0),
]
REVIEW_COST = 8.0  # currency units per manual review; an approved fraud loses its refund
_TRAIN_END, _CALIBRATION_END = 255, 300  # days: train [0, 255), calibrate [255, 300), test [300, end)


@register("fraud")
def run(quick: bool) -> BenchResult:
    from sklearn.metrics import average_precision_score

    started = time.perf_counter()
    config = WorldConfig(seed=7, customers=12_000 if quick else 60_000, months=12)
    world = simulate_world(config)
    labels = world.labels()
    day = labels["requested_day"]
    train_pos, weight = training_positions(labels, day < _TRAIN_END, LEGIT_SHARE, config.seed)
    train = world_cases(world, train_pos)
    calibration = world_cases(world, np.flatnonzero((day >= _TRAIN_END) & (day < _CALIBRATION_END)))
    test_mask = day >= _CALIBRATION_END
    test = world_cases(world, np.flatnonzero(test_mask))
    bayes = bayes_posterior(world)[test_mask]

    out = output_dir("fraud")
    trained = fit_fraud_model(train, calibration, seed=config.seed, max_iter=150 if quick else 300,
                              sample_weight=weight)
    manifest = write_fraud_bundle(out / "bundle", trained, test.features,
                                  lineage={"bench": "fraud", "world_seed": config.seed})
    scorer = FraudScorer.load(out / "bundle")
    model = scorer.calibrate(scorer.raw_probabilities(test.features))
    rules = np.array([rules_score(r) for r in test.requests])
    y = test.labels["is_fraud"]
    refund = np.array([float(r["refund_amount"]) for r in test.requests])

    latencies, with_factor = _score_one_by_one(scorer, test)
    ap = {name: float(average_precision_score(y, s)) for name, s in
          (("model", model), ("rules", rules), ("bayes", bayes))}
    metrics: dict[str, Any] = {
        "pr_auc_ratio_to_bayes": round(ap["model"] / ap["bayes"], 4),
        "pr_auc_ratio_to_rules": round(ap["model"] / ap["rules"], 4),
        "ece": round(_ece(model, y), 4),
        "share_scores_with_factor": round(with_factor, 4),
        "score_latency_ms_p50": round(statistics.median(latencies), 4),
        "score_latency_ms_p95": round(float(np.percentile(latencies, 95)), 4),
        "pr_auc": {k: round(v, 4) for k, v in ap.items()},
        "ece_bayes": round(_ece(bayes, y), 4),
        "ece_quantile_bins": round(_ece(model, y, quantile=True), 4),
        "recall_at_1pct_fpr": {k: round(_recall_at_fpr(s, y, 0.01), 4)
                               for k, s in (("model", model), ("rules", rules), ("bayes", bayes))},
        "recall_at_5pct_fpr": {k: round(_recall_at_fpr(s, y, 0.05), 4)
                               for k, s in (("model", model), ("rules", rules), ("bayes", bayes))},
        "recall_by_typology_at_5pct_fpr": _recall_by_typology(
            {"model": model, "bayes": bayes}, y, test.labels["typology"], 0.05),
        "expected_cost_per_case": _costs(model, rules, bayes, y, refund),
        "pr_auc_by_segment": _by_slice(test, model, y, "segment"),
        "pr_auc_by_channel": _by_slice(test, model, y, "channel"),
        "onnx_label_agreement": manifest.metrics["onnx_label_agreement"],
        "onnx_max_proba_diff": manifest.metrics["onnx_max_proba_diff"],
        "cases": {"train_sampled": len(train.requests), "calibration": len(calibration.requests), "test": int(y.size),
                  "test_fraud": int(y.sum()), "fraud_rate": round(float(labels["is_fraud"].mean()), 4)},
        "model_version": scorer.version,
        "quick": quick,
    }
    artifacts = _plots(out, y, {"model": model, "rules": rules, "bayes": bayes})
    metrics["seconds"] = round(time.perf_counter() - started, 1)
    return BenchResult("fraud", metrics, TARGETS, artifacts)


def _score_one_by_one(scorer: FraudScorer, test: Any) -> tuple[list[float], float]:
    """Batch-1 latency of the whole serving path (features + ONNX + explanation) and the factor share."""
    for i in range(min(50, len(test.requests))):  # warm-up
        scorer.score(test.requests[i], reason_code=test.reason_codes[i], findings=test.findings[i])
    latencies, with_factor = [], 0
    for request, code, found in zip(test.requests, test.reason_codes, test.findings, strict=True):
        t0 = time.perf_counter()
        result = scorer.score(request, reason_code=code, findings=found)
        latencies.append((time.perf_counter() - t0) * 1000)
        with_factor += bool(result["factors"])
    return latencies, with_factor / max(len(latencies), 1)


def _ece(p: np.ndarray, y: np.ndarray, bins: int = 10, quantile: bool = False) -> float:
    """Expected calibration error: bin-weighted |mean score - fraud rate| (equal-width bins by default)."""
    edges = np.quantile(p, np.linspace(0, 1, bins + 1)) if quantile else np.linspace(0, 1, bins + 1)
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            total += m.mean() * abs(p[m].mean() - y[m].mean())
    return float(total)


def _recall_at_fpr(score: np.ndarray, y: np.ndarray, fpr: float) -> float:
    from sklearn.metrics import roc_curve

    f, t, _ = roc_curve(y, score)
    ok = f <= fpr
    return float(t[ok].max()) if ok.any() else 0.0


def _recall_by_typology(scores: dict[str, np.ndarray], y: np.ndarray, typology: np.ndarray,
                        fpr: float) -> dict[str, dict[str, float | int]]:
    out: dict[str, dict[str, float | int]] = {}
    for name, s in scores.items():
        threshold = float(np.quantile(s[~y], 1 - fpr))
        for t in TYPOLOGIES:
            m = typology == t
            if m.any():
                out.setdefault(t, {"cases": int(m.sum())})[name] = round(float(np.mean(s[m] > threshold)), 4)
    return out


def _costs(model: np.ndarray, rules: np.ndarray, bayes: np.ndarray, y: np.ndarray,
           refund: np.ndarray) -> dict[str, float]:
    """Realised cost per case: approved fraud loses its refund, every review costs REVIEW_COST. Calibrated
    scores review when risk x refund > review cost; the rules review when any rule fires."""
    def cost(review: np.ndarray) -> float:
        return float(np.mean(np.where(review, REVIEW_COST, y * refund)))

    return {
        "model": round(cost(model * refund > REVIEW_COST), 3),
        "bayes": round(cost(bayes * refund > REVIEW_COST), 3),
        "rules": round(cost(rules > 0), 3),
        "approve_all": round(cost(np.zeros_like(y, dtype=bool)), 3),
        "review_all": round(cost(np.ones_like(y, dtype=bool)), 3),
    }


def _by_slice(test: Any, model: np.ndarray, y: np.ndarray, key: str) -> dict[str, dict[str, float | int]]:
    from sklearn.metrics import average_precision_score

    values = np.array([r[key] for r in test.requests])
    out: dict[str, dict[str, float | int]] = {}
    for v in sorted(set(values)):
        m = values == v
        if y[m].any():
            out[str(v)] = {"cases": int(m.sum()), "fraud": int(y[m].sum()),
                           "pr_auc": round(float(average_precision_score(y[m], model[m])), 4)}
    return out


def _plots(out: Path, y: np.ndarray, scores: dict[str, np.ndarray]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import average_precision_score, precision_recall_curve

    fig, ax = plt.subplots(figsize=(6, 5))
    for name, s in scores.items():
        p, r, _ = precision_recall_curve(y, s)
        ax.plot(r, p, label=f"{name} (AP {average_precision_score(y, s):.3f})")
    ax.set(xlabel="recall", ylabel="precision", title="Fraud: precision-recall on the test months")
    ax.legend()
    pr_path = out / "pr_curve.png"
    fig.savefig(pr_path, dpi=110, bbox_inches="tight")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
    for name in ("model", "bayes"):
        s = scores[name]
        edges = np.quantile(s, np.linspace(0, 1, 16))
        which = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, 14)
        xs = [s[which == b].mean() for b in range(15) if (which == b).any()]
        ys = [y[which == b].mean() for b in range(15) if (which == b).any()]
        ax.plot(xs, ys, marker="o", label=name)
    ax.set(xlabel="mean predicted P(fraud)", ylabel="observed fraud rate", title="Reliability (quantile bins)")
    ax.legend()
    rel_path = out / "reliability.png"
    fig.savefig(rel_path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return [str(pr_path), str(rel_path)]
