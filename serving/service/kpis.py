"""Process intelligence: the KPIs returns leaders ask for, by SKU, facility, reason code, channel and week, and the
dashboard's view of them (where cases wait longest, which facilities breach SLA, which reasons grow)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from returns_triage.errors import RuleViolation
from returns_triage.serving.storage.kpi_rollups import DASHBOARD_JOBS, KpiRollup
from returns_triage.serving.storage.kpis import AGING_BANDS, DIMENSIONS, KPI_NAMES, KpiRow, SqlKpiQueries
from returns_triage.serving.domain.model import as_utc

__all__ = ["KpiDefinition", "KPI_DEFINITIONS", "KpiService", "DIMENSIONS", "DEFAULT_WINDOW", "AGING_BANDS"]

DEFAULT_WINDOW = timedelta(weeks=12)
_MAX_WINDOW = timedelta(days=3 * 366)


@dataclass(frozen=True, slots=True)
class KpiDefinition:
    name: str
    title: str
    unit: str  # "hours", "ratio", "count", "cases"
    definition: str


KPI_DEFINITIONS: dict[str, KpiDefinition] = {d.name: d for d in (
    KpiDefinition("authorisation_cycle_hours", "Authorisation cycle time", "hours",
                  "Mean hours from scoring a return to its authorisation: 0 for an automatic route, until the "
                  "review completed for a reviewed one (open reviews not counted). Returns scored in the window."),
    KpiDefinition("straight_through_rate", "Straight-through rate", "ratio",
                  "Share of returns scored in the window that no person had to review."),
    KpiDefinition("exception_volume", "Exception volume", "count",
                  "Review items (returns and dispositions a person must decide) created in the window."),
    KpiDefinition("sla_breach_rate", "SLA breach rate", "ratio",
                  "Share of the window's review items completed after their SLA, or still open past it."),
    KpiDefinition("review_wait_hours", "Waiting in review", "hours",
                  "Mean age of the review items still open, created in the window."),
    KpiDefinition("override_rate", "Override rate", "ratio",
                  "Share of the window's review decisions where the reviewer overrode the models' suggestion."),
    KpiDefinition("receipt_to_inspection_hours", "Receipt to inspection", "hours",
                  "Mean hours from the goods' receipt at the facility to their inspection (inspections in the "
                  "window that state a receipt time)."),
    KpiDefinition("inspection_to_credit_hours", "Inspection to credit", "hours",
                  "Mean hours from an inspection to the case's first credit outcome after it (credited "
                  "inspections in the window)."),
    KpiDefinition("restock_rate", "Restock rate", "ratio",
                  "Share of the window's inspections whose disposition is restock."),
    KpiDefinition("supplier_recovery_rate", "Supplier recovery rate", "ratio",
                  "Recovered amount over claimed amount, for supplier claims opened in the window and closed "
                  "(recovered or rejected)."),
    KpiDefinition("return_aging", "Open returns by age", "cases",
                  "Returns created in the window with no credit and no rejection yet, by age at the window's end."),
)}
assert tuple(KPI_DEFINITIONS) == KPI_NAMES



def _row(row: KpiRow, group_by: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"key": dict(zip(group_by, row.key, strict=True)), "value": row.value, "n": row.n}
    if row.bands is not None:
        out["bands"] = row.bands
    return out


def _total(name: str, groups: list[KpiRow]) -> KpiRow:
    """The KPI over the union of disjoint groups: counts and bands add up, means weigh by their counts."""
    n = sum(g.n for g in groups)
    if name == "return_aging":
        bands = {label: sum((g.bands or {}).get(label, 0) for g in groups) for label, _, _ in AGING_BANDS}
        return KpiRow((), float(n), n, bands)
    if KPI_DEFINITIONS[name].unit == "count":
        return KpiRow((), float(n), n)
    measured = [g for g in groups if g.value is not None]
    weight = sum(g.n for g in measured)
    return KpiRow((), sum(float(g.value) * g.n for g in measured) / weight if weight else None, n)  # type: ignore[arg-type]


class KpiService:
    def __init__(self, queries: SqlKpiQueries, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 parallel: int = 4, rollup: KpiRollup | None = None) -> None:
        self.queries = queries
        self.clock = clock
        self.parallel = max(1, parallel)
        self.rollup = rollup

    def window(self, since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
        """[since, until) in UTC; defaults: the 12 weeks up to now."""
        end = as_utc(until, field="until") if until is not None else self.clock()
        try:
            start = as_utc(since, field="since") if since is not None else end - DEFAULT_WINDOW
        except OverflowError as exc:
            raise RuleViolation("until is too early for the default window; give since", field="until") from exc
        if start >= end:
            raise RuleViolation("since must be before until", field="since")
        if end - start > _MAX_WINDOW:
            raise RuleViolation("the window is at most three years", field="since")
        return start, end

    def report(self, tenant: str, *, since: datetime | None = None, until: datetime | None = None,
               group_by: Sequence[str] = (), kpis: Sequence[str] | None = None) -> dict[str, Any]:
        """Every KPI (or those named) over the window: the total, and per group when ``group_by`` is given.

        A KPI that cannot be cut by a requested dimension (e.g. supplier recovery by facility) says
        ``"supported": false`` and has no groups."""
        for g in group_by:
            if g not in DIMENSIONS:
                raise RuleViolation(f"group_by must be among {', '.join(DIMENSIONS)}", field="group_by")
        if len(set(group_by)) != len(group_by) or len(group_by) > 2:
            raise RuleViolation("group_by takes one or two different dimensions", field="group_by")
        names = list(kpis) if kpis else list(KPI_NAMES)
        for name in names:
            if name not in KPI_DEFINITIONS:
                raise RuleViolation(f"unknown KPI {name}", field="kpi")
        start, end = self.window(since, until)
        out = []
        for name in names:
            d = KPI_DEFINITIONS[name]
            (total,) = self.queries.compute(name, tenant, start, end)
            entry: dict[str, Any] = {"kpi": name, "title": d.title, "unit": d.unit, "definition": d.definition,
                                     **_row(total, ())}
            entry.pop("key")
            if group_by:
                supported = self.queries.supports(name, group_by)
                entry["supported"] = supported
                entry["groups"] = ([_row(r, group_by) for r in self.queries.compute(name, tenant, start, end,
                                                                                     group_by)]
                                   if supported else [])
            out.append(entry)
        return {"since": start, "until": end, "group_by": list(group_by), "kpis": out}

    def dashboard(self, tenant: str, *, since: datetime | None = None,
                  until: datetime | None = None) -> dict[str, Any]:
        """What the console's dashboard shows: every KPI's total, and the bottleneck views."""
        start, end = self.window(since, until)
        # The totals of the grouped KPIs are their groups' weighted sums: one query fewer each.
        derived = {name for name, group_by in DASHBOARD_JOBS if group_by}
        if self.rollup is not None:
            # Over a million cases the events are too many to aggregate per page view: the daily rollup answers
            # the whole days, the events only the rest (the same numbers; see serving/storage/kpi_rollups.py).
            results = self.rollup.dashboard(tenant, start, end)
        else:
            # The aggregates are independent reads: run them side by side on the engine's pool.
            with ThreadPoolExecutor(max_workers=self.parallel) as pool:
                futures = {job: pool.submit(self.queries.compute, job[0], tenant, start, end, job[1])
                           for job in DASHBOARD_JOBS}
                results = {job: f.result() for job, f in futures.items()}
        totals = {name: results[(name, ())][0] if name not in derived else
                  _total(name, [r for job, rows in results.items() if job[0] == name for r in rows])
                  for name in KPI_NAMES}
        wait = results[("review_wait_hours", ("facility",))]
        breach = results[("sla_breach_rate", ("facility",))]
        aging = results[("return_aging", ("facility",))]
        volume = results[("exception_volume", ("reason_code", "week"))]
        weeks = sorted({w for _, w in (r.key for r in volume) if w is not None})
        by_reason: dict[str, dict[str, int]] = {}
        for r in volume:
            by_reason.setdefault(str(r.key[0]), {})[str(r.key[1])] = r.n
        recent, earlier = weeks[-4:], weeks[-8:-4]
        growth = []
        for reason, series in by_reason.items():
            now_n, before_n = sum(series.get(w, 0) for w in recent), sum(series.get(w, 0) for w in earlier)
            growth.append({"reason_code": reason, "series": [series.get(w, 0) for w in weeks],
                           "recent": now_n, "earlier": before_n,
                           "growth": None if before_n == 0 else (now_n - before_n) / before_n})
        growth.sort(key=lambda g: (-(g["recent"] - g["earlier"]), g["reason_code"]))
        return {
            "since": start, "until": end,
            "tiles": [{"kpi": name, "title": KPI_DEFINITIONS[name].title, "unit": KPI_DEFINITIONS[name].unit,
                       "definition": KPI_DEFINITIONS[name].definition, "value": totals[name].value,
                       "n": totals[name].n} for name in KPI_NAMES],
            "aging": {"bands": [b[0] for b in AGING_BANDS], "total": totals["return_aging"].bands or {},
                      "by_facility": [{"facility": r.key[0], "bands": r.bands, "n": r.n} for r in aging]},
            "wait_by_facility": sorted(({"facility": r.key[0], "value": r.value, "n": r.n} for r in wait),
                                       key=lambda x: -(x["value"] or 0.0)),
            "breach_by_facility": sorted(({"facility": r.key[0], "value": r.value, "n": r.n} for r in breach),
                                         key=lambda x: -(x["value"] or 0.0)),
            "weeks": weeks, "reasons": growth,
        }
