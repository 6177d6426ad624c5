"""Labels from what the business learned: outcomes and reviewer decisions joined to the decisions they judge.

A label is only as good as its maturity. A return nobody has reported as fraud *yet* is not a legitimate return:
fraud is confirmed weeks later (chargebacks, investigations). So every outcome kind has a maturity window; a case
without a positive signal becomes a negative only once every window that could still bring one has passed, and a
case inside its window is *unsettled* and left out. Explicit verdicts (an outcome or a reviewer saying fraud yes or
no, a confirmed or corrected reason code) count at once; the latest one wins.

Features are taken as of decision time: the request as it was scored (``cases.payload``), the reason code and
document findings the decision saw. Nothing recorded after the decision feeds a feature.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from returns_triage.serving.storage.tables import cases, decisions, outcomes, review_decisions

__all__ = ["MaturityWindows", "LabelledCase", "fraud_labels", "reason_labels", "DEFAULT_WINDOWS"]


@dataclass(frozen=True, slots=True)
class MaturityWindows:
    """Days after the decision by which each outcome kind has normally arrived (``fraud``: investigations;
    ``chargeback``: card disputes; ``inspection``: the warehouse's check; ``review``: a reviewer's verdict)."""

    days: Mapping[str, float] = field(default_factory=lambda: {"fraud": 60.0, "chargeback": 90.0,
                                                               "inspection": 21.0, "review": 0.0})
    fraud_kinds: tuple[str, ...] = ("fraud", "chargeback")

    def fraud_settled_after(self) -> timedelta:
        """How old a decision must be before silence about fraud means "legitimate"."""
        return timedelta(days=max(float(self.days.get(k, 0.0)) for k in self.fraud_kinds))

    def to_dict(self) -> dict[str, Any]:
        return {"days": dict(self.days), "fraud_kinds": list(self.fraud_kinds)}


DEFAULT_WINDOWS = MaturityWindows()


@dataclass(frozen=True, slots=True)
class LabelledCase:
    """One decided case with its label, the inputs as of decision time, and where the label came from."""

    decision_id: str
    tenant: str
    case_id: str
    decided_at: datetime
    facility: str
    channel: str
    segment: str
    request: dict[str, Any]
    reason_code: str  # what the decision's reason model said (a feature of the fraud model)
    findings: list[dict[str, Any]] | None
    label: Any  # bool (fraud) or a reason code
    label_source: str  # e.g. "outcome:fraud", "review", "matured:no_fraud_signal"

    def lineage(self) -> dict[str, Any]:
        return {"decision_id": self.decision_id, "tenant": self.tenant, "case_id": self.case_id,
                "decided_at": self.decided_at.isoformat(), "label": self.label, "label_source": self.label_source}

    def scored_request(self) -> dict[str, Any]:
        """The request as the models saw it (``requested_at`` defaults to the decision time, as in scoring)."""
        if self.request.get("requested_at"):
            return self.request
        return {**self.request, "requested_at": self.decided_at.isoformat()}


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _decided(engine: Engine, *, tenant: str | None, since: datetime | None,
             until: datetime | None) -> dict[str, dict[str, Any]]:
    """The latest decision of every case (by case ref), with the case's request."""
    query = (select(decisions.c.decision_id, decisions.c.tenant, decisions.c.case_ref, decisions.c.created_at,
                    decisions.c.reason_code, decisions.c.document, cases.c.case_id, cases.c.facility,
                    cases.c.channel, cases.c.segment, cases.c.payload)
             .join(cases, cases.c.id == decisions.c.case_ref).order_by(decisions.c.created_at))
    if tenant is not None:
        query = query.where(decisions.c.tenant == tenant)
    if since is not None:
        query = query.where(decisions.c.created_at >= since)
    if until is not None:
        query = query.where(decisions.c.created_at < until)
    latest: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            latest[row.case_ref] = row._asdict()  # ordered by time: the last decision of a case wins
    return latest


def _signals(engine: Engine, case_refs: set[str]) -> dict[str, list[tuple[datetime, str, Any, Any]]]:
    """Per case ref: (when, source, fraud verdict or None, reason code or None), oldest first."""
    found: dict[str, list[tuple[datetime, str, Any, Any]]] = {}
    if not case_refs:
        return found
    refs = sorted(case_refs)
    with engine.connect() as conn:
        for start in range(0, len(refs), 500):
            chunk = refs[start:start + 500]
            for r in conn.execute(select(outcomes.c.case_ref, outcomes.c.kind, outcomes.c.occurred_at,
                                         outcomes.c.fraud_confirmed, outcomes.c.confirmed_reason_code)
                                  .where(outcomes.c.case_ref.in_(chunk))):
                found.setdefault(r.case_ref, []).append(
                    (_utc(r.occurred_at), f"outcome:{r.kind}", r.fraud_confirmed, r.confirmed_reason_code))
            rd = review_decisions.c
            for r in conn.execute(select(rd.case_ref, rd.created_at, rd.action, rd.fraud_confirmed,
                                         rd.corrected_reason_code, rd.ai_suggestion)
                                  .where(rd.case_ref.in_(chunk), rd.action.in_(("approve", "reject")))):
                # A reviewer who approves or rejects without correcting the code confirms the suggested one.
                code = r.corrected_reason_code or (r.ai_suggestion or {}).get("reason_code")
                found.setdefault(r.case_ref, []).append((_utc(r.created_at), "review", r.fraud_confirmed, code))
    for signals in found.values():
        signals.sort(key=lambda s: s[0])
    return found


def _case(row: Mapping[str, Any], label: Any, source: str) -> LabelledCase:
    document = row["document"] or {}
    documents = document.get("documents")
    return LabelledCase(
        decision_id=row["decision_id"], tenant=row["tenant"], case_id=row["case_id"],
        decided_at=_utc(row["created_at"]), facility=row["facility"], channel=row["channel"],
        segment=row["segment"], request=dict(row["payload"]), reason_code=row["reason_code"],
        findings=list(documents.get("findings") or []) if documents else None, label=label, label_source=source)


def fraud_labels(engine: Engine, *, now: datetime | None = None, windows: MaturityWindows = DEFAULT_WINDOWS,
                 tenant: str | None = None, since: datetime | None = None,
                 until: datetime | None = None) -> tuple[list[LabelledCase], dict[str, int]]:
    """Matured fraud labels (True = fraud) for the decided cases, and counts of what was kept and left out."""
    now = _utc(now or datetime.now(UTC))
    decided = _decided(engine, tenant=tenant, since=since, until=until)
    signals = _signals(engine, set(decided))
    settled = windows.fraud_settled_after()
    out: list[LabelledCase] = []
    counts = {"decisions": len(decided), "positive": 0, "explicit_negative": 0, "matured_negative": 0,
              "unsettled": 0}
    for ref, row in decided.items():
        verdicts = [(src, v) for when, src, v, _ in signals.get(ref, []) if v is not None and when <= now]
        if verdicts:
            source, verdict = verdicts[-1]
            out.append(_case(row, bool(verdict), source))
            counts["positive" if verdict else "explicit_negative"] += 1
        elif now - _utc(row["created_at"]) >= settled:
            out.append(_case(row, False, "matured:no_fraud_signal"))
            counts["matured_negative"] += 1
        else:
            counts["unsettled"] += 1
    return out, counts


def reason_labels(engine: Engine, *, now: datetime | None = None, tenant: str | None = None,
                  since: datetime | None = None,
                  until: datetime | None = None) -> tuple[list[LabelledCase], dict[str, int]]:
    """Confirmed reason codes (an outcome's confirmed code, a reviewer's correction or confirmation)."""
    now = _utc(now or datetime.now(UTC))
    decided = _decided(engine, tenant=tenant, since=since, until=until)
    signals = _signals(engine, set(decided))
    out: list[LabelledCase] = []
    counts = {"decisions": len(decided), "labelled": 0, "corrected": 0, "unlabelled": 0}
    for ref, row in decided.items():
        codes = [(src, c) for when, src, _, c in signals.get(ref, []) if c and when <= now]
        if not codes:
            counts["unlabelled"] += 1
            continue
        source, code = codes[-1]
        out.append(_case(row, code, source))
        counts["labelled"] += 1
        counts["corrected"] += code != row["reason_code"]
    return out, counts
