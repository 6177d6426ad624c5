"""Where supplier claims are stored: opened inside an inspection's transaction, read with their evidence, moved
through their statuses under a row lock. Every change is an entry of the decision log (kind ``supplier_claim``).

Two inspections of one supplier must not both open a claim for the same evidence: on PostgreSQL the opener takes
a transaction-scoped advisory lock per (tenant, supplier); SQLite's ``BEGIN IMMEDIATE`` already serialises writers.
The unique inspection id in ``supplier_claim_items`` is the backstop.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, exists, select, text, update

from returns_triage.errors import NotFound, RuleViolation
from returns_triage.serving.domain import supplier_claims as rules
from returns_triage.serving.storage.audit_log import append_entry
from returns_triage.serving.storage.tables import (
    cases,
    inspections,
    supplier_claim_events,
    supplier_claim_items,
    supplier_claims,
)

__all__ = ["attach_inspection", "SqlSupplierClaimStore", "CLAIM_COLUMNS"]

_sc, _si, _in = supplier_claims.c, supplier_claim_items.c, inspections.c
CLAIM_COLUMNS = ("claim_id", "supplier_id", "sku", "trigger", "status", "currency", "quantity", "claimed_amount",
                 "recovered_amount", "note", "created_at", "updated_at", "submitted_at", "resolved_at")


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _lock_supplier(conn: Connection, tenant: str, supplier_id: str) -> None:
    if conn.dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(f"claims\0{tenant}\0{supplier_id}".encode()).digest()[:8], "big",
                             signed=True)
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def _open_claim(conn: Connection, *, tenant: str, supplier_id: str, sku: str | None, trigger: str,
                currency: str, now: datetime, actor: str) -> str:
    claim_id = str(uuid.uuid4())
    conn.execute(supplier_claims.insert().values(
        claim_id=claim_id, tenant=tenant, supplier_id=supplier_id, sku=sku, trigger=trigger, status=rules.OPEN,
        currency=currency, quantity=0, claimed_amount=0.0, created_at=now, updated_at=now))
    conn.execute(supplier_claim_events.insert().values(
        tenant=tenant, claim_id=claim_id, actor=actor, from_status=None, to_status=rules.OPEN,
        details={"trigger": trigger}, created_at=now))
    return claim_id


def _add_evidence(conn: Connection, claim_id: str, rows: Sequence[Any], now: datetime) -> tuple[int, float]:
    quantity, amount = 0, 0.0
    for row in rows:
        value = rules.claim_amount(row.unit_price, row.quantity)
        conn.execute(supplier_claim_items.insert().values(claim_id=claim_id, inspection_id=row.inspection_id,
                                                          amount=value))
        quantity += int(row.quantity)
        amount += value
    conn.execute(update(supplier_claims).where(_sc.claim_id == claim_id).values(
        quantity=_sc.quantity + quantity, claimed_amount=_sc.claimed_amount + round(amount, 2), updated_at=now))
    return quantity, round(amount, 2)


def attach_inspection(conn: Connection, *, tenant: str, inspection_id: str, rule: rules.DefectPatternRule,
                      actor: str, now: datetime) -> dict[str, Any] | None:
    """Make a just-inserted inspection evidence of a claim when a trigger fires, in the caller's transaction.

    Returns ``{"claim_id", "trigger", "status", "opened"}`` or None when no claim is concerned.
    """
    row = conn.execute(select(_in.inspection_id, _in.supplier_id, _in.sku, _in.disposition, _in.reason_code,
                              _in.grade, _in.currency, _in.unit_price, _in.quantity, _in.inspected_at)
                       .where(_in.inspection_id == inspection_id)).one()
    if row.supplier_id is None or not rules.is_defect(row.reason_code, row.grade, row.disposition):
        return None
    _lock_supplier(conn, tenant, row.supplier_id)
    if row.disposition == rules.RETURN_TO_VENDOR:
        claim_id = conn.execute(
            select(_sc.claim_id).where(_sc.tenant == tenant, _sc.supplier_id == row.supplier_id,
                                       _sc.trigger == rules.RETURN_TO_VENDOR, _sc.status == rules.OPEN,
                                       _sc.currency == row.currency)
            .order_by(_sc.created_at, _sc.claim_id).limit(1)
        ).scalar_one_or_none()
        opened = claim_id is None
        if claim_id is None:
            claim_id = _open_claim(conn, tenant=tenant, supplier_id=row.supplier_id, sku=None,
                                   trigger=rules.RETURN_TO_VENDOR, currency=row.currency, now=now, actor=actor)
        evidence = [row]
        trigger = rules.RETURN_TO_VENDOR
    else:
        if row.sku is None:
            return None
        claimed = exists().where(_si.inspection_id == _in.inspection_id)
        evidence = conn.execute(
            select(_in.inspection_id, _in.unit_price, _in.quantity)
            .where(_in.tenant == tenant, _in.supplier_id == row.supplier_id, _in.sku == row.sku,
                   _in.currency == row.currency, _in.disposition != rules.RETURN_TO_VENDOR,
                   _in.reason_code.in_(sorted(rules.DEFECT_REASONS)), _in.grade.in_(sorted(rules.DEFECT_GRADES)),
                   _in.inspected_at > row.inspected_at - rule.window, _in.inspected_at <= row.inspected_at,
                   ~claimed)
            .order_by(_in.inspected_at, _in.inspection_id)
        ).all()
        if not rule.is_pattern(len(evidence)):
            return None
        opened, trigger = True, rules.DEFECT_PATTERN
        claim_id = _open_claim(conn, tenant=tenant, supplier_id=row.supplier_id, sku=row.sku, trigger=trigger,
                               currency=row.currency, now=now, actor=actor)
    quantity, amount = _add_evidence(conn, claim_id, evidence, now)
    append_entry(conn, tenant=tenant, kind="supplier_claim", subject_id=claim_id, actor=actor, payload={
        "event": "opened" if opened else "evidence_added", "trigger": trigger, "supplier_id": row.supplier_id,
        "sku": row.sku if trigger == rules.DEFECT_PATTERN else None,
        "inspection_ids": [e.inspection_id for e in evidence], "quantity": quantity, "amount": amount,
        "currency": row.currency})
    return {"claim_id": claim_id, "trigger": trigger, "status": rules.OPEN, "opened": opened}


class SqlSupplierClaimStore:
    """Claims as procurement reads and updates them; every query is scoped to the caller's tenant."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def list_claims(self, tenant: str, *, status: str | None = None, supplier_id: str | None = None,
                    limit: int = 100) -> list[dict[str, Any]]:
        query = select(*(_sc[c] for c in CLAIM_COLUMNS)).where(_sc.tenant == tenant)
        if status is not None:
            query = query.where(_sc.status == status)
        if supplier_id is not None:
            query = query.where(_sc.supplier_id == supplier_id)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(_sc.created_at.desc(), _sc.claim_id).limit(limit)).all()
        return [self._claim(r) for r in rows]

    def get_claim(self, tenant: str, claim_id: str) -> dict[str, Any]:
        """The claim, its evidence lines (one per inspected unit) and its status history."""
        with self.engine.connect() as conn:
            row = conn.execute(select(*(_sc[c] for c in CLAIM_COLUMNS))
                               .where(_sc.tenant == tenant, _sc.claim_id == claim_id)).first()
            if row is None:
                raise NotFound(f"supplier claim {claim_id} not found", code="supplier_claim_not_found")
            ev = supplier_claim_events.c
            history = conn.execute(select(ev.actor, ev.from_status, ev.to_status, ev.details, ev.created_at)
                                   .where(ev.claim_id == claim_id).order_by(ev.event_seq)).all()
            evidence = self.evidence(conn, [claim_id])
        return {**self._claim(row), "evidence": evidence.get(claim_id, []),
                "history": [{**h._asdict(), "created_at": _utc(h.created_at)} for h in history]}

    @staticmethod
    def evidence(conn: Connection, claim_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        rows = conn.execute(
            select(_si.claim_id, _si.amount, _in.inspection_id, cases.c.case_id, _in.sku, _in.serial_numbers,
                   _in.quantity, _in.unit_price, _in.currency, _in.grade, _in.serial_check, _in.notes,
                   _in.disposition, _in.document_ids, _in.photos, _in.inspector, _in.facility, _in.inspected_at,
                   _in.decision_id)
            .join(inspections, _in.inspection_id == _si.inspection_id)
            .join(cases, cases.c.id == _in.case_ref)
            .where(_si.claim_id.in_(list(claim_ids)))
            .order_by(_in.inspected_at, _in.inspection_id)
        ).all()
        out: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            line = r._asdict()
            claim_id = line.pop("claim_id")
            line["inspected_at"] = _utc(line["inspected_at"])
            out.setdefault(claim_id, []).append(line)
        return out

    def export(self, tenant: str, *, status: str | None = None,
               supplier_id: str | None = None, limit: int = 10_000) -> list[dict[str, Any]]:
        """Claims with their evidence, for procurement's systems."""
        claims = self.list_claims(tenant, status=status, supplier_id=supplier_id, limit=limit)
        with self.engine.connect() as conn:
            evidence = self.evidence(conn, [c["claim_id"] for c in claims]) if claims else {}
        return [{**c, "evidence": evidence.get(c["claim_id"], [])} for c in claims]

    def transition(self, tenant: str, claim_id: str, *, status: str, actor: str, now: datetime,
                   recovered_amount: float | None = None, note: str | None = None) -> dict[str, Any]:
        """Move a claim to ``status`` (RuleViolation when the move is not allowed); recorded in its history and
        the decision log in the same transaction."""
        with self.engine.begin() as conn:
            row = conn.execute(select(_sc.status, _sc.claimed_amount)
                               .where(_sc.tenant == tenant, _sc.claim_id == claim_id).with_for_update()).first()
            if row is None:
                raise NotFound(f"supplier claim {claim_id} not found", code="supplier_claim_not_found")
            problem = rules.transition_problem(row.status, status, recovered_amount=recovered_amount,
                                               claimed_amount=float(row.claimed_amount))
            if problem is not None:
                raise RuleViolation(problem[1], field=problem[0], code="invalid_claim_transition")
            values: dict[str, Any] = {"status": status, "updated_at": now}
            if status == rules.SUBMITTED:
                values["submitted_at"] = now
            if status in (rules.ACCEPTED, rules.REJECTED):
                values["resolved_at"] = now
            if status == rules.REJECTED:
                values["recovered_amount"] = 0.0
            if status == rules.RECOVERED:
                values["recovered_amount"] = round(float(recovered_amount or 0.0), 2)
            if note is not None:
                values["note"] = note
            conn.execute(update(supplier_claims).where(and_(_sc.tenant == tenant, _sc.claim_id == claim_id))
                         .values(**values))
            details = {"recovered_amount": values.get("recovered_amount"), "note": note}
            conn.execute(supplier_claim_events.insert().values(
                tenant=tenant, claim_id=claim_id, actor=actor, from_status=row.status, to_status=status,
                details=details, created_at=now))
            append_entry(conn, tenant=tenant, kind="supplier_claim", subject_id=claim_id, actor=actor,
                         payload={"event": "status", "from": row.status, "to": status, **details})
        return self.get_claim(tenant, claim_id)

    @staticmethod
    def _claim(row: Any) -> dict[str, Any]:
        out = row._asdict()
        for k in ("created_at", "updated_at", "submitted_at", "resolved_at"):
            out[k] = _utc(out[k])
        return out
