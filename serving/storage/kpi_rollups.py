"""The dashboard's process KPIs from a daily rollup of the stored events, exact at the moment of the request.

``kpi_daily`` holds, per tenant and UTC day, aggregates that do not depend on when they are read: counts, sums of
hours, and the times that decide a time-dependent KPI (the SLA due times of open reviews, the latest closure of a
case). Triggers on the source tables mark a day stale in the writing transaction (migration 0010); the dashboard
re-aggregates the stale days of its window before reading them, and asks the events themselves (``SqlKpiQueries``
over a few time ranges) what a day's aggregate cannot answer: the partial days at both ends of the window, days
whose open reviews are partly past their SLA at the request time, days that straddle an age band, and days with a
closure after the request time.

Facts, one row per key (unused columns are 0 or NULL):

=============== ========================== =================================================================
fact            key                        columns
=============== ========================== =================================================================
decision        day                        n returns scored; count_1 routed automatically; count_2 reviewed
                                           with the review completed; hours_1 their hours to completion
review          day, facility              n review items; count_1 completed after the SLA; count_2 open;
                                           hours_1 open items' hours from midnight to creation; first_at /
                                           last_at the earliest / latest SLA due time of the open ones
review_reason   day, reason_code           n review items
review_decision day                        n review decisions; count_1 overrides
inspection      day                        n inspections; count_1 restocked; count_2 with a receipt time;
                                           hours_1 receipt to inspection; count_3 credited after inspection;
                                           hours_2 inspection to credit
case            day, facility              n cases; count_1 never closed (no credit, no rejection); last_at
                                           the latest first closure of the closed ones
=============== ========================== =================================================================
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    DateTime,
    Engine,
    Float,
    Integer,
    String,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    null,
    select,
)
from sqlalchemy.sql.elements import ColumnElement

from returns_triage.serving.storage.kpis import AGING_BANDS, KpiRow, SqlKpiQueries
from returns_triage.serving.domain.model import as_utc
from returns_triage.serving.storage.tables import (
    cases,
    decisions,
    inspections,
    kpi_daily,
    kpi_stale_days,
    outcomes,
    review_decisions,
    review_items,
)

__all__ = ["DASHBOARD_JOBS", "KpiRollup"]

Job = tuple[str, tuple[str, ...]]
Range = tuple[datetime, datetime]

# What the dashboard shows: the totals, and the bottleneck views by facility and by reason and week.
DASHBOARD_JOBS: tuple[Job, ...] = (
    ("authorisation_cycle_hours", ()), ("straight_through_rate", ()), ("override_rate", ()),
    ("receipt_to_inspection_hours", ()), ("inspection_to_credit_hours", ()), ("restock_rate", ()),
    ("supplier_recovery_rate", ()), ("review_wait_hours", ("facility",)), ("sla_breach_rate", ("facility",)),
    ("return_aging", ("facility",)), ("exception_volume", ("reason_code", "week")),
)
_DAY = timedelta(days=1)
# Ages within this much of a band's edge are taken from the events (floating-point ages in SQL).
_AGE_MARGIN = timedelta(seconds=1)
_c, _d, _r, _rd, _i, _o, _k, _s = (cases.c, decisions.c, review_items.c, review_decisions.c, inspections.c,
                                   outcomes.c, kpi_daily.c, kpi_stale_days.c)



def _midnight(day: str) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(), UTC)


def _runs(days: Iterable[str]) -> list[Range]:
    """Consecutive days as few [start, end) ranges."""
    out: list[Range] = []
    for day in sorted(set(days)):
        start = _midnight(day)
        if out and out[-1][1] == start:
            out[-1] = (out[-1][0], start + _DAY)
        else:
            out.append((start, start + _DAY))
    return out


def _week(day: str) -> str:
    d = date.fromisoformat(day)
    return (d - timedelta(days=d.weekday())).isoformat()


def _merge(parts: Iterable[list[KpiRow]], unit: str) -> list[KpiRow]:
    """Rows of disjoint populations with the same keys, combined: counts and bands add, means weigh by counts."""
    n: dict[tuple[str | None, ...], int] = {}
    total: dict[tuple[str | None, ...], float] = {}
    weight: dict[tuple[str | None, ...], int] = {}
    bands: dict[tuple[str | None, ...], dict[str, int]] = {}
    for rows in parts:
        for row in rows:
            n[row.key] = n.get(row.key, 0) + row.n
            if row.bands is not None:
                acc = bands.setdefault(row.key, {label: 0 for label, _, _ in AGING_BANDS})
                for label, count in row.bands.items():
                    acc[label] += count
            elif row.value is not None:
                total[row.key] = total.get(row.key, 0.0) + row.value * row.n
                weight[row.key] = weight.get(row.key, 0) + row.n
    out = []
    for key, count in n.items():
        if unit == "bands":
            out.append(KpiRow(key, float(count), count, bands.get(key, {label: 0 for label, _, _ in AGING_BANDS})))
        elif unit == "count":
            out.append(KpiRow(key, float(count), count))
        else:
            out.append(KpiRow(key, total[key] / weight[key] if weight.get(key) else None, count))
    out.sort(key=lambda r: (-r.n, tuple("" if k is None else k for k in r.key)))
    return out


def _mean(key: tuple[str | None, ...], total: float, n: int) -> KpiRow:
    return KpiRow(key, total / n if n else None, n)


class KpiRollup:
    """``dashboard(tenant, since, until)`` → the rows of each of ``DASHBOARD_JOBS``, equal to
    ``SqlKpiQueries.compute`` over [since, until) with ages and SLAs at ``until``."""

    def __init__(self, engine: Engine, queries: SqlKpiQueries | None = None, *, parallel: int = 4) -> None:
        self.engine = engine
        self.queries = queries or SqlKpiQueries(engine)
        self.parallel = max(1, parallel)
        self.pg = engine.dialect.name == "postgresql"

    # -- aggregating days -------------------------------------------------------------------------------------

    def _day(self, ts: Any) -> ColumnElement[Any]:
        if self.pg:
            return func.to_char(func.timezone("UTC", ts), "YYYY-MM-DD")
        return func.date(ts)

    def _hours_into_day(self, ts: Any) -> ColumnElement[Any]:
        if self.pg:
            local = func.timezone("UTC", ts)
            return func.extract("epoch", local - func.date_trunc("day", local)) / 3600.0
        return (func.julianday(ts) - func.julianday(func.date(ts))) * 24.0

    def _facts(self, tenant: str, ranges: Sequence[Range]) -> list[tuple[str, Any]]:
        """(fact, select of day, facility, reason_code, n, count_1..3, hours_1..2, first_at, last_at)."""
        q = self.queries
        hours = q._hours
        zero, zero_h, no_time, blank = (literal(0, Integer), literal(0.0, Float),
                                        cast(null(), DateTime(timezone=True)), literal("", String))
        count, total = func.count, func.sum

        def flag(condition: Any) -> Any:
            return func.coalesce(total(case((condition, 1), else_=0)), 0)

        def hours_sum(condition: Any, value: Any) -> Any:
            return func.coalesce(total(case((condition, value), else_=0.0)), 0.0)

        done = and_(_d.route == "review", _r.completed_at.is_not(None))
        day = self._day(_d.created_at)
        decision = (select(day, blank, blank, count(), flag(_d.route != "review"), flag(done), zero,
                           hours_sum(done, hours(_r.completed_at, _d.created_at)), zero_h, no_time, no_time)
                    .select_from(decisions.outerjoin(review_items, _r.decision_id == _d.decision_id))
                    .where(_d.tenant == tenant, _d.kind == "return", q._within(_d.created_at, ranges))
                    .group_by(day))
        is_open = _r.completed_at.is_(None)
        day = self._day(_r.created_at)
        review = (select(day, _c.facility, blank, count(),
                         flag(and_(_r.completed_at.is_not(None), _r.completed_at > _r.sla_due_at)), flag(is_open),
                         zero, hours_sum(is_open, self._hours_into_day(_r.created_at)), zero_h,
                         func.min(case((is_open, _r.sla_due_at))), func.max(case((is_open, _r.sla_due_at))))
                  .select_from(review_items.join(cases, _c.id == _r.case_ref))
                  .where(_r.tenant == tenant, q._within(_r.created_at, ranges))
                  .group_by(day, _c.facility))
        review_reason = (select(day, blank, _d.reason_code, count(), zero, zero, zero, zero_h, zero_h, no_time,
                                no_time)
                         .select_from(review_items.join(decisions, _d.decision_id == _r.decision_id))
                         .where(_r.tenant == tenant, q._within(_r.created_at, ranges))
                         .group_by(day, _d.reason_code))
        day = self._day(_rd.created_at)
        review_decision = (select(day, blank, blank, count(), flag(_rd.ai_agreement == "overrides"), zero, zero,
                                  zero_h, zero_h, no_time, no_time)
                           .where(_rd.tenant == tenant, q._within(_rd.created_at, ranges)).group_by(day))
        credited = (select(func.min(_o.occurred_at))
                    .where(_o.case_ref == _i.case_ref, _o.kind == "credit", _o.occurred_at >= _i.inspected_at)
                    .scalar_subquery())
        ins = (select(_i.inspected_at, _i.received_at, _i.disposition, credited.label("credited_at"))
               .where(_i.tenant == tenant, q._within(_i.inspected_at, ranges)).subquery())
        day = self._day(ins.c.inspected_at)
        received, credit = ins.c.received_at.is_not(None), ins.c.credited_at.is_not(None)
        inspection = select(day, blank, blank, count(), flag(ins.c.disposition == "restock"), flag(received),
                            flag(credit), hours_sum(received, hours(ins.c.inspected_at, ins.c.received_at)),
                            hours_sum(credit, hours(ins.c.credited_at, ins.c.inspected_at)), no_time,
                            no_time).group_by(day)
        credit_at = (select(func.min(_o.occurred_at)).where(_o.case_ref == _c.id, _o.kind == "credit")
                     .scalar_subquery())
        reject_at = (select(func.min(_rd.created_at)).where(_rd.case_ref == _c.id, _rd.action == "reject")
                     .scalar_subquery())
        cs = (select(_c.created_at, _c.facility, credit_at.label("credit_at"), reject_at.label("reject_at"))
              .where(_c.tenant == tenant, q._within(_c.created_at, ranges)).subquery())
        closed_at = case((cs.c.credit_at.is_(None), cs.c.reject_at), (cs.c.reject_at.is_(None), cs.c.credit_at),
                         (cs.c.credit_at < cs.c.reject_at, cs.c.credit_at), else_=cs.c.reject_at)
        day = self._day(cs.c.created_at)
        case_fact = select(day, cs.c.facility, blank, count(),
                           flag(and_(cs.c.credit_at.is_(None), cs.c.reject_at.is_(None))), zero, zero, zero_h,
                           zero_h, no_time, func.max(closed_at)).group_by(day, cs.c.facility)
        return [("decision", decision), ("review", review), ("review_reason", review_reason),
                ("review_decision", review_decision),
                ("inspection", inspection), ("case", case_fact)]

    def refresh(self, tenant: str, first_day: str, last_day: str) -> int:
        """Re-aggregate the stale days in [first_day, last_day] (ISO dates); returns how many there were.

        Marks are read before the events, and only the marks read are removed: a write that commits meanwhile
        leaves its own mark, so its day is aggregated again next time."""
        with self.engine.begin() as conn:
            if self.pg:
                # One refresher per tenant at a time (two would insert the same keys).
                conn.execute(select(func.pg_advisory_xact_lock(func.hashtext("kpi_daily/" + tenant))))
            marks = conn.execute(select(_s.mark_id, _s.day).where(
                _s.tenant == tenant, _s.day >= first_day, _s.day <= last_day)).all()
            if not marks:
                return 0
            days = sorted({m.day for m in marks})
            ranges = _runs(days)
            for chunk in range(0, len(days), 1000):
                conn.execute(delete(kpi_daily).where(_k.tenant == tenant, _k.day.in_(days[chunk:chunk + 1000])))
            columns = ["day", "facility", "reason_code", "n", "count_1", "count_2", "count_3", "hours_1", "hours_2",
                       "first_at", "last_at"]
            for fact, query in self._facts(tenant, ranges):
                rows = query.add_columns(literal(tenant, String).label("tenant"), literal(fact, String).label("f"))
                conn.execute(insert(kpi_daily).from_select([*columns, "tenant", "fact"], rows))
            ids = [m.mark_id for m in marks]
            for chunk in range(0, len(ids), 10000):
                conn.execute(delete(kpi_stale_days).where(_s.mark_id.in_(ids[chunk:chunk + 10000])))
        return len(days)

    # -- answering the dashboard ------------------------------------------------------------------------------

    def dashboard(self, tenant: str, since: datetime, until: datetime) -> dict[Job, list[KpiRow]]:
        """The rows of every ``DASHBOARD_JOBS`` entry over [since, until), ages and SLAs at ``until``."""
        since, until = as_utc(since), as_utc(until)
        first = datetime.combine(since.date(), time(), UTC)
        first = first if first == since else first + _DAY
        end = datetime.combine(until.date(), time(), UTC)
        if end - first < _DAY:
            return {job: self.queries.compute(job[0], tenant, since, until, job[1]) for job in DASHBOARD_JOBS}
        first_day, last_day = first.date().isoformat(), (end - _DAY).date().isoformat()
        self.refresh(tenant, first_day, last_day)
        with self.engine.connect() as conn:
            rows = conn.execute(select(kpi_daily).where(_k.tenant == tenant, _k.day >= first_day,
                                                        _k.day <= last_day)).all()
        edges = [r for r in ((since, first), (end, until)) if r[0] < r[1]]
        by_fact: dict[str, list[Any]] = {}
        for row in rows:
            by_fact.setdefault(row.fact, []).append(row)
        splits: list[tuple[str, Range, str]] = []
        from_days = self._from_days(by_fact, until, splits)
        open_by_day: dict[str, dict[str, int]] = {}
        for r in by_fact.get("case", []):
            open_by_day.setdefault(r.day, {})[r.facility] = r.count_1

        def split(day: str, part: Range, band: str) -> list[KpiRow]:
            """The part read from the events, and the rest of the day's open returns (all in ``band``)."""
            read = self.queries.compute("return_aging", tenant, since, until, ("facility",), now=until, ranges=[part])
            counted = {r.key[0]: r.n for r in read}
            rest = []
            for facility, n_open in open_by_day.get(day, {}).items():
                n = n_open - counted.get(facility, 0)
                if n:
                    rest.append(KpiRow((facility,), float(n), n, {label: n if label == band else 0
                                                                   for label, _, _ in AGING_BANDS}))
            return read + rest

        def direct(job: Job) -> list[KpiRow]:
            name, group_by = job
            if name == "supplier_recovery_rate":  # a few rows a day: read directly
                return self.queries.compute(name, tenant, since, until)
            ranges = edges + _runs(from_days[job][1])
            if not ranges:
                return []
            return self.queries.compute(name, tenant, since, until, group_by, now=until, ranges=ranges)

        # The reads of the events are independent: side by side on the engine's pool.
        with ThreadPoolExecutor(max_workers=self.parallel) as pool:
            parts = [pool.submit(split, *s) for s in splits]
            directs = dict(zip(DASHBOARD_JOBS, pool.map(direct, DASHBOARD_JOBS), strict=True))
            directs[("return_aging", ("facility",))] += [r for p in parts for r in p.result()]
        out: dict[Job, list[KpiRow]] = {}
        for job in DASHBOARD_JOBS:
            name, group_by = job
            if name == "supplier_recovery_rate":
                out[job] = directs[job]
                continue
            unit = "bands" if name == "return_aging" else "count" if name == "exception_volume" else "mean"
            merged = _merge([from_days[job][0], [r for r in directs[job] if r.n > 0]], unit)
            out[job] = merged or ([] if group_by else [KpiRow((), None, 0)])
        return out

    def _from_days(self, by_fact: dict[str, list[Any]], now: datetime, splits: list[tuple[str, Range, str]]
                   ) -> dict[Job, tuple[list[KpiRow], list[str]]]:
        """Each job's rows from the daily facts, and the days it must read from the events instead; ``splits``
        receives the days of open returns read in part (day, the part to read, the band of the rest)."""
        out: dict[Job, tuple[list[KpiRow], list[str]]] = {}

        def sums(fact: str, *columns: str) -> list[Any]:
            return [sum(getattr(r, c) for r in by_fact.get(fact, [])) for c in columns]

        n, auto, done, hours = sums("decision", "n", "count_1", "count_2", "hours_1")
        out[("straight_through_rate", ())] = ([_mean((), auto, n)] if n else [], [])
        out[("authorisation_cycle_hours", ())] = ([_mean((), hours, auto + done)] if auto + done else [], [])
        n, overrides = sums("review_decision", "n", "count_1")
        out[("override_rate", ())] = ([_mean((), overrides, n)] if n else [], [])
        n, restocked, received, receipt_h, credited, credit_h = sums(
            "inspection", "n", "count_1", "count_2", "hours_1", "count_3", "hours_2")
        out[("restock_rate", ())] = ([_mean((), restocked, n)] if n else [], [])
        out[("receipt_to_inspection_hours", ())] = ([_mean((), receipt_h, received)] if received else [], [])
        out[("inspection_to_credit_hours", ())] = ([_mean((), credit_h, credited)] if credited else [], [])

        # SQLite's date functions count whole milliseconds: ages in hours are taken from the same clock.
        clock = now if self.pg else now + timedelta(microseconds=round(now.microsecond, -3) - now.microsecond)
        volume: dict[tuple[str | None, ...], int] = {}
        wait: dict[tuple[str | None, ...], list[float]] = {}
        breach: dict[tuple[str | None, ...], list[int]] = {}
        unsure_breach = {r.day for r in by_fact.get("review", [])
                         if r.count_2 and as_utc(r.first_at) < now <= as_utc(r.last_at)}
        for r in by_fact.get("review_reason", []):
            volume[(r.reason_code, _week(r.day))] = volume.get((r.reason_code, _week(r.day)), 0) + r.n
        for r in by_fact.get("review", []):
            if r.count_2:
                acc = wait.setdefault((r.facility,), [0.0, 0])
                acc[0] += r.count_2 * (clock - _midnight(r.day)).total_seconds() / 3600.0 - r.hours_1
                acc[1] += r.count_2
            if r.day not in unsure_breach:
                late = r.count_1 + (r.count_2 if r.count_2 and as_utc(r.last_at) < now else 0)
                acc_b = breach.setdefault((r.facility,), [0, 0])
                acc_b[0] += late
                acc_b[1] += r.n
        out[("exception_volume", ("reason_code", "week"))] = (
            [KpiRow(k, float(v), v) for k, v in volume.items()], [])
        out[("review_wait_hours", ("facility",))] = ([_mean(k, t, c) for k, (t, c) in wait.items()], [])
        out[("sla_breach_rate", ("facility",))] = ([_mean(k, float(late), c) for k, (late, c) in breach.items()],
                                                  sorted(unsure_breach))

        unsure_age: set[str] = set()
        aging: dict[tuple[str | None, ...], dict[str, int]] = {}
        days = {r.day for r in by_fact.get("case", [])}
        for r in by_fact.get("case", []):
            if r.last_at is not None and as_utc(r.last_at) > now:
                unsure_age.add(r.day)
        for day in sorted(days - unsure_age):
            start = _midnight(day)
            if self._band(start, start + _DAY, now) is not None:
                continue
            split = self._split(start, now)
            if split is None:
                unsure_age.add(day)
            else:
                splits.append((day, *split))
        split_days = {day for day, _, _ in splits}
        for r in by_fact.get("case", []):
            if r.day in unsure_age or r.day in split_days or not r.count_1:
                continue
            start = _midnight(r.day)
            acc_a = aging.setdefault((r.facility,), {label: 0 for label, _, _ in AGING_BANDS})
            acc_a[self._band(start, start + _DAY, now)] += r.count_1  # type: ignore[index]
        out[("return_aging", ("facility",))] = (
            [KpiRow(k, float(sum(b.values())), sum(b.values()), b) for k, b in aging.items()], sorted(unsure_age))
        return out

    def _split(self, start: datetime, now: datetime) -> tuple[Range, str] | None:
        """For a day straddling an age band's edge: the smaller part of the day, past the edge by a margin, to read
        from the events, and the one band of all the rest; None when the day cannot be split so."""
        for _, low, _ in AGING_BANDS:
            edge = now - timedelta(days=low)
            if not start - _AGE_MARGIN <= edge <= start + _DAY + _AGE_MARGIN:
                continue
            older = (start, min(start + _DAY, edge + 2 * _AGE_MARGIN))  # the rest is younger than the edge
            younger = (max(start, edge - 2 * _AGE_MARGIN), start + _DAY)  # the rest is older
            for part, rest in sorted(((older, (older[1], start + _DAY)), (younger, (start, younger[0]))),
                                     key=lambda p: p[0][1] - p[0][0]):
                band = self._band(rest[0], rest[1], now) if rest[0] < rest[1] else None
                if band is not None:
                    return part, band
        return None

    @staticmethod
    def _band(start: datetime, end: datetime, now: datetime) -> str | None:
        """The age band at ``now`` of every case created in [start, end); None when the range straddles an edge."""
        for label, low, high in AGING_BANDS:
            lo_edge = now - timedelta(days=low)  # created at or before this: age >= low
            hi_edge = now - timedelta(days=high) if high is not None else None  # created after this: age < high
            if end <= lo_edge - _AGE_MARGIN and (hi_edge is None or start > hi_edge + _AGE_MARGIN):
                return label
        return None
