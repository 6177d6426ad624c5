"""Webhooks over both real backends: the outbox commits with its fact, and a receiver that was down gets every
event exactly once (by event id), correctly signed, once it is back; dead letters can be redelivered."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import func, select

from returns_triage.serving.domain import webhooks as rules
from returns_triage.serving.domain.review import Outcome, ReviewVerdict
from returns_triage.serving.storage import SqlDecisionStore
from returns_triage.serving.storage.review_queue import SqlOutcomeStore, SqlReviewQueue
from returns_triage.serving.storage.tables import webhook_events
from returns_triage.serving.storage.webhooks import SqlWebhookStore
from returns_triage.serving.workers.webhooks import DeliveryPolicy, WebhookWorker
from tests.integration.test_storage import _decision, _item

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
SECRET = "whsec_test-secret-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver:
    """A subscriber's endpoint: verifies each signature, dedupes by Webhook-Id, and can fail on purpose."""

    def __init__(self, port: int, secret: str, *, fail_first: int = 0) -> None:
        self.port, self.secret, self.fail_first = port, secret, fail_first
        self.requests: list[dict] = []
        self.accepted: dict[str, dict] = {}
        self.bad_signatures = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k: v for k, v in self.headers.items()}
                with receiver.lock:
                    receiver.requests.append(headers)
                    if not rules.verify(receiver.secret, headers, body, now=time.time()):
                        receiver.bad_signatures += 1
                        status = 401
                    elif len(receiver.requests) <= receiver.fail_first:
                        status = 503  # processed nothing, asks for a retry
                    else:
                        event = json.loads(body)
                        assert event["id"] == headers["Webhook-Id"]
                        receiver.accepted.setdefault(event["id"], event)  # the dedupe a receiver does
                        status = 204
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _make_events(engine, n: int) -> None:  # type: ignore[no-untyped-def]
    """n decisions queued for review, each decided by a reviewer, and an inspection outcome per case:
    3n events, each written by the store call that records its fact."""
    store, queue, outcomes = SqlDecisionStore(engine), SqlReviewQueue(engine), SqlOutcomeStore(engine)
    for i in range(n):
        d = _decision(f"d-{i}", case_id=f"RMA-{i}")
        store.save_decision(d, _item(d), idempotency_key=f"k{i}", request_sha256="h", status_code=200, body=b"{}")
    for i in range(n):
        claimed = queue.claim("default", "q", "ann", now=NOW)
        assert claimed is not None
        queue.decide("default", claimed.item_id, ReviewVerdict(action="approve", reviewer="ann"),
                     token=claimed.fencing_token, now=NOW)
    for i in range(n):
        outcomes.record("default", Outcome(outcome_id=f"insp-{i}", case_id=f"RMA-{i}", kind="inspection",
                                           occurred_at=NOW, condition_grade="good", disposition="restock"),
                        request_sha256=f"r{i}", now=NOW)


def _subscribe_all(engine, url: str) -> None:  # type: ignore[no-untyped-def]
    store = SqlWebhookStore(engine)
    for event in rules.EVENTS:
        store.create_subscription("default", event=event, url=url, secret=SECRET, now=NOW)


def test_the_outbox_row_commits_with_its_fact_and_only_then(backend) -> None:  # type: ignore[no-untyped-def]
    store = SqlDecisionStore(backend)
    d = _decision("d-1")
    store.save_decision(d, _item(d), idempotency_key="k", request_sha256="h", status_code=200, body=b"{}")
    with pytest.raises(Exception):  # same key: the whole transaction, outbox row included, rolls back
        store.save_decision(_decision("d-2"), None, idempotency_key="k", request_sha256="h", status_code=200,
                            body=b"{}")
    outcomes = SqlOutcomeStore(backend)
    o = Outcome(outcome_id="o-1", case_id="RMA-1", kind="inspection", occurred_at=NOW, condition_grade="good")
    outcomes.record("default", o, request_sha256="x", now=NOW)
    outcomes.record("default", o, request_sha256="x", now=NOW)  # a replay is not a new fact
    with backend.connect() as conn:
        rows = conn.execute(select(webhook_events.c.event, webhook_events.c.body)).all()
    assert sorted(r.event for r in rows) == ["decision.created", "outcome.recorded"]
    decision_event = json.loads(next(r.body for r in rows if r.event == "decision.created"))
    assert decision_event["data"]["decision_id"] == "d-1" and decision_event["data"]["route"] == "review"


def test_a_receiver_that_was_down_gets_every_event_exactly_once_signed(backend) -> None:  # type: ignore[no-untyped-def]
    port = _free_port()
    _subscribe_all(backend, f"http://127.0.0.1:{port}/hooks")
    _make_events(backend, 4)
    expected = 12
    policy = DeliveryPolicy(max_attempts=30, backoff_base_seconds=0.05, backoff_cap_seconds=0.4,
                            timeout_seconds=2.0)
    workers = [WebhookWorker(backend, policy=policy, rng=random.Random(seed)) for seed in (1, 2)]
    try:
        # Down: nothing listens on the port. Every attempt fails and is rescheduled with backoff.
        for _ in range(3):
            for w in workers:
                w.run_once()
            time.sleep(0.1)
        pending = SqlWebhookStore(backend).list_deliveries("default", status="pending", limit=500)
        assert len(pending) == expected and all(p["attempts"] >= 1 for p in pending)
        assert all(p["last_error"] for p in pending)

        # Back, but answering 503 to its first three requests; two workers now deliver concurrently.
        with Receiver(port, SECRET, fail_first=3) as receiver:
            stop = threading.Event()
            threads = [threading.Thread(target=w.run, args=(stop,), kwargs={"idle_seconds": 0.05}) for w in workers]
            for t in threads:
                t.start()
            deadline = time.monotonic() + 60
            while len(receiver.accepted) < expected and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)  # anything still in flight would show up as a duplicate
            stop.set()
            for t in threads:
                t.join(timeout=10)
    finally:
        for w in workers:
            w.close()
    assert receiver.bad_signatures == 0
    assert len(receiver.accepted) == expected
    counts = {e: sum(1 for a in receiver.accepted.values() if a["type"] == e) for e in rules.EVENTS}
    assert counts == {"decision.created": 4, "review.completed": 4, "outcome.recorded": 4, "monitoring.alert": 0}
    # Exactly once after it came back: the only repeats are the three it refused with 503.
    ids = [r["Webhook-Id"] for r in receiver.requests]
    assert len(ids) == expected + 3 and len(set(ids)) == expected
    delivered = SqlWebhookStore(backend).list_deliveries("default", status="delivered", limit=500)
    assert len(delivered) == expected


def test_dead_letter_then_redelivery_through_the_api(backend, tmp_path: Path, make_api_key) -> None:  # type: ignore[no-untyped-def]
    from litestar.testing import TestClient

    from returns_triage.serving.api import create_app
    from returns_triage.serving.service.models import LoadedModels
    from returns_triage.settings import Settings

    port = _free_port()
    settings = Settings.from_env({"TRIAGE_HOME": str(tmp_path), "TRIAGE_MODEL_DIR": str(tmp_path / "models")})
    with TestClient(create_app(settings, models=LoadedModels(), engine=backend)) as api:
        assert api.get("/v1/webhooks/subscriptions").status_code == 401
        reviewer = make_api_key(backend, role="reviewer")
        assert api.get("/v1/webhooks/subscriptions", headers=reviewer).status_code == 403
        api.headers.update(make_api_key(backend, role="workflow_engine"))
        created = api.post("/v1/webhooks/subscriptions", json={"event": "decision.created",
                                                                "url": f"http://127.0.0.1:{port}/h"})
        assert created.status_code == 201, created.text
        sub = created.json()
        assert sub["secret"].startswith("whsec_")
        assert api.get(f"/v1/webhooks/subscriptions/{sub['subscription_id']}").json().get("secret") is None
        bad = api.post("/v1/webhooks/subscriptions", json={"event": "nope", "url": "ftp://x"})
        assert bad.status_code == 400

        d = _decision("d-1")
        SqlDecisionStore(backend).save_decision(d, None, idempotency_key="k", request_sha256="h", status_code=200,
                                                body=b"{}")
        worker = WebhookWorker(backend, policy=DeliveryPolicy(max_attempts=2, backoff_base_seconds=0.01,
                                                              backoff_cap_seconds=0.01, timeout_seconds=1.0))
        try:
            for _ in range(4):
                worker.run_once()
                time.sleep(0.05)
            dead = api.get("/v1/webhooks/deliveries", params={"status": "dead"}).json()["deliveries"]
            assert len(dead) == 1 and dead[0]["attempts"] == 2 and dead[0]["event"] == "decision.created"

            with Receiver(port, sub["secret"]) as receiver:
                again = api.post(f"/v1/webhooks/deliveries/{dead[0]['delivery_id']}/redeliver")
                assert again.status_code == 202 and again.json()["status"] == "pending"
                assert worker.run_once().delivered == 1
            assert list(receiver.accepted) == [dead[0]["event_id"]]
            assert api.get(f"/v1/webhooks/deliveries/{dead[0]['delivery_id']}").json()["status"] == "delivered"
            assert api.post("/v1/webhooks/deliveries/nope/redeliver").status_code == 404
        finally:
            worker.close()

        assert api.delete(f"/v1/webhooks/subscriptions/{sub['subscription_id']}").status_code == 204
        assert api.get("/v1/webhooks/subscriptions").json()["subscriptions"] == []


def test_signatures_bind_the_timestamp_and_the_body() -> None:
    body = b'{"id":"e1"}'
    headers = rules.signature_headers("e1", SECRET, 1_700_000_000, body)
    assert rules.verify(SECRET, headers, body, now=1_700_000_010)
    assert not rules.verify(SECRET, headers, body + b" ", now=1_700_000_010)
    assert not rules.verify("another-secret-0000", headers, body, now=1_700_000_010)
    assert not rules.verify(SECRET, {**headers, "Webhook-Timestamp": "1700000001"}, body, now=1_700_000_010)
    assert not rules.verify(SECRET, headers, body, now=1_700_000_000 + 3600)  # a replay an hour later


def test_backoff_grows_is_capped_and_jittered() -> None:
    rng = random.Random(0)
    delays = [rules.backoff_seconds(n, base=1.0, cap=60.0, rng=rng) for n in range(1, 10)]
    assert all(0.5 <= d <= 1.0 for d in delays[:1])
    assert all(2 ** (n - 1) / 2 <= d <= min(60, 2 ** (n - 1)) for n, d in enumerate(delays[:6], start=1))
    assert all(30 <= d <= 60 for d in delays[6:])
    assert len({round(d, 6) for d in delays}) == len(delays)
