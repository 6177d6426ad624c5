"""``GET /metrics``: Prometheus text exposition (format 0.0.4), computed at scrape time from the database.

What is exposed is a list of *collectors*: plain functions ``(ScrapeContext) -> Iterable[MetricFamily]`` held by
the app's ``MetricsRegistry`` (``app.state.metrics``). To expose another gauge, write a collector and register it
in ``create_app`` (``metrics.register(my_collector)``); it runs on every scrape with the engine, the scraping key's
tenant and the time. A collector that fails is reported as ``triage_collector_errors{collector=…} 1`` and does
not take the others down. The writer is ours (no client library): the format is a few lines of text.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Response, get
from litestar.datastructures import State
from litestar.openapi import ResponseSpec
from sqlalchemy import Engine

from returns_triage.serving.domain.access import Principal
from returns_triage.serving.service.kpis import KPI_DEFINITIONS, KpiService
from returns_triage.serving.storage.kpis import SqlKpiQueries

__all__ = ["Sample", "MetricFamily", "ScrapeContext", "Collector", "MetricsRegistry", "kpi_collector",
           "model_collector", "shadow_collector", "default_registry", "render", "metrics_handler", "CONTENT_TYPE"]

log = logging.getLogger("returns_triage.metrics")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
KPI_WINDOW = timedelta(days=7)
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Sample:
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MetricFamily:
    name: str
    help: str
    type: str = "gauge"  # gauge | counter | untyped
    samples: Sequence[Sample] = ()


@dataclass(frozen=True, slots=True)
class ScrapeContext:
    engine: Engine
    tenant: str
    now: datetime
    app: Any = None  # the AppContext (settings, models, …) for collectors that need more than the database


Collector = Callable[[ScrapeContext], Iterable[MetricFamily]]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def render(families: Iterable[MetricFamily]) -> str:
    """The text exposition of ``families`` (one HELP and TYPE line each, then its samples)."""
    lines: list[str] = []
    for fam in families:
        if not _NAME.match(fam.name):
            raise ValueError(f"invalid metric name {fam.name!r}")
        lines.append(f"# HELP {fam.name} {fam.help.replace(chr(92), chr(92) * 2).replace(chr(10), ' ')}")
        lines.append(f"# TYPE {fam.name} {fam.type}")
        for s in fam.samples:
            if s.labels:
                for k in s.labels:
                    if not _LABEL.match(k):
                        raise ValueError(f"invalid label name {k!r}")
                labels = ",".join(f'{k}="{_escape(str(v))}"' for k, v in sorted(s.labels.items()))
                lines.append(f"{fam.name}{{{labels}}} {_number(s.value)}")
            else:
                lines.append(f"{fam.name} {_number(s.value)}")
    return "\n".join(lines) + "\n"


class MetricsRegistry:
    """The collectors a scrape runs, in registration order."""

    def __init__(self, collectors: Iterable[Collector] = ()) -> None:
        self._collectors: list[Collector] = list(collectors)

    def register(self, collector: Collector) -> Collector:
        """Add a collector (usable as a decorator); returns it."""
        self._collectors.append(collector)
        return collector

    @property
    def collectors(self) -> tuple[Collector, ...]:
        return tuple(self._collectors)

    def collect(self, ctx: ScrapeContext) -> str:
        families: list[MetricFamily] = []
        failed: list[str] = []
        for collector in self._collectors:
            name = getattr(collector, "__name__", type(collector).__name__)
            try:
                families.extend(collector(ctx))
            except Exception:  # noqa: BLE001 - one broken collector must not hide the others
                log.exception("metrics collector %s failed", name)
                failed.append(name)
        if failed:
            families.append(MetricFamily("triage_collector_errors", "Collectors that failed during this scrape.",
                                         samples=[Sample(1.0, {"collector": n}) for n in failed]))
        return render(families)


def kpi_collector(ctx: ScrapeContext) -> Iterable[MetricFamily]:
    """The process KPIs over the last 7 days, total and by facility (``triage_kpi_<name>``)."""
    queries = SqlKpiQueries(ctx.engine)
    service = KpiService(queries, clock=lambda: ctx.now)
    report = service.report(ctx.tenant, since=ctx.now - KPI_WINDOW, until=ctx.now, group_by=("facility",))
    for entry in report["kpis"]:
        name, d = entry["kpi"], KPI_DEFINITIONS[entry["kpi"]]
        help_text = f"{d.title} ({d.unit}), last 7 days: {d.definition}"
        samples: list[Sample] = []
        if name == "return_aging":
            total = entry.get("bands") or {}
            samples += [Sample(float(n), {"band": band}) for band, n in total.items()]
            for g in entry.get("groups", []):
                samples += [Sample(float(n), {"band": band, "facility": str(g["key"]["facility"])})
                            for band, n in (g.get("bands") or {}).items()]
            yield MetricFamily("triage_kpi_open_returns", help_text, "gauge", samples)
            continue
        if entry["value"] is not None:
            samples.append(Sample(float(entry["value"])))
        samples += [Sample(float(g["value"]), {"facility": str(g["key"]["facility"])})
                    for g in entry.get("groups", []) if g["value"] is not None]
        yield MetricFamily(f"triage_kpi_{name}", help_text, "gauge", samples)


def model_collector(ctx: ScrapeContext) -> Iterable[MetricFamily]:
    """Which bundle versions this process serves now (``triage_model_info{family, version} 1``): the registry's
    current champions, which a hot swap changes."""
    registry = getattr(ctx.app, "registry", None)
    models = registry.current if registry is not None else getattr(ctx.app, "models", None)
    versions = models.versions() if models is not None else {}
    yield MetricFamily("triage_model_info", "Model bundles served by this process.", "gauge",
                       [Sample(1.0, {"family": f, "version": v}) for f, v in sorted(versions.items())])


def shadow_collector(ctx: ScrapeContext) -> Iterable[MetricFamily]:
    """The challenger's shadow scoring in this process since it started: decisions recorded, and dropped because the
    challenger was behind (``triage_shadow_decisions_total{outcome}``); nothing without a challenger."""
    recorder = getattr(getattr(ctx.app, "scoring", None), "shadow", None)
    if recorder is None or not recorder.stats.queued + recorder.stats.dropped:
        return
    stats = recorder.stats
    yield MetricFamily("triage_shadow_decisions_total", "Decisions the challenger scored in shadow, or skipped "
                       "because its queue was full (this process, since start).", "counter",
                       [Sample(float(stats.recorded), {"outcome": "recorded"}),
                        Sample(float(stats.dropped), {"outcome": "dropped"})])


def default_registry() -> MetricsRegistry:
    return MetricsRegistry([kpi_collector, model_collector, shadow_collector])


@get("/metrics", sync_to_thread=True, summary="Prometheus metrics", tags=["ops"],
     description="Text exposition format 0.0.4: process KPIs of the key's tenant over the last 7 days, loaded "
     "model versions, and whatever collectors the deployment registered. Scrape with a bearer key.",
     responses={200: ResponseSpec(data_container=str, media_type="text/plain", description="Metrics")})
def metrics_handler(state: State, principal: Principal) -> Response[str]:
    registry: MetricsRegistry = state.metrics
    ctx = state.ctx
    text = registry.collect(ScrapeContext(engine=ctx.engine, tenant=principal.tenant, now=datetime.now(UTC),
                                          app=ctx))
    return Response(text, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})
