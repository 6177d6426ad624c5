"""One monitoring round: windows × segments → stored figures, reports, alerts, and fail-safe changes.

Windows are ``window_days`` long, aligned on ``origin`` (by default midnight UTC of the tenant's first decision);
the first ``reference_windows`` are the reference every later window is compared with. A round recomputes the
last ``lookback_windows`` windows up to ``as_of`` (older figures change as outcomes mature); labels count only if
they were known at ``as_of``, so a round run later reproduces what was knowable then.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from returns_triage.evaluation.monitoring.alerts import AlertRules, window_alerts
from returns_triage.evaluation.monitoring.estimate import ConfidenceBasedEstimator
from returns_triage.evaluation.monitoring.frames import window_frame
from returns_triage.evaluation.monitoring.performance import RealisedPerformanceCalculator, ipw_error_rate
from returns_triage.evaluation.monitoring.prediction_drift import PredictionDriftCalculator
from returns_triage.serving.domain.failsafe import FailsafeState
from returns_triage.serving.storage.monitoring import SqlMonitoringStore

__all__ = ["Monitor", "MonitorConfig", "MonitorRun", "FailsafeChange"]

log = logging.getLogger("returns_triage.monitor")
ALL = "*"


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    alpha: float = 0.02  # the policy's target auto-approval error
    window_days: float = 7.0
    reference_windows: int = 4
    lookback_windows: int = 2
    origin: datetime | None = None
    failsafe_factor: float = 0.0  # room kept by a fail-safe; 0 = every would-be auto-approval to a person
    failsafe_days: float = 7.0  # trailing period the fail-safe judges
    min_audit_labels: int = 20
    input_drift: bool = True
    reports_dir: Path | None = None


@dataclass(frozen=True, slots=True)
class FailsafeChange:
    action: str  # "opened" | "cleared"
    state: FailsafeState
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "reason": self.reason, "state": self.state.to_dict()}


@dataclass(frozen=True)
class MonitorRun:
    """What one round computed; ``windows`` holds each stored window's id, bounds, segment, metrics, alerts."""

    tenant: str
    as_of: datetime
    windows: list[dict[str, Any]] = field(default_factory=list)
    failsafe: list[FailsafeChange] = field(default_factory=list)

    @property
    def alerts(self) -> list[dict[str, Any]]:
        return sorted((a for w in self.windows for a in w["alerts"]), key=lambda a: -a["impact"])

    def to_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "as_of": self.as_of.isoformat(),
                "windows": [{**w, "window_start": w["window_start"].isoformat(),
                             "window_end": w["window_end"].isoformat()} for w in self.windows],
                "alerts": self.alerts, "failsafe": [c.to_dict() for c in self.failsafe]}


def _clean(value: Any) -> Any:
    """JSON-safe figures: NaN and inf become None, numpy scalars plain numbers."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class Monitor:
    """``run(tenant, as_of)`` computes and stores one round. ``embed`` (texts → embeddings of the served encoder)
    enables text drift; without it the input drift covers the tabular features only."""

    def __init__(self, engine: Engine, config: MonitorConfig,
                 embed: Callable[[list[str]], np.ndarray] | None = None) -> None:
        self.store = SqlMonitoringStore(engine)
        self.config = config
        self.embed = embed

    def run_all(self, as_of: datetime | None = None) -> list[MonitorRun]:
        return [self.run(t, as_of) for t in self.store.tenants()]

    def _frame(self, tenant: str, start: datetime, end: datetime, as_of: datetime) -> pd.DataFrame:
        rows = self.store.decision_rows(tenant, start, end)
        return window_frame(rows, self.store.labels(tenant, [r["case_ref"] for r in rows], as_of))

    def run(self, tenant: str, as_of: datetime | None = None) -> MonitorRun:
        cfg = self.config
        as_of = as_of or datetime.now(UTC)
        first, _ = self.store.decision_span(tenant)
        if first is None:
            return MonitorRun(tenant, as_of)
        origin = cfg.origin or first.replace(hour=0, minute=0, second=0, microsecond=0)
        width = timedelta(days=cfg.window_days)
        current = int((as_of - origin) / width)
        ref_end = origin + width * min(cfg.reference_windows, max(current, 1))
        reference = self._frame(tenant, origin, ref_end, as_of)
        perf = RealisedPerformanceCalculator()
        estimator = ConfidenceBasedEstimator().fit(reference)
        pred = PredictionDriftCalculator().fit(reference)
        drift: list[Any] = []  # fitted on first use: most rounds reuse the stored drift of complete windows

        def input_drift() -> Any:
            if not drift:
                from returns_triage.evaluation.monitoring.input_drift import InputDriftCalculator

                drift.append(InputDriftCalculator(self.embed).fit(reference))
            return drift[0]

        ref_summary = {**perf.calculate(reference).to_dict(), **estimator.calculate(reference).to_dict()}
        rules = AlertRules(alpha=cfg.alpha, min_audit_labels=cfg.min_audit_labels)
        # The estimate speaks only once the served probabilities were recalibrated on a finished reference.
        calibrated = current >= cfg.reference_windows and estimator.reason_map_ is not None
        run = MonitorRun(tenant, as_of)
        for k in range(max(0, current - cfg.lookback_windows + 1), current + 1):
            start, end = origin + width * k, origin + width * (k + 1)
            frame = self._frame(tenant, start, min(end, as_of), as_of)
            complete = end <= as_of
            for segment in [ALL, *sorted(set(frame["segment"]))]:
                part = frame if segment == ALL else frame[frame["segment"] == segment]
                ref_part = reference if segment == ALL else reference[reference["segment"] == segment]
                metrics: dict[str, Any] = {
                    "complete": complete, "reference": k < cfg.reference_windows,
                    "performance": perf.calculate(part).to_dict(),
                    "estimate": estimator.calculate(part).to_dict(),
                    "prediction_drift": pred.calculate(part).to_dict(),
                }
                report = None
                done = self.store.find_window(tenant, segment, start, end) if complete else None
                if done is not None and (done["metrics"] or {}).get("input_drift") is not None:
                    # A complete window's inputs do not change: keep its drift figures and report.
                    metrics["input_drift"] = done["metrics"]["input_drift"]
                    report = done["report_file"]
                elif (cfg.input_drift and len(reference) >= 10 and segment == ALL and complete
                      and len(part) >= 10):
                    html = None
                    if cfg.reports_dir is not None:
                        html = cfg.reports_dir / tenant / f"{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}.html"
                    result = input_drift().calculate(part, html=html)
                    metrics["input_drift"] = result.to_dict()
                    report = result.report_file
                ref_seg = ref_summary if segment == ALL else {
                    **perf.calculate(ref_part).to_dict(), **estimator.calculate(ref_part).to_dict()}
                where = f"window {start:%Y-%m-%d}–{end:%Y-%m-%d}, segment {segment}"
                # Inside the reference period there is nothing to compare with and no calibrated estimate yet.
                alerts = [] if k < cfg.reference_windows else window_alerts(
                    segment, metrics, ref_seg, rules, where, use_estimate=calibrated)
                metrics = _clean(metrics)
                window_id = self.store.save_window(
                    tenant, segment=segment, start=start, end=end, computed_at=as_of, decisions_count=len(part),
                    labelled=int(part["labelled"].sum()), metrics=metrics, report_file=report, alerts=alerts)
                for a in alerts:
                    log.warning("monitoring alert (%s, impact %.1f): %s", a.kind, a.impact, a.message)
                run.windows.append({"window_id": window_id, "segment": segment, "window_start": start,
                                    "window_end": end, "metrics": metrics,
                                    "alerts": [_clean(_alert_dict(a)) for a in alerts]})
        run.failsafe.extend(self._failsafe(tenant, as_of, estimator if calibrated else None))
        return run

    # --- the fail-safe -----------------------------------------------------------------------------------

    def _failsafe(self, tenant: str, as_of: datetime,
                  estimator: ConfidenceBasedEstimator | None) -> list[FailsafeChange]:
        cfg = self.config
        since = as_of - timedelta(days=cfg.failsafe_days)
        frame = self._frame(tenant, since, as_of, as_of)
        open_states = {s.segment: s for s in self.store.open_failsafes() if s.tenant == tenant}
        changes: list[FailsafeChange] = []
        for segment in sorted(set(frame["segment"]) | set(open_states) - {ALL}):
            part = frame[frame["segment"] == segment]
            state = open_states.get(segment)
            if state is None:
                verdict = self._breach(part, estimator)
                if verdict is not None:
                    metric, value, why = verdict
                    opened = self.store.open_failsafe(tenant, segment=segment, factor=cfg.failsafe_factor,
                                                      metric=metric, value=value, target=cfg.alpha, reason=why,
                                                      now=as_of)
                    log.warning("fail-safe opened for tenant %s segment %s: %s", tenant, segment, why)
                    changes.append(FailsafeChange("opened", opened, why))
                continue
            # Clear only on evidence gathered since the state opened: the normal gates' would-be approvals
            # (audit samples and fail-safe holds, labelled) must be back within the target, and so the estimate.
            after = part[part["created_at"] >= state.opened_at]
            audit = after[after["audit_propensity"].notna() & after["labelled"]]
            would, _ = ipw_error_rate(audit["error"].to_numpy(), audit["audit_propensity"].to_numpy())
            est = estimator.calculate(after).estimated_auto_approval_error if estimator is not None else None
            if len(audit) >= cfg.min_audit_labels and would is not None and would <= cfg.alpha and (
                    est is None or est <= cfg.alpha):
                why = (f"would-be auto-approval error {would:.1%} over {len(audit)} labelled reviews since "
                       f"{state.opened_at:%Y-%m-%d} within the target {cfg.alpha:.1%}")
                self.store.clear_failsafe(state.state_id, reason=why, now=as_of)
                log.warning("fail-safe cleared for tenant %s segment %s: %s", tenant, segment, why)
                changes.append(FailsafeChange("cleared", replace(state, cleared_at=as_of, cleared_reason=why), why))
        return changes

    def _breach(self, part: pd.DataFrame,
                estimator: ConfidenceBasedEstimator | None) -> tuple[str, float, str] | None:
        cfg = self.config
        audit = part[part["audit_propensity"].notna() & part["labelled"] & (part["audit_propensity"] < 1.0)]
        err, _ = ipw_error_rate(audit["error"].to_numpy(), audit["audit_propensity"].to_numpy())
        if err is not None and len(audit) >= cfg.min_audit_labels and err > cfg.alpha:
            return ("auto_approval_error", err,
                    f"realised auto-approval error {err:.1%} over {len(audit)} audit samples in the last "
                    f"{cfg.failsafe_days:g} days, above the target {cfg.alpha:.1%}")
        est = estimator.calculate(part).estimated_auto_approval_error if estimator is not None else None
        if est is not None and est > cfg.alpha:
            return ("estimated_auto_approval_error", est,
                    f"estimated auto-approval error {est:.1%} in the last {cfg.failsafe_days:g} days, above the "
                    f"target {cfg.alpha:.1%}")
        return None


def _alert_dict(a: Any) -> dict[str, Any]:
    return {"segment": a.segment, "kind": a.kind, "metric": a.metric, "value": a.value, "threshold": a.threshold,
            "impact": a.impact, "message": a.message}
