"""Rules of outgoing webhooks: the events, how a payload is signed and verified, and when to retry.

Standard library only. A delivery carries three headers: ``Webhook-Id`` (the event id: the same on every attempt,
so a receiver dedupes by it), ``Webhook-Timestamp`` (Unix seconds of this attempt) and ``Webhook-Signature``
(``v1=`` + hex HMAC-SHA256 with the subscription's secret over ``"{timestamp}." + body``). Signing the timestamp
with the body lets a receiver refuse a captured request replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from datetime import datetime
from typing import Any, Final

__all__ = [
    "EVENTS",
    "DECISION_CREATED",
    "REVIEW_COMPLETED",
    "OUTCOME_RECORDED",
    "MONITORING_ALERT",
    "SIGNATURE_VERSION",
    "DEFAULT_TOLERANCE_SECONDS",
    "event_body",
    "sign",
    "signature_headers",
    "verify",
    "backoff_seconds",
]

DECISION_CREATED: Final = "decision.created"
REVIEW_COMPLETED: Final = "review.completed"
OUTCOME_RECORDED: Final = "outcome.recorded"
MONITORING_ALERT: Final = "monitoring.alert"  # written by `triage monitor` (serving/storage/monitoring.py)
EVENTS: Final = (DECISION_CREATED, REVIEW_COMPLETED, OUTCOME_RECORDED, MONITORING_ALERT)

SIGNATURE_VERSION: Final = "v1"
DEFAULT_TOLERANCE_SECONDS: Final = 300


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def event_body(event_id: str, event: str, tenant: str, created_at: datetime, data: dict[str, Any]) -> str:
    """The JSON a subscriber receives; fixed when the event is written, identical on every attempt."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    return json.dumps({"id": event_id, "type": event, "tenant": tenant, "created_at": created_at.isoformat(),
                       "data": data}, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_json_default)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


def signature_headers(event_id: str, secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {"Webhook-Id": event_id, "Webhook-Timestamp": str(timestamp),
            "Webhook-Signature": sign(secret, timestamp, body), "Content-Type": "application/json"}


def verify(secret: str, headers: dict[str, str], body: bytes, *, now: float,
           tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent. ``headers`` keys are matched
    case-insensitively; a header may carry several space-separated signatures (during a secret rotation)."""
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        timestamp = int(lower["webhook-timestamp"])
        offered = lower["webhook-signature"].split()
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in offered)


def backoff_seconds(attempts: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Delay before the next attempt after ``attempts`` failures: exponential, capped, with jitter.

    Half the delay is fixed and half random ("equal jitter"): receivers coming back from an outage are not hit
    by every sender at the same instant, and no retry is ever immediate.
    """
    ceiling = min(cap, base * (2 ** max(0, attempts - 1)))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)
