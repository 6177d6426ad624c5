"""Stored decisions and their outcomes, read back from the service's database for policy replay.

Each case's latest decision in the window gives the evidence the policy saw — reason, risk, documents and the
clock, exactly as stored (``assessments_from_document``) — and the case's current outcomes (the last of each kind
by occurrence, as ``/v1/cases/{id}/outcomes`` marks them) say, where known, whether approving it was an error.

An *error* is the policy benchmark's: a return confirmed fraudulent, or one whose confirmed reason differs from
the model's. Where an outcome does not say, the model's own estimate stands in: risk score for fraud,
``1 − reason confidence`` for a wrong reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from returns_triage.errors import InvalidInput
from returns_triage.serving.domain.model import DocumentAssessment, ReasonAssessment, ReturnCase, RiskAssessment
from returns_triage.serving.domain.policy_routing import assessments_from_document
from returns_triage.serving.service.scoring import case_from_request
from returns_triage.serving.storage.tables import cases, decisions, outcomes

__all__ = ["StoredCase", "load_stored_cases", "parse_bound"]


@dataclass(frozen=True, slots=True)
class StoredCase:
    decision_id: str
    case: ReturnCase
    reason: ReasonAssessment
    risk: RiskAssessment | None
    documents: DocumentAssessment | None
    decided_at: datetime
    recorded_route: str
    recorded_policy_version: str
    fraud_label: bool | None  # confirmed (True) or cleared (False) by an outcome; None = unknown
    confirmed_reason: str | None  # from an inspection or a reviewer; None = unknown

    @property
    def labelled(self) -> bool:
        """Both halves of the error known from outcomes."""
        return self.fraud_label is not None and (self.fraud_label or self.confirmed_reason is not None)

    @property
    def error_probability(self) -> float:
        """P(approving this return is an error): 0/1 from outcomes where they say, the models' estimate where not."""
        p_fraud = float(self.fraud_label) if self.fraud_label is not None else (self.risk.score if self.risk else 0.0)
        if self.confirmed_reason is not None:
            p_wrong = float(self.confirmed_reason != self.reason.code)
        else:
            p_wrong = 1.0 - self.reason.confidence
        return 1.0 - (1.0 - p_fraud) * (1.0 - p_wrong)


def parse_bound(value: str | None, *, end: bool = False) -> datetime | None:
    """``YYYY-MM-DD`` or an ISO 8601 instant; a bare date as ``--until`` includes that whole day."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(f"{value!r} is not a date (YYYY-MM-DD) or an ISO 8601 time",
                           field="until" if end else "since") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if end and len(value) == 10:
        parsed += timedelta(days=1)
    return parsed


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _outcome_labels(engine: Engine, case_refs: list[str]) -> dict[str, tuple[bool | None, str | None]]:
    """case_ref → (fraud label, confirmed reason) from the current outcome of each kind."""
    o = outcomes.c
    current: dict[tuple[str, str], Any] = {}
    with engine.connect() as conn:
        for start in range(0, len(case_refs), 500):
            rows = conn.execute(
                select(o.case_ref, o.kind, o.fraud_confirmed, o.confirmed_reason_code, o.occurred_at, o.received_at)
                .where(o.case_ref.in_(case_refs[start : start + 500]))
                .order_by(o.occurred_at, o.received_at)
            ).all()
            for row in rows:  # by occurrence: the last of each kind wins, as the outcomes API says
                current[(row.case_ref, row.kind)] = row
    labels: dict[str, tuple[bool | None, str | None]] = {}
    for (case_ref, _), row in current.items():
        fraud, reason = labels.get(case_ref, (None, None))
        if row.fraud_confirmed is not None:
            fraud = bool(fraud) or bool(row.fraud_confirmed)
        reason = row.confirmed_reason_code or reason
        labels[case_ref] = (fraud, reason)
    return labels


def load_stored_cases(engine: Engine, *, since: datetime | None = None, until: datetime | None = None,
                      tenant: str | None = None) -> list[StoredCase]:
    """Each case's latest decision made in [since, until), oldest first, with its outcome labels."""
    d = decisions.c
    query = (select(d.decision_id, d.case_ref, d.tenant, d.created_at, d.route, d.policy_version, d.document,
                    cases.c.payload)
             .join(cases, cases.c.id == d.case_ref).order_by(d.created_at, d.decision_id))
    if since is not None:
        query = query.where(d.created_at >= since)
    if until is not None:
        query = query.where(d.created_at < until)
    if tenant is not None:
        query = query.where(d.tenant == tenant)
    latest: dict[str, Any] = {}
    with engine.connect() as conn:
        for row in conn.execution_options(yield_per=1000).execute(query):
            latest[row.case_ref] = row  # ordered by time: a later decision of the case replaces an earlier one
    labels = _outcome_labels(engine, list(latest))
    return list(_stored(latest.values(), labels))


def _stored(rows: Any, labels: dict[str, tuple[bool | None, str | None]]) -> Iterator[StoredCase]:
    for row in sorted(rows, key=lambda r: (_utc(r.created_at), r.decision_id)):
        reason, risk, documents, decided_at = assessments_from_document(row.document)
        fraud, confirmed = labels.get(row.case_ref, (None, None))
        yield StoredCase(
            decision_id=row.decision_id, case=case_from_request(row.tenant, row.payload), reason=reason, risk=risk,
            documents=documents, decided_at=_utc(decided_at), recorded_route=row.route,
            recorded_policy_version=row.policy_version, fraud_label=fraud, confirmed_reason=confirmed,
        )
