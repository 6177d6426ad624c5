"""What `triage policy calibrate|simulate` do: calibrate → new policy version + plot; cost-aware per-segment
gates; replay a history under a candidate policy against the live one; audit-sample IPW estimate."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from returns_triage.serving.domain.policy_document import PolicyDocument, dump_policy_document, parse_policy_document
from returns_triage.serving.domain.policy_routing import DocumentPolicy
from returns_triage.training.policy.calibrate import (
    DEFAULT_GUARANTEE,
    DEFAULT_METHOD,
    Calibration,
    calibrate_gates,
    default_grid,
    evaluate_grid,
)
from returns_triage.training.policy.history import History, _strip_gates, eligibility

__all__ = ["calibrated_document", "cost_aware_document", "simulate", "ipw_bad_approval_rate", "plot_risk_coverage"]


def calibrated_document(policy: DocumentPolicy, history: History, *, alpha: float, delta: float,
                        seed: int = 0, method: str = DEFAULT_METHOD,
                        guarantee: str = DEFAULT_GUARANTEE) -> tuple[PolicyDocument, Calibration]:
    """A new policy version whose global gates carry the LTT guarantee (override-level copies removed).

    A joint calibration writes ``max_error_estimate`` and, as the confidence and risk gates, the bounds it
    implies (so they change no route but stay meaningful to the fail-safe and to a reader); a rectangle one
    writes the two gates and drops any error gate."""
    eligible = eligibility(policy, history)
    cal = calibrate_gates(history.confidence, history.risk, eligible, history.error, alpha=alpha, delta=delta,
                          seed=seed, method=method, guarantee=guarantee)
    content = _strip_gates(policy.document.content)
    gates = content["defaults"]["gates"]
    gates.pop("max_error_estimate", None)
    if cal.chosen is None:  # nothing certifiable: approve nothing automatically
        gates["min_reason_confidence"], gates["max_fraud_risk"] = 1.0, 0.0
    else:
        gates["min_reason_confidence"] = cal.chosen.min_reason_confidence
        gates["max_fraud_risk"] = cal.chosen.max_fraud_risk
        if cal.chosen.max_error_estimate is not None:
            gates["max_error_estimate"] = cal.chosen.max_error_estimate
    content["calibration"] = {**cal.to_dict(), "based_on": policy.version, "history_cases": len(history)}
    return _reparse(content, policy.document.source), cal


def cost_aware_document(policy: DocumentPolicy, history: History, *, review_cost: float, friction_cost: float,
                        wrong_reason_cost: float, reviews_per_day: float) -> tuple[PolicyDocument, dict[str, Any]]:
    """Per-segment (c, r) minimising refund loss × error + (review + friction) cost per review, subject to
    the expected reviews per day staying under ``reviews_per_day`` (Lagrangian search over a review price)."""
    eligible = eligibility(policy, history)
    conf, risk, seg = history.confidence, history.risk, history.segment
    loss = np.where(history.is_fraud, history.refund, np.where(history.error, wrong_reason_cost, 0.0))
    days = max(float(np.ptp(history.day)), 1.0)
    conf_grid, risk_grid = default_grid(conf, risk)
    tables = {}
    for s in sorted(set(seg)):
        m = seg == s
        approved, _ = evaluate_grid(conf[m], risk[m], eligible[m], np.zeros(int(m.sum()), bool), conf_grid, risk_grid)
        lost = _loss_grid(conf[m], risk[m], eligible[m], loss[m], conf_grid, risk_grid)
        reviews = int(m.sum()) - approved
        tables[s] = (lost, reviews)

    def choose(price: float) -> dict[str, tuple[int, int]]:
        picks = {}
        for s, (lost, reviews) in tables.items():
            total = lost + reviews * (review_cost + friction_cost + price)
            picks[s] = np.unravel_index(int(np.argmin(total)), total.shape)
        return picks

    def load(picks: dict[str, tuple[int, int]]) -> float:
        return sum(float(tables[s][1][ij]) for s, ij in picks.items()) / days

    lo, hi = 0.0, 1e5
    picks = choose(0.0)
    if load(picks) > reviews_per_day:
        for _ in range(60):
            mid = (lo + hi) / 2
            if load(choose(mid)) > reviews_per_day:
                lo = mid
            else:
                hi = mid
        picks = choose(hi)
    content = _strip_gates(policy.document.content)
    segments = content.setdefault("overrides", {}).setdefault("segments", {})
    report: dict[str, Any] = {"reviews_per_day": round(load(picks), 2), "capacity": reviews_per_day,
                              "expected_cost": 0.0, "segments": {}}
    for s, (i, j) in picks.items():
        gates = segments.setdefault(s, {}).setdefault("gates", {})
        gates["min_reason_confidence"], gates["max_fraud_risk"] = float(conf_grid[i]), float(risk_grid[j])
        lost, reviews = tables[s]
        cost = float(lost[i, j] + reviews[i, j] * (review_cost + friction_cost))
        report["expected_cost"] += cost
        report["segments"][s] = {**gates, "cost": round(cost, 2), "reviews_per_day": round(reviews[i, j] / days, 2)}
    report["expected_cost"] = round(report["expected_cost"], 2)
    content["calibration"] = {"method": "cost-aware per segment under reviewer capacity", **report,
                              "based_on": policy.version}
    return _reparse(content, policy.document.source), report


def _loss_grid(conf: np.ndarray, risk: np.ndarray, eligible: np.ndarray, loss: np.ndarray, conf_grid: np.ndarray,
               risk_grid: np.ndarray) -> np.ndarray:
    out = np.zeros((conf_grid.size, risk_grid.size))
    for i, c in enumerate(conf_grid):
        m = eligible & (conf >= c)
        order = np.argsort(risk[m], kind="stable")
        cum = np.concatenate([[0.0], np.cumsum(loss[m][order])])
        out[i] = cum[np.searchsorted(risk[m][order], risk_grid, side="right")]
    return out


def simulate(candidate: DocumentPolicy, history: History, live: DocumentPolicy | None = None) -> dict[str, Any]:
    """Replay ``history`` under ``candidate`` (and ``live``): straight-through, errors, queue load, diff."""
    def replay(policy: DocumentPolicy) -> list[str]:
        return [policy.route(c, r, k, t, d).route for c, r, k, t, d in
                zip(history.cases, history.reasons, history.risks, history.times, history.documents, strict=True)]

    def summary(routes: list[str]) -> dict[str, Any]:
        routed = np.array(routes)
        approved = routed == "auto_approve"
        day = np.floor(history.day).astype(int)
        per_day = np.bincount(day[routed == "review"] - day.min(), minlength=int(np.ptp(day)) + 1)
        return {
            "cases": len(routes), "straight_through": round(float(approved.mean()), 4),
            "auto_approved_errors": int(history.error[approved].sum()),
            "auto_approved_error_rate": round(float(history.error[approved].mean()) if approved.any() else 0.0, 5),
            "auto_approved_fraud_value": round(float(history.refund[approved & history.is_fraud].sum()), 2),
            "routes": dict(Counter(routes)),
            "reviews_per_day": {"mean": round(float(per_day.mean()), 1), "p95": float(np.percentile(per_day, 95)),
                                "max": int(per_day.max())},
        }

    cand_routes = replay(candidate)
    out: dict[str, Any] = {"candidate": {"version": candidate.version, **summary(cand_routes)}}
    if live is not None:
        live_routes = replay(live)
        out["live"] = {"version": live.version, **summary(live_routes)}
        out["diff"] = {f"{a}->{b}": n for (a, b), n in sorted(Counter(zip(live_routes, cand_routes)).items())
                       if a != b}
    return out


def ipw_bad_approval_rate(propensity: np.ndarray, sampled: np.ndarray, error: np.ndarray) -> float:
    """Bad-approval rate among would-be auto-approvals, from the audit samples only (Hájek IPW estimator).

    ``propensity``/``sampled``/``error`` are per would-be approval; ``error`` is only read where sampled.
    """
    w = np.where(sampled, 1.0 / np.maximum(propensity, 1e-12), 0.0)
    return float((w * np.where(sampled, error, 0)).sum() / max(w.sum(), 1e-12))


def plot_risk_coverage(curves: dict[str, tuple[np.ndarray, np.ndarray]], alphas: list[float], path: Path,
                       chosen: dict[str, tuple[float, float]] | None = None) -> Path:
    """Error among auto-approved against straight-through rate, one line per curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for label, (coverage, error) in curves.items():
        order = np.argsort(coverage)
        ax.plot(coverage[order], error[order], label=label)
    for a in alphas:
        ax.axhline(a, linestyle="--", linewidth=0.8, color="grey")
    for label, (coverage, error) in (chosen or {}).items():
        ax.plot([coverage], [error], "o", label=label)
    ax.set_xlabel("straight-through rate (share auto-approved)")
    ax.set_ylabel("error rate among auto-approved")
    ax.set_ylim(0, max(0.04, 2.5 * max(alphas)))
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _reparse(content: dict[str, Any], source: str) -> PolicyDocument:
    # Round-trip through YAML so the written file and the in-memory version are the same document.
    return parse_policy_document(dump_policy_document(content), source=source)
