"""The webhook delivery worker: fans outbox events out to subscriptions and POSTs them, signed, until each is
delivered or dead-lettered. Delivery is at least once; receivers dedupe by ``Webhook-Id`` (the event id).

Run it with ``triage worker webhooks``; any number of workers may share one database.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import Engine

from returns_triage.serving.domain import webhooks as rules
from returns_triage.serving.storage.webhooks import DueDelivery, SqlWebhookStore

__all__ = ["DeliveryPolicy", "RoundResult", "WebhookWorker"]

log = logging.getLogger("returns_triage.webhooks")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How hard to try. The defaults span about a day: 12 attempts, 30 s doubling up to 6 h."""

    max_attempts: int = 12
    backoff_base_seconds: float = 30.0
    backoff_cap_seconds: float = 6 * 3600.0
    timeout_seconds: float = 10.0
    batch_size: int = 50
    concurrency: int = 8

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.backoff_base_seconds <= 0 or self.timeout_seconds <= 0:
            raise ValueError("max_attempts >= 1, backoff_base_seconds > 0 and timeout_seconds > 0")

    @property
    def lease(self) -> timedelta:
        # Long enough that a send in flight is never claimed again by another worker.
        return timedelta(seconds=self.timeout_seconds * 3 + 5)


@dataclass(slots=True)
class RoundResult:
    fanned_out: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0

    @property
    def attempted(self) -> int:
        return self.delivered + self.failed + self.dead


class WebhookWorker:
    def __init__(self, engine: Engine, *, policy: DeliveryPolicy | None = None,
                 client: httpx.Client | None = None, clock: Callable[[], datetime] = _now,
                 rng: random.Random | None = None) -> None:
        self.store = SqlWebhookStore(engine)
        self.policy = policy or DeliveryPolicy()
        self.client = client or httpx.Client(timeout=self.policy.timeout_seconds, follow_redirects=False)
        self.clock = clock
        self.rng = rng or random.Random()
        self._rng_lock = threading.Lock()

    def close(self) -> None:
        self.client.close()

    def run_once(self) -> RoundResult:
        """One round: fan out new events, then one attempt for every delivery that is due."""
        result = RoundResult(fanned_out=self.store.fan_out(now=self.clock()))
        due = self.store.claim_due(now=self.clock(), lease=self.policy.lease, limit=self.policy.batch_size)
        if not due:
            return result
        with ThreadPoolExecutor(max_workers=min(self.policy.concurrency, len(due))) as pool:
            for outcome in pool.map(self._attempt, due):
                setattr(result, outcome, getattr(result, outcome) + 1)
        return result

    def run(self, stop: threading.Event, *, idle_seconds: float = 1.0) -> None:
        """Deliver until ``stop`` is set; sleeps ``idle_seconds`` whenever a round found nothing to do."""
        while not stop.is_set():
            try:
                busy = self.run_once().attempted > 0
            except Exception:  # noqa: BLE001 - a database blip must not kill the worker; the next round retries
                log.exception("webhook round failed")
                busy = False
            if not busy:
                stop.wait(idle_seconds)

    def _attempt(self, delivery: DueDelivery) -> str:
        timestamp = int(time.time())
        headers = rules.signature_headers(delivery.event_id, delivery.secret, timestamp, delivery.body)
        headers["User-Agent"] = "returns-triage-webhooks/1"
        status: int | None = None
        try:
            response = self.client.post(delivery.url, content=delivery.body, headers=headers)
            status = response.status_code
            if 200 <= status < 300:
                self.store.record_success(delivery.delivery_id, status_code=status, now=self.clock())
                return "delivered"
            error = f"HTTP {status}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        attempts = delivery.attempts + 1
        if attempts >= self.policy.max_attempts:
            log.warning("webhook delivery %s dead after %d attempts: %s", delivery.delivery_id, attempts, error)
            self.store.record_failure(delivery.delivery_id, error=error, status_code=status, now=self.clock(),
                                      retry_at=None)
            return "dead"
        with self._rng_lock:
            delay = rules.backoff_seconds(attempts, base=self.policy.backoff_base_seconds,
                                          cap=self.policy.backoff_cap_seconds, rng=self.rng)
        now = self.clock()
        self.store.record_failure(delivery.delivery_id, error=error, status_code=status, now=now,
                                  retry_at=now + timedelta(seconds=delay))
        return "failed"
