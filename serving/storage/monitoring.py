"""Monitoring storage: what `triage monitor` reads (decisions with the labels known at a time) and writes (window
results, alerts, fail-safe states, vetted inputs). The API only reads through here; the monitor worker writes."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, and_, delete, func, or_, select, update

from returns_triage.errors import NotFound
from returns_triage.serving.domain.failsafe import INPUTS_HOLD, FailsafeState, VettedInputs
from returns_triage.serving.domain.model import sha256_of
from returns_triage.serving.domain.webhooks import MONITORING_ALERT
from returns_triage.serving.storage.tables import (
    cases,
    decisions,
    failsafe_states,
    monitoring_alerts,
    monitoring_windows,
    outcomes,
    review_decisions,
    vetted_inputs,
)
from returns_triage.serving.storage.webhooks import enqueue_event

__all__ = ["SqlMonitoringStore", "AlertRecord", "MONITORING_ALERT", "state_from_row", "inputs_from_row",
           "recorded_vetted_inputs"]

# The decisions table also holds disposition recommendations (kind "disposition"): monitoring judges returns.
_RETURNS = decisions.c.kind == "return"

def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """An alert as the monitor raises it (the store adds ids and the window)."""

    segment: str
    kind: str  # "performance" | "estimate" | "drift"
    metric: str
    value: float
    threshold: float
    impact: float  # expected extra wrong auto-approvals per 1,000 decisions: what alerts are ranked by
    message: str


def _window(row: Any) -> dict[str, Any]:
    return {"window_id": row.window_id, "segment": row.segment, "window_start": _utc(row.window_start),
            "window_end": _utc(row.window_end), "computed_at": _utc(row.computed_at), "decisions": row.decisions,
            "labelled": row.labelled, "metrics": row.metrics, "has_report": row.report_file is not None}


def _alert(row: Any) -> dict[str, Any]:
    return {"alert_id": row.alert_id, "window_id": row.window_id, "segment": row.segment, "kind": row.kind,
            "metric": row.metric, "value": row.value, "threshold": row.threshold, "impact": row.impact,
            "message": row.message, "created_at": _utc(row.created_at)}


def state_from_row(row: Any) -> FailsafeState:
    """A ``failsafe_states`` row as the router's state."""
    return FailsafeState(state_id=row.state_id, tenant=row.tenant, segment=row.segment, factor=row.factor,
                         metric=row.metric, value=row.value, target=row.target, reason=row.reason,
                         opened_at=_utc(row.opened_at), cleared_at=_utc(row.cleared_at),  # type: ignore[arg-type]
                         cleared_reason=row.cleared_reason)


def inputs_from_row(row: Any) -> VettedInputs:
    """A ``vetted_inputs`` row as the router's :class:`VettedInputs`."""
    return VettedInputs(inputs_id=row.inputs_id, tenant=row.tenant, segment=row.segment,
                        numeric={k: (float(v[0]), float(v[1])) for k, v in (row.numeric or {}).items()},
                        known={k: frozenset(str(x) for x in v) for k, v in (row.known or {}).items()},
                        cases=row.cases, basis=row.basis,
                        published_at=_utc(row.published_at))  # type: ignore[arg-type]


_INPUTS_CLAUSE = re.compile(re.escape(INPUTS_HOLD) + r" ([0-9a-f]{8}) \(")


def recorded_vetted_inputs(engine: Engine, tenant: str, texts: Iterable[str]) -> list[VettedInputs]:
    """The vetted inputs a decision's reasons or explanation (``texts``) name as having held it, as published
    then (a replay routes with these, superseded or not)."""
    prefixes = sorted({m.group(1) for t in texts for m in _INPUTS_CLAUSE.finditer(str(t))})
    if not prefixes:
        return []
    with engine.connect() as conn:
        rows = conn.execute(select(vetted_inputs).where(
            vetted_inputs.c.tenant == tenant,
            or_(*(vetted_inputs.c.inputs_id.startswith(p, autoescape=True) for p in prefixes))))
        return [inputs_from_row(r) for r in rows]


def _content_sha256(numeric: dict[str, tuple[float, float]], known: dict[str, Iterable[str]]) -> str:
    return sha256_of({"numeric": {k: [float(lo), float(hi)] for k, (lo, hi) in numeric.items()},
                      "known": {k: sorted(str(x) for x in v) for k, v in known.items()}})


class SqlMonitoringStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- what the monitor reads ----------------------------------------------------------------------------

    def tenants(self) -> list[str]:
        with self.engine.connect() as conn:
            return sorted(conn.execute(select(decisions.c.tenant).distinct().where(_RETURNS)).scalars())

    def decision_span(self, tenant: str) -> tuple[datetime | None, datetime | None]:
        with self.engine.connect() as conn:
            lo, hi = conn.execute(select(func.min(decisions.c.created_at), func.max(decisions.c.created_at))
                                  .where(decisions.c.tenant == tenant, _RETURNS)).one()
        return _utc(lo), _utc(hi)

    def latest_model_versions(self, tenant: str, start: datetime, end: datetime) -> dict[str, Any]:
        """The model versions of the tenant's last return decision in [start, end) (empty when there is none)."""
        q = (select(decisions.c.model_versions)
             .where(decisions.c.tenant == tenant, _RETURNS, decisions.c.created_at >= start,
                    decisions.c.created_at < end)
             .order_by(decisions.c.created_at.desc()).limit(1))
        with self.engine.connect() as conn:
            return dict(conn.execute(q).scalar() or {})

    def first_decision_with(self, tenant: str, versions: dict[str, str]) -> datetime | None:
        """When the tenant's first return decision made by exactly these model versions (family → version) was."""
        q = select(func.min(decisions.c.created_at)).where(decisions.c.tenant == tenant, _RETURNS, *(
            decisions.c.model_versions[family].as_string() == version for family, version in versions.items()))
        with self.engine.connect() as conn:
            return _utc(conn.execute(q).scalar())

    def decision_rows(self, tenant: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Return decisions made in [start, end), with their case's segment, channel, facility and request
        (disposition recommendations share the table and are not monitored here)."""
        q = (select(decisions.c.decision_id, decisions.c.case_ref, decisions.c.created_at, decisions.c.route,
                    decisions.c.reason_code, decisions.c.reason_confidence, decisions.c.risk_score,
                    decisions.c.model_versions, decisions.c.document, cases.c.case_id, cases.c.segment,
                    cases.c.channel, cases.c.facility, cases.c.payload)
             .join(cases, cases.c.id == decisions.c.case_ref)
             .where(decisions.c.tenant == tenant, _RETURNS, decisions.c.created_at >= start,
                    decisions.c.created_at < end)
             .order_by(decisions.c.created_at))
        with self.engine.connect() as conn:
            return [{**row._asdict(), "created_at": _utc(row.created_at)} for row in conn.execute(q)]

    def labels(self, tenant: str, case_refs: list[str], as_of: datetime) -> dict[str, dict[str, Any]]:
        """What was known about each case at ``as_of``: fraud confirmed or cleared, the confirmed reason code, a
        reviewer's rejection. Outcomes count from when they occurred, review decisions from when they were made."""
        out: dict[str, dict[str, Any]] = {}
        if not case_refs:
            return out
        with self.engine.connect() as conn:
            for chunk in range(0, len(case_refs), 500):
                refs = case_refs[chunk:chunk + 500]
                q = (select(outcomes.c.case_ref, outcomes.c.fraud_confirmed, outcomes.c.confirmed_reason_code,
                            outcomes.c.occurred_at)
                     .where(outcomes.c.tenant == tenant, outcomes.c.case_ref.in_(refs),
                            outcomes.c.occurred_at <= as_of)
                     .order_by(outcomes.c.occurred_at))
                for row in conn.execute(q):
                    _merge(out.setdefault(row.case_ref, {}), row.fraud_confirmed, row.confirmed_reason_code, None)
                q = (select(review_decisions.c.case_ref, review_decisions.c.fraud_confirmed,
                            review_decisions.c.corrected_reason_code, review_decisions.c.action)
                     .where(review_decisions.c.tenant == tenant, review_decisions.c.case_ref.in_(refs),
                            review_decisions.c.created_at <= as_of)
                     .order_by(review_decisions.c.created_at))
                for row in conn.execute(q):
                    _merge(out.setdefault(row.case_ref, {}), row.fraud_confirmed, row.corrected_reason_code,
                           row.action)
        return out

    # --- what the monitor writes ---------------------------------------------------------------------------

    def save_window(self, tenant: str, *, segment: str, start: datetime, end: datetime, computed_at: datetime,
                    decisions_count: int, labelled: int, metrics: dict[str, Any], report_file: str | None,
                    alerts: list[AlertRecord] = ()) -> str:  # type: ignore[assignment]
        """Store one window's results (replacing an earlier computation of the same window) and its alerts;
        each alert also becomes a ``monitoring.alert`` webhook event in the same transaction."""
        window_id = str(uuid.uuid4())
        key = and_(monitoring_windows.c.tenant == tenant, monitoring_windows.c.segment == segment,
                   monitoring_windows.c.window_start == start, monitoring_windows.c.window_end == end)
        with self.engine.begin() as conn:
            old = conn.execute(select(monitoring_windows.c.window_id).where(key)).scalars().all()
            if old:
                conn.execute(delete(monitoring_alerts).where(monitoring_alerts.c.window_id.in_(old)))
                conn.execute(delete(monitoring_windows).where(monitoring_windows.c.window_id.in_(old)))
            conn.execute(monitoring_windows.insert().values(
                window_id=window_id, tenant=tenant, segment=segment, window_start=start, window_end=end,
                computed_at=computed_at, decisions=decisions_count, labelled=labelled, metrics=metrics,
                report_file=report_file))
            for a in alerts:
                alert_id = str(uuid.uuid4())
                conn.execute(monitoring_alerts.insert().values(
                    alert_id=alert_id, tenant=tenant, window_id=window_id, segment=a.segment, kind=a.kind,
                    metric=a.metric, value=a.value, threshold=a.threshold, impact=a.impact, message=a.message,
                    created_at=computed_at))
                enqueue_event(conn, tenant=tenant, event=MONITORING_ALERT, now=computed_at, data={
                    "alert_id": alert_id, "window_id": window_id, "window_start": start.isoformat(),
                    "window_end": end.isoformat(), "segment": a.segment, "kind": a.kind, "metric": a.metric,
                    "value": a.value, "threshold": a.threshold, "impact": a.impact, "message": a.message})
        return window_id

    def find_window(self, tenant: str, segment: str, start: datetime, end: datetime) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(monitoring_windows).where(
                monitoring_windows.c.tenant == tenant, monitoring_windows.c.segment == segment,
                monitoring_windows.c.window_start == start, monitoring_windows.c.window_end == end)).first()
        return None if row is None else {**_window(row), "report_file": row.report_file}

    # --- what the API reads --------------------------------------------------------------------------------

    def list_windows(self, tenant: str, *, segment: str | None = None, since: datetime | None = None,
                     limit: int = 100) -> list[dict[str, Any]]:
        q = select(monitoring_windows).where(monitoring_windows.c.tenant == tenant)
        if segment is not None:
            q = q.where(monitoring_windows.c.segment == segment)
        if since is not None:
            q = q.where(monitoring_windows.c.window_start >= since)
        q = q.order_by(monitoring_windows.c.window_start.desc(), monitoring_windows.c.segment).limit(limit)
        with self.engine.connect() as conn:
            return [_window(r) for r in conn.execute(q)]

    def get_window(self, tenant: str, window_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(select(monitoring_windows).where(monitoring_windows.c.tenant == tenant,
                                                                monitoring_windows.c.window_id == window_id)).first()
        if row is None:
            raise NotFound(f"monitoring window {window_id} not found")
        return {**_window(row), "report_file": row.report_file}

    def list_alerts(self, tenant: str, *, since: datetime | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Alerts, most harmful first (performance impact, then recency)."""
        q = select(monitoring_alerts).where(monitoring_alerts.c.tenant == tenant)
        if since is not None:
            q = q.where(monitoring_alerts.c.created_at >= since)
        q = q.order_by(monitoring_alerts.c.impact.desc(), monitoring_alerts.c.created_at.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [_alert(r) for r in conn.execute(q)]

    # --- the fail-safe -------------------------------------------------------------------------------------

    def open_failsafes(self) -> list[FailsafeState]:
        """Every tenant's open states (what the router's :class:`FailsafeBoard` loads)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(failsafe_states).where(failsafe_states.c.cleared_at.is_(None)))
            return [state_from_row(r) for r in rows]

    def failsafe_history(self, tenant: str, *, limit: int = 100) -> list[FailsafeState]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(failsafe_states).where(failsafe_states.c.tenant == tenant)
                                .order_by(failsafe_states.c.opened_at.desc()).limit(limit))
            return [state_from_row(r) for r in rows]

    def open_failsafe(self, tenant: str, *, segment: str, factor: float, metric: str, value: float, target: float,
                      reason: str, now: datetime) -> FailsafeState:
        """Open a state for the segment, or return the one already open there (it keeps its first reason)."""
        with self.engine.begin() as conn:
            row = conn.execute(select(failsafe_states).where(
                failsafe_states.c.tenant == tenant, failsafe_states.c.segment == segment,
                failsafe_states.c.cleared_at.is_(None))).first()
            if row is not None:
                return state_from_row(row)
            state_id = str(uuid.uuid4())
            conn.execute(failsafe_states.insert().values(
                state_id=state_id, tenant=tenant, segment=segment, factor=factor, metric=metric, value=value,
                target=target, reason=reason[:1000], opened_at=now))
            row = conn.execute(select(failsafe_states).where(failsafe_states.c.state_id == state_id)).one()
            return state_from_row(row)

    def clear_failsafe(self, state_id: str, *, reason: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(failsafe_states).where(failsafe_states.c.state_id == state_id,
                                                       failsafe_states.c.cleared_at.is_(None))
                         .values(cleared_at=now, cleared_reason=reason[:1000]))

    # --- vetted inputs -------------------------------------------------------------------------------------

    def current_vetted_inputs(self, tenant: str | None = None) -> list[VettedInputs]:
        """The current publication of every segment (of every tenant unless ``tenant``): what the router's
        :class:`FailsafeBoard` loads."""
        q = select(vetted_inputs).where(vetted_inputs.c.superseded_at.is_(None))
        if tenant is not None:
            q = q.where(vetted_inputs.c.tenant == tenant)
        with self.engine.connect() as conn:
            return [inputs_from_row(r) for r in conn.execute(q.order_by(vetted_inputs.c.segment))]

    def vetted_inputs_history(self, tenant: str, *, segment: str | None = None,
                              limit: int = 100) -> list[tuple[VettedInputs, datetime | None]]:
        """Publications, newest first, each with when it was superseded (None: current)."""
        q = select(vetted_inputs).where(vetted_inputs.c.tenant == tenant)
        if segment is not None:
            q = q.where(vetted_inputs.c.segment == segment)
        q = q.order_by(vetted_inputs.c.published_at.desc(), vetted_inputs.c.segment).limit(limit)
        with self.engine.connect() as conn:
            return [(inputs_from_row(r), _utc(r.superseded_at)) for r in conn.execute(q)]

    def publish_vetted_inputs(self, tenant: str, *, segment: str, numeric: dict[str, tuple[float, float]],
                              known: dict[str, Iterable[str]], cases: int, basis: str,
                              now: datetime) -> tuple[VettedInputs, bool]:
        """Make these ranges the segment's current ones, superseding the last publication; the same ranges as the
        current ones are not published again. Returns the current publication and whether it is new."""
        digest = _content_sha256(numeric, known)
        with self.engine.begin() as conn:
            current = conn.execute(select(vetted_inputs).where(
                vetted_inputs.c.tenant == tenant, vetted_inputs.c.segment == segment,
                vetted_inputs.c.superseded_at.is_(None))).first()
            if current is not None and current.content_sha256 == digest:
                return inputs_from_row(current), False
            if current is not None:
                conn.execute(update(vetted_inputs).where(vetted_inputs.c.inputs_id == current.inputs_id)
                             .values(superseded_at=now))
            inputs_id = str(uuid.uuid4())
            conn.execute(vetted_inputs.insert().values(
                inputs_id=inputs_id, tenant=tenant, segment=segment,
                numeric={k: [float(lo), float(hi)] for k, (lo, hi) in numeric.items()},
                known={k: sorted(str(x) for x in v) for k, v in known.items()}, cases=int(cases),
                basis=basis[:1000], content_sha256=digest, published_at=now))
            row = conn.execute(select(vetted_inputs).where(vetted_inputs.c.inputs_id == inputs_id)).one()
            return inputs_from_row(row), True


def _merge(label: dict[str, Any], fraud: bool | None, reason_code: str | None, action: str | None) -> None:
    # A confirmed fraud is never undone by a later "cleared"; a later confirmed reason replaces an earlier one.
    if fraud is not None:
        label["fraud"] = bool(label.get("fraud")) or bool(fraud)
    if reason_code:
        label["reason_code"] = reason_code
    if action is not None:
        label["review_action"] = action
