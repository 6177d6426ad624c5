"""`triage bench queue`: eight concurrent claimers drain a review queue on SQLite and on PostgreSQL.

Each claimer is a thread with its own database connection that claims the most urgent item, decides it
(approve) with its fencing token, and claims the next. Some claims are made with a lease that runs out while
the claimer "stalls": once another claimer has taken the item over, the stalled one completes late with its
old token, which must be rejected. Measured from the claims handed out and the decisions stored:

- double claims: an item handed out while another claimer's lease on it was still running (or after it was
  decided, or twice under one token);
- items completed exactly once (one stored decision per item);
- stale completions accepted (a decision stored under a token older than the item's last claim);
- claim latency (p50 / p99), starting with N pending items.

PostgreSQL runs in a fresh schema that is dropped afterwards; SQLite in a scratch file.

The scale-out variant runs the same eight claimers over HTTP, split across two ``triage serve`` processes that share
one PostgreSQL (``/v1/review/claim`` and ``/v1/review/items/{id}/decision``; stalls use the API's shortest lease,
1 s): the claims' exclusivity must come from the database, not from one process's memory.
"""

from __future__ import annotations

import json
import random
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine, select, text

from returns_triage.errors import Conflict
from returns_triage.evaluation.benchmarks.base import BenchResult, Target, output_dir, register
from returns_triage.serving.domain.review import ReviewVerdict
from returns_triage.serving.storage import make_engine, upgrade
from returns_triage.serving.storage.review_queue import SqlReviewQueue

# Seeding writes the rows a scored case leaves behind; the tables are the storage layer's, used here only to
# fill the queue fast (10,000 scored cases through the scoring path would measure scoring, not claiming).
from returns_triage.serving.storage.tables import cases, decisions, review_decisions, review_items

QUEUE = "bench-review"
CLAIMERS = 8
LEASE = timedelta(minutes=5)
STALL_LEASE = timedelta(milliseconds=50)
TAKEOVER_WAIT_S = 5.0
HTTP_STALL_LEASE_S = 1.0  # the shortest lease the API grants


@dataclass(frozen=True, slots=True)
class Claim:
    item_id: str
    token: int
    granted_for: datetime  # the ``now`` the claim was made at
    lease_expires_at: datetime


@dataclass(slots=True)
class Tally:
    claims: list[Claim] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    stale_attempts: int = 0
    stale_rejected: int = 0
    stale_accepted: int = 0
    stall_not_taken_over: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _seed(engine: Engine, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    t0 = datetime.now(UTC)
    for start in range(0, n, 2000):
        keys = [f"{i:06d}" for i in range(start, min(n, start + 2000))]
        with engine.begin() as conn:
            conn.execute(cases.insert(), [
                {"id": f"case-{k}", "tenant": "default", "case_id": f"RMA-{k}", "facility": "DC-1",
                 "channel": "portal", "segment": "consumer", "payload": {}, "created_at": t0} for k in keys])
            conn.execute(decisions.insert(), [
                {"decision_id": f"dec-{k}", "tenant": "default", "case_ref": f"case-{k}", "created_at": t0,
                 "route": "review", "reason_code": "DEFECTIVE", "reason_confidence": 0.6, "risk_score": 0.05,
                 "policy_version": "bench", "model_versions": {}, "inputs_sha256": "0" * 64,
                 "document": {"risk": {"band": "low"}}} for k in keys])
            conn.execute(review_items.insert(), [
                {"item_id": f"item-{k}", "tenant": "default", "decision_id": f"dec-{k}", "case_ref": f"case-{k}",
                 "queue": QUEUE, "priority": rng.randint(0, 100),
                 "sla_due_at": t0 + timedelta(minutes=rng.randint(10, 48 * 60)), "status": "pending",
                 "created_at": t0, "fencing_token": 0} for k in keys])
    if engine.dialect.name == "postgresql":
        # A live table has planner statistics (autovacuum keeps them); a freshly filled one must get them now.
        with engine.begin() as conn:
            conn.execute(text("ANALYZE review_items"))


def _claimer(queue: SqlReviewQueue, name: str, stall_every: int, start: threading.Barrier, tally: Tally) -> None:
    start.wait()
    n = 0
    try:
        while True:
            n += 1
            stall = n % stall_every == 0
            now = datetime.now(UTC)
            t = time.perf_counter()
            item = queue.claim("default", QUEUE, name, now=now, lease=STALL_LEASE if stall else LEASE)
            latency = (time.perf_counter() - t) * 1000
            if item is None:
                return
            assert item.lease_expires_at is not None
            with tally.lock:
                tally.latencies_ms.append(latency)
                tally.claims.append(Claim(item.item_id, item.fencing_token, now, item.lease_expires_at))
            if stall:
                _complete_late(queue, name, item.item_id, item.fencing_token, tally)
                continue
            queue.decide("default", item.item_id, ReviewVerdict("approve", name), token=item.fencing_token,
                         now=datetime.now(UTC))
    except Exception as exc:  # noqa: BLE001 - reported in the metrics, never silently dropped
        with tally.lock:
            tally.errors.append(f"{name}: {type(exc).__name__}: {exc}")


def _complete_late(queue: SqlReviewQueue, name: str, item_id: str, token: int, tally: Tally) -> None:
    """Stall past the lease until someone else has the item, then try to decide it with the old token."""
    deadline = time.monotonic() + TAKEOVER_WAIT_S
    time.sleep(STALL_LEASE.total_seconds() * 1.5)
    while queue.get_item("default", item_id).fencing_token == token and time.monotonic() < deadline:
        time.sleep(0.01)
    taken_over = queue.get_item("default", item_id).fencing_token != token
    try:
        queue.decide("default", item_id, ReviewVerdict("approve", name), token=token, now=datetime.now(UTC))
        accepted = True
    except Conflict:
        accepted = False
        # Taken over between the look and the decision: the refusal was right (see _complete_late_http).
        taken_over = taken_over or queue.get_item("default", item_id).fencing_token != token
    with tally.lock:
        if taken_over:
            tally.stale_attempts += 1
            tally.stale_accepted += accepted
            tally.stale_rejected += not accepted
        else:
            # Nobody took it: the token was still current, the late decision legitimately counts.
            tally.stall_not_taken_over += 1
            if not accepted:
                tally.errors.append(f"{name}: a current-token decision on {item_id} was refused")


def _double_claims(claims: list[Claim], decided_token: dict[str, int]) -> int:
    by_item: dict[str, list[Claim]] = defaultdict(list)
    for c in claims:
        by_item[c.item_id].append(c)
    doubles = 0
    for item_id, handed in by_item.items():
        handed.sort(key=lambda c: c.token)
        doubles += len(handed) - len({c.token for c in handed})
        for prev, nxt in zip(handed, handed[1:]):
            if nxt.granted_for < prev.lease_expires_at:  # prev's lease was still running
                doubles += 1
        final = decided_token.get(item_id)
        if final is not None:
            doubles += sum(1 for c in handed if c.token > final)  # handed out after it was decided
    return doubles


def _run(engine: Engine, n: int, quick: bool) -> dict[str, Any]:
    _seed(engine, n)
    queue = SqlReviewQueue(engine)
    tally = Tally()
    stall_every = 25 if quick else 100
    start = threading.Barrier(CLAIMERS)
    threads = [threading.Thread(target=_claimer, args=(queue, f"claimer-{i}", stall_every, start, tally))
               for i in range(CLAIMERS)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    return _summarise(engine, tally, n, wall)


def _summarise(engine: Engine, tally: Tally, n: int, wall: float) -> dict[str, Any]:
    """The figures of a drained queue, from the claims handed out and the decisions stored."""
    with engine.connect() as conn:
        stored = conn.execute(select(review_decisions.c.item_id, review_decisions.c.fencing_token)).all()
        final_token = dict(conn.execute(select(review_items.c.item_id, review_items.c.fencing_token)).all())
    per_item: dict[str, int] = defaultdict(int)
    decided_token: dict[str, int] = {}
    stale_in_db = 0
    for item_id, token in stored:
        per_item[item_id] += 1
        decided_token[item_id] = max(token, decided_token.get(item_id, -1))
        stale_in_db += token < final_token[item_id]
    lat = np.array(tally.latencies_ms)
    return {
        "items": n,
        "claims": len(tally.claims),
        "double_claims": _double_claims(tally.claims, decided_token),
        "completed_exactly_once": sum(1 for i in final_token if per_item.get(i) == 1) / n,
        "stale_attempts": tally.stale_attempts,
        "stale_rejected": tally.stale_rejected,
        "stale_accepted": max(tally.stale_accepted, stale_in_db),
        "stalls_not_taken_over": tally.stall_not_taken_over,
        "claim_latency_ms_p50": float(np.percentile(lat, 50)) if lat.size else None,
        "claim_latency_ms_p99": float(np.percentile(lat, 99)) if lat.size else None,
        "throughput_items_per_s": n / wall,
        "wall_s": wall,
        "errors": tally.errors[:10],
    }


@contextmanager
def _sqlite() -> Iterator[Engine]:
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{Path(scratch) / 'queue-bench.db'}", pool_size=CLAIMERS)
        try:
            upgrade(engine)
            yield engine
        finally:
            engine.dispose()


@contextmanager
def _postgresql(url: str) -> Iterator[Engine]:
    schema = f"bench_queue_{uuid.uuid4().hex[:10]}"
    admin = make_engine(url, pool_size=1)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url, pool_size=CLAIMERS, connect_args={"options": f"-csearch_path={schema}"})
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _pg_url() -> str:
    from returns_triage.evaluation.servers import postgres_url

    return postgres_url()


def _http_claimer(http: Any, queue: SqlReviewQueue, name: str, stall_every: int, start: threading.Barrier,
                  tally: Tally) -> None:
    from returns_triage.serving.domain.review import clamp_lease

    start.wait()
    n = 0
    try:
        while True:
            n += 1
            stall = n % stall_every == 0
            lease_s = HTTP_STALL_LEASE_S if stall else LEASE.total_seconds()
            t = time.perf_counter()
            resp = http.post("/v1/review/claim", json={"queue": QUEUE, "reviewer": name, "lease_seconds": lease_s})
            latency = (time.perf_counter() - t) * 1000
            if resp.status_code == 204:
                return
            resp.raise_for_status()
            claimed = resp.json()
            item_id, token = claimed["item"]["item_id"], int(claimed["token"])
            expires = datetime.fromisoformat(claimed["lease_expires_at"])
            # The server granted the lease at expiry minus its (clamped) length: the exact "now" of the claim.
            with tally.lock:
                tally.latencies_ms.append(latency)
                tally.claims.append(Claim(item_id, token, expires - clamp_lease(lease_s), expires))
            if stall:
                _complete_late_http(http, queue, name, item_id, token, tally)
                continue
            done = http.post(f"/v1/review/items/{item_id}/decision",
                             json={"reviewer": name, "action": "approve", "token": token})
            if done.status_code != 200:
                with tally.lock:
                    tally.errors.append(f"{name}: decision on {item_id}: {done.status_code} {done.text[:120]}")
    except Exception as exc:  # noqa: BLE001 - reported in the metrics, never silently dropped
        with tally.lock:
            tally.errors.append(f"{name}: {type(exc).__name__}: {exc}")


def _complete_late_http(http: Any, queue: SqlReviewQueue, name: str, item_id: str, token: int,
                        tally: Tally) -> None:
    """Like :func:`_complete_late`, over the API: stall past the lease, then decide with the old token."""
    deadline = time.monotonic() + TAKEOVER_WAIT_S + HTTP_STALL_LEASE_S
    time.sleep(HTTP_STALL_LEASE_S * 1.5)
    while queue.get_item("default", item_id).fencing_token == token and time.monotonic() < deadline:
        time.sleep(0.02)
    taken_over = queue.get_item("default", item_id).fencing_token != token
    resp = http.post(f"/v1/review/items/{item_id}/decision",
                     json={"reviewer": name, "action": "approve", "token": token})
    accepted = resp.status_code == 200
    if not accepted and not taken_over:
        # Another claimer may have taken the expired lease between the look and the decision: then the refusal
        # was right, and the attempt was a stale one.
        taken_over = queue.get_item("default", item_id).fencing_token != token
    with tally.lock:
        if resp.status_code not in (200, 409):
            tally.errors.append(f"{name}: late decision on {item_id}: {resp.status_code} {resp.text[:120]}")
        if taken_over:
            tally.stale_attempts += 1
            tally.stale_accepted += accepted
            tally.stale_rejected += resp.status_code == 409
        else:
            tally.stall_not_taken_over += 1
            if not accepted:
                tally.errors.append(f"{name}: a current-token decision on {item_id} was refused")


def run_two_process(n: int, quick: bool, *, processes: int = 2, model_dir: Path | None = None,
                    stall_every: int | None = None) -> dict[str, Any]:
    """Eight claimers over HTTP, split across ``processes`` server processes sharing one fresh PostgreSQL."""
    import httpx

    from returns_triage.evaluation.servers import ensure_model_dir, scratch_database, serve_processes
    from returns_triage.serving.service.api_keys import ApiKeyService
    from returns_triage.serving.storage.api_keys import SqlApiKeyStore

    model_dir = model_dir or ensure_model_dir()
    with tempfile.TemporaryDirectory(prefix="triage-queue-") as scratch, \
            scratch_database("postgresql", pg_url=_pg_url(), pool_size=CLAIMERS) as (url, engine):
        _seed(engine, n)
        token, _ = ApiKeyService(SqlApiKeyStore(engine)).create("reviewer", "default", label="bench")
        headers = {"Authorization": f"Bearer {token}"}
        queue = SqlReviewQueue(engine)
        tally = Tally()
        every = stall_every or (25 if quick else 100)
        with serve_processes(processes, url, model_dir=model_dir, home=Path(scratch)) as servers:
            clients = [httpx.Client(base_url=s.base_url, headers=headers, timeout=60) for s in servers]
            start = threading.Barrier(CLAIMERS)
            threads = [threading.Thread(target=_http_claimer, args=(clients[i % len(clients)], queue,
                                                                     f"claimer-{i}", every, start, tally))
                       for i in range(CLAIMERS)]
            began = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - began
            for c in clients:
                c.close()
        result = _summarise(engine, tally, n, wall)
        result["processes"] = processes
        return result


@register("queue")
def queue_bench(quick: bool) -> BenchResult:
    n = 1_000 if quick else 10_000
    metrics: dict[str, Any] = {"claimers": CLAIMERS, "items": n}
    runs: dict[str, dict[str, Any]] = {}
    with _sqlite() as engine:
        runs["sqlite"] = _run(engine, n, quick)
    with _postgresql(_pg_url()) as engine:
        runs["postgresql"] = _run(engine, n, quick)
    runs["postgresql_2proc"] = run_two_process(n, quick)
    for backend, run in runs.items():
        for key in ("double_claims", "completed_exactly_once", "claim_latency_ms_p50", "claim_latency_ms_p99",
                    "throughput_items_per_s", "stale_attempts", "stale_rejected"):
            metrics[f"{key}_{backend}"] = run[key]
    metrics["stale_completions_attempted"] = sum(r["stale_attempts"] for r in runs.values())
    metrics["stale_completions_accepted"] = sum(r["stale_accepted"] for r in runs.values())
    metrics["errors"] = [e for r in runs.values() for e in r["errors"]]
    detail = output_dir("queue") / ("runs-quick.json" if quick else "runs.json")
    detail.write_text(json.dumps(runs, indent=2, default=str) + "\n")
    return BenchResult(
        bench="queue",
        metrics=metrics,
        targets=[
            Target("double_claims_sqlite", "==", 0),
            Target("double_claims_postgresql", "==", 0),
            Target("completed_exactly_once_sqlite", "==", 1.0),
            Target("completed_exactly_once_postgresql", "==", 1.0),
            Target("double_claims_postgresql_2proc", "==", 0),
            Target("completed_exactly_once_postgresql_2proc", "==", 1.0),
            Target("stale_completions_accepted", "==", 0),
            Target("claim_latency_ms_p99_postgresql", "<", 50),
        ],
        artifacts=[str(detail)],
    )
