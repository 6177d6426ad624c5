"""HTTP edge of process intelligence: ``GET /v1/kpis`` and the console's dashboard page (``/console/dashboard``).

The dashboard is server-rendered (Jinja2, charts as inline SVG: no script, so the console's Content-Security-Policy
holds) and signs in like the rest of the console, with the reviewer's or supervisor's own key.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from typing import Annotated, Any

from litestar import Request, Response, Router, get
from litestar.datastructures import State
from litestar.params import Parameter

from returns_triage.errors import InvalidInput
from returns_triage.serving.api.console import _html, _principal, _redirect
from returns_triage.serving.api.inspections import only_known_query
from returns_triage.serving.domain.access import Principal
from returns_triage.serving.service.kpis import DIMENSIONS, KpiService
from returns_triage.serving.storage.kpi_rollups import KpiRollup
from returns_triage.serving.storage.kpis import SqlKpiQueries

__all__ = ["kpi_router", "dashboard_router", "format_kpi"]

_WEEKS = (4, 12, 26, 52)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")
_BAR_WIDTH = 420.0


def _service(state: State) -> KpiService:
    queries = SqlKpiQueries(state.ctx.engine)
    return KpiService(queries, rollup=KpiRollup(state.ctx.engine, queries))


@get("/kpis", sync_to_thread=True, tags=["kpis"], summary="Process KPIs, in total and by a dimension",
     description="Authorisation cycle time, straight-through rate, exception volume, SLA breach rate, time waiting "
     "in review, override rate, receipt-to-inspection, inspection-to-credit, restock rate, supplier recovery rate "
     "and open returns by age band, over [since, until) (default: the last 12 weeks), optionally grouped by one "
     f"or two of {', '.join(DIMENSIONS)} (comma-separated). Each KPI states its definition.")
def get_kpis(
    request: Request[Any, Any, Any],
    state: State,
    principal: Principal,
    since: datetime | None = None,
    until: datetime | None = None,
    group_by: Annotated[str | None, Parameter(description="e.g. facility or reason_code,week")] = None,
    kpi: Annotated[str | None, Parameter(description="comma-separated KPI names (default: all)")] = None,
) -> dict[str, Any]:
    only_known_query(request, ("since", "until", "group_by", "kpi"))
    for name in ("since", "until"):
        raw = request.query_params.get(name)
        # ISO 8601 only: a bare number would otherwise be read as seconds since 1970.
        if raw is not None and not _ISO_DATE.match(raw):
            raise InvalidInput(f"{name} must be an ISO 8601 date-time", field=name)
    dims = tuple(d.strip() for d in group_by.split(",") if d.strip()) if group_by else ()
    names = [k.strip() for k in kpi.split(",") if k.strip()] if kpi else None
    return _service(state).report(principal.tenant, since=since, until=until, group_by=dims, kpis=names)


def format_kpi(value: float | None, unit: str) -> str:
    """How the dashboard shows a KPI value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if unit == "ratio":
        return f"{100 * value:.1f}%"
    if unit == "hours":
        return f"{value:.1f} h" if value < 72 else f"{value / 24:.1f} d"
    return f"{int(round(value)):,}"


def _bars(rows: list[dict[str, Any]], unit: str, limit: int = 12) -> dict[str, Any]:
    rows = [r for r in rows if r.get("value") is not None][:limit]
    top = max((float(r["value"]) for r in rows), default=0.0) or 1.0
    return {"height": 24 * len(rows) + 8, "rows": [
        {**r, "y": 24 * k + 4, "width": round(_BAR_WIDTH * float(r["value"]) / top, 1),
         "label": format_kpi(float(r["value"]), unit)} for k, r in enumerate(rows)]}


def _sparkline(series: list[int], width: float = 160.0, height: float = 28.0) -> str:
    if not series:
        return ""
    top = max(series) or 1
    step = width / max(1, len(series) - 1)
    return " ".join(f"{k * step:.1f},{height - 2 - (height - 4) * v / top:.1f}" for k, v in enumerate(series))


@get("/dashboard", sync_to_thread=True, include_in_schema=False)
def dashboard_page(request: Request[Any, Any, Any]) -> Response[Any]:
    principal: Principal | None = _principal(request)
    if principal is None:
        return _redirect("/console/sign-in")
    try:
        weeks = int(request.query_params.get("weeks") or 12)
    except ValueError:
        weeks = 12
    weeks = weeks if weeks in _WEEKS else 12
    service = _service(request.app.state)
    until = service.clock()
    view = service.dashboard(principal.tenant, since=until - timedelta(weeks=weeks), until=until)
    aging_total = view["aging"]["total"]
    aging_rows = [{"name": b, "value": float(aging_total.get(b, 0))} for b in view["aging"]["bands"]]
    wait_rows = [{"name": r["facility"], **r} for r in view["wait_by_facility"]]
    breach_rows = [{"name": r["facility"], **r} for r in view["breach_by_facility"]]
    for tile in view["tiles"]:
        tile["display"] = format_kpi(tile["value"], tile["unit"])
        tile["raw"] = "" if tile["value"] is None else repr(float(tile["value"]))
    for reason in view["reasons"]:
        reason["points"] = _sparkline(reason["series"])
        reason["growth_display"] = ("new" if reason["growth"] is None and reason["recent"]
                                    else format_kpi(reason["growth"], "ratio"))
    return _html("dashboard.html", principal=principal, view=view, weeks=weeks, week_choices=_WEEKS,
                 wait=_bars(wait_rows, "hours"), breach=_bars(breach_rows, "ratio"),
                 aging=_bars(aging_rows, "cases"), bar_width=_BAR_WIDTH)


def kpi_router() -> Router:
    """``GET /v1/kpis``, mounted by ``create_app``."""
    return Router(path="/v1", route_handlers=[get_kpis])


def dashboard_router() -> Router:
    """The dashboard page under ``/console`` (the console's cookie sign-in; not in the OpenAPI document)."""
    return Router(path="/console", include_in_schema=False, route_handlers=[dashboard_page])
