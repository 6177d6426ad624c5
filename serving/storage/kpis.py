"""The process KPIs as SQL aggregates over the stored events, on SQLite and PostgreSQL.

Each KPI has a population (the rows it averages or counts), the time that places a row in a window, and the
dimensions it can be cut by. Everything is computed in the database, grouped by up to two dimensions, so a
dashboard over a million cases reads a few aggregated rows, never the cases. The definitions are in
``KPI_DEFINITIONS`` (serving/service/kpis.py) in words; this module is their one SQL form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    Engine,
    Float,
    Select,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.sql.elements import ColumnElement

from returns_triage.serving.domain.model import as_utc
from returns_triage.serving.storage.tables import (
    cases,
    decisions,
    inspections,
    outcomes,
    review_decisions,
    review_items,
    supplier_claims,
)

__all__ = ["DIMENSIONS", "KPI_NAMES", "AGING_BANDS", "KpiRow", "SqlKpiQueries"]

DIMENSIONS = ("facility", "channel", "reason_code", "sku", "week")
KPI_NAMES = ("authorisation_cycle_hours", "straight_through_rate", "exception_volume", "sla_breach_rate",
             "review_wait_hours", "override_rate", "receipt_to_inspection_hours", "inspection_to_credit_hours",
             "restock_rate", "supplier_recovery_rate", "return_aging")
# (label, lowest age in days, highest age in days or None)
AGING_BANDS = (("0-2d", 0, 3), ("3-7d", 3, 8), ("8-14d", 8, 15), ("15-30d", 15, 31), ("31d+", 31, None))

_c, _d, _r, _rd, _i, _o, _sc = (cases.c, decisions.c, review_items.c, review_decisions.c, inspections.c,
                                outcomes.c, supplier_claims.c)


@dataclass(frozen=True, slots=True)
class KpiRow:
    """One aggregate: ``key`` is the group's dimension values (empty for the total)."""

    key: tuple[str | None, ...]
    value: float | None
    n: int
    bands: dict[str, int] | None = None



class SqlKpiQueries:
    """``compute(kpi, tenant, since, until, group_by)`` → rows. ``until`` is also "now" for ages and SLA."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.pg = engine.dialect.name == "postgresql"

    # -- dialect helpers -------------------------------------------------------------------------------------

    def _hours(self, later: Any, earlier: Any) -> ColumnElement[Any]:
        if self.pg:
            return func.extract("epoch", later - earlier) / 3600.0
        return (func.julianday(later) - func.julianday(earlier)) * 24.0

    def _week(self, ts: Any) -> ColumnElement[Any]:
        """The Monday (UTC) starting the week of ``ts``, as YYYY-MM-DD."""
        if self.pg:
            return func.to_char(func.date_trunc("week", func.timezone("UTC", ts)), "YYYY-MM-DD")
        return func.date(ts, "-6 days", "weekday 1")

    @staticmethod
    def _at(value: datetime) -> Any:
        return literal(as_utc(value), DateTime(timezone=True))

    # -- populations ------------------------------------------------------------------------------------------

    def _dims(self, base: str) -> dict[str, Any]:
        sku_of_case = _c.payload["line"]["sku"].as_string()
        if base == "decision":
            return {"facility": _c.facility, "channel": _c.channel, "reason_code": _d.reason_code,
                    "sku": sku_of_case, "week": self._week(_d.created_at)}
        if base == "review_item":
            return {"facility": _c.facility, "channel": _c.channel, "reason_code": _d.reason_code,
                    "sku": sku_of_case, "week": self._week(_r.created_at)}
        if base == "review_decision":
            return {"facility": _c.facility, "channel": _c.channel, "reason_code": _d.reason_code,
                    "sku": sku_of_case, "week": self._week(_rd.created_at)}
        if base == "inspection":
            return {"facility": _i.facility, "channel": _i.channel, "reason_code": _i.reason_code, "sku": _i.sku,
                    "week": self._week(_i.inspected_at)}
        if base == "claim":
            return {"sku": _sc.sku, "week": self._week(_sc.created_at)}
        if base == "case":
            return {"facility": _c.facility, "channel": _c.channel, "sku": sku_of_case,
                    "week": self._week(_c.created_at)}
        raise ValueError(base)

    @staticmethod
    def _joins_for(group_by: Sequence[str]) -> set[str]:
        """Which tables besides the population's own the dimensions read (joined only when needed: over a
        million cases a join that is not needed costs more than the aggregate)."""
        need = set()
        if {"facility", "channel", "sku"} & set(group_by):
            need.add("cases")
        if "reason_code" in group_by:
            need.add("decisions")
        return need

    _BASE = {"authorisation_cycle_hours": "decision", "straight_through_rate": "decision",
             "exception_volume": "review_item", "sla_breach_rate": "review_item", "review_wait_hours": "review_item",
             "override_rate": "review_decision", "receipt_to_inspection_hours": "inspection",
             "inspection_to_credit_hours": "inspection", "restock_rate": "inspection",
             "supplier_recovery_rate": "claim", "return_aging": "case"}

    def supports(self, kpi: str, group_by: Sequence[str]) -> bool:
        return all(d in self._dims(self._BASE[kpi]) for d in group_by)

    def _within(self, column: Any, ranges: Sequence[tuple[datetime, datetime]]) -> ColumnElement[bool]:
        return or_(*(and_(column >= self._at(lo), column < self._at(hi)) for lo, hi in ranges))

    def _population(self, kpi: str, tenant: str, ranges: Sequence[tuple[datetime, datetime]], now: datetime,
                    group_by: Sequence[str] = ()) -> tuple[Select[Any], Any, Any]:
        """(select with FROM and WHERE, the value expression, the aggregate to apply: "avg", "sum", "ratio" or
        "bands"). Rows fall in the window when their time is in one of ``ranges``; ages are taken at ``now``."""
        at_now = self._at(now)
        need = self._joins_for(group_by)
        if kpi in ("authorisation_cycle_hours", "straight_through_rate"):
            src: Any = decisions
            if "cases" in need:
                src = src.join(cases, _c.id == _d.case_ref)
            if kpi == "authorisation_cycle_hours":
                src = src.outerjoin(review_items, _r.decision_id == _d.decision_id)
            q = (select().select_from(src)
                 .where(_d.tenant == tenant, _d.kind == "return", self._within(_d.created_at, ranges)))
            if kpi == "straight_through_rate":
                return q, case((_d.route != "review", 1.0), else_=0.0), "avg"
            # An auto-routed return is authorised when it is scored; a reviewed one when its review completes.
            q = q.where(or_(_d.route != "review", _r.completed_at.is_not(None)))
            return q, case((_d.route != "review", 0.0), else_=self._hours(_r.completed_at, _d.created_at)), "avg"
        if kpi in ("exception_volume", "sla_breach_rate", "review_wait_hours"):
            src = review_items
            if "decisions" in need:
                src = src.join(decisions, _d.decision_id == _r.decision_id)
            if "cases" in need:
                src = src.join(cases, _c.id == _r.case_ref)
            q = select().select_from(src).where(_r.tenant == tenant, self._within(_r.created_at, ranges))
            if kpi == "exception_volume":
                return q, literal(1.0), "sum"
            if kpi == "sla_breach_rate":
                breached = or_(and_(_r.completed_at.is_not(None), _r.completed_at > _r.sla_due_at),
                               and_(_r.completed_at.is_(None), _r.sla_due_at < at_now))
                return q, case((breached, 1.0), else_=0.0), "avg"
            return q.where(_r.completed_at.is_(None)), self._hours(at_now, _r.created_at), "avg"
        if kpi == "override_rate":
            src = review_decisions
            if "decisions" in need:
                src = src.join(decisions, _d.decision_id == _rd.decision_id)
            if "cases" in need:
                src = src.join(cases, _c.id == _rd.case_ref)
            q = select().select_from(src).where(_rd.tenant == tenant, self._within(_rd.created_at, ranges))
            return q, case((_rd.ai_agreement == "overrides", 1.0), else_=0.0), "avg"
        if kpi in ("receipt_to_inspection_hours", "inspection_to_credit_hours", "restock_rate"):
            q = select().select_from(inspections).where(_i.tenant == tenant, self._within(_i.inspected_at, ranges))
            if kpi == "restock_rate":
                return q, case((_i.disposition == "restock", 1.0), else_=0.0), "avg"
            if kpi == "receipt_to_inspection_hours":
                return q.where(_i.received_at.is_not(None)), self._hours(_i.inspected_at, _i.received_at), "avg"
            credited = (select(func.min(_o.occurred_at))
                        .where(_o.case_ref == _i.case_ref, _o.kind == "credit", _o.occurred_at >= _i.inspected_at)
                        .scalar_subquery())
            hours = self._hours(credited, _i.inspected_at)
            return q.where(credited.is_not(None)), hours, "avg"
        if kpi == "supplier_recovery_rate":
            q = (select().select_from(supplier_claims)
                 .where(_sc.tenant == tenant, self._within(_sc.created_at, ranges),
                        _sc.status.in_(("recovered", "rejected"))))
            return q, (func.coalesce(_sc.recovered_amount, 0.0), _sc.claimed_amount), "ratio"
        if kpi == "return_aging":
            credited = exists().where(_o.case_ref == _c.id, _o.kind == "credit", _o.occurred_at <= at_now)
            rejected = exists().where(_rd.case_ref == _c.id, _rd.action == "reject", _rd.created_at <= at_now)
            q = (select().select_from(cases)
                 .where(_c.tenant == tenant, self._within(_c.created_at, ranges), ~credited, ~rejected))
            return q, self._hours(at_now, _c.created_at) / 24.0, "bands"
        raise ValueError(f"unknown KPI {kpi}")

    # -- the one entry point ---------------------------------------------------------------------------------

    def compute(self, kpi: str, tenant: str, since: datetime, until: datetime,
                group_by: Sequence[str] = (), *, now: datetime | None = None,
                ranges: Sequence[tuple[datetime, datetime]] | None = None) -> list[KpiRow]:
        """The KPI's total (``group_by`` empty) or one row per group, largest population first.

        The window is [since, until), or the union of ``ranges`` when given (the parts of a window the daily
        rollup does not cover); ages and SLAs are taken at ``now`` (default: ``until``)."""
        dims = self._dims(self._BASE[kpi])
        keys = [dims[g].label(f"g{k}") for k, g in enumerate(group_by)]
        q, value, agg = self._population(kpi, tenant, [(since, until)] if ranges is None else ranges,
                                         until if now is None else now, group_by)
        if agg == "ratio":
            num, den = value
            aggs = [func.sum(num).label("num"), func.sum(den).label("den"), func.count().label("n")]
        elif agg == "bands":
            aggs = [func.count().label("n")] + [
                func.sum(case((and_(value >= low, value < high) if high is not None else value >= low, 1),
                              else_=0)).label(f"b{k}") for k, (_, low, high) in enumerate(AGING_BANDS)]
        else:
            fn = func.avg if agg == "avg" else func.sum
            aggs = [fn(cast(value, Float)).label("v"), func.count().label("n")]
        q = q.add_columns(*keys, *aggs)
        if keys:
            q = q.group_by(*keys).order_by(literal_column("n").desc(), *keys)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        out = []
        for row in rows:
            m = row._mapping
            key = tuple(None if m[f"g{k}"] is None else str(m[f"g{k}"]) for k in range(len(keys)))
            n = int(m["n"] or 0)
            if agg == "ratio":
                den = float(m["den"] or 0.0)
                out.append(KpiRow(key, None if den == 0 else float(m["num"] or 0.0) / den, n))
            elif agg == "bands":
                bands = {label: int(m[f"b{k}"] or 0) for k, (label, _, _) in enumerate(AGING_BANDS)}
                out.append(KpiRow(key, float(n), n, bands))
            else:
                v = m["v"]
                if agg == "sum":
                    v = n  # a count: the rows themselves
                out.append(KpiRow(key, None if v is None else float(v), n))
        if not keys and not out:
            out = [KpiRow((), None, 0)]
        return [r for r in out if keys == [] or r.n > 0]
