"""HTTP edge of webhooks: subscription CRUD under ``/v1/webhooks/subscriptions``, deliveries and redelivery.

The secret is shown once, in the response that creates (or rotates) it; reads never return it.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from litestar import Router, delete, get, patch, post
from litestar.datastructures import State
from litestar.params import JSONBody, Parameter
from msgspec import Meta, Struct

from returns_triage.errors import InvalidInput, RuleViolation
from returns_triage.serving.domain.access import Principal
from returns_triage.serving.storage.webhooks import SqlWebhookStore

__all__ = ["webhook_router"]

Event = Literal["decision.created", "review.completed", "outcome.recorded", "monitoring.alert"]
Url = Annotated[str, Meta(min_length=8, max_length=2000, pattern="^https?://")]
Secret = Annotated[str, Meta(min_length=16, max_length=128)]


class SubscriptionIn(Struct, kw_only=True, forbid_unknown_fields=True):
    event: Event
    url: Url
    secret: Secret | None = None


class SubscriptionPatch(Struct, kw_only=True, forbid_unknown_fields=True):
    url: Url | None = None
    secret: Secret | None = None
    active: bool | None = None


class SubscriptionOut(Struct, kw_only=True, omit_defaults=True):
    subscription_id: str
    event: str
    url: str
    active: bool
    created_at: datetime
    secret: str | None = None


class SubscriptionList(Struct):
    subscriptions: list[SubscriptionOut]


class DeliveryOut(Struct):
    delivery_id: str
    event_id: str
    subscription_id: str
    event: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


class DeliveryList(Struct):
    deliveries: list[DeliveryOut]


def _store(state: State) -> SqlWebhookStore:
    return SqlWebhookStore(state.ctx.engine)


def _sub_out(row: dict[str, Any], secret: str | None = None) -> SubscriptionOut:
    return SubscriptionOut(subscription_id=row["subscription_id"], event=row["event"], url=row["url"],
                           active=row["active"], created_at=row["created_at"], secret=secret)


def _now() -> datetime:
    return datetime.now(UTC)


@post("/subscriptions", sync_to_thread=True, status_code=201, summary="Subscribe a URL to one event",
      description="The response carries the signing secret (generated unless given); it is not shown again.")
def create_subscription(data: JSONBody[SubscriptionIn], state: State, principal: Principal) -> SubscriptionOut:
    secret = data.secret or "whsec_" + secrets.token_urlsafe(32)
    row = _store(state).create_subscription(principal.tenant, event=data.event, url=data.url, secret=secret,
                                            now=_now())
    return _sub_out(row, secret)


@get("/subscriptions", sync_to_thread=True, summary="Active subscriptions")
def list_subscriptions(state: State, principal: Principal, event: Event | None = None) -> SubscriptionList:
    return SubscriptionList([_sub_out(r) for r in _store(state).list_subscriptions(principal.tenant, event=event)])


@get("/subscriptions/{subscription_id:str}", sync_to_thread=True, summary="One subscription")
def get_subscription(subscription_id: str, state: State, principal: Principal) -> SubscriptionOut:
    return _sub_out(_store(state).get_subscription(principal.tenant, subscription_id))


@patch("/subscriptions/{subscription_id:str}", sync_to_thread=True, summary="Change the URL, rotate the secret, "
       "pause or resume")
def update_subscription(subscription_id: str, data: JSONBody[SubscriptionPatch], state: State,
                        principal: Principal) -> SubscriptionOut:
    if data.url is None and data.secret is None and data.active is None:
        raise RuleViolation("nothing to change: give url, secret or active", field="body")
    row = _store(state).update_subscription(principal.tenant, subscription_id, url=data.url, secret=data.secret,
                                            active=data.active)
    return _sub_out(row, data.secret)


@delete("/subscriptions/{subscription_id:str}", sync_to_thread=True, status_code=204,
        summary="Unsubscribe (pending deliveries to it are dropped)")
def delete_subscription(subscription_id: str, state: State, principal: Principal) -> None:
    _store(state).delete_subscription(principal.tenant, subscription_id)


@get("/deliveries", sync_to_thread=True, summary="Deliveries, e.g. the dead letters (status=dead)")
def list_deliveries(
    state: State,
    principal: Principal,
    status: Literal["pending", "delivered", "dead"] | None = None,
    event_id: str | None = None,
    limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
) -> DeliveryList:
    rows = _store(state).list_deliveries(principal.tenant, status=status, event_id=event_id, limit=limit)
    return DeliveryList([DeliveryOut(**r) for r in rows])


@get("/deliveries/{delivery_id:str}", sync_to_thread=True, summary="One delivery and its last attempt")
def get_delivery(delivery_id: str, state: State, principal: Principal) -> DeliveryOut:
    return DeliveryOut(**_store(state).get_delivery(principal.tenant, delivery_id))


@post("/deliveries/{delivery_id:str}/redeliver", sync_to_thread=True, status_code=202,
      summary="Send a delivery again now, with a fresh attempt budget",
      description="For a dead letter after the receiver is fixed, or a delivered event the receiver lost. "
      "The body and Webhook-Id are unchanged; the timestamp and signature are new.")
def redeliver(delivery_id: str, state: State, principal: Principal) -> DeliveryOut:
    return DeliveryOut(**_store(state).redeliver(principal.tenant, delivery_id, now=_now()))


def webhook_router() -> Router:
    """Mounted at ``/v1/webhooks`` by ``create_app``."""
    return Router(path="/v1/webhooks", tags=["webhooks"], route_handlers=[
        create_subscription, list_subscriptions, get_subscription, update_subscription, delete_subscription,
        list_deliveries, get_delivery, redeliver])

