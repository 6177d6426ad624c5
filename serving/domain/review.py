"""Rules of the human review queue and of outcomes (labels). Standard library only.

A review item is *claimed* with a lease and a fencing token. The token grows by one on every claim or
hand-over, so whoever holds an older token has lost the item: their late decision is rejected even if they
still believe they hold it. The database enforces this; the rules for what is claimable, in which order,
and when an SLA is breached live here so they can be read and tested without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, Literal

__all__ = [
    "ACTIONS",
    "CLOSED_STATUSES",
    "CONDITION_GRADES",
    "DEFAULT_LEASE",
    "DISPOSITIONS",
    "OUTCOME_KINDS",
    "STATUSES",
    "Action",
    "ReviewVerdict",
    "Outcome",
    "ai_agreement",
    "claim_order_key",
    "escalation_target",
    "is_claimable",
    "lease_expired",
    "outcome_problems",
    "sla_breached",
    "sla_state",
    "status_after",
]

Action = Literal["approve", "reject", "request_info", "escalate"]
ACTIONS: Final = ("approve", "reject", "request_info", "escalate")

PENDING: Final = "pending"
CLAIMED: Final = "claimed"
DONE: Final = "done"
AWAITING_INFO: Final = "awaiting_info"
STATUSES: Final = (PENDING, CLAIMED, DONE, AWAITING_INFO)
# Off the queue: nobody can claim these; a supervisor can release an awaiting_info item back.
CLOSED_STATUSES: Final = (DONE, AWAITING_INFO)

DEFAULT_LEASE: Final = timedelta(minutes=15)
MIN_LEASE: Final = timedelta(seconds=1)
MAX_LEASE: Final = timedelta(hours=8)
DUE_SOON: Final = timedelta(hours=2)

ESCALATION_PRIORITY_BOOST: Final = 20
SUPERVISOR_SUFFIX: Final = "-supervisor"

OUTCOME_KINDS: Final = ("inspection", "fraud", "chargeback", "credit", "review")
# Kinds a workflow engine may post; "review" outcomes are written by the queue when a reviewer decides.
EXTERNAL_OUTCOME_KINDS: Final = ("inspection", "fraud", "chargeback", "credit")
DISPOSITIONS: Final = ("restock", "refurbish", "quarantine", "vendor_claim", "scrap")
CONDITION_GRADES: Final = ("new", "like_new", "good", "fair", "damaged", "unusable")


def lease_expired(lease_expires_at: datetime | None, now: datetime) -> bool:
    """A lease ends at its expiry instant: at ``now == expires_at`` the item is claimable again."""
    return lease_expires_at is None or lease_expires_at <= now


def is_claimable(status: str, lease_expires_at: datetime | None, now: datetime) -> bool:
    return status == PENDING or (status == CLAIMED and lease_expired(lease_expires_at, now))


def claim_order_key(priority: int, sla_due_at: datetime, created_at: datetime, item_id: str) -> tuple[Any, ...]:
    """Sort key of the claim order: highest priority first, then the earliest SLA, then the oldest item.

    The priority already carries expected loss and risk (the policy sets it, escalation raises it); among
    equals the SLA clock decides. The storage adapters order by the same columns.
    """
    return (-priority, sla_due_at, created_at, item_id)


def sla_breached(sla_due_at: datetime, now: datetime, completed_at: datetime | None = None) -> bool:
    """Breached when the item was (or still is not) finished after its due time."""
    return (completed_at or now) > sla_due_at


def sla_state(sla_due_at: datetime, now: datetime, completed_at: datetime | None = None) -> str:
    """``ok`` | ``due_soon`` (under two hours left) | ``breached`` — the console colours rows by it."""
    if sla_breached(sla_due_at, now, completed_at):
        return "breached"
    if completed_at is None and sla_due_at - now <= DUE_SOON:
        return "due_soon"
    return "ok"


def clamp_lease(seconds: float | None) -> timedelta:
    if seconds is None:
        return DEFAULT_LEASE
    return min(MAX_LEASE, max(MIN_LEASE, timedelta(seconds=seconds)))


def status_after(action: str) -> str:
    """Where a decided item goes: approve / reject close it, request_info parks it, escalate requeues it."""
    if action in ("approve", "reject"):
        return DONE
    if action == "request_info":
        return AWAITING_INFO
    if action == "escalate":
        return PENDING
    raise ValueError(f"unknown review action {action!r}")


def escalation_target(queue: str, priority: int, level: int, to_queue: str | None = None) -> tuple[str, int, int]:
    """(queue, priority, level) after an escalation: the supervisors' queue of the same line, served first."""
    target = to_queue or (queue if queue.endswith(SUPERVISOR_SUFFIX) else queue + SUPERVISOR_SUFFIX)
    return target, min(100, priority + ESCALATION_PRIORITY_BOOST), level + 1


def ai_agreement(
    ai_reason_code: str,
    ai_route: str,
    ai_risk_band: str | None,
    *,
    action: str,
    corrected_reason_code: str | None,
    fraud_confirmed: bool | None,
) -> str:
    """``confirms`` or ``overrides``: whether the reviewer kept what the models suggested.

    The models suggest a reason code and, through the risk band, whether fraud is likely; a rejection of a
    case the models saw as low-risk, or a correction of the code, overrides them.
    """
    if corrected_reason_code is not None and corrected_reason_code != ai_reason_code:
        return "overrides"
    risky = ai_risk_band in ("high", "critical")
    if fraud_confirmed is not None and fraud_confirmed != risky and ai_risk_band is not None:
        return "overrides"
    if action == "reject" and ai_route == "auto_approve":
        return "overrides"
    return "confirms"


@dataclass(frozen=True, slots=True)
class ReviewVerdict:
    """What a reviewer decided about one item."""

    action: str
    reviewer: str
    corrected_reason_code: str | None = None
    fraud_confirmed: bool | None = None
    note: str | None = None

    def is_label(self) -> bool:
        """Only a final verdict is a label: escalations and requests for information are not answers."""
        return self.action in ("approve", "reject")


@dataclass(frozen=True, slots=True)
class Outcome:
    """Something learnt about a case after the decision: the ground truth the models are measured on."""

    outcome_id: str
    case_id: str
    kind: str
    occurred_at: datetime
    condition_grade: str | None = None
    confirmed_reason_code: str | None = None
    disposition: str | None = None
    fraud_confirmed: bool | None = None
    amount: float | None = None
    currency: str | None = None
    note: str | None = None


def outcome_problems(outcome: Outcome) -> list[tuple[str, str]]:
    """(field, message) for each thing wrong with an outcome; empty when it can be recorded."""
    problems: list[tuple[str, str]] = []
    if outcome.kind not in OUTCOME_KINDS:
        problems.append(("kind", f"must be one of {', '.join(OUTCOME_KINDS)}"))
    if outcome.disposition is not None and outcome.disposition not in DISPOSITIONS:
        problems.append(("disposition", f"must be one of {', '.join(DISPOSITIONS)}"))
    if outcome.condition_grade is not None and outcome.condition_grade not in CONDITION_GRADES:
        problems.append(("condition_grade", f"must be one of {', '.join(CONDITION_GRADES)}"))
    if outcome.kind == "inspection" and (
        outcome.condition_grade is None and outcome.disposition is None and outcome.confirmed_reason_code is None
    ):
        problems.append(("condition_grade", "an inspection needs a condition grade, a disposition or a reason"))
    if outcome.kind == "fraud" and outcome.fraud_confirmed is None:
        problems.append(("fraud_confirmed", "a fraud outcome says whether fraud was confirmed (true) or cleared"))
    if outcome.kind in ("chargeback", "credit") and outcome.amount is None:
        problems.append(("amount", f"a {outcome.kind} outcome needs the amount"))
    if outcome.amount is not None and outcome.currency is None:
        problems.append(("currency", "an amount needs its currency"))
    return problems
