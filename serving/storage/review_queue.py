"""Where the review queue and outcomes are stored: claims with leases and fencing tokens, on both backends.

Every change of an item runs in one transaction that first locks the item's row: ``SELECT … FOR UPDATE``
on PostgreSQL (``SKIP LOCKED`` when claiming, so eight claimers take eight different items instead of
queueing on one); on SQLite the engine opens every transaction with ``BEGIN IMMEDIATE``, which already
serialises writers, and the lock clauses are not rendered. The fencing token grows by one whenever the item
is handed to someone (claim, reassignment, supervisor override), and a decision is accepted only with the
current token, so a reviewer whose lease expired and was taken over cannot overwrite the new holder's work.

Every change is also an entry of the decision log (``review_action``, or ``override`` when a supervisor acts
without the token), appended last in the same transaction: the change and its entry commit together or not at
all. Recorded outcomes are ``outcome`` entries the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from returns_triage.errors import Conflict, IdempotencyConflict, NotFound
from returns_triage.serving.domain import review as rules
from returns_triage.serving.domain.model import sha256_of
from returns_triage.serving.domain.webhooks import OUTCOME_RECORDED
from returns_triage.serving.storage.audit_log import OUTCOME, append_entry, append_review_entry, note_sha256
from returns_triage.serving.storage.tables import cases, decisions, outcomes, review_decisions, review_events, review_items
from returns_triage.serving.storage.webhooks import enqueue_event, enqueue_review_decided

__all__ = ["QueueItem", "SqlReviewQueue", "SqlOutcomeStore"]

_ri = review_items.c


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; everything we store is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class QueueItem:
    item_id: str
    case_id: str
    decision_id: str
    queue: str
    skill: str | None
    priority: int
    status: str
    sla_due_at: datetime
    created_at: datetime
    claimed_by: str | None
    lease_expires_at: datetime | None
    fencing_token: int
    escalation_level: int
    completed_at: datetime | None

    def sla_state(self, now: datetime) -> str:
        return rules.sla_state(self.sla_due_at, now, self.completed_at)


_ITEM_COLUMNS = (
    _ri.item_id, cases.c.case_id, _ri.decision_id, _ri.queue, _ri.skill, _ri.priority, _ri.status, _ri.sla_due_at,
    _ri.created_at, _ri.claimed_by, _ri.lease_expires_at, _ri.fencing_token, _ri.escalation_level,
    _ri.completed_at,
)


def _item(row: Any) -> QueueItem:
    return QueueItem(
        item_id=row.item_id, case_id=row.case_id, decision_id=row.decision_id, queue=row.queue, skill=row.skill,
        priority=row.priority, status=row.status, sla_due_at=_utc(row.sla_due_at),  # type: ignore[arg-type]
        created_at=_utc(row.created_at), claimed_by=row.claimed_by,  # type: ignore[arg-type]
        lease_expires_at=_utc(row.lease_expires_at), fencing_token=row.fencing_token,
        escalation_level=row.escalation_level, completed_at=_utc(row.completed_at),
    )


def _claim_order(row: Any) -> tuple[Any, ...]:
    return rules.claim_order_key(row.priority, _utc(row.sla_due_at), _utc(row.created_at), row.item_id)  # type: ignore[arg-type]


def _new_id() -> str:
    return str(uuid.uuid4())


class SqlReviewQueue:
    """The review queue over SQLAlchemy. Times are passed in (``now``) so callers and tests own the clock."""

    def __init__(self, engine: Engine, *, new_id: Callable[[], str] = _new_id) -> None:
        self.engine = engine
        self.new_id = new_id

    # -- reading ---------------------------------------------------------------------------------------------

    def get_item(self, tenant: str, item_id: str) -> QueueItem:
        with self.engine.connect() as conn:
            return self._read(conn, tenant, item_id)

    def list_items(
        self,
        tenant: str,
        *,
        now: datetime,
        queue: str | None = None,
        status: str | None = None,
        breached: bool | None = None,
        claimed_by: str | None = None,
        limit: int = 100,
    ) -> list[QueueItem]:
        """Items in claim order (the order a reviewer would get them)."""
        query = select(*_ITEM_COLUMNS).join(cases, cases.c.id == _ri.case_ref).where(_ri.tenant == tenant)
        if queue is not None:
            query = query.where(_ri.queue == queue)
        if status is not None:
            query = query.where(_ri.status == status)
        if claimed_by is not None:
            query = query.where(_ri.claimed_by == claimed_by)
        if breached is not None:
            is_breached = or_(and_(_ri.completed_at.is_(None), _ri.sla_due_at < now),
                              and_(_ri.completed_at.is_not(None), _ri.sla_due_at < _ri.completed_at))
            query = query.where(is_breached if breached else ~is_breached)
        query = query.order_by(_ri.priority.desc(), _ri.sla_due_at, _ri.created_at, _ri.item_id).limit(limit)
        with self.engine.connect() as conn:
            return [_item(row) for row in conn.execute(query)]

    def events(self, tenant: str, item_id: str) -> list[dict[str, Any]]:
        ev = review_events.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(ev.event, ev.actor, ev.from_status, ev.to_status, ev.fencing_token, ev.override, ev.details,
                       ev.created_at)
                .where(ev.tenant == tenant, ev.item_id == item_id).order_by(ev.event_seq)
            ).all()
        return [{**row._asdict(), "created_at": _utc(row.created_at)} for row in rows]

    # -- claiming --------------------------------------------------------------------------------------------

    def claim(
        self,
        tenant: str,
        queue: str,
        reviewer: str,
        *,
        now: datetime,
        lease: timedelta = rules.DEFAULT_LEASE,
        skills: Sequence[str] | None = None,
        via: str | None = None,
    ) -> QueueItem | None:
        """Take the first claimable item of ``queue`` (pending, or claimed with an expired lease), or None.

        ``via`` names the authenticated caller (an API key) acting for ``reviewer``; the audit entry records both.

        Two narrow look-ups rather than one with an OR: each walks the (queue, status, priority) index in
        claim order and stops at the first unlocked row, where an OR would sort every pending item.
        """
        if self.engine.dialect.name == "postgresql":
            return self._claim_postgresql(tenant, queue, reviewer, now=now, lease=lease, skills=skills, via=via)
        pick = select(_ri.item_id, _ri.status, _ri.claimed_by, _ri.priority, _ri.sla_due_at, _ri.created_at).where(
            _ri.tenant == tenant, _ri.queue == queue)
        if skills is not None:
            pick = pick.where(or_(_ri.skill.is_(None), _ri.skill.in_(list(skills))))
        pick = pick.order_by(_ri.priority.desc(), _ri.sla_due_at, _ri.created_at, _ri.item_id).limit(1)
        with self.engine.begin() as conn:
            expired = conn.execute(pick.where(_ri.status == rules.CLAIMED, _ri.lease_expires_at <= now)
                                   .with_for_update(skip_locked=True)).first()
            pending = conn.execute(pick.where(_ri.status == rules.PENDING).with_for_update(skip_locked=True)).first()
            candidates = [r for r in (expired, pending) if r is not None]
            if not candidates:
                return None
            # The loser stays locked until this short transaction commits; other claimers skip past it.
            row = min(candidates, key=_claim_order)
            token = conn.execute(
                update(review_items).where(_ri.item_id == row.item_id)
                .values(status=rules.CLAIMED, claimed_by=reviewer, lease_expires_at=now + lease,
                        fencing_token=_ri.fencing_token + 1)
                .returning(_ri.fencing_token)
            ).scalar_one()
            reclaimed = row.status == rules.CLAIMED
            details = {"previous_holder": row.claimed_by} if reclaimed else {}
            event = "reclaimed" if reclaimed else "claimed"
            self._event(conn, tenant, row.item_id, event, reviewer, row.status, rules.CLAIMED, token, now,
                        details=details)
            item = self._read(conn, tenant, row.item_id)
            self._log(conn, tenant, item, action=event, actor=reviewer, from_status=row.status, token=token,
                      details=details, via=via)
            return item

    def _claim_postgresql(self, tenant: str, queue: str, reviewer: str, *, now: datetime, lease: timedelta,
                          skills: Sequence[str] | None, via: str | None) -> QueueItem | None:
        """The same claim as one statement: pick, update, record the event and return the item in a single
        round trip, which is what keeps the claim latency low with many pending items and many claimers."""
        skill_filter = "AND (skill IS NULL OR skill = ANY(:skills))" if skills is not None else ""
        candidate = f"""SELECT item_id, status, claimed_by, priority, sla_due_at, created_at FROM review_items
            WHERE tenant = :tenant AND queue = :queue AND {{status}} {skill_filter}
            ORDER BY priority DESC, sla_due_at, created_at, item_id LIMIT 1 FOR UPDATE SKIP LOCKED"""
        statement = text(f"""
            WITH expired AS (
                {candidate.format(status="status = 'claimed' AND lease_expires_at <= :now")}
            ), pending AS (
                {candidate.format(status="status = 'pending'")}
            ), picked AS (
                SELECT * FROM (SELECT * FROM expired UNION ALL SELECT * FROM pending) AS candidates
                ORDER BY priority DESC, sla_due_at, created_at, item_id LIMIT 1
            ), claimed AS (
                UPDATE review_items r
                SET status = 'claimed', claimed_by = :reviewer, lease_expires_at = :expires,
                    fencing_token = r.fencing_token + 1
                FROM picked, cases c
                WHERE r.item_id = picked.item_id AND c.id = r.case_ref
                RETURNING r.item_id, c.case_id, r.decision_id, r.queue, r.skill, r.priority, r.status,
                    r.sla_due_at, r.created_at, r.claimed_by, r.lease_expires_at, r.fencing_token,
                    r.escalation_level, r.completed_at, picked.status AS from_status,
                    picked.claimed_by AS previous_holder
            ), recorded AS (
                INSERT INTO review_events (tenant, item_id, event, actor, from_status, to_status,
                                           fencing_token, override, details, created_at)
                SELECT :tenant, item_id,
                       CASE WHEN from_status = 'claimed' THEN 'reclaimed' ELSE 'claimed' END,
                       :reviewer, from_status, 'claimed', fencing_token, false,
                       CASE WHEN from_status = 'claimed' THEN json_build_object('previous_holder', previous_holder)
                            ELSE '{{}}'::json END,
                       :now
                FROM claimed
            )
            SELECT * FROM claimed
        """)
        params: dict[str, Any] = {"tenant": tenant, "queue": queue, "reviewer": reviewer, "now": now,
                                  "expires": now + lease}
        if skills is not None:
            params["skills"] = list(skills)
        with self.engine.begin() as conn:
            row = conn.execute(statement, params).first()
            if row is None:
                return None
            item = _item(row)
            reclaimed = row.from_status == rules.CLAIMED
            self._log(conn, tenant, item, action="reclaimed" if reclaimed else "claimed", actor=reviewer,
                      from_status=row.from_status, token=item.fencing_token,
                      details={"previous_holder": row.previous_holder} if reclaimed else {}, via=via)
        return item

    def renew(self, tenant: str, item_id: str, reviewer: str, *, token: int, now: datetime,
              lease: timedelta = rules.DEFAULT_LEASE) -> QueueItem:
        """Extend the holder's lease (a reviewer still working on the case)."""
        with self.engine.begin() as conn:
            row = self._lock(conn, tenant, item_id)
            self._check_holder(row, reviewer, token)
            conn.execute(update(review_items).where(_ri.item_id == item_id).values(lease_expires_at=now + lease))
            return self._read(conn, tenant, item_id)

    # -- deciding and moving -----------------------------------------------------------------------------------

    def decide(
        self,
        tenant: str,
        item_id: str,
        verdict: rules.ReviewVerdict,
        *,
        token: int | None,
        now: datetime,
        override: bool = False,
        via: str | None = None,
    ) -> tuple[QueueItem, dict[str, Any]]:
        """Record the verdict of the token's holder (or a supervisor's override); approve / reject also become
        a ``review`` outcome of the case. Returns the item after the decision and the stored review decision."""
        if verdict.action not in rules.ACTIONS:
            raise ValueError(f"unknown action {verdict.action!r}")
        with self.engine.begin() as conn:
            row = self._lock(conn, tenant, item_id)
            if override and row.status == rules.DONE:
                raise Conflict(f"review item {item_id} is already decided", code="item_closed")
            token = self._authorise(row, verdict.reviewer, token, override)
            ai = conn.execute(
                select(decisions.c.reason_code, decisions.c.reason_confidence, decisions.c.route,
                       decisions.c.risk_score, decisions.c.document)
                .where(decisions.c.decision_id == row.decision_id)
            ).one()
            risk_band = ((ai.document or {}).get("risk") or {}).get("band")
            suggestion = {"reason_code": ai.reason_code, "reason_confidence": ai.reason_confidence,
                          "route": ai.route, "risk_score": ai.risk_score, "risk_band": risk_band}
            agreement = rules.ai_agreement(ai.reason_code, ai.route, risk_band, action=verdict.action,
                                           corrected_reason_code=verdict.corrected_reason_code,
                                           fraud_confirmed=verdict.fraud_confirmed)
            new_status = rules.status_after(verdict.action)
            values: dict[str, Any] = {"status": new_status, "claimed_by": None, "lease_expires_at": None}
            if new_status == rules.DONE:
                values["completed_at"] = now
            if verdict.action == "escalate":
                values["queue"], values["priority"], values["escalation_level"] = rules.escalation_target(
                    row.queue, row.priority, row.escalation_level)
            self._apply(conn, item_id, token, values, bump=override)
            review_decision_id = self.new_id()
            stored = {
                "review_decision_id": review_decision_id, "item_id": item_id, "decision_id": row.decision_id,
                "reviewer": verdict.reviewer, "action": verdict.action, "fencing_token": token,
                "corrected_reason_code": verdict.corrected_reason_code, "fraud_confirmed": verdict.fraud_confirmed,
                "note": verdict.note, "ai_suggestion": suggestion, "ai_agreement": agreement, "override": override,
                "created_at": now,
            }
            conn.execute(review_decisions.insert().values(tenant=tenant, case_ref=row.case_ref, **stored))
            outcome_id = f"review-{review_decision_id}" if verdict.is_label() else None
            if outcome_id is not None:
                conn.execute(outcomes.insert().values(
                    tenant=tenant, outcome_id=outcome_id, case_ref=row.case_ref,
                    decision_id=row.decision_id, kind="review", source="review",
                    confirmed_reason_code=verdict.corrected_reason_code or ai.reason_code,
                    fraud_confirmed=verdict.fraud_confirmed, note=verdict.note, occurred_at=now, received_at=now,
                    out_of_order=False, request_sha256=sha256_of({k: v for k, v in stored.items()}),
                ))
            self._event(conn, tenant, item_id, "decided", verdict.reviewer, row.status, new_status, token, now,
                        override=override, details={"action": verdict.action, "review_decision_id": review_decision_id})
            enqueue_review_decided(conn, tenant=tenant, case_ref=row.case_ref, item_status=new_status,
                                   review_decision=stored, now=now)
            item = self._read(conn, tenant, item_id)
            self._log(conn, tenant, item, action="decided", actor=verdict.reviewer, from_status=row.status,
                      token=token, override=override, via=via, details={
                          "verdict": verdict.action, "review_decision_id": review_decision_id,
                          "corrected_reason_code": verdict.corrected_reason_code,
                          "fraud_confirmed": verdict.fraud_confirmed, "ai_suggestion": suggestion,
                          "ai_agreement": agreement, "outcome_id": outcome_id, "note": verdict.note})
            return item, stored

    def release(self, tenant: str, item_id: str, actor: str, *, token: int | None, now: datetime,
                override: bool = False, note: str | None = None, via: str | None = None) -> QueueItem:
        """Give the item back to its queue (the holder, or a supervisor — also for an awaiting_info item)."""
        with self.engine.begin() as conn:
            row = self._lock(conn, tenant, item_id)
            if override and row.status == rules.DONE:
                raise Conflict(f"review item {item_id} is already decided", code="item_closed")
            token = self._authorise(row, actor, token, override)
            self._apply(conn, item_id, token, {"status": rules.PENDING, "claimed_by": None,
                                               "lease_expires_at": None}, bump=override)
            details = {"note": note} if note else {}
            self._event(conn, tenant, item_id, "released", actor, row.status, rules.PENDING, token, now,
                        override=override, details=details)
            return self._logged(conn, tenant, item_id, action="released", actor=actor, from_status=row.status,
                                token=token, override=override, details=details, via=via)

    def escalate(self, tenant: str, item_id: str, actor: str, *, token: int | None, now: datetime,
                 to_queue: str | None = None, override: bool = False, note: str | None = None,
                 via: str | None = None) -> QueueItem:
        """Move the item to the supervisors' queue (or ``to_queue``), raised in priority, unclaimed."""
        with self.engine.begin() as conn:
            row = self._lock(conn, tenant, item_id)
            if row.status == rules.DONE:
                raise Conflict(f"review item {item_id} is already decided", code="item_closed")
            token = self._authorise(row, actor, token, override)
            queue, priority, level = rules.escalation_target(row.queue, row.priority, row.escalation_level, to_queue)
            self._apply(conn, item_id, token, {"status": rules.PENDING, "claimed_by": None, "lease_expires_at": None,
                                               "queue": queue, "priority": priority, "escalation_level": level},
                        bump=override)
            details = {"from_queue": row.queue, "to_queue": queue, "level": level, **({"note": note} if note else {})}
            self._event(conn, tenant, item_id, "escalated", actor, row.status, rules.PENDING, token, now,
                        override=override, details=details)
            return self._logged(conn, tenant, item_id, action="escalated", actor=actor, from_status=row.status,
                                token=token, override=override, details=details, via=via)

    def reassign(self, tenant: str, item_id: str, actor: str, *, token: int | None, now: datetime,
                 to_reviewer: str | None = None, to_queue: str | None = None,
                 lease: timedelta = rules.DEFAULT_LEASE, override: bool = False,
                 note: str | None = None, via: str | None = None) -> QueueItem:
        """Hand the item to another reviewer (claimed by them, new token) and/or move it to another queue."""
        if to_reviewer is None and to_queue is None:
            raise ValueError("reassign needs to_reviewer or to_queue")
        with self.engine.begin() as conn:
            row = self._lock(conn, tenant, item_id)
            if row.status == rules.DONE:
                raise Conflict(f"review item {item_id} is already decided", code="item_closed")
            token = self._authorise(row, actor, token, override)
            values: dict[str, Any] = {"queue": to_queue or row.queue}
            if to_reviewer is not None:
                values.update(status=rules.CLAIMED, claimed_by=to_reviewer, lease_expires_at=now + lease,
                              fencing_token=row.fencing_token + 1)
            else:
                values.update(status=rules.PENDING, claimed_by=None, lease_expires_at=None)
            self._apply(conn, item_id, token, values)
            details = {"from_reviewer": row.claimed_by, "to_reviewer": to_reviewer, "from_queue": row.queue,
                       "to_queue": values["queue"], **({"note": note} if note else {})}
            self._event(conn, tenant, item_id, "reassigned", actor, row.status, values["status"],
                        values.get("fencing_token", token), now, override=override, details=details)
            return self._logged(conn, tenant, item_id, action="reassigned", actor=actor, from_status=row.status,
                                token=token, override=override, details=details, via=via)

    # -- helpers -----------------------------------------------------------------------------------------------

    def _lock(self, conn: Connection, tenant: str, item_id: str) -> Any:
        row = conn.execute(
            select(_ri.item_id, _ri.decision_id, _ri.case_ref, _ri.queue, _ri.priority, _ri.status, _ri.claimed_by,
                   _ri.fencing_token, _ri.escalation_level, _ri.lease_expires_at)
            .where(_ri.tenant == tenant, _ri.item_id == item_id).with_for_update()
        ).first()
        if row is None:
            raise NotFound(f"review item {item_id} not found")
        return row

    def _read(self, conn: Connection, tenant: str, item_id: str) -> QueueItem:
        row = conn.execute(
            select(*_ITEM_COLUMNS).join(cases, cases.c.id == _ri.case_ref)
            .where(_ri.tenant == tenant, _ri.item_id == item_id)
        ).first()
        if row is None:
            raise NotFound(f"review item {item_id} not found")
        return _item(row)

    @staticmethod
    def _check_holder(row: Any, actor: str, token: int | None) -> None:
        if token is None:
            raise Conflict("a fencing token is required: claim the item first", code="token_required")
        if token != row.fencing_token:
            raise Conflict(
                f"stale fencing token {token} for review item {row.item_id}: the item was claimed again "
                f"(current token {row.fencing_token}); claim it to continue", code="stale_token")
        if row.status != rules.CLAIMED:
            raise Conflict(f"review item {row.item_id} is {row.status}, not claimed", code="not_claimed")
        if row.claimed_by != actor:
            raise Conflict(f"review item {row.item_id} is claimed by someone else", code="not_holder")

    def _authorise(self, row: Any, actor: str, token: int | None, override: bool) -> int:
        """The token the change is made under. A holder's lease that ran out is still honoured while nobody
        has reclaimed the item: the token is still current, so no one else's work can be overwritten."""
        if override:
            return int(row.fencing_token)
        self._check_holder(row, actor, token)
        assert token is not None
        return token

    @staticmethod
    def _apply(conn: Connection, item_id: str, token: int, values: dict[str, Any], *, bump: bool = False) -> None:
        """Update the item under ``token``; ``bump`` (a supervisor override) fences the former holder out."""
        if bump:
            values = {**values, "fencing_token": token + 1}
        # The row is locked, so the token cannot have moved; the guard keeps the update honest regardless.
        done = conn.execute(update(review_items)
                            .where(_ri.item_id == item_id, _ri.fencing_token == token).values(**values))
        if done.rowcount != 1:
            raise Conflict(f"review item {item_id} changed underneath this request", code="stale_token")

    def _logged(self, conn: Connection, tenant: str, item_id: str, **entry: Any) -> QueueItem:
        """The item as changed, after appending the change's audit entry (see :meth:`_log`)."""
        item = self._read(conn, tenant, item_id)
        self._log(conn, tenant, item, **entry)
        return item

    @staticmethod
    def _log(conn: Connection, tenant: str, item: QueueItem, *, action: str, actor: str, from_status: str,
             token: int, override: bool = False, details: dict[str, Any] | None = None,
             via: str | None = None) -> None:
        """Append the change's entry to the decision log. Called last in the change's transaction, so the chain's
        writer lock (taken by the append) is held only for the commit that follows, and always after the item's
        row lock, in the same order as every other appender."""
        facts = dict(details or {})
        note = facts.pop("note", None)
        payload: dict[str, Any] = {
            "action": action, "item_id": item.item_id, "decision_id": item.decision_id, "case_id": item.case_id,
            "queue": item.queue, "from_status": from_status, "to_status": item.status,
            # The token the change was made under, and the item's token after it (a claim, a hand-over and an
            # override move it on, fencing the previous holder out).
            "fencing_token": token, "item_fencing_token": item.fencing_token, "override": override,
            "claimed_by": item.claimed_by,
            "lease_expires_at": item.lease_expires_at.isoformat() if item.lease_expires_at else None,
            **facts,
        }
        if note is not None:
            payload["note_sha256"] = note_sha256(note)
        if via is not None:
            payload["authenticated_as"] = via
        append_review_entry(conn, tenant=tenant, decision_id=item.decision_id, actor=actor, override=override,
                            payload=payload)

    def _event(self, conn: Connection, tenant: str, item_id: str, event: str, actor: str, from_status: str,
               to_status: str, token: int, now: datetime, *, override: bool = False,
               details: dict[str, Any] | None = None) -> None:
        conn.execute(review_events.insert().values(
            tenant=tenant, item_id=item_id, event=event, actor=actor,
            from_status=from_status, to_status=to_status, fencing_token=token, override=override,
            details=details or {}, created_at=now,
        ))


_OUTCOME_FIELDS = ("condition_grade", "confirmed_reason_code", "disposition", "fraud_confirmed", "amount",
                   "currency", "note")


class SqlOutcomeStore:
    """Outcomes, idempotent by (tenant, outcome_id); each is joined to the case's latest decision."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    def record(self, tenant: str, outcome: rules.Outcome, *, request_sha256: str, now: datetime,
               actor: str = "service:outcomes") -> tuple[dict[str, Any], bool]:
        """Store the outcome once, with its ``outcome`` entry in the decision log in the same transaction.
        Returns (stored outcome, replayed); a reused id with another body raises and appends nothing."""
        with self.engine.begin() as conn:
            case_ref = conn.execute(select(cases.c.id).where(cases.c.tenant == tenant,
                                                             cases.c.case_id == outcome.case_id)).scalar()
            stored = self._stored(conn, tenant, outcome.outcome_id)
            if stored is None:
                if case_ref is None:
                    raise NotFound(f"case {outcome.case_id} not found: outcomes join a scored case")
                decision_id = conn.execute(
                    select(decisions.c.decision_id).where(decisions.c.case_ref == case_ref)
                    .order_by(decisions.c.created_at.desc()).limit(1)
                ).scalar()
                latest = conn.execute(
                    select(func.max(outcomes.c.occurred_at))
                    .where(outcomes.c.case_ref == case_ref, outcomes.c.kind == outcome.kind)
                ).scalar()
                # A late outcome (older than one of its kind already recorded) is kept, but never current.
                out_of_order = latest is not None and outcome.occurred_at < _utc(latest)  # type: ignore[operator]
                inserted = conn.execute(
                    self._insert(outcomes).values(
                        tenant=tenant, outcome_id=outcome.outcome_id, case_ref=case_ref, decision_id=decision_id,
                        kind=outcome.kind, source="api", occurred_at=outcome.occurred_at, received_at=now,
                        out_of_order=out_of_order, request_sha256=request_sha256,
                        **{f: getattr(outcome, f) for f in _OUTCOME_FIELDS},
                    ).on_conflict_do_nothing(index_elements=["tenant", "outcome_id"])
                    .returning(outcomes.c.outcome_id)  # rowcount is -1 here on psycopg 3: ask for the row
                ).first()
                stored = self._stored(conn, tenant, outcome.outcome_id)
                assert stored is not None
                if inserted is not None:
                    enqueue_event(conn, tenant=tenant, event=OUTCOME_RECORDED, data=stored, now=now)
                    # Filed under the decision the outcome is joined to, beside that decision's own entry.
                    append_entry(conn, tenant=tenant, kind=OUTCOME, actor=actor, payload=_outcome_entry(stored),
                                 subject_id=stored["decision_id"] or stored["case_id"])
                    return stored, False
        if stored["request_sha256"] != request_sha256:
            raise IdempotencyConflict(f"outcome {outcome.outcome_id} was already recorded with a different body; "
                                      "use a new outcome_id for a new fact")
        return stored, True

    def for_case(self, tenant: str, case_id: str) -> dict[str, Any]:
        """The case's decisions, review decisions and outcomes; each outcome says whether it is current."""
        with self.engine.connect() as conn:
            case_ref = conn.execute(select(cases.c.id).where(cases.c.tenant == tenant,
                                                             cases.c.case_id == case_id)).scalar()
            if case_ref is None:
                raise NotFound(f"case {case_id} not found")
            decided = conn.execute(
                select(decisions.c.decision_id, decisions.c.created_at, decisions.c.route, decisions.c.reason_code,
                       decisions.c.reason_confidence, decisions.c.risk_score)
                .where(decisions.c.case_ref == case_ref).order_by(decisions.c.created_at)
            ).all()
            rd = review_decisions.c
            reviews = conn.execute(
                select(rd.review_decision_id, rd.item_id, rd.decision_id, rd.reviewer, rd.action,
                       rd.corrected_reason_code, rd.fraud_confirmed, rd.note, rd.ai_suggestion, rd.ai_agreement,
                       rd.override, rd.created_at)
                .where(rd.case_ref == case_ref).order_by(rd.created_at)
            ).all()
            rows = conn.execute(
                select(*_outcome_columns(), cases.c.case_id).join(cases, cases.c.id == outcomes.c.case_ref)
                .where(outcomes.c.case_ref == case_ref).order_by(outcomes.c.occurred_at, outcomes.c.received_at)
            ).all()
        found = [_outcome(r) for r in rows]
        current: dict[str, str] = {}
        for o in found:  # ordered by occurrence: the last of each kind wins
            current[o["kind"]] = o["outcome_id"]
        for o in found:
            o["current"] = current[o["kind"]] == o["outcome_id"]
        return {
            "case_id": case_id,
            "decisions": [{**r._asdict(), "created_at": _utc(r.created_at)} for r in decided],
            "reviews": [{**r._asdict(), "created_at": _utc(r.created_at)} for r in reviews],
            "outcomes": found,
        }

    @staticmethod
    def _stored(conn: Connection, tenant: str, outcome_id: str) -> dict[str, Any] | None:
        row = conn.execute(
            select(*_outcome_columns(), cases.c.case_id).join(cases, cases.c.id == outcomes.c.case_ref)
            .where(outcomes.c.tenant == tenant, outcomes.c.outcome_id == outcome_id)
        ).first()
        return None if row is None else _outcome(row)


def _outcome_entry(stored: dict[str, Any]) -> dict[str, Any]:
    """An outcome as the decision log keeps it: every fact, the note as its digest (see ``note_sha256``)."""
    entry = {k: v for k, v in stored.items() if k != "note"}
    entry["occurred_at"] = stored["occurred_at"].isoformat()
    entry["received_at"] = stored["received_at"].isoformat()
    if stored.get("note") is not None:
        entry["note_sha256"] = note_sha256(stored["note"])
    return entry


def _outcome_columns() -> list[Any]:
    c = outcomes.c
    return [c.outcome_id, c.decision_id, c.kind, c.source, *(c[f] for f in _OUTCOME_FIELDS), c.occurred_at,
            c.received_at, c.out_of_order, c.request_sha256]


def _outcome(row: Any) -> dict[str, Any]:
    out = row._asdict()
    out["occurred_at"] = _utc(out["occurred_at"])
    out["received_at"] = _utc(out["received_at"])
    return out
