"""Alerts from one window's figures, ranked by performance impact: the expected number of extra wrong
auto-approvals per 1,000 decisions. Drift alone gets the impact its estimated performance change implies, so a
harmless shift sorts below any loss of accuracy."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from scipy import stats

from returns_triage.evaluation.monitoring.evidence import ErrorEvidence, exceeds_target
from returns_triage.serving.storage.monitoring import AlertRecord

__all__ = ["AlertRules", "window_alerts"]


@dataclass(frozen=True, slots=True)
class AlertRules:
    """``level`` is the one-sided significance a performance alert needs: the window's labels must make "no
    worse than the target (or the reference)" implausible at that level, not merely sit above it."""

    alpha: float  # the policy's target auto-approval error
    min_audit_labels: int = 5
    reason_accuracy_drop: float = 0.05
    fraud_recall_drop: float = 0.15
    level: float = 0.01


def _get(d: dict[str, Any], *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)  # type: ignore[assignment]
    return d


def _accuracy_drop_p(acc: float, n: int, ref_acc: float, ref_n: int) -> float:
    """One-sided p-value of "accuracy no lower than the reference's" (two-proportion z-test, pooled)."""
    pooled = (acc * n + ref_acc * ref_n) / (n + ref_n)
    se = math.sqrt(max(pooled * (1.0 - pooled), 1e-12) * (1.0 / n + 1.0 / ref_n))
    return float(stats.norm.cdf((acc - ref_acc) / se))


def window_alerts(segment: str, metrics: dict[str, Any], reference: dict[str, Any], rules: AlertRules,
                  where: str, *, use_estimate: bool = True) -> list[AlertRecord]:
    """Alerts for one window (``where`` names it in messages), most harmful first.

    The auto-approval error tested is the would-be error: everything the normal gates approve, audit samples and
    fail-safe holds weighted by their inverse propensity. While a fail-safe holds a segment there are no actual
    approvals to measure, yet the harm the models would do is exactly what must stay visible."""
    out: list[AlertRecord] = []
    st = _get(metrics, "performance", "straight_through_rate") or 0.0
    share = _get(metrics, "performance", "eligible_rate")
    share = st if share is None else share
    err = _get(metrics, "performance", "would_be_error")
    if err is None:
        err = _get(metrics, "performance", "auto_approval_error")
    n_audit = _get(metrics, "performance", "audit_labelled") or 0
    n_eff = _get(metrics, "performance", "would_be_n_eff")
    k_eff = _get(metrics, "performance", "would_be_errors_eff")
    if n_eff is None and err is not None:  # figures stored before effective counts existed
        n_eff, k_eff = float(n_audit), err * n_audit
    if err is not None and n_audit >= rules.min_audit_labels and err > rules.alpha:
        p = exceeds_target(ErrorEvidence(err, float(n_eff or 0.0), float(k_eff or 0.0), n_audit), rules.alpha)
        if p < rules.level:
            out.append(AlertRecord(segment, "performance", "auto_approval_error", err, rules.alpha,
                                   (err - rules.alpha) * share * 1000,
                                   f"{where}: would-be auto-approval error {err:.1%} (IPW over {n_audit} labelled "
                                   f"audit samples and holds) above the policy target {rules.alpha:.1%}, "
                                   f"one-sided p={p:.1g}"))
    est = _get(metrics, "estimate", "estimated_auto_approval_error") if use_estimate else None
    approvals = float(_get(metrics, "estimate", "approvals") or 0)
    if est is not None and est > rules.alpha and exceeds_target(
            ErrorEvidence(est, approvals, est * approvals, 0), rules.alpha) < rules.level:
        out.append(AlertRecord(segment, "estimate", "estimated_auto_approval_error", est, rules.alpha,
                               (est - rules.alpha) * share * 1000,
                               f"{where}: estimated auto-approval error {est:.1%} above the policy target "
                               f"{rules.alpha:.1%} (outcomes not yet in)"))
    acc, ref_acc = _get(metrics, "performance", "reason_accuracy"), _get(reference, "reason_accuracy")
    n_acc, ref_n = _get(metrics, "performance", "reason_labelled") or 0, _get(reference, "reason_labelled") or 0
    if acc is not None and ref_acc is not None and acc < ref_acc - rules.reason_accuracy_drop and (
            not n_acc or not ref_n or _accuracy_drop_p(acc, n_acc, ref_acc, ref_n) < rules.level):
        out.append(AlertRecord(segment, "performance", "reason_accuracy", acc, ref_acc - rules.reason_accuracy_drop,
                               (ref_acc - acc) * st * 1000,
                               f"{where}: reason accuracy {acc:.1%} against confirmed reasons, reference {ref_acc:.1%}"))
    rec, ref_rec = _get(metrics, "performance", "fraud_recall"), _get(reference, "fraud_recall")
    frauds = _get(metrics, "performance", "fraud_positives")
    floor = None if ref_rec is None else max(ref_rec - rules.fraud_recall_drop, 0.0)
    # Recall over a handful of confirmed frauds is mostly luck: the flagged count must be implausibly low for
    # the reference recall less the allowed drop (binomial lower tail).
    if rec is not None and floor is not None and frauds and rec < floor and float(
            stats.binom.cdf(round(rec * frauds), frauds, floor)) < rules.level:
        out.append(AlertRecord(segment, "performance", "fraud_recall", rec, ref_rec - rules.fraud_recall_drop,
                               (ref_rec - rec) * 10.0,
                               f"{where}: fraud recall {rec:.0%}, reference {ref_rec:.0%}"))
    drifted = []
    if _get(metrics, "prediction_drift", "drifted"):
        drifted.append("predictions")
    if _get(metrics, "input_drift", "drifted"):
        drifted.append("inputs")
    if drifted:
        est_ref = _get(reference, "estimated_auto_approval_error")
        impact = max(0.0, (est or 0.0) - (est_ref or 0.0)) * st * 1000
        score = _get(metrics, "input_drift", "text_embedding_drift")
        detail = f" (text embedding drift {score:.2f})" if isinstance(score, float) else ""
        out.append(AlertRecord(segment, "drift", "drift", 1.0, 0.0, impact,
                               f"{where}: {' and '.join(drifted)} drifted{detail}; estimated impact "
                               f"{impact:.1f} wrong auto-approvals per 1,000"))
    return sorted(out, key=lambda a: -a.impact)
