"""`triage bench idempotency`: one Idempotency-Key under concurrency, and kill -9 under scoring load.

Everything runs against real ``triage serve`` processes on loopback (:mod:`returns_triage.evaluation.servers`),
each on a scratch database that is removed afterwards.

**Concurrent idempotency.** A round sends 50 concurrent ``POST /v1/returns/score`` with one key and one body (a
case of its own). A round is correct when every answer is a 200 with the same bytes, the database holds exactly
one decision (and one audit entry) for that case, and the answer names that decision. Run on SQLite, on
PostgreSQL, and with the 50 requests spread over two server processes sharing one PostgreSQL.

**Crash cycles.** A server is started, several clients score new returns (a key each) as fast as it answers, and
after a random moment under load the server gets SIGKILL. It is restarted, then checked: every decision that was
acknowledged (answered 200) is stored under its key with the same decision id; no case has more than one
decision; the requests that were in flight when it died are retried with their keys and get one decision each;
the audit chain verifies from genesis, against every checkpoint signed so far, and a new checkpoint is signed.
"""

from __future__ import annotations

import json
import random
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, select

from returns_triage.evaluation.benchmarks.base import BenchResult, Target, output_dir, register
from returns_triage.evaluation.servers import (
    ServerProcess,
    ensure_model_dir,
    scratch_database,
    serve_processes,
    server_env,
)

__all__ = ["RoundsReport", "CrashReport", "run_idempotency_rounds", "run_crash_cycles", "idempotency_bench"]

CONCURRENCY = 50
ROUNDS, ROUNDS_QUICK = 100, 10
CYCLES, CYCLES_QUICK = 20, 3
LOAD_CLIENTS = 6
_EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "score-request.json"


def _example_body() -> dict[str, Any]:
    return dict(json.loads(_EXAMPLE.read_text()))


def _api_key(engine: Engine, role: str = "workflow_engine") -> dict[str, str]:
    from returns_triage.serving.service.api_keys import ApiKeyService
    from returns_triage.serving.storage.api_keys import SqlApiKeyStore

    token, _ = ApiKeyService(SqlApiKeyStore(engine)).create(role, "default", label="bench")
    return {"Authorization": f"Bearer {token}"}


def _decisions_for_case(engine: Engine, case_id: str) -> list[str]:
    from returns_triage.serving.storage.tables import cases, decisions

    with engine.connect() as conn:
        return list(conn.execute(
            select(decisions.c.decision_id).join(cases, cases.c.id == decisions.c.case_ref)
            .where(cases.c.tenant == "default", cases.c.case_id == case_id)).scalars())


# --------------------------------------------------------------------------------------------- concurrent rounds


@dataclass(slots=True)
class RoundsReport:
    rounds: int = 0
    requests: int = 0
    rounds_exactly_one_decision: int = 0
    rounds_identical_bodies: int = 0
    non_200: int = 0
    transport_retries: int = 0  # requests re-sent with their key after a lost connection
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def exactly_one_rate(self) -> float:
        return self.rounds_exactly_one_decision / self.rounds if self.rounds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"rounds": self.rounds, "requests": self.requests,
                "rounds_exactly_one_decision": self.rounds_exactly_one_decision,
                "rounds_identical_bodies": self.rounds_identical_bodies, "non_200": self.non_200,
                "transport_retries": self.transport_retries,
                "exactly_one_rate": self.exactly_one_rate, "wall_s": self.wall_s, "errors": self.errors[:10]}


def run_idempotency_rounds(base_urls: list[str], engine: Engine, *, rounds: int, concurrency: int = CONCURRENCY,
                           label: str = "idem") -> RoundsReport:
    """``rounds`` rounds of ``concurrency`` simultaneous requests with one key, spread over ``base_urls``."""
    headers = _api_key(engine)
    clients = [httpx.Client(base_url=u, headers=headers, timeout=120,
                            limits=httpx.Limits(max_connections=concurrency)) for u in base_urls]
    report = RoundsReport()
    retry_lock = threading.Lock()
    template = _example_body()
    began = time.perf_counter()
    try:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for r in range(rounds):
                case_id = f"IDEM-{label}-{r:04d}"
                body = {**template, "case_id": case_id}
                key = f"{label}-{r:04d}"
                barrier = threading.Barrier(concurrency)

                def send(i: int, body: dict[str, Any] = body, key: str = key,
                         barrier: threading.Barrier = barrier) -> tuple[int, bytes]:
                    client = clients[i % len(clients)]
                    barrier.wait()
                    for attempt in range(2):
                        try:
                            resp = client.post("/v1/returns/score", json=body, headers={"Idempotency-Key": key})
                        except httpx.TransportError as exc:
                            # A pooled keep-alive connection the server closed as it was reused: the answer is
                            # lost, so the client does what the key is for, and sends the request again.
                            if attempt == 0:
                                with retry_lock:
                                    report.transport_retries += 1
                                continue
                            return -1, f"{type(exc).__name__}: {exc}".encode()
                        return resp.status_code, resp.content
                    raise AssertionError("unreachable")

                answers = list(pool.map(send, range(concurrency)))
                report.rounds += 1
                report.requests += concurrency
                bad = [(s, b) for s, b in answers if s != 200]
                report.non_200 += len(bad)
                if bad:
                    report.errors.append(f"round {r}: {bad[0][0]} {bad[0][1][:200]!r}")
                bodies = {b for s, b in answers if s == 200}
                identical = not bad and len(bodies) == 1
                report.rounds_identical_bodies += identical
                stored = _decisions_for_case(engine, case_id)
                answered = json.loads(next(iter(bodies)))["decision_id"] if identical else None
                if len(stored) == 1 and identical and stored[0] == answered:
                    report.rounds_exactly_one_decision += 1
                elif len(stored) != 1:
                    report.errors.append(f"round {r}: {len(stored)} decisions stored for one key")
    finally:
        for c in clients:
            c.close()
    report.wall_s = time.perf_counter() - began
    return report


# --------------------------------------------------------------------------------------------- crash cycles


@dataclass(slots=True)
class CrashReport:
    cycles: int = 0
    acknowledged: int = 0
    lost: int = 0
    duplicated: int = 0
    in_flight_retried: int = 0
    chain_verified_after_restart: int = 0
    restarts: int = 0
    entries_verified: int = 0
    restart_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"cycles": self.cycles, "acknowledged": self.acknowledged, "lost": self.lost,
                "duplicated": self.duplicated, "in_flight_retried": self.in_flight_retried,
                "restarts": self.restarts, "chain_verified_after_restart": self.chain_verified_after_restart,
                "entries_verified": self.entries_verified,
                "restart_s_max": max(self.restart_s, default=None), "errors": self.errors[:10]}


class _Load:
    """Clients that score new returns (one fresh key each) until stopped; remember what was acknowledged."""

    def __init__(self, server: ServerProcess, headers: dict[str, str], label: str, clients: int) -> None:
        self.server, self.headers, self.label, self.n = server, headers, label, clients
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked: dict[str, str] = {}  # key -> decision id answered with 200
        self.unacked: dict[str, dict[str, Any]] = {}  # key -> body, sent but not answered 200
        self._seq = 0
        self._threads: list[threading.Thread] = []
        self._template = _example_body()

    def _next(self) -> tuple[str, dict[str, Any]]:
        with self.lock:
            self._seq += 1
            n = self._seq
        key = f"{self.label}-{n:06d}"
        return key, {**self._template, "case_id": f"CRASH-{key}"}

    def _client(self) -> None:
        with httpx.Client(base_url=self.server.base_url, headers=self.headers, timeout=30) as http:
            while not self.stop.is_set():
                key, body = self._next()
                with self.lock:
                    self.unacked[key] = body
                try:
                    resp = http.post("/v1/returns/score", json=body, headers={"Idempotency-Key": key})
                except httpx.HTTPError:
                    time.sleep(0.05)  # the server is gone; the key stays in flight
                    continue
                if resp.status_code == 200:
                    with self.lock:
                        self.acked[key] = json.loads(resp.content)["decision_id"]
                        del self.unacked[key]

    def start(self) -> None:
        self.stop.clear()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(self.n)]
        for t in self._threads:
            t.start()

    def join(self) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(timeout=60)


def _check_after_restart(engine: Engine, load: _Load, base_url: str, headers: dict[str, str],
                         report: CrashReport, verify: Callable[[], tuple[bool, int, str]]) -> None:
    from returns_triage.serving.storage.tables import cases, decisions, idempotency_keys

    with engine.connect() as conn:
        stored = dict(conn.execute(select(idempotency_keys.c.key, idempotency_keys.c.decision_id)
                                   .where(idempotency_keys.c.tenant == "default")).all())
        per_case = conn.execute(select(cases.c.case_id, func.count()).join(decisions,
                                decisions.c.case_ref == cases.c.id).group_by(cases.c.case_id)
                                .having(func.count() > 1)).all()
    lost = [k for k, d in load.acked.items() if stored.get(k) != d]
    # Each check covers every decision acknowledged so far, so the worst check is the figure.
    report.lost = max(report.lost, len(lost))
    report.duplicated = max(report.duplicated, len(per_case))
    if lost:
        report.errors.append(f"acknowledged but not stored: {lost[:3]}")
    if per_case:
        report.errors.append(f"cases with more than one decision: {per_case[:3]}")
    # A client that saw no answer retries with the same key: it must get exactly one decision, stored or new.
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as http:
        for key, body in list(load.unacked.items()):
            resp = http.post("/v1/returns/score", json=body, headers={"Idempotency-Key": key})
            report.in_flight_retried += 1
            if resp.status_code != 200:
                report.errors.append(f"retry of {key}: {resp.status_code} {resp.text[:200]}")
                continue
            decision_id = json.loads(resp.content)["decision_id"]
            if key in stored and stored[key] != decision_id:
                report.errors.append(f"retry of {key} answered another decision than the stored one")
                report.duplicated += 1
            if _decisions_for_case(engine, body["case_id"]) != [decision_id]:
                report.duplicated += 1
            load.acked[key] = decision_id
            del load.unacked[key]
    ok, entries, problem = verify()
    report.chain_verified_after_restart += ok
    report.entries_verified = entries
    if not ok:
        report.errors.append(f"audit chain: {problem}")


def run_crash_cycles(backend: str, *, cycles: int, model_dir: Path, seed: int = 3,
                     load_clients: int = LOAD_CLIENTS, load_s: tuple[float, float] = (0.8, 2.5)) -> CrashReport:
    """``cycles`` times: score under load, SIGKILL the server at a random moment, restart it, check."""
    from returns_triage.serving.service.audit import (
        external_checkpoints,
        generate_signing_key,
        make_checkpoint,
        verify_log,
    )
    from returns_triage.serving.storage.audit_log import SqlAuditLog

    rng = random.Random(seed)
    report = CrashReport()
    with tempfile.TemporaryDirectory(prefix="triage-crash-") as scratch, \
            scratch_database(backend) as (url, engine):
        home = Path(scratch)
        signer = generate_signing_key(home / "audit" / "signing-key.pem")
        checkpoint_dir = home / "audit" / "checkpoints"
        log = SqlAuditLog(engine)

        def verify() -> tuple[bool, int, str]:
            # The same check as `triage audit verify`: from genesis, against every signed checkpoint.
            result = verify_log(log, signer.verifier, extra_checkpoints=external_checkpoints(checkpoint_dir))
            if result.ok and result.entries:
                make_checkpoint(log, signer, directory=checkpoint_dir)
            return result.ok, result.entries, result.problem

        headers = _api_key(engine)
        server = ServerProcess(server_env(url, model_dir=model_dir, home=home), log_path=home / "server.log")
        load = _Load(server, headers, f"crash-{backend}", load_clients)
        try:
            server.start()
            for _ in range(cycles):
                answered = len(load.acked)
                load.start()
                # Under load means answering: wait for this cycle's first acknowledged decision (a busy machine
                # can take seconds), then kill at a random moment while the clients keep sending.
                deadline = time.monotonic() + 120
                while len(load.acked) == answered and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(rng.uniform(*load_s))
                server.kill()  # SIGKILL while the clients are mid-request
                load.join()
                report.cycles += 1
                t = time.perf_counter()
                server.start()
                report.restart_s.append(time.perf_counter() - t)
                report.restarts += 1
                _check_after_restart(engine, load, server.base_url, headers, report, verify)
        finally:
            server.stop()
        report.acknowledged = len(load.acked)
    return report


# --------------------------------------------------------------------------------------------- the benchmark


def _rounds_on(backend: str, processes: int, rounds: int, model_dir: Path) -> RoundsReport:
    with tempfile.TemporaryDirectory(prefix="triage-idem-") as scratch, \
            scratch_database(backend) as (url, engine), \
            serve_processes(processes, url, model_dir=model_dir, home=Path(scratch)) as servers:
        return run_idempotency_rounds([s.base_url for s in servers], engine, rounds=rounds,
                                      label=f"{backend}-{processes}p")


@register("idempotency")
def idempotency_bench(quick: bool) -> BenchResult:
    model_dir = ensure_model_dir()
    rounds = ROUNDS_QUICK if quick else ROUNDS
    cycles = CYCLES_QUICK if quick else CYCLES
    runs: dict[str, dict[str, Any]] = {}
    metrics: dict[str, Any] = {"concurrency": CONCURRENCY, "rounds": rounds, "kill_cycles": cycles}
    for name, backend, processes in (("sqlite", "sqlite", 1), ("postgresql", "postgresql", 1),
                                     ("postgresql_2proc", "postgresql", 2)):
        rep = _rounds_on(backend, processes, rounds, model_dir)
        runs[f"rounds_{name}"] = rep.to_dict()
        metrics[f"rounds_exactly_one_decision_{name}"] = rep.rounds_exactly_one_decision
        metrics[f"exactly_one_decision_rate_{name}"] = rep.exactly_one_rate
        metrics[f"non_200_{name}"] = rep.non_200
        metrics[f"transport_retries_{name}"] = rep.transport_retries
        metrics[f"requests_per_s_{name}"] = rep.requests / rep.wall_s if rep.wall_s else None
    for backend in ("sqlite", "postgresql"):
        crash = run_crash_cycles(backend, cycles=cycles, model_dir=model_dir)
        runs[f"crash_{backend}"] = crash.to_dict()
        metrics[f"kill_cycles_{backend}"] = crash.cycles
        metrics[f"acknowledged_{backend}"] = crash.acknowledged
        metrics[f"lost_acknowledged_{backend}"] = crash.lost
        metrics[f"duplicated_{backend}"] = crash.duplicated
        metrics[f"in_flight_retried_{backend}"] = crash.in_flight_retried
        metrics[f"chain_verified_after_restart_{backend}"] = crash.chain_verified_after_restart
        metrics[f"chain_verified_rate_{backend}"] = (crash.chain_verified_after_restart / crash.restarts
                                                     if crash.restarts else 0.0)
        metrics[f"crash_errors_{backend}"] = len(crash.errors)
    metrics["errors"] = [e for r in runs.values() for e in r.get("errors", [])][:20]
    detail = output_dir("idempotency") / ("runs-quick.json" if quick else "runs.json")
    detail.write_text(json.dumps(runs, indent=2, default=str) + "\n")
    return BenchResult(
        bench="idempotency",
        metrics=metrics,
        targets=[
            Target("rounds", ">=", 100),
            Target("exactly_one_decision_rate_sqlite", "==", 1.0),
            Target("exactly_one_decision_rate_postgresql", "==", 1.0),
            Target("exactly_one_decision_rate_postgresql_2proc", "==", 1.0),
            Target("kill_cycles_sqlite", ">=", 20),
            Target("kill_cycles_postgresql", ">=", 20),
            Target("lost_acknowledged_sqlite", "==", 0),
            Target("lost_acknowledged_postgresql", "==", 0),
            Target("duplicated_sqlite", "==", 0),
            Target("duplicated_postgresql", "==", 0),
            Target("chain_verified_rate_sqlite", "==", 1.0),
            Target("chain_verified_rate_postgresql", "==", 1.0),
        ],
        artifacts=[str(detail)],
    )
