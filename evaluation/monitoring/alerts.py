"""Alerts from one window's figures, ranked by performance impact: the expected number of extra wrong
auto-approvals per 1,000 decisions. Drift alone gets the impact its estimated performance change implies, so a
harmless shift sorts below any loss of accuracy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from returns_triage.serving.storage.monitoring import AlertRecord

__all__ = ["AlertRules", "window_alerts"]


@dataclass(frozen=True, slots=True)
class AlertRules:
    alpha: float  # the policy's target auto-approval error
    min_audit_labels: int = 20
    reason_accuracy_drop: float = 0.05
    fraud_recall_drop: float = 0.15


def _get(d: dict[str, Any], *path: str) -> Any:
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)  # type: ignore[assignment]
    return d


def window_alerts(segment: str, metrics: dict[str, Any], reference: dict[str, Any], rules: AlertRules,
                  where: str, *, use_estimate: bool = True) -> list[AlertRecord]:
    """Alerts for one window (``where`` names it in messages), most harmful first."""
    out: list[AlertRecord] = []
    st = _get(metrics, "performance", "straight_through_rate") or 0.0
    err = _get(metrics, "performance", "auto_approval_error")
    n_audit = _get(metrics, "performance", "audit_labelled") or 0
    if err is not None and n_audit >= rules.min_audit_labels and err > rules.alpha:
        out.append(AlertRecord(segment, "performance", "auto_approval_error", err, rules.alpha,
                               (err - rules.alpha) * st * 1000,
                               f"{where}: realised auto-approval error {err:.1%} (IPW over {n_audit} audit samples) "
                               f"above the policy target {rules.alpha:.1%}"))
    est = _get(metrics, "estimate", "estimated_auto_approval_error") if use_estimate else None
    if est is not None and est > rules.alpha:
        out.append(AlertRecord(segment, "estimate", "estimated_auto_approval_error", est, rules.alpha,
                               (est - rules.alpha) * st * 1000,
                               f"{where}: estimated auto-approval error {est:.1%} above the policy target "
                               f"{rules.alpha:.1%} (outcomes not yet in)"))
    acc, ref_acc = _get(metrics, "performance", "reason_accuracy"), _get(reference, "reason_accuracy")
    if acc is not None and ref_acc is not None and acc < ref_acc - rules.reason_accuracy_drop:
        out.append(AlertRecord(segment, "performance", "reason_accuracy", acc, ref_acc - rules.reason_accuracy_drop,
                               (ref_acc - acc) * st * 1000,
                               f"{where}: reason accuracy {acc:.1%} against confirmed reasons, reference {ref_acc:.1%}"))
    rec, ref_rec = _get(metrics, "performance", "fraud_recall"), _get(reference, "fraud_recall")
    base = _get(metrics, "performance", "fraud_labelled") or 0
    if rec is not None and ref_rec is not None and base and rec < ref_rec - rules.fraud_recall_drop:
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
