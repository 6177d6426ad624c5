"""Human review use cases: claim, decide, release, escalate, reassign; record outcomes (labels) of a case."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from returns_triage.errors import InvalidInput, RuleViolation
from returns_triage.serving.domain import review as rules
from returns_triage.serving.domain.model import as_utc, sha256_of
from returns_triage.serving.storage.review_queue import QueueItem, SqlOutcomeStore, SqlReviewQueue

__all__ = ["ReviewService", "OutcomeService"]

# An outcome dated this far in the future is a clock or input error, not a fact.
_FUTURE_TOLERANCE = timedelta(minutes=5)


def _now() -> datetime:
    return datetime.now(UTC)



class ReviewService:
    """The queue as reviewers and supervisors use it. ``override`` marks a supervisor acting without the
    item's token; it is recorded on the item's history and as an ``override`` entry of the decision log.
    ``via`` names the authenticated caller (an API key) acting for the named reviewer; the log records both."""

    def __init__(self, queue: SqlReviewQueue, *, clock: Callable[[], datetime] = _now) -> None:
        self.queue = queue
        self.clock = clock

    def list_items(self, tenant: str, **filters: Any) -> list[QueueItem]:
        if filters.get("status") is not None and filters["status"] not in rules.STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(rules.STATUSES)}", field="status")
        return self.queue.list_items(tenant, now=self.clock(), **filters)

    def get_item(self, tenant: str, item_id: str) -> QueueItem:
        return self.queue.get_item(tenant, item_id)

    def history(self, tenant: str, item_id: str) -> list[dict[str, Any]]:
        self.queue.get_item(tenant, item_id)  # 404 for an unknown item
        return self.queue.events(tenant, item_id)

    def claim(self, tenant: str, queue: str, reviewer: str, *, lease_seconds: float | None = None,
              skills: list[str] | None = None, via: str | None = None) -> QueueItem | None:
        return self.queue.claim(tenant, queue, reviewer, now=self.clock(), lease=rules.clamp_lease(lease_seconds),
                                skills=skills, via=via)

    def renew(self, tenant: str, item_id: str, reviewer: str, token: int, *,
              lease_seconds: float | None = None) -> QueueItem:
        return self.queue.renew(tenant, item_id, reviewer, token=token, now=self.clock(),
                                lease=rules.clamp_lease(lease_seconds))

    def decide(self, tenant: str, item_id: str, verdict: rules.ReviewVerdict, *, token: int | None,
               override: bool = False, via: str | None = None) -> tuple[QueueItem, dict[str, Any]]:
        if verdict.action not in rules.ACTIONS:
            raise InvalidInput(f"action must be one of {', '.join(rules.ACTIONS)}", field="action")
        if not override and token is None:
            raise RuleViolation("token is required (the fencing token from the claim)", field="token")
        return self.queue.decide(tenant, item_id, verdict, token=token, now=self.clock(), override=override,
                                 via=via)

    def release(self, tenant: str, item_id: str, actor: str, *, token: int | None, override: bool = False,
                note: str | None = None, via: str | None = None) -> QueueItem:
        self._need_token(token, override)
        return self.queue.release(tenant, item_id, actor, token=token, now=self.clock(), override=override,
                                  note=note, via=via)

    def escalate(self, tenant: str, item_id: str, actor: str, *, token: int | None, to_queue: str | None = None,
                 override: bool = False, note: str | None = None, via: str | None = None) -> QueueItem:
        self._need_token(token, override)
        return self.queue.escalate(tenant, item_id, actor, token=token, now=self.clock(), to_queue=to_queue,
                                   override=override, note=note, via=via)

    def reassign(self, tenant: str, item_id: str, actor: str, *, token: int | None, to_reviewer: str | None = None,
                 to_queue: str | None = None, lease_seconds: float | None = None, override: bool = False,
                 note: str | None = None, via: str | None = None) -> QueueItem:
        self._need_token(token, override)
        if to_reviewer is None and to_queue is None:
            raise RuleViolation("reassign needs to_reviewer, to_queue or both", field="to_reviewer")
        return self.queue.reassign(tenant, item_id, actor, token=token, now=self.clock(), to_reviewer=to_reviewer,
                                   to_queue=to_queue, lease=rules.clamp_lease(lease_seconds), override=override,
                                   note=note, via=via)

    @staticmethod
    def _need_token(token: int | None, override: bool) -> None:
        if not override and token is None:
            raise RuleViolation("token is required (the fencing token from the claim), or override as a supervisor",
                               field="token")


class OutcomeService:
    """Outcomes from the workflow engine: inspection, fraud, chargeback, credit. Idempotent by outcome_id."""

    def __init__(self, store: SqlOutcomeStore, *, clock: Callable[[], datetime] = _now) -> None:
        self.store = store
        self.clock = clock

    def record(self, tenant: str, outcome: rules.Outcome, request: dict[str, Any], *,
               actor: str = "service:outcomes") -> tuple[dict[str, Any], bool]:
        """(stored outcome, replayed). ``request`` is the body as sent: its hash decides what a replay is.
        ``actor`` (the caller) is who the outcome's audit entry names."""
        now = self.clock()
        outcome = replace(outcome, occurred_at=as_utc(outcome.occurred_at, field="occurred_at"))
        if outcome.kind not in rules.EXTERNAL_OUTCOME_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(rules.EXTERNAL_OUTCOME_KINDS)}", field="kind")
        problems = rules.outcome_problems(outcome)
        if problems:
            raise RuleViolation("; ".join(f"{f}: {m}" for f, m in problems), field=problems[0][0],
                               code="invalid_outcome")
        if outcome.occurred_at > now + _FUTURE_TOLERANCE:
            raise RuleViolation("occurred_at is in the future", field="occurred_at", code="invalid_outcome")
        return self.store.record(tenant, outcome, request_sha256=sha256_of(request), now=now, actor=actor)

    def for_case(self, tenant: str, case_id: str) -> dict[str, Any]:
        return self.store.for_case(tenant, case_id)
