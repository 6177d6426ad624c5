"""HTTP edge of human review and outcomes: ``/v1/review/*``, ``/v1/outcomes``, ``/v1/cases/{id}/outcomes``.

Every call acts for the tenant of the caller's API key. ``override`` (acting without the item's fencing token)
needs the supervisor or admin role; the reviewer's name is still a request field (one key may serve a console
used by several reviewers) and the history records it; the decision log records it with the key it came through.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Response, Router, get, post
from litestar.datastructures import State
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, Parameter
from msgspec import Meta, Struct

from returns_triage.errors import Forbidden
from returns_triage.serving.api.permissions import OVERRIDE_ROLES, sees_pseudonyms
from returns_triage.serving.domain import review as rules
from returns_triage.serving.domain.access import Principal
from returns_triage.serving.service.review import OutcomeService, ReviewService
from returns_triage.serving.storage.review_queue import QueueItem, SqlOutcomeStore, SqlReviewQueue

__all__ = ["review_router"]


Name = Annotated[str, Meta(min_length=1, max_length=128)]
QueueName = Annotated[str, Meta(min_length=1, max_length=64)]
Note = Annotated[str, Meta(max_length=2000)]
ReasonCode = Annotated[str, Meta(pattern="^[A-Z][A-Z0-9_]{0,63}$")]
Token = Annotated[int, Meta(ge=0)]
LeaseSeconds = Annotated[float, Meta(ge=1, le=8 * 3600)]


class ClaimIn(Struct, kw_only=True, forbid_unknown_fields=True):
    queue: QueueName
    reviewer: Name
    lease_seconds: LeaseSeconds | None = None
    skills: Annotated[list[QueueName], Meta(max_length=50)] | None = None


class DecisionIn(Struct, kw_only=True, forbid_unknown_fields=True):
    reviewer: Name
    action: Literal["approve", "reject", "request_info", "escalate"]
    token: Token | None = None
    corrected_reason_code: ReasonCode | None = None
    fraud_confirmed: bool | None = None
    note: Note | None = None
    override: bool = False


class ReleaseIn(Struct, kw_only=True, forbid_unknown_fields=True):
    reviewer: Name
    token: Token | None = None
    note: Note | None = None
    override: bool = False


class EscalateIn(Struct, kw_only=True, forbid_unknown_fields=True):
    reviewer: Name
    token: Token | None = None
    to_queue: QueueName | None = None
    note: Note | None = None
    override: bool = False


class ReassignIn(Struct, kw_only=True, forbid_unknown_fields=True):
    reviewer: Name
    token: Token | None = None
    to_reviewer: Name | None = None
    to_queue: QueueName | None = None
    lease_seconds: LeaseSeconds | None = None
    note: Note | None = None
    override: bool = False


class RenewIn(Struct, kw_only=True, forbid_unknown_fields=True):
    reviewer: Name
    token: Token
    lease_seconds: LeaseSeconds | None = None


class OutcomeIn(Struct, kw_only=True, forbid_unknown_fields=True):
    outcome_id: Name
    case_id: Name
    kind: Literal["inspection", "fraud", "chargeback", "credit"]
    occurred_at: datetime
    condition_grade: Literal["new", "like_new", "good", "fair", "damaged", "unusable"] | None = None
    confirmed_reason_code: ReasonCode | None = None
    disposition: Literal["restock", "refurbish", "quarantine", "vendor_claim", "scrap"] | None = None
    fraud_confirmed: bool | None = None
    amount: Annotated[float, Meta(ge=0, le=1e9)] | None = None
    currency: Annotated[str, Meta(pattern="^[A-Z]{3}$")] | None = None
    note: Note | None = None


class ItemOut(Struct):
    item_id: str
    case_id: str
    decision_id: str
    queue: str
    skill: str | None
    priority: int
    status: str
    sla_due_at: datetime
    sla_state: str
    breached: bool
    created_at: datetime
    claimed_by: str | None
    lease_expires_at: datetime | None
    escalation_level: int
    completed_at: datetime | None


class ClaimOut(Struct):
    """A claimed item and the fencing token every later change of it must carry."""

    item: ItemOut
    token: int
    lease_expires_at: datetime


class ItemList(Struct):
    items: list[ItemOut]


class DecisionOut(Struct):
    item: ItemOut
    review_decision: dict[str, Any]


class OutcomeOut(Struct):
    outcome_id: str
    case_id: str
    decision_id: str | None
    kind: str
    source: str
    occurred_at: datetime
    received_at: datetime
    out_of_order: bool
    condition_grade: str | None = None
    confirmed_reason_code: str | None = None
    disposition: str | None = None
    fraud_confirmed: bool | None = None
    amount: float | None = None
    currency: str | None = None
    note: str | None = None


def _engine(state: State) -> Any:
    return state.ctx.engine


def _reviews(state: State) -> ReviewService:
    return ReviewService(SqlReviewQueue(_engine(state)))


def _outcomes(state: State) -> OutcomeService:
    return OutcomeService(SqlOutcomeStore(_engine(state)))


def _item_out(item: QueueItem, now: datetime) -> ItemOut:
    state = item.sla_state(now)
    return ItemOut(
        item_id=item.item_id, case_id=item.case_id, decision_id=item.decision_id, queue=item.queue, skill=item.skill,
        priority=item.priority, status=item.status, sla_due_at=item.sla_due_at, sla_state=state,
        breached=state == "breached", created_at=item.created_at, claimed_by=item.claimed_by,
        lease_expires_at=item.lease_expires_at, escalation_level=item.escalation_level,
        completed_at=item.completed_at,
    )


def _claim_out(item: QueueItem, now: datetime) -> ClaimOut:
    assert item.lease_expires_at is not None
    return ClaimOut(item=_item_out(item, now), token=item.fencing_token, lease_expires_at=item.lease_expires_at)


def _may_override(principal: Principal, override: bool) -> None:
    if override and principal.role not in OVERRIDE_ROLES:
        raise Forbidden(f"override needs the supervisor role; this key is {principal.role}", code="override_forbidden")


def _outcome_out(stored: dict[str, Any]) -> OutcomeOut:
    fields = {k: v for k, v in stored.items() if k in OutcomeOut.__struct_fields__}
    return OutcomeOut(**fields)


@get("/review/items", sync_to_thread=True, summary="Review items in claim order", tags=["review"])
def list_items(
    state: State,
    principal: Principal,
    queue: str | None = None,
    status: Literal["pending", "claimed", "done", "awaiting_info"] | None = None,
    breached: bool | None = None,
    claimed_by: str | None = None,
    limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
) -> ItemList:
    service = _reviews(state)
    items = service.list_items(principal.tenant, queue=queue, status=status, breached=breached,
                               claimed_by=claimed_by, limit=limit)
    now = service.clock()
    return ItemList(items=[_item_out(i, now) for i in items])


@get("/review/items/{item_id:str}", sync_to_thread=True, summary="One review item", tags=["review"])
def get_item(item_id: str, state: State, principal: Principal) -> ItemOut:
    service = _reviews(state)
    return _item_out(service.get_item(principal.tenant, item_id), service.clock())


@get("/review/items/{item_id:str}/history", sync_to_thread=True, tags=["review"],
     summary="Every claim, release, escalation, reassignment, override and decision of an item")
def item_history(item_id: str, state: State, principal: Principal) -> dict[str, Any]:
    return {"item_id": item_id, "events": _reviews(state).history(principal.tenant, item_id)}


@post("/review/claim", sync_to_thread=True, status_code=200, tags=["review"],
      responses={204: ResponseSpec(data_container=None, description="Nothing claimable in that queue")},
      summary="Claim the most urgent claimable item of a queue",
      description="Returns the item, its fencing token and the lease expiry; 204 when nothing is claimable.")
def claim(data: JSONBody[ClaimIn], state: State, principal: Principal) -> Response[Any]:
    service = _reviews(state)
    item = service.claim(principal.tenant, data.queue, data.reviewer, lease_seconds=data.lease_seconds,
                         skills=data.skills, via=principal.actor)
    if item is None:
        return Response(content=b"", status_code=204)
    return Response(content=_claim_out(item, service.clock()), status_code=200)


@post("/review/items/{item_id:str}/decision", sync_to_thread=True, status_code=200, tags=["review"],
      summary="Decide a claimed item (409 with a stale token)")
def decide(item_id: str, data: JSONBody[DecisionIn], state: State, principal: Principal) -> DecisionOut:
    _may_override(principal, data.override)
    service = _reviews(state)
    verdict = rules.ReviewVerdict(action=data.action, reviewer=data.reviewer,
                                  corrected_reason_code=data.corrected_reason_code,
                                  fraud_confirmed=data.fraud_confirmed, note=data.note)
    item, stored = service.decide(principal.tenant, item_id, verdict, token=data.token, override=data.override,
                                  via=principal.actor)
    return DecisionOut(item=_item_out(item, service.clock()), review_decision=stored)


@post("/review/items/{item_id:str}/renew", sync_to_thread=True, status_code=200, tags=["review"],
      summary="Extend the holder's lease")
def renew(item_id: str, data: JSONBody[RenewIn], state: State, principal: Principal) -> ClaimOut:
    service = _reviews(state)
    item = service.renew(principal.tenant, item_id, data.reviewer, data.token, lease_seconds=data.lease_seconds)
    return _claim_out(item, service.clock())


@post("/review/items/{item_id:str}/release", sync_to_thread=True, status_code=200, tags=["review"],
      summary="Give a claimed item back to its queue")
def release(item_id: str, data: JSONBody[ReleaseIn], state: State, principal: Principal) -> ItemOut:
    _may_override(principal, data.override)
    service = _reviews(state)
    item = service.release(principal.tenant, item_id, data.reviewer, token=data.token, override=data.override,
                           note=data.note, via=principal.actor)
    return _item_out(item, service.clock())


@post("/review/items/{item_id:str}/escalate", sync_to_thread=True, status_code=200, tags=["review"],
      summary="Move an item to the supervisors' queue (or another), raised in priority")
def escalate(item_id: str, data: JSONBody[EscalateIn], state: State, principal: Principal) -> ItemOut:
    _may_override(principal, data.override)
    service = _reviews(state)
    item = service.escalate(principal.tenant, item_id, data.reviewer, token=data.token, to_queue=data.to_queue,
                            override=data.override, note=data.note, via=principal.actor)
    return _item_out(item, service.clock())


@post("/review/items/{item_id:str}/reassign", sync_to_thread=True, status_code=200, tags=["review"],
      summary="Hand an item to another reviewer (it gets a new token) or move it to another queue")
def reassign(item_id: str, data: JSONBody[ReassignIn], state: State, principal: Principal) -> Response[Any]:
    _may_override(principal, data.override)
    service = _reviews(state)
    item = service.reassign(principal.tenant, item_id, data.reviewer, token=data.token,
                            to_reviewer=data.to_reviewer,
                            to_queue=data.to_queue, lease_seconds=data.lease_seconds, override=data.override,
                            note=data.note, via=principal.actor)
    now = service.clock()
    return Response(_claim_out(item, now) if item.status == rules.CLAIMED else _item_out(item, now))


@post("/outcomes", sync_to_thread=True, status_code=201, tags=["outcomes"],
      summary="Record an outcome of a case (idempotent by outcome_id)",
      description="Same outcome_id and body: the same response again (Idempotent-Replayed: true). "
      "Same outcome_id, different body: 422. Unknown case: 404.")
def record_outcome(data: JSONBody[OutcomeIn], state: State, principal: Principal) -> Response[OutcomeOut]:
    outcome = rules.Outcome(
        outcome_id=data.outcome_id, case_id=data.case_id, kind=data.kind, occurred_at=data.occurred_at,
        condition_grade=data.condition_grade, confirmed_reason_code=data.confirmed_reason_code,
        disposition=data.disposition, fraud_confirmed=data.fraud_confirmed, amount=data.amount,
        currency=data.currency, note=data.note,
    )
    stored, replayed = _outcomes(state).record(principal.tenant, outcome, msgspec.to_builtins(data),
                                               actor=principal.actor)
    return Response(_outcome_out(stored), status_code=201,
                    headers={"Idempotent-Replayed": "true"} if replayed else {})


@get("/cases/{case_id:str}/outcomes", sync_to_thread=True, tags=["outcomes"],
     summary="A case's decisions, review decisions and outcomes (each outcome says whether it is current)")
def case_outcomes(case_id: str, state: State, principal: Principal) -> dict[str, Any]:
    result = _outcomes(state).for_case(principal.tenant, case_id)
    return state.ctx.pseudonymiser.apply(result) if sees_pseudonyms(principal) else result  # type: ignore[no-any-return]


def review_router() -> Router:
    """The review and outcomes routes, mounted under ``/v1`` by ``create_app``."""
    return Router(path="/v1", route_handlers=[list_items, get_item, item_history, claim, decide, renew, release,
                                              escalate, reassign, record_outcome, case_outcomes])
