"""One monitoring round: windows × segments → stored figures, reports, alerts, and fail-safe changes.

Windows are ``window_days`` long, aligned on ``origin`` (by default midnight UTC of the tenant's first decision);
the first ``reference_windows`` are the reference every later window is compared with. A round recomputes the
last ``lookback_windows`` windows up to ``as_of`` (older figures change as outcomes mature); labels count only if
they were known at ``as_of``, so a round run later reproduces what was knowable then.

The fail-safe of each segment is judged at the end of every round, and by ``check_failsafe`` as often as a worker
likes in between (it reads a week of decisions, no reports). It opens on the first of: labels of would-be
approvals that make an error within the target implausible (one-sided binomial test on effective counts), the
recalibrated estimate far enough above the target, or recent traffic significantly more novel than anything the
models were vetted on while the labels cannot yet vouch for it — the last reacts within hours of a shift, the
others once outcomes arrive. It clears when the labelled would-be approvals of the models serving now, since it
opened, put the error's upper bound within the target (evidence.py).

Beside the segments, each predicted reason code is a scope of its own (``reason=CODE``, every segment): a code
whose confirmed reasons, over the last ``reason_slice_days`` of the reason model serving now and among the returns
it was given as confidently as the router approves it, make a reason error within the target implausible (the same
one-sided test, Bonferroni-corrected over the codes tested) is held while the other codes keep flowing — a text the
model reads confidently and wrongly is invisible to any confidence-based estimate, and one such code can push a
segment over the target on its own. A confirmed
reason arrives with the inspection of the goods whatever the route, so it is not selected by the error (a fraud
finding can be, which is why the auto-approval error itself counts audit samples only). The scope clears like a
segment's, on its labelled holds since it opened.

The window-level novelty test needs a few hours of traffic; the returns in those hours are judged one by one: each
round and check publishes, per segment, the ranges of what was vetted (``vetted_inputs`` table), and the router
holds a would-be auto-approval outside them. Vetted are the novelty baseline (the reference and the fail-safe
periods that cleared on labels), the labelled returns newly promoted models were trained and gated on, and the
held returns outside the ranges on a feature whose labels vouch for it; changed ranges are republished.
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
from returns_triage.evaluation.monitoring.estimate import ConfidenceBasedEstimator, EstimateResult
from returns_triage.evaluation.monitoring.evidence import ErrorEvidence, NoveltyRate, error_evidence, \
    error_upper_bound, exceeds_target
from returns_triage.evaluation.monitoring.frames import window_frame
from returns_triage.evaluation.monitoring.performance import RealisedPerformanceCalculator
from returns_triage.evaluation.monitoring.prediction_drift import PredictionDriftCalculator
from returns_triage.serving.domain.failsafe import FailsafeState, reason_scope
from returns_triage.serving.storage.monitoring import SqlMonitoringStore

__all__ = ["Monitor", "MonitorConfig", "MonitorRun", "FailsafeChange"]

log = logging.getLogger("returns_triage.monitor")
ALL = "*"
_SCOPE_CHARS = 32  # failsafe_states.segment


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    alpha: float = 0.02  # the policy's target auto-approval error
    window_days: float = 7.0
    reference_windows: int = 4
    lookback_windows: int = 2
    origin: datetime | None = None
    failsafe_factor: float = 0.0  # room kept by a fail-safe; 0 = every would-be auto-approval to a person
    failsafe_days: float = 7.0  # trailing period the fail-safe judges
    min_audit_labels: int = 20  # labelled would-be approvals a fail-safe needs before labels alone clear it
    input_drift: bool = True
    reports_dir: Path | None = None
    alert_level: float = 0.01  # one-sided significance of a performance alert (evidence.exceeds_target)
    open_level: float = 0.001  # … of the labels (or the estimate) that open a fail-safe, checked many times a day
    clear_confidence: float = 0.8  # the error's upper bound at this confidence must be ≤ alpha to clear one
    novelty_days: float = 2.0  # recent traffic whose novelty may open a fail-safe before labels arrive
    novelty_level: float = 1e-4  # one-sided significance of that novelty (checked many times a day)
    calibration_days: float = 56.0  # labelled history the estimate is recalibrated on, before the windows judged
    reason_slices: bool = True  # hold one predicted reason code whose confirmed reasons show it wrong too often
    reason_slice_days: float = 91.0  # labelled history of the served reason model each code is judged on
    reason_slice_check_days: float = 1.0  # how often the code scopes are judged between rounds (they read months)
    vetted_inputs: bool = True  # publish each segment's vetted input ranges; the router holds returns outside them
    promotion_vetted_days: float = 90.0  # labelled history before newly promoted models served, vetted with them


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


@dataclass
class _Context:
    """What a round fits once and the fail-safe checks between rounds reuse: the reference, the recalibrated
    estimator and, per segment, the novelty baseline (keyed by the fail-safe periods it has absorbed)."""

    origin: datetime
    reference: pd.DataFrame
    estimator: ConfidenceBasedEstimator | None
    complete: bool = True  # the reference windows have closed (before, nothing is published)
    as_of: datetime | None = None
    novelty: dict[tuple[Any, ...], tuple[NoveltyRate, NoveltyRate, str]] = field(default_factory=dict)
    promoted: dict[tuple[str, str], tuple[pd.DataFrame, str]] = field(default_factory=dict)
    inputs_holds: pd.DataFrame | None = None  # labelled returns held for inputs outside the vetted ranges


class Monitor:
    """``run(tenant, as_of)`` computes and stores one round; ``check_failsafe(tenant, as_of)`` is the cheap part
    a worker may run more often (no drift reports, no window figures). ``embed`` (texts → embeddings of the
    served encoder) enables text drift; without it the input drift covers the tabular features only."""

    def __init__(self, engine: Engine, config: MonitorConfig,
                 embed: Callable[[list[str]], np.ndarray] | None = None) -> None:
        self.store = SqlMonitoringStore(engine)
        self.config = config
        self.embed = embed
        self._contexts: dict[str, _Context] = {}
        self._drift: dict[str, tuple[datetime, Any]] = {}  # tenant → (reference end, fitted input drift)
        self._reason_checked: dict[str, datetime] = {}  # tenant → when its reason-code scopes were last judged

    def run_all(self, as_of: datetime | None = None) -> list[MonitorRun]:
        return [self.run(t, as_of) for t in self.store.tenants()]

    def _frame(self, tenant: str, start: datetime, end: datetime, as_of: datetime) -> pd.DataFrame:
        rows = self.store.decision_rows(tenant, start, end)
        return window_frame(rows, self.store.labels(tenant, [r["case_ref"] for r in rows], as_of))

    def _context(self, tenant: str, as_of: datetime, first_judged: datetime | None = None) -> _Context | None:
        """Reference and estimator as known at ``as_of``. The estimator is recalibrated on the labelled
        decisions of the reason model now served, from the ``calibration_days`` before ``first_judged`` (the
        earliest window a round judges; by default the current one), so no window calibrates its own estimate."""
        cfg = self.config
        first, _ = self.store.decision_span(tenant)
        if first is None:
            return None
        origin = cfg.origin or first.replace(hour=0, minute=0, second=0, microsecond=0)
        width = timedelta(days=cfg.window_days)
        current = int((as_of - origin) / width)
        ref_end = origin + width * min(cfg.reference_windows, max(current, 1))
        reference = self._frame(tenant, origin, min(ref_end, as_of), as_of)
        judged = first_judged or origin + width * current
        since = max(origin, judged - timedelta(days=cfg.calibration_days))
        history = self._frame(tenant, since, judged, as_of) if judged > since else reference.iloc[:0]
        reason_version, fraud_version = self._served_models(tenant, as_of)
        estimator = None
        if len(history):
            estimator = ConfidenceBasedEstimator().fit(
                history[history["reason_model_version"] == reason_version] if reason_version else history,
                history[history["model_version"] == fraud_version] if fraud_version else history)
        # The estimate speaks only once the served probabilities were recalibrated on labelled history.
        if estimator is not None and (current < cfg.reference_windows or estimator.reason_map_ is None):
            estimator = None
        context = _Context(origin, reference, estimator, complete=current >= cfg.reference_windows, as_of=as_of)
        self._contexts[tenant] = context
        return context

    def _served_models(self, tenant: str, as_of: datetime) -> tuple[str | None, str | None]:
        """The reason and fraud model versions of the tenant's latest decision: the models serving now."""
        versions = self.store.latest_model_versions(tenant, as_of - timedelta(days=self.config.window_days), as_of)
        return (str(versions.get("reason") or "") or None), (str(versions.get("fraud") or "") or None)

    def run(self, tenant: str, as_of: datetime | None = None) -> MonitorRun:
        cfg = self.config
        as_of = as_of or datetime.now(UTC)
        first, _ = self.store.decision_span(tenant)
        if first is None:
            return MonitorRun(tenant, as_of)
        origin = cfg.origin or first.replace(hour=0, minute=0, second=0, microsecond=0)
        width = timedelta(days=cfg.window_days)
        current = int((as_of - origin) / width)
        first_k = max(0, current - cfg.lookback_windows + 1)
        context = self._context(tenant, as_of, origin + width * first_k)
        assert context is not None
        reference, estimator = context.reference, context.estimator
        perf = RealisedPerformanceCalculator()
        pred = PredictionDriftCalculator().fit(reference)
        ref_end = origin + width * min(cfg.reference_windows, max(current, 1))

        def input_drift() -> Any:
            # Refitted only while the reference is still filling: its embeddings and bounds are the slow part.
            cached = self._drift.get(tenant)
            if cached is None or cached[0] != ref_end:
                from returns_triage.evaluation.monitoring.input_drift import InputDriftCalculator

                cached = (ref_end, InputDriftCalculator(self.embed).fit(reference))
                self._drift[tenant] = cached
            return cached[1]

        ref_summary = {**perf.calculate(reference).to_dict(), **_estimate(estimator, reference)}
        rules = AlertRules(alpha=cfg.alpha, level=cfg.alert_level)
        run = MonitorRun(tenant, as_of)
        for k in range(first_k, current + 1):
            start, end = origin + width * k, origin + width * (k + 1)
            frame = self._frame(tenant, start, min(end, as_of), as_of)
            complete = end <= as_of
            for segment in [ALL, *sorted(set(frame["segment"]))]:
                part = frame if segment == ALL else frame[frame["segment"] == segment]
                ref_part = reference if segment == ALL else reference[reference["segment"] == segment]
                metrics: dict[str, Any] = {
                    "complete": complete, "reference": k < cfg.reference_windows,
                    "performance": perf.calculate(part).to_dict(),
                    "estimate": _estimate(estimator, part),
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
                    **perf.calculate(ref_part).to_dict(), **_estimate(estimator, ref_part)}
                where = f"window {start:%Y-%m-%d}–{end:%Y-%m-%d}, segment {segment}"
                # Inside the reference period there is nothing to compare with and no calibrated estimate yet.
                alerts = [] if k < cfg.reference_windows else window_alerts(
                    segment, metrics, ref_seg, rules, where, use_estimate=estimator is not None)
                metrics = _clean(metrics)
                window_id = self.store.save_window(
                    tenant, segment=segment, start=start, end=end, computed_at=as_of, decisions_count=len(part),
                    labelled=int(part["labelled"].sum()), metrics=metrics, report_file=report, alerts=alerts)
                for a in alerts:
                    log.warning("monitoring alert (%s, impact %.1f): %s", a.kind, a.impact, a.message)
                run.windows.append({"window_id": window_id, "segment": segment, "window_start": start,
                                    "window_end": end, "metrics": metrics,
                                    "alerts": [_clean(_alert_dict(a)) for a in alerts]})
        run.failsafe.extend(self._failsafe(tenant, as_of, context, reason_scopes=True))
        return run

    # --- the fail-safe -----------------------------------------------------------------------------------

    def check_failsafe(self, tenant: str, as_of: datetime | None = None) -> list[FailsafeChange]:
        """Only the fail-safe rules, with the reference and estimator of the last round (fitted now if this
        monitor has not run a round for the tenant yet)."""
        as_of = as_of or datetime.now(UTC)
        context = self._contexts.get(tenant) or self._context(tenant, as_of)
        return [] if context is None else self._failsafe(tenant, as_of, context)

    def _novelty(self, tenant: str, segment: str, context: _Context, history: list[FailsafeState],
                 served: tuple[str | None, str | None] = (None, None)) -> NoveltyRate:
        return self._vetted(tenant, segment, context, history, served)[0]

    def _vetted(self, tenant: str, segment: str, context: _Context, history: list[FailsafeState],
                served: tuple[str | None, str | None]) -> tuple[NoveltyRate, NoveltyRate, str]:
        """The segment's novelty baseline, the ranges to publish and what they were fitted on.

        The baseline is the reference plus every period a fail-safe held the segment and then cleared on labels —
        traffic reviewed case by case and found within the target: whole periods of traffic, so its out-of-sample
        novelty rate is a fair null for the novelty test. The published ranges also take in returns vetted one by
        one: once models other than the reference's serve, the labelled returns of the ``promotion_vetted_days``
        before they first served (what retraining learned from and the promotion gate judged them on), and the held
        returns outside the ranges on a feature whose labels vouch for it. Those are selected returns (labelled,
        or outside by construction), so they widen the ranges without entering the novelty test's null."""
        vetted = [s for s in history if s.segment == segment and s.cleared_at is not None]
        promoted, promoted_basis = self._promoted(tenant, context, served)
        holds = self._inputs_holds(tenant, context, served)
        holds = holds[holds["segment"] == segment]
        key = (segment, tuple(sorted(s.state_id for s in vetted)), promoted_basis, len(holds))
        found = context.novelty.get(key)
        if found is None:
            ref = context.reference[context.reference["segment"] == segment]
            parts = [ref]
            basis = [f"{len(ref)} reference returns"]
            for s in vetted:
                assert s.cleared_at is not None
                held = self._frame(tenant, s.opened_at, s.cleared_at, s.cleared_at)
                parts.append(held[held["segment"] == segment])
                basis.append(f"{len(parts[-1])} returns of fail-safe {s.state_id[:8]} "
                             f"({s.opened_at:%Y-%m-%d}–{s.cleared_at:%Y-%m-%d}, cleared on labels)")
            base = pd.concat(parts, ignore_index=True)
            novelty = NoveltyRate().fit(base)
            ranges = novelty
            if promoted is not None:
                # A return is counted once, however many of these parts hold it.
                extra = promoted[(promoted["segment"] == segment) & ~promoted["decision_id"].isin(base["decision_id"])]
                if len(extra):
                    base = pd.concat([base, extra], ignore_index=True)
                    basis.append(f"{len(extra)} {promoted_basis}")
                    ranges = NoveltyRate().fit(base)
            absorbed, features = self._vetted_holds(ranges, holds[~holds["decision_id"].isin(base["decision_id"])])
            if len(absorbed):
                ranges = NoveltyRate().fit(pd.concat([base, absorbed], ignore_index=True))
                basis.append(f"{len(absorbed)} labelled returns held outside the ranges on {', '.join(features)} "
                             f"and found within the target")
            found = (novelty, ranges, ", ".join(basis))
            context.novelty[key] = found
        return found

    def _inputs_holds(self, tenant: str, context: _Context, served: tuple[str | None, str | None]) -> pd.DataFrame:
        """The labelled returns of the models serving now held for inputs outside the vetted ranges, over the last
        ``reason_slice_days`` (read once per round)."""
        if context.inputs_holds is None:
            end = context.as_of or datetime.now(UTC)
            frame = self._frame(tenant, end - timedelta(days=self.config.reason_slice_days), end, end)
            frame = frame[frame["inputs_held"].astype(bool) & frame["labelled"].astype(bool)]
            context.inputs_holds = frame
        frame = context.inputs_holds
        reason, fraud = served
        if reason and fraud:
            frame = frame[(frame["reason_model_version"] == reason) & (frame["model_version"] == fraud)]
        return frame

    def _vetted_holds(self, novelty: NoveltyRate, holds: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
        """The held returns whose every input outside ``novelty``'s ranges is on a feature the labelled holds vouch
        for: at least ``min_audit_labels`` of them outside on it, their error's upper bound within the target (as a
        fail-safe clears). One feature at a time, so a region the labels condemn stays held."""
        cfg = self.config
        if holds.empty or not getattr(novelty, "fitted_", False):
            return holds.iloc[:0], []
        flags = novelty.flags(holds)
        errors = holds["error"].to_numpy(float)
        vouched = []
        for name, outside in flags.items():
            n = int(outside.sum())
            if n < cfg.min_audit_labels:
                continue
            k = float(errors[outside].sum())
            if error_upper_bound(ErrorEvidence(k / n, float(n), k, n), cfg.clear_confidence) <= cfg.alpha:
                vouched.append(name)
        if not vouched:
            return holds.iloc[:0], []
        unvouched = [f for name, f in flags.items() if name not in vouched]
        keep = ~np.logical_or.reduce(unvouched) if unvouched else np.ones(len(holds), dtype=bool)
        keep &= np.logical_or.reduce([flags[name] for name in vouched])
        return holds[keep], vouched

    def _promoted(self, tenant: str, context: _Context,
                  served: tuple[str | None, str | None]) -> tuple[pd.DataFrame | None, str]:
        """The labelled returns vetted with the models serving now when they are not the reference's, or None."""
        reason, fraud = served
        if not reason or not fraud or context.reference.empty:
            return None, ""
        ref = set(zip(context.reference["reason_model_version"], context.reference["model_version"], strict=True))
        if (reason, fraud) in ref:
            return None, ""
        found = context.promoted.get((reason, fraud))
        if found is None:
            first = self.store.first_decision_with(tenant, {"reason": reason, "fraud": fraud})
            if first is None:
                return None, ""
            days = self.config.promotion_vetted_days
            frame = self._frame(tenant, first - timedelta(days=days), first, first)
            found = (frame[frame["labelled"].astype(bool)],
                     f"labelled returns of the {days:g} days before models {reason}, {fraud} first served "
                     f"({first:%Y-%m-%d %H:%M})")
            context.promoted[(reason, fraud)] = found
        return found

    def _publish(self, tenant: str, as_of: datetime, context: _Context, history: list[FailsafeState],
                 served: tuple[str | None, str | None], segments: set[str]) -> None:
        """Publish each segment's vetted inputs when they changed (a new reference, a cleared fail-safe period,
        newly promoted models): the router holds every would-be auto-approval outside them."""
        if not self.config.vetted_inputs or not context.complete:
            return
        for segment in sorted(segments - {ALL}):
            if len(segment) > _SCOPE_CHARS:
                continue
            _, ranges, basis = self._vetted(tenant, segment, context, history, served)
            if not getattr(ranges, "fitted_", False):
                continue
            published, new = self.store.publish_vetted_inputs(
                tenant, segment=segment, numeric=ranges.numeric_, known=ranges.known_, cases=ranges.cases_,
                basis=basis, now=as_of)
            if new:
                log.info("vetted inputs %s published for tenant %s segment %s (%s)", published.inputs_id[:8], tenant,
                         segment, basis)

    def _failsafe(self, tenant: str, as_of: datetime, context: _Context,
                  reason_scopes: bool = False) -> list[FailsafeChange]:
        cfg = self.config
        since = as_of - timedelta(days=cfg.failsafe_days)
        frame = self._frame(tenant, since, as_of, as_of)
        every = {s.segment: s for s in self.store.open_failsafes() if s.tenant == tenant}
        open_states = {k: s for k, s in every.items() if s.reason_code is None}
        history = self.store.failsafe_history(tenant)
        served = self._served_models(tenant, as_of)
        changes: list[FailsafeChange] = []
        last = self._reason_checked.get(tenant)
        if cfg.reason_slices and (reason_scopes or last is None
                                  or as_of - last >= timedelta(days=cfg.reason_slice_check_days)):
            self._reason_checked[tenant] = as_of
            changes.extend(self._reason_failsafe(tenant, as_of, {s.reason_code: s for s in every.values()
                                                                 if s.reason_code is not None}))
        # A code held in every segment is approved in none: its holds are judged by its own scope, not the segment's.
        held_codes = {s.reason_code for s in self.store.open_failsafes() if s.tenant == tenant and s.reason_code}
        frame = frame[~frame["reason_code"].isin(held_codes)]
        for segment in sorted(set(frame["segment"]) | set(open_states) - {ALL}):
            part = frame[frame["segment"] == segment]
            state = open_states.get(segment)
            if state is None:
                verdict = self._breach(part, context, self._novelty(tenant, segment, context, history, served),
                                      as_of)
                if verdict is not None:
                    metric, value, why = verdict
                    opened = self.store.open_failsafe(tenant, segment=segment, factor=cfg.failsafe_factor,
                                                      metric=metric, value=value, target=cfg.alpha, reason=why,
                                                      now=as_of)
                    log.warning("fail-safe opened for tenant %s segment %s: %s", tenant, segment, why)
                    changes.append(FailsafeChange("opened", opened, why))
                continue
            why = self._cleared(tenant, segment, state, as_of, held_codes)
            if why is not None:
                self.store.clear_failsafe(state.state_id, reason=why, now=as_of)
                log.warning("fail-safe cleared for tenant %s segment %s: %s", tenant, segment, why)
                changes.append(FailsafeChange("cleared", replace(state, cleared_at=as_of, cleared_reason=why), why))
        if any(c.action == "cleared" for c in changes):
            history = self.store.failsafe_history(tenant)  # a cleared period is vetted traffic now
        self._publish(tenant, as_of, context, history, served,
                      set(context.reference["segment"]) | set(frame["segment"]))
        return changes

    def _reason_failsafe(self, tenant: str, as_of: datetime,
                         open_codes: dict[str | None, FailsafeState]) -> list[FailsafeChange]:
        """Open or clear the reason-code scopes (see the module docstring)."""
        cfg = self.config
        frame = self._frame(tenant, as_of - timedelta(days=cfg.reason_slice_days), as_of, as_of)
        changes: list[FailsafeChange] = []
        if frame.empty:
            return changes
        served = frame["reason_model_version"].iloc[-1]
        frame = frame[frame["reason_model_version"] == served]
        # The confidence from which the router approves each code: the lowest of its would-be approvals. Every
        # decision the model gave that code at least as confidently (and did not abstain on) speaks for it,
        # whatever the fraud risk did with the case: the text, not the route, decides whether the reason is right.
        would = frame[(frame["route"] == "auto_approve") | frame["audit_propensity"].notna()]
        floors = would.groupby("reason_code")["reason_confidence"].min()
        confident = frame[frame["label_reason"].notna() & ~frame["reason_abstain"].astype(bool)
                          & (frame["reason_confidence"] >= frame["reason_code"].map(floors).fillna(np.inf))]
        wrong = (confident["label_reason"] != confident["reason_code"]).to_numpy(float)
        codes = confident["reason_code"].to_numpy()
        # A scope is stored in the fail-safe's 32-character segment column; a longer code cannot be held alone.
        tested = sorted(c for c in set(codes) - set(open_codes) if len(reason_scope(str(c))) <= _SCOPE_CHARS)
        level = cfg.open_level / max(len(tested), 1)
        for code in tested:
            m = codes == code
            evidence = ErrorEvidence(float(wrong[m].mean()), float(m.sum()), float(wrong[m].sum()), int(m.sum()))
            p = exceeds_target(evidence, cfg.alpha)
            if p >= level:
                continue
            why = (f"reason {code}: {int(evidence.errors)} of {evidence.labelled} confirmed reasons of returns the "
                   f"model gave it with p ≥ {floors[code]:.2f} (where it is auto-approved) in the last "
                   f"{cfg.reason_slice_days:g} days were another reason ({evidence.rate:.1%}), above the target "
                   f"{cfg.alpha:.1%} (one-sided p={p:.1g}, {len(tested)} codes tested)")
            opened = self.store.open_failsafe(tenant, segment=reason_scope(str(code)), factor=cfg.failsafe_factor,
                                              metric="reason_error", value=float(evidence.rate or 0.0),
                                              target=cfg.alpha, reason=why, now=as_of)
            log.warning("fail-safe opened for tenant %s %s: %s", tenant, opened.segment, why)
            changes.append(FailsafeChange("opened", opened, why))
        for code, state in open_codes.items():
            held = frame[(frame["created_at"] >= state.opened_at) & (frame["reason_code"] == code)
                         & frame["audit_propensity"].notna() & frame["label_reason"].notna()]
            k, n = float((held["label_reason"] != code).sum()), float(len(held))
            evidence = ErrorEvidence(k / n if n else None, n, k, int(n))
            bound = error_upper_bound(evidence, cfg.clear_confidence)
            if n < cfg.min_audit_labels or bound > cfg.alpha:
                continue
            why = (f"reason {code}: {int(k)} of {int(n)} labelled holds since {state.opened_at:%Y-%m-%d} had another "
                   f"reason confirmed; the {cfg.clear_confidence:.0%} upper bound {bound:.1%} is within the target "
                   f"{cfg.alpha:.1%} (reason model {served})")
            self.store.clear_failsafe(state.state_id, reason=why, now=as_of)
            log.warning("fail-safe cleared for tenant %s %s: %s", tenant, state.segment, why)
            changes.append(FailsafeChange("cleared", replace(state, cleared_at=as_of, cleared_reason=why), why))
        return changes

    def _cleared(self, tenant: str, segment: str, state: FailsafeState, as_of: datetime,
                 held_codes: set[str] | frozenset[str] = frozenset()) -> str | None:
        """Why the state may clear, or None. Only evidence gathered since it opened counts, and only decisions
        of the models serving now: their labelled would-be approvals (audit samples, and the holds, which are
        every would-be approval while the state is open) must put the error's upper bound within the target.
        Labels of the very cases in question outrank the estimate here."""
        cfg = self.config
        since = max(state.opened_at, as_of - timedelta(days=4 * cfg.failsafe_days))
        after = self._frame(tenant, since, as_of, as_of)
        after = after[(after["segment"] == segment) & ~after["reason_code"].isin(held_codes)]
        if after.empty:
            return None
        served = after["model_version"].iloc[-1], after["reason_model_version"].iloc[-1]
        after = after[(after["model_version"] == served[0]) & (after["reason_model_version"] == served[1])]
        audit = after[after["audit_propensity"].notna() & after["labelled"]]
        evidence = error_evidence(audit["error"].to_numpy(), audit["audit_propensity"].to_numpy())
        bound = error_upper_bound(evidence, cfg.clear_confidence)
        if evidence.labelled < cfg.min_audit_labels or evidence.rate is None or bound > cfg.alpha:
            return None
        return (f"would-be auto-approval error {evidence.rate:.1%} over {evidence.labelled} labelled reviews since "
                f"{since:%Y-%m-%d} (models {served[0]}, {served[1]}); its {cfg.clear_confidence:.0%} upper bound "
                f"{bound:.1%} is within the target {cfg.alpha:.1%}")

    def _breach(self, part: pd.DataFrame, context: _Context, novelty: NoveltyRate,
                as_of: datetime) -> tuple[str, float, str] | None:
        """Why the segment's router must tighten, or None. In order of evidence: labels that make an error within
        the target implausible; the recalibrated estimate above the target; recent traffic significantly more
        novel than anything vetted, while the labels cannot yet vouch for it."""
        cfg = self.config
        audit = part[part["audit_propensity"].notna() & part["labelled"]]
        evidence = error_evidence(audit["error"].to_numpy(), audit["audit_propensity"].to_numpy())
        p = exceeds_target(evidence, cfg.alpha)
        if evidence.rate is not None and p < cfg.open_level:
            return ("auto_approval_error", evidence.rate,
                    f"would-be auto-approval error {evidence.rate:.1%} over {evidence.labelled} labelled audit "
                    f"samples in the last {cfg.failsafe_days:g} days, above the target {cfg.alpha:.1%} "
                    f"(one-sided p={p:.1g})")
        estimate = _estimate(context.estimator, part)
        est, approvals = estimate.get("estimated_auto_approval_error"), float(estimate.get("approvals") or 0)
        # The estimate's expected errors are tested like observed ones: an estimate a shade above the target on
        # forty approvals is noise, one far above it on hundreds is not.
        p_est = 1.0 if est is None else exceeds_target(ErrorEvidence(est, approvals, est * approvals, 0), cfg.alpha)
        if est is not None and p_est < cfg.open_level:
            return ("estimated_auto_approval_error", est,
                    f"estimated auto-approval error {est:.1%} over {approvals:.0f} would-be approvals in the last "
                    f"{cfg.failsafe_days:g} days, above the target {cfg.alpha:.1%} (one-sided p={p_est:.1g})")
        recent = novelty.calculate(part[part["created_at"] >= as_of - timedelta(days=cfg.novelty_days)])
        if recent is not None and recent.p_value < cfg.novelty_level and \
                error_upper_bound(evidence, cfg.clear_confidence) > cfg.alpha:
            top = ", ".join(f"{c} {n}" for c, n in sorted(recent.features.items(), key=lambda x: -x[1])[:3])
            return ("input_novelty", float(recent.rate or 0.0),
                    f"{recent.novel} of {recent.cases} returns in the last {cfg.novelty_days:g} days lie outside "
                    f"the vetted inputs ({top}), against {recent.reference_rate:.1%} normally (p={recent.p_value:.1g}),"
                    f" and too few labels yet to show the error within the target {cfg.alpha:.1%}")
        return None


def _estimate(estimator: ConfidenceBasedEstimator | None, frame: pd.DataFrame) -> dict[str, Any]:
    if estimator is None:
        return {**EstimateResult(len(frame), None, None, 0, 0).to_dict()}
    return estimator.calculate(frame).to_dict()


def _alert_dict(a: Any) -> dict[str, Any]:
    return {"segment": a.segment, "kind": a.kind, "metric": a.metric, "value": a.value, "threshold": a.threshold,
            "impact": a.impact, "message": a.message}
