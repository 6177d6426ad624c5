"""HTTP edge of monitoring, read-only: ``/v1/monitoring/windows``, ``/alerts``, ``/failsafe``, ``/vetted-inputs``
and the Evidently HTML report of a window (``/reports/{window_id}``).

Everything here reads what `triage monitor` stored (database rows and report files under
``$TRIAGE_HOME/monitoring``); the API process never computes drift and never imports Evidently. Reads are scoped
to the caller's tenant.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from litestar import Request, Response, Router, get
from litestar.datastructures import State
from litestar.params import Parameter
from msgspec import Struct

from returns_triage.errors import InvalidInput, NotFound
from returns_triage.serving.domain.access import Principal
from returns_triage.serving.storage.monitoring import SqlMonitoringStore

__all__ = ["monitoring_router", "reports_dir", "monitoring_collector"]

_LIMIT = Annotated[int, Parameter(ge=1, le=1000, description="at most this many, newest (or most harmful) first")]


class WindowOut(Struct, kw_only=True):
    window_id: str
    segment: str
    window_start: datetime
    window_end: datetime
    computed_at: datetime
    decisions: int
    labelled: int
    metrics: dict[str, Any]
    has_report: bool


class AlertOut(Struct, kw_only=True):
    alert_id: str
    window_id: str
    segment: str
    kind: str
    metric: str
    value: float
    threshold: float
    impact: float
    message: str
    created_at: datetime


class FailsafeOut(Struct, kw_only=True):
    state_id: str
    segment: str
    factor: float
    metric: str
    value: float
    target: float
    reason: str
    opened_at: str
    cleared_at: str | None
    cleared_reason: str | None


class FailsafePage(Struct, kw_only=True):
    active: list[FailsafeOut]
    history: list[FailsafeOut]


class VettedInputsOut(Struct, kw_only=True):
    inputs_id: str
    segment: str
    numeric: dict[str, list[float]]
    known: dict[str, list[str]]
    cases: int
    basis: str
    published_at: str
    superseded_at: str | None
    current: bool


def reports_dir(home: Path) -> Path:
    """Where `triage monitor` keeps the per-window HTML reports, and the only place this API serves them from."""
    return home / "monitoring" / "reports"


def _store(state: State) -> SqlMonitoringStore:
    return SqlMonitoringStore(state.ctx.engine)


def _one_each(request: Request[Any, Any, Any], *names: str) -> None:
    """A filter given twice (``?segment=a&segment=b``) is a 400, not a silent pick of one of them."""
    for name in names:
        if len(request.query_params.getall(name, [])) > 1:
            raise InvalidInput(f"query parameter {name!r} may be given once", field=name, code="repeated_parameter")
    since = request.query_params.get("since")
    if since is not None and since.strip().lstrip("+-").replace(".", "", 1).isdigit():
        # A bare number would be read as a Unix time; the documented form is an ISO 8601 date-time.
        raise InvalidInput("since must be an ISO 8601 date-time", field="since", code="invalid_datetime")


@get("/windows", sync_to_thread=True, tags=["monitoring"],
     summary="Monitoring results per window and segment (segment \"*\" is all segments)")
def list_windows(request: Request[Any, Any, Any], state: State, principal: Principal, segment: str | None = None,
                 since: datetime | None = None, limit: _LIMIT = 100) -> list[WindowOut]:
    _one_each(request, "segment", "since", "limit")
    return [WindowOut(**w) for w in _store(state).list_windows(principal.tenant, segment=segment, since=since,
                                                               limit=limit)]


@get("/windows/{window_id:str}", sync_to_thread=True, tags=["monitoring"], summary="One window's results")
def get_window(window_id: str, state: State, principal: Principal) -> WindowOut:
    w = _store(state).get_window(principal.tenant, window_id)
    w.pop("report_file", None)
    return WindowOut(**w)


@get("/alerts", sync_to_thread=True, tags=["monitoring"],
     summary="Alerts ranked by performance impact (expected extra wrong auto-approvals per 1,000 decisions)")
def list_alerts(request: Request[Any, Any, Any], state: State, principal: Principal, since: datetime | None = None,
                limit: _LIMIT = 100) -> list[AlertOut]:
    _one_each(request, "since", "limit")
    return [AlertOut(**a) for a in _store(state).list_alerts(principal.tenant, since=since, limit=limit)]


@get("/failsafe", sync_to_thread=True, tags=["monitoring"],
     summary="The routing fail-safe: open states and the history of openings and clearings, with their reasons")
def get_failsafe(state: State, principal: Principal, limit: _LIMIT = 100) -> FailsafePage:
    history = [FailsafeOut(**{k: v for k, v in s.to_dict().items() if k != "tenant"})
               for s in _store(state).failsafe_history(principal.tenant, limit=limit)]
    return FailsafePage(active=[s for s in history if s.cleared_at is None], history=history)


@get("/vetted-inputs", sync_to_thread=True, tags=["monitoring"],
     summary="The input ranges the monitor vetted per segment; a would-be auto-approval outside its segment's current "
             "ones goes to a person")
def list_vetted_inputs(request: Request[Any, Any, Any], state: State, principal: Principal,
                       segment: str | None = None, limit: _LIMIT = 100) -> list[VettedInputsOut]:
    _one_each(request, "segment", "limit")
    out = []
    for vetted, superseded_at in _store(state).vetted_inputs_history(principal.tenant, segment=segment, limit=limit):
        body = {k: v for k, v in vetted.to_dict().items() if k != "tenant"}
        out.append(VettedInputsOut(**body, superseded_at=None if superseded_at is None else superseded_at.isoformat(),
                                   current=superseded_at is None))
    return out


@get("/reports/{window_id:str}", sync_to_thread=True, tags=["monitoring"], media_type="text/html",
     summary="The Evidently drift report of a window (self-contained HTML)")
def get_report(window_id: str, state: State, principal: Principal) -> Response[bytes]:
    w = _store(state).get_window(principal.tenant, window_id)
    root = reports_dir(state.ctx.settings.home).resolve()
    name = w.get("report_file")
    path = Path(name).resolve() if name else None
    # Serve only files under the reports directory, whatever a row says.
    if path is None or not path.is_relative_to(root) or not path.is_file():
        raise NotFound(f"no report for monitoring window {window_id}", code="report_not_found")
    return Response(content=path.read_bytes(), media_type="text/html")


def monitoring_collector(ctx: Any) -> Iterable[Any]:
    """Prometheus gauges (``GET /metrics``) from the latest stored window per segment, the open fail-safes and
    the most harmful recent alert: what to page on is performance impact, not drift alone."""
    from returns_triage.serving.api.metrics import MetricFamily, Sample

    store = SqlMonitoringStore(ctx.engine)
    latest: dict[str, dict[str, Any]] = {}
    for w in store.list_windows(ctx.tenant, limit=200):
        latest.setdefault(w["segment"], w)
    figures = {
        "triage_monitor_auto_approval_error": ("realised auto-approval error (IPW over audit samples), latest window",
                                               ("performance", "auto_approval_error")),
        "triage_monitor_estimated_auto_approval_error": ("confidence-based estimate of the auto-approval error",
                                                         ("estimate", "estimated_auto_approval_error")),
        "triage_monitor_reason_accuracy": ("reason accuracy against confirmed reasons", ("performance",
                                                                                         "reason_accuracy")),
        "triage_monitor_straight_through_rate": ("share auto-approved", ("performance", "straight_through_rate")),
    }
    for name, (help_, (group, key)) in figures.items():
        samples = [Sample(float(v), {"segment": seg}) for seg, w in latest.items()
                   if isinstance(v := (w["metrics"].get(group) or {}).get(key), int | float)]
        yield MetricFamily(name, help_, "gauge", samples)
    active = [s for s in store.open_failsafes() if s.tenant == ctx.tenant]
    yield MetricFamily("triage_failsafe_active", "1 while the routing fail-safe tightens a segment", "gauge",
                       [Sample(1.0, {"segment": s.segment}) for s in active])
    alerts = store.list_alerts(ctx.tenant, limit=1)
    yield MetricFamily("triage_monitor_top_alert_impact",
                       "impact of the most harmful stored alert (extra wrong auto-approvals per 1,000)", "gauge",
                       [Sample(float(alerts[0]["impact"]), {"metric": alerts[0]["metric"]})] if alerts else [])


def monitoring_router() -> Router:
    """The monitoring read routes, mounted under ``/v1/monitoring`` by ``create_app``."""
    return Router(path="/v1/monitoring", route_handlers=[list_windows, get_window, list_alerts, get_failsafe,
                                                         list_vetted_inputs, get_report])
