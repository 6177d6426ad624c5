"""Group commit of decisions: one transaction for every decision that is waiting to be stored.

A scoring request hands its decision to :class:`GroupCommitDecisionStore` and waits. One request at a time leads:
it takes every decision queued (its own first) and writes them in one transaction: the cases, decisions, review
items and idempotency keys, one audit entry each (chained from the head read once, under the chain lock) and one
outbox event each; then it wakes the others of the group and hands the lead to the first decision queued since,
if any. A request returns only after the transaction holding its decision committed, so a response still means
a durable decision; what a group shares is the transaction, the commit, the chain lock and the per-statement
overhead. The leader is a request thread that is running anyway: no thread of its own, no extra hand-off.

Like the micro-batcher of the encoder, a group grows with the load: a decision that finds no group being written
is written at once, alone; decisions that arrive while a group is being written form the next group.

Idempotency holds as on the one-decision path: a key already stored, or repeated within the group, writes
nothing and is reported to its request as :class:`DuplicateIdempotencyKey` (the scoring service then answers
with what the first request stored). If a group's transaction fails for any other reason (another process
inserted one of its keys first, say), each decision of the group is written again alone on the one-decision
path, so an error reaches only the request that caused it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.engine import Dialect

from returns_triage.serving.domain.audit import decision_entry_payload
from returns_triage.serving.domain.model import Decision, ReviewItem, canonical_json
from returns_triage.serving.domain.webhooks import DECISION_CREATED
from returns_triage.serving.storage.audit_log import EntryDraft, append_entries, store_policy_document
from returns_triage.serving.storage.prepared import PreparedStatement
from returns_triage.serving.storage.repository import DuplicateIdempotencyKey, SqlDecisionStore, StoredResponse
from returns_triage.serving.storage.tables import idempotency_keys, webhook_events
from returns_triage.serving.storage.webhooks import event_row

__all__ = ["GroupCommitDecisionStore", "GroupCommitStats"]

_ACTOR = "service:scoring"


@dataclass(slots=True)
class GroupCommitStats:
    """How decisions were grouped: ``groups`` transactions wrote ``decisions``; ``fallbacks`` groups failed and
    were written again one decision at a time."""

    groups: int = 0
    decisions: int = 0
    largest_group: int = 0
    fallbacks: int = 0

    @property
    def mean_group(self) -> float:
        return self.decisions / self.groups if self.groups else 0.0


@dataclass(slots=True, eq=False)
class _Pending:
    decision: Decision
    review_item: ReviewItem | None
    key: str
    request_sha256: str
    status_code: int
    body: bytes
    document: dict[str, Any]
    audit_payload: dict[str, Any]
    audit_text: str
    event: dict[str, Any]
    # Held by the request from queueing until its group committed, or until it is to lead the next group.
    done: threading.Lock = field(default_factory=threading.Lock)
    lead: bool = False
    error: BaseException | None = None

    @property
    def tenant(self) -> str:
        return self.decision.case.tenant


class GroupCommitDecisionStore:
    """A :class:`DecisionStore` whose ``save_decision`` joins the next group transaction and returns once it
    committed. Reads go straight to ``store``."""

    def __init__(self, store: SqlDecisionStore, *, max_group: int = 64) -> None:
        if max_group < 1:
            raise ValueError("max_group must be >= 1")
        self.store = store
        self.engine = store.engine
        self.max_group = max_group
        self.stats = GroupCommitStats()
        self._pending: deque[_Pending] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._writing = False  # a request thread leads a group now
        self._in_flight = 0  # decisions handed in and not answered yet (queued or in the group being written)
        self._statements = _GroupStatements(store)

    # ------------------------------------------------------------------------------------------- the port

    def stored_response(self, tenant: str, key: str) -> StoredResponse | None:
        return self.store.stored_response(tenant, key)

    def get_decision(self, tenant: str, decision_id: str) -> dict[str, Any] | None:
        return self.store.get_decision(tenant, decision_id)

    def ping(self) -> bool:
        return self.store.ping()

    def save_decision(
        self,
        decision: Decision,
        review_item: ReviewItem | None,
        *,
        idempotency_key: str,
        request_sha256: str,
        status_code: int,
        body: bytes,
        audit_payload: dict[str, Any] | None = None,
    ) -> None:
        """Store the decision durably (returns after its group committed), or raise
        :class:`DuplicateIdempotencyKey` when the key was stored first, by this or another request."""
        # Everything that needs no database is prepared before queueing, so a group's transaction is held only
        # while its rows are bound and executed.
        payload = audit_payload if audit_payload is not None else decision_entry_payload(decision)
        document = payload["decision"]
        job = _Pending(decision=decision, review_item=review_item, key=idempotency_key,
                       request_sha256=request_sha256, status_code=status_code, body=body, document=document,
                       audit_payload=payload, audit_text=canonical_json(payload).decode(),
                       event=event_row(tenant=decision.case.tenant, event=DECISION_CREATED, data=document,
                                       now=decision.created_at))
        job.done.acquire()
        with self._cond:
            self._pending.append(job)
            self._in_flight += 1
            job.lead = not self._writing
            self._writing = True
        if not job.lead:
            # Woken with the outcome, or to lead the next group (its own decision first in the queue).
            job.done.acquire()
        if job.lead:
            self._lead()
        if job.error is not None:
            raise job.error

    @property
    def in_flight(self) -> int:
        """Decisions handed to the store whose requests have not been answered yet."""
        return self._in_flight

    def close(self, timeout: float = 10.0) -> None:
        """Wait up to ``timeout`` seconds for the groups being written (there is no thread to stop)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._writing and time.monotonic() < deadline:
                self._cond.wait(0.05)

    # ------------------------------------------------------------------------------------------- groups

    def _lead(self) -> None:
        """Write one group (this thread's decision and the ones queued behind it), then pass the lead to the first
        decision queued since, whose thread waits anyway, or end it when none is queued."""
        with self._cond:
            group = [self._pending.popleft() for _ in range(min(self.max_group, len(self._pending)))]
        try:
            self._write(group)
        finally:
            with self._cond:
                self._in_flight -= len(group)
                if self._pending:
                    successor = self._pending[0]
                    successor.lead = True
                    successor.done.release()
                else:
                    self._writing = False
                    self._cond.notify_all()

    def _write(self, group: list[_Pending]) -> None:
        policies: set[str] = set()
        try:
            with self.engine.begin() as conn:
                written = self._write_group(conn, group, policies)
        except Exception:  # noqa: BLE001 - each decision is retried alone; its own error reaches its caller
            self.stats.fallbacks += 1
            for job in group:
                job.error = None
                self._write_alone(job)
        else:
            # Committed only now: the one-decision path skips storing a policy it finds in this set.
            self.store._policies_stored.update(policies)
            stats = self.stats
            stats.groups += 1
            stats.decisions += written
            stats.largest_group = max(stats.largest_group, written)
        for job in group:
            if not job.lead:
                job.done.release()

    def _write_alone(self, job: _Pending) -> None:
        try:
            self.store.save_decision(job.decision, job.review_item, idempotency_key=job.key,
                                     request_sha256=job.request_sha256, status_code=job.status_code,
                                     body=job.body, audit_payload=job.audit_payload)
        except Exception as exc:  # noqa: BLE001 - handed to the caller, never lost
            job.error = exc

    def _write_group(self, conn: Connection, group: list[_Pending], policies: set[str]) -> int:
        """Write the group's decisions in ``conn``'s transaction; returns how many were written and adds the
        policies it stored to ``policies``. A decision whose key is stored already (or earlier in the group)
        gets :class:`DuplicateIdempotencyKey` and writes nothing."""
        sql = self._statements
        keys_by_tenant: dict[str, list[str]] = defaultdict(list)
        for job in group:
            keys_by_tenant[job.tenant].append(job.key)
        taken = {tenant: {key for (key,) in sql.select_keys(len(keys)).fetch(
                     conn, {"tenant": tenant, **{f"k{i}": key for i, key in enumerate(keys)}})}
                 for tenant, keys in keys_by_tenant.items()}
        # In arrival order, which is the order the audit log records them in.
        fresh: list[_Pending] = []
        for job in group:
            if job.key in taken[job.tenant]:
                job.error = DuplicateIdempotencyKey(job.key)
            else:
                taken[job.tenant].add(job.key)
                fresh.append(job)
        if not fresh:
            return 0
        case_rows = [{"id": str(uuid.uuid4()), "tenant": j.tenant, "case_id": j.decision.case.case_id,
                      "facility": j.decision.case.facility, "channel": j.decision.case.channel,
                      "segment": j.decision.case.segment, "payload": j.decision.case.payload,
                      "created_at": j.decision.created_at} for j in fresh]
        inserted = sql.insert_case.execute(conn, case_rows)
        # Every row inserted: each case is the one just written. Otherwise (a case scored before, or twice in this
        # group; or a driver that cannot count an executemany) look each one up.
        if inserted == len(case_rows):
            refs = {(r["tenant"], r["case_id"]): r["id"] for r in case_rows}
        else:
            refs = {(r["tenant"], r["case_id"]): sql.select_case_ref.fetch(conn, r)[0][0] for r in case_rows}
        sql.insert_decision.execute(conn, [_decision_row(j, refs[(j.tenant, j.decision.case.case_id)])
                                           for j in fresh])
        review_rows = [_review_row(j, refs[(j.tenant, j.decision.case.case_id)]) for j in fresh
                       if j.review_item is not None]
        if review_rows:
            sql.insert_review_item.execute(conn, review_rows)
        sql.insert_key.execute(conn, [
            {"tenant": j.tenant, "key": j.key, "request_sha256": j.request_sha256,
             "decision_id": j.decision.decision_id, "status_code": j.status_code, "response_body": j.body,
             "created_at": j.decision.created_at} for j in fresh])
        append_entries(conn, [EntryDraft(tenant=j.tenant, kind="decision", subject_id=j.decision.decision_id,
                                         actor=_ACTOR, payload=j.audit_text) for j in fresh])
        # The policy each decision was made under, content-addressed, so a replay can find it by its hash.
        store = self.store
        for job in fresh:
            d = job.decision
            if (d.policy_content is not None and d.policy_sha256 not in store._policies_stored
                    and d.policy_sha256 not in policies):
                store_policy_document(conn, version=d.policy_version, content=d.policy_content)
                policies.add(d.policy_sha256)
        sql.insert_event.execute(conn, [j.event for j in fresh])
        return len(fresh)


class _GroupStatements:
    """The statements of a group write, compiled once for the engine's dialect (see storage/prepared.py); the audit
    entries go through ``append_entries``, which prepares its own. The one-decision path (the fallback) keeps to
    ``Connection.execute``."""

    def __init__(self, store: SqlDecisionStore) -> None:
        dialect: Dialect = store.engine.dialect
        self._dialect = dialect
        self.insert_case = PreparedStatement(store._insert_case, dialect, _CASE_COLUMNS)
        self.select_case_ref = PreparedStatement(store._select_case_ref, dialect)
        self.insert_decision = PreparedStatement(store._insert_decision, dialect, _DECISION_COLUMNS)
        self.insert_review_item = PreparedStatement(store._insert_review_item, dialect, _REVIEW_COLUMNS)
        self.insert_key = PreparedStatement(store._insert_key, dialect, _KEY_COLUMNS)
        self.insert_event = PreparedStatement(webhook_events.insert(), dialect, _EVENT_COLUMNS)
        self._select_keys: dict[int, PreparedStatement] = {}

    def select_keys(self, n: int) -> PreparedStatement:
        """The stored keys among ``n`` (parameters ``tenant``, ``k0`` … ``k{n-1}``); one statement per size."""
        statement = self._select_keys.get(n)
        if statement is None:
            query = select(idempotency_keys.c.key).where(
                idempotency_keys.c.tenant == bindparam("tenant"),
                idempotency_keys.c.key.in_([bindparam(f"k{i}") for i in range(n)]))
            statement = self._select_keys.setdefault(n, PreparedStatement(query, self._dialect))
        return statement


_CASE_COLUMNS = ("id", "tenant", "case_id", "facility", "channel", "segment", "payload", "created_at")
_DECISION_COLUMNS = ("decision_id", "tenant", "case_ref", "created_at", "route", "reason_code", "reason_confidence",
                     "risk_score", "policy_version", "model_versions", "inputs_sha256", "document")
_REVIEW_COLUMNS = ("item_id", "tenant", "decision_id", "case_ref", "queue", "priority", "sla_due_at", "status",
                   "created_at", "fencing_token", "escalation_level")
_KEY_COLUMNS = ("tenant", "key", "request_sha256", "decision_id", "status_code", "response_body", "created_at")
_EVENT_COLUMNS = ("event_id", "tenant", "event", "created_at", "body")


def _decision_row(job: _Pending, case_ref: str) -> dict[str, Any]:
    d = job.decision
    return {"decision_id": d.decision_id, "tenant": d.case.tenant, "case_ref": case_ref, "created_at": d.created_at,
            "route": d.route.route, "reason_code": d.reason.code, "reason_confidence": d.reason.confidence,
            "risk_score": d.risk.score if d.risk else None, "policy_version": d.policy_version,
            "model_versions": d.model_versions, "inputs_sha256": job.document["inputs_sha256"],
            "document": job.document}


def _review_row(job: _Pending, case_ref: str) -> dict[str, Any]:
    r = job.review_item
    assert r is not None
    return {"item_id": r.item_id, "tenant": r.tenant, "decision_id": r.decision_id, "case_ref": case_ref,
            "queue": r.queue, "priority": r.priority, "sla_due_at": r.sla_due_at, "status": r.status,
            "created_at": job.decision.created_at, "fencing_token": 0, "escalation_level": 0}
