"""Where webhooks are stored: subscriptions, the transactional outbox of events, and their deliveries.

``enqueue_event`` is called inside the transaction that records the fact (a decision, a review decision, an
outcome), so an event exists if and only if its fact committed. The worker then fans each event out into one
delivery per active subscription and claims due deliveries with a short lease (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL; SQLite serialises writers with ``BEGIN IMMEDIATE``), so two workers never send the same attempt.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from returns_triage.errors import NotFound
from returns_triage.serving.domain import review as review_rules
from returns_triage.serving.domain import webhooks as rules
from returns_triage.serving.storage.tables import cases, webhook_deliveries, webhook_events, webhook_subscriptions

__all__ = ["DueDelivery", "SqlWebhookStore", "enqueue_event", "enqueue_events", "event_row", "enqueue_review_decided",
           "PENDING", "DELIVERED", "DEAD"]

PENDING = "pending"
DELIVERED = "delivered"
DEAD = "dead"

_d = webhook_deliveries.c
_s = webhook_subscriptions.c
_e = webhook_events.c


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def enqueue_event(conn: Connection, *, tenant: str, event: str, data: dict[str, Any], now: datetime) -> str:
    """Write one event to the outbox, in the caller's transaction. Returns the event id."""
    event_id = str(uuid.uuid4())
    conn.execute(webhook_events.insert().values(
        event_id=event_id, tenant=tenant, event=event, created_at=now,
        body=rules.event_body(event_id, event, tenant, now, data)))
    return event_id


def event_row(*, tenant: str, event: str, data: dict[str, Any], now: datetime) -> dict[str, Any]:
    """One outbox row, body serialised now (it is fixed when written), for :func:`enqueue_events`."""
    event_id = str(uuid.uuid4())
    return {"event_id": event_id, "tenant": tenant, "event": event, "created_at": now,
            "body": rules.event_body(event_id, event, tenant, now, data)}


_INSERT_EVENT = webhook_events.insert()


def enqueue_events(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Write several outbox rows (from :func:`event_row`) in one statement, in the caller's transaction."""
    if rows:
        conn.execute(_INSERT_EVENT, rows)


def enqueue_review_decided(conn: Connection, *, tenant: str, case_ref: str, item_status: str,
                           review_decision: dict[str, Any], now: datetime) -> str | None:
    """``review.completed`` when a decision takes the item off the queue (done, or awaiting information)."""
    if item_status not in review_rules.CLOSED_STATUSES:
        return None
    case_id = conn.execute(select(cases.c.case_id).where(cases.c.id == case_ref)).scalar_one()
    data = {**review_decision, "case_id": case_id, "status": item_status}
    return enqueue_event(conn, tenant=tenant, event=rules.REVIEW_COMPLETED, data=data, now=now)


@dataclass(frozen=True, slots=True)
class DueDelivery:
    delivery_id: str
    event_id: str
    url: str
    secret: str
    body: bytes
    attempts: int


def _delivery(row: Any) -> dict[str, Any]:
    out = row._asdict()
    for k in ("next_attempt_at", "delivered_at", "created_at"):
        out[k] = _utc(out[k])
    return out


def _subscription(row: Any) -> dict[str, Any]:
    out = row._asdict()
    out["created_at"] = _utc(out["created_at"])
    return out


_DELIVERY_COLUMNS = (_d.delivery_id, _d.event_id, _d.subscription_id, _e.event, _d.status, _d.attempts,
                     _d.next_attempt_at, _d.last_status_code, _d.last_error, _d.delivered_at, _d.created_at)
_SUBSCRIPTION_COLUMNS = (_s.subscription_id, _s.event, _s.url, _s.active, _s.created_at)


class SqlWebhookStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- subscriptions -------------------------------------------------------------------------------------

    def create_subscription(self, tenant: str, *, event: str, url: str, secret: str, now: datetime) -> dict[str, Any]:
        subscription_id = str(uuid.uuid4())
        with self.engine.begin() as conn:
            conn.execute(webhook_subscriptions.insert().values(
                subscription_id=subscription_id, tenant=tenant, event=event, url=url, secret=secret, active=True,
                created_at=now))
        return self.get_subscription(tenant, subscription_id)

    def get_subscription(self, tenant: str, subscription_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(select(*_SUBSCRIPTION_COLUMNS).where(
                _s.tenant == tenant, _s.subscription_id == subscription_id)).first()
        if row is None:
            raise NotFound(f"webhook subscription {subscription_id} not found")
        return _subscription(row)

    def list_subscriptions(self, tenant: str, *, event: str | None = None) -> list[dict[str, Any]]:
        query = select(*_SUBSCRIPTION_COLUMNS).where(_s.tenant == tenant, _s.active.is_(True))
        if event is not None:
            query = query.where(_s.event == event)
        with self.engine.connect() as conn:
            return [_subscription(r) for r in conn.execute(query.order_by(_s.created_at, _s.subscription_id))]

    def update_subscription(self, tenant: str, subscription_id: str, **values: Any) -> dict[str, Any]:
        """Change ``url``, ``secret`` or ``active``; pending deliveries use the new values on their next try."""
        values = {k: v for k, v in values.items() if v is not None}
        with self.engine.begin() as conn:
            done = conn.execute(update(webhook_subscriptions).where(
                _s.tenant == tenant, _s.subscription_id == subscription_id).values(**values)) if values else None
        if done is not None and done.rowcount != 1:
            raise NotFound(f"webhook subscription {subscription_id} not found")
        return self.get_subscription(tenant, subscription_id)

    def delete_subscription(self, tenant: str, subscription_id: str) -> None:
        """Deactivate: past deliveries keep their subscription for the record; no new ones are made."""
        self.update_subscription(tenant, subscription_id, active=False)

    # -- the worker's side -----------------------------------------------------------------------------------

    def fan_out(self, *, now: datetime, limit: int = 500) -> int:
        """Turn outbox events into one pending delivery per active subscription of their type."""
        made = 0
        with self.engine.begin() as conn:
            events = conn.execute(
                select(_e.event_id, _e.tenant, _e.event).where(_e.fanned_out_at.is_(None))
                .order_by(_e.created_at, _e.event_id).limit(limit).with_for_update(skip_locked=True)
            ).all()
            for ev in events:
                subs = conn.execute(select(_s.subscription_id).where(
                    _s.tenant == ev.tenant, _s.event == ev.event, _s.active.is_(True))).scalars().all()
                rows = [{"delivery_id": str(uuid.uuid4()), "tenant": ev.tenant, "event_id": ev.event_id,
                         "subscription_id": sub, "status": PENDING, "attempts": 0, "next_attempt_at": now,
                         "created_at": now} for sub in subs]
                if rows:
                    conn.execute(webhook_deliveries.insert(), rows)
                made += len(rows)
            if events:
                conn.execute(update(webhook_events).where(_e.event_id.in_([e.event_id for e in events]))
                             .values(fanned_out_at=now))
        return made

    def claim_due(self, *, now: datetime, lease: timedelta, limit: int = 50) -> list[DueDelivery]:
        """Take due deliveries for one attempt: their next attempt moves ``lease`` ahead while this worker
        sends, so a worker that dies mid-send only delays them."""
        with self.engine.begin() as conn:
            ids = conn.execute(
                select(_d.delivery_id).where(_d.status == PENDING, _d.next_attempt_at <= now)
                .order_by(_d.next_attempt_at, _d.delivery_id).limit(limit).with_for_update(skip_locked=True)
            ).scalars().all()
            if not ids:
                return []
            conn.execute(update(webhook_deliveries).where(_d.delivery_id.in_(ids))
                         .values(next_attempt_at=now + lease))
            rows = conn.execute(
                select(_d.delivery_id, _d.event_id, _d.attempts, _s.url, _s.secret, _s.active, _e.body)
                .join(webhook_subscriptions, _s.subscription_id == _d.subscription_id)
                .join(webhook_events, _e.event_id == _d.event_id)
                .where(_d.delivery_id.in_(ids))
            ).all()
            inactive = [r.delivery_id for r in rows if not r.active]
            if inactive:
                conn.execute(update(webhook_deliveries).where(_d.delivery_id.in_(inactive))
                             .values(status=DEAD, last_error="subscription deactivated"))
        return [DueDelivery(r.delivery_id, r.event_id, r.url, r.secret, r.body.encode(), r.attempts)
                for r in rows if r.active]

    def record_success(self, delivery_id: str, *, status_code: int, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(webhook_deliveries).where(_d.delivery_id == delivery_id, _d.status == PENDING)
                         .values(status=DELIVERED, attempts=_d.attempts + 1, last_status_code=status_code,
                                 last_error=None, delivered_at=now))

    def record_failure(self, delivery_id: str, *, error: str, status_code: int | None, now: datetime,
                       retry_at: datetime | None) -> None:
        """One failed attempt; ``retry_at`` None dead-letters the delivery."""
        values: dict[str, Any] = {"attempts": _d.attempts + 1, "last_status_code": status_code,
                                  "last_error": error[:500]}
        if retry_at is None:
            values["status"] = DEAD
        else:
            values["next_attempt_at"] = retry_at
        with self.engine.begin() as conn:
            conn.execute(update(webhook_deliveries).where(_d.delivery_id == delivery_id, _d.status == PENDING)
                         .values(**values))

    # -- operators ---------------------------------------------------------------------------------------------

    def list_deliveries(self, tenant: str, *, status: str | None = None, event_id: str | None = None,
                        limit: int = 100) -> list[dict[str, Any]]:
        query = (select(*_DELIVERY_COLUMNS).join(webhook_events, _e.event_id == _d.event_id)
                 .where(_d.tenant == tenant))
        if status is not None:
            query = query.where(_d.status == status)
        if event_id is not None:
            query = query.where(_d.event_id == event_id)
        with self.engine.connect() as conn:
            return [_delivery(r) for r in conn.execute(query.order_by(_d.created_at, _d.delivery_id).limit(limit))]

    def get_delivery(self, tenant: str, delivery_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(select(*_DELIVERY_COLUMNS).join(webhook_events, _e.event_id == _d.event_id)
                               .where(_d.tenant == tenant, _d.delivery_id == delivery_id)).first()
        if row is None:
            raise NotFound(f"webhook delivery {delivery_id} not found")
        return _delivery(row)

    def redeliver(self, tenant: str, delivery_id: str, *, now: datetime) -> dict[str, Any]:
        """Send again now with a fresh attempt budget (a dead letter, or a delivered one a receiver lost)."""
        with self.engine.begin() as conn:
            done = conn.execute(update(webhook_deliveries)
                                .where(_d.tenant == tenant, _d.delivery_id == delivery_id)
                                .values(status=PENDING, attempts=0, next_attempt_at=now, delivered_at=None))
        if done.rowcount != 1:
            raise NotFound(f"webhook delivery {delivery_id} not found")
        return self.get_delivery(tenant, delivery_id)
