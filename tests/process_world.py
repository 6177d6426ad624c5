"""A small, seeded world of stored returns for the process-KPI tests: cases, return and disposition decisions,
review items (open, done, breached), review decisions, credit outcomes, inspections and supplier claims, spread
over eight weeks before ``until`` with a few rows before the window. Also the KPIs computed by hand-written SQL,
independently of serving/storage/kpis.py, on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text

from returns_triage.serving.storage.tables import (
    cases, decisions, inspections, outcomes, review_decisions, review_items, supplier_claims,
)

FACILITIES = ("DC-ROTTERDAM", "DC-LYON", "DC-POZNAN")
CHANNELS = ("portal", "store")
REASONS = ("DEFECTIVE", "DAMAGED_IN_TRANSIT", "NO_LONGER_NEEDED", "WRONG_ITEM_SHIPPED")
SKUS = ("PT-DRL-18V", "EL-KTL-2L", "GD-HOSE-25")
DISPOSITIONS = ("restock", "refurbish", "return_to_vendor", "scrap")


_IDS = random.Random(0)


def _id() -> str:
    return str(uuid.UUID(int=_IDS.getrandbits(128)))


def seed_process_world(engine: Engine, *, until: datetime, tenant: str = "default", n: int = 80,
                       seed: int = 5) -> None:
    rng = random.Random(seed)
    _IDS.seed(seed)
    rows: dict[str, list[dict[str, Any]]] = {k: [] for k in ("cases", "decisions", "review_items",
                                                            "review_decisions", "outcomes", "inspections",
                                                            "supplier_claims")}
    for k in range(n):
        created = until - timedelta(days=rng.uniform(-0.2, 60), minutes=rng.randint(0, 600))
        if created >= until:
            created = until - timedelta(hours=1)
        case_ref, facility, channel = _id(), rng.choice(FACILITIES), rng.choice(CHANNELS)
        sku, reason = rng.choice(SKUS), rng.choice(REASONS)
        rows["cases"].append(dict(id=case_ref, tenant=tenant, case_id=f"RMA-{k:04d}", facility=facility,
                                  channel=channel, segment="consumer", created_at=created,
                                  payload={"line": {"sku": sku, "unit_price": 50.0 + k}}))
        decision_id = _id()
        route = "review" if rng.random() < 0.45 else rng.choice(("auto_approve", "auto_approve", "auto_decline"))
        doc = {"decision_id": decision_id, "route": route}
        rows["decisions"].append(dict(decision_id=decision_id, tenant=tenant, case_ref=case_ref, created_at=created,
                                      route=route, reason_code=reason, reason_confidence=0.9, risk_score=0.1,
                                      policy_version="p1", model_versions={}, inputs_sha256="0" * 64, document=doc,
                                      kind="return"))
        rejected = False
        if route == "review":
            item_id = _id()
            done = rng.random() < 0.6
            completed = created + timedelta(hours=rng.uniform(1, 60)) if done else None
            if completed is not None and completed >= until:
                completed, done = None, False
            rows["review_items"].append(dict(item_id=item_id, tenant=tenant, decision_id=decision_id,
                                             case_ref=case_ref, queue="returns", priority=50,
                                             sla_due_at=created + timedelta(hours=24),
                                             status="done" if done else "pending", created_at=created,
                                             fencing_token=1, escalation_level=0, completed_at=completed))
            if done:
                action = rng.choice(("approve", "approve", "reject"))
                rejected = action == "reject"
                rows["review_decisions"].append(dict(
                    review_decision_id=_id(), tenant=tenant, item_id=item_id, decision_id=decision_id,
                    case_ref=case_ref, reviewer="r1", action=action, fencing_token=1, ai_suggestion={},
                    ai_agreement=rng.choice(("confirms", "confirms", "overrides")), override=False,
                    created_at=completed))
        if not rejected and route != "auto_decline" and rng.random() < 0.7:
            inspected = created + timedelta(hours=rng.uniform(24, 24 * 6))
            if inspected < until:
                received = inspected - timedelta(hours=rng.uniform(1, 48)) if rng.random() < 0.8 else None
                disposition = rng.choice(DISPOSITIONS)
                disp_id, inspection_id = _id(), _id()
                rows["decisions"].append(dict(
                    decision_id=disp_id, tenant=tenant, case_ref=case_ref, created_at=inspected, route="auto_approve",
                    reason_code=reason, reason_confidence=0.9, risk_score=0.1, policy_version="d1",
                    model_versions={}, inputs_sha256="0" * 64, document={}, kind="disposition"))
                rows["inspections"].append(dict(
                    inspection_id=inspection_id, tenant=tenant, case_ref=case_ref, decision_id=disp_id,
                    idempotency_key=f"insp-{k}", request_sha256="0" * 64, response_body=b"{}", inspector="i1",
                    facility=facility, channel=channel, reason_code=reason, sku=sku, supplier_id="SUP-1",
                    grade=rng.choice("ABCD"), serial_check="match", notes="", serial_numbers=[], photos=None,
                    document_ids=[], quantity=1, unit_price=50.0 + k, currency="EUR", received_at=received,
                    inspected_at=inspected, disposition=disposition, confidence=0.9, abstain=False,
                    recommendation={}, created_at=inspected))
                credited = inspected + timedelta(hours=rng.uniform(2, 96))
                if rng.random() < 0.75 and credited < until:
                    rows["outcomes"].append(dict(
                        tenant=tenant, outcome_id=f"credit-{k}", case_ref=case_ref, decision_id=decision_id,
                        kind="credit", source="workflow", amount=50.0, currency="EUR", occurred_at=credited,
                        received_at=credited, out_of_order=False, request_sha256="0" * 64))
    for k in range(12):
        created = until - timedelta(days=rng.uniform(0, 70))
        status = rng.choice(("open", "submitted", "recovered", "rejected", "recovered"))
        claimed = round(rng.uniform(100, 900), 2)
        recovered = (round(claimed * rng.uniform(0.3, 1.0), 2) if status == "recovered"
                     else 0.0 if status == "rejected" else None)
        rows["supplier_claims"].append(dict(
            claim_id=_id(), tenant=tenant, supplier_id=f"SUP-{k % 3}", sku=rng.choice(SKUS),
            trigger="return_to_vendor", status=status, currency="EUR", quantity=rng.randint(1, 5),
            claimed_amount=claimed, recovered_amount=recovered, created_at=created, updated_at=created))
    tables = {"cases": cases, "decisions": decisions, "review_items": review_items,
              "review_decisions": review_decisions, "outcomes": outcomes, "inspections": inspections,
              "supplier_claims": supplier_claims}
    with engine.begin() as conn:
        for name in ("cases", "decisions", "review_items", "review_decisions", "outcomes", "inspections",
                     "supplier_claims"):
            if rows[name]:
                conn.execute(tables[name].insert(), rows[name])


# ------------------------------------------------------------------------------------------ the KPIs by hand


def _sql_parts(engine: Engine) -> dict[str, Any]:
    if engine.dialect.name == "postgresql":
        return {
            "H": lambda a, b: f"(EXTRACT(EPOCH FROM (({a}) - ({b}))) / 3600.0)",
            "W": lambda ts: f"to_char(date_trunc('week', ({ts}) AT TIME ZONE 'UTC'), 'YYYY-MM-DD')",
            "SKU": "(c.payload::json -> 'line' ->> 'sku')",
            "UNTIL": "CAST(:until AS timestamptz)",
            "param": lambda dt: dt,
        }
    return {
        "H": lambda a, b: f"((julianday({a}) - julianday({b})) * 24.0)",
        "W": lambda ts: f"date({ts}, '-6 days', 'weekday 1')",
        "SKU": "json_extract(c.payload, '$.line.sku')",
        "UNTIL": ":until",
        "param": lambda dt: dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
    }


def direct_kpi(engine: Engine, kpi: str, since: datetime, until: datetime, *, tenant: str = "default",
               group: str | None = None) -> Any:
    """The KPI by hand-written SQL: (value, n) for the total, or {group value: (value, n)}; return_aging gives
    (n, bands)."""
    p = _sql_parts(engine)
    H, W, U = p["H"], p["W"], p["UNTIL"]
    dims = {
        "d": {"facility": "c.facility", "channel": "c.channel", "reason_code": "d.reason_code", "sku": p["SKU"],
              "week": W("d.created_at")},
        "r": {"facility": "c.facility", "channel": "c.channel", "reason_code": "d.reason_code", "sku": p["SKU"],
              "week": W("r.created_at")},
        "rd": {"facility": "c.facility", "channel": "c.channel", "reason_code": "d.reason_code", "sku": p["SKU"],
               "week": W("rd.created_at")},
        "i": {"facility": "i.facility", "channel": "i.channel", "reason_code": "i.reason_code", "sku": "i.sku",
              "week": W("i.inspected_at")},
        "sc": {"sku": "sc.sku", "week": W("sc.created_at")},
        "c": {"facility": "c.facility", "channel": "c.channel", "sku": p["SKU"], "week": W("c.created_at")},
    }
    win = lambda col: f"{col} >= :since AND {col} < :until"  # noqa: E731
    if kpi in ("authorisation_cycle_hours", "straight_through_rate"):
        base, src = "d", ("FROM decisions d JOIN cases c ON c.id = d.case_ref "
                          "LEFT JOIN review_items r ON r.decision_id = d.decision_id "
                          f"WHERE d.tenant = :tenant AND d.kind = 'return' AND {win('d.created_at')}")
        if kpi == "straight_through_rate":
            value = "AVG(CASE WHEN d.route <> 'review' THEN 1.0 ELSE 0.0 END)"
        else:
            value = f"AVG(CASE WHEN d.route <> 'review' THEN 0.0 ELSE {H('r.completed_at', 'd.created_at')} END)"
            src += " AND (d.route <> 'review' OR r.completed_at IS NOT NULL)"
    elif kpi in ("exception_volume", "sla_breach_rate", "review_wait_hours"):
        base, src = "r", ("FROM review_items r JOIN decisions d ON d.decision_id = r.decision_id "
                          f"JOIN cases c ON c.id = r.case_ref WHERE r.tenant = :tenant AND {win('r.created_at')}")
        if kpi == "exception_volume":
            value = "COUNT(*)"
        elif kpi == "sla_breach_rate":
            value = (f"AVG(CASE WHEN (r.completed_at IS NOT NULL AND r.completed_at > r.sla_due_at) OR "
                     f"(r.completed_at IS NULL AND r.sla_due_at < {U}) THEN 1.0 ELSE 0.0 END)")
        else:
            value, src = f"AVG({H(U, 'r.created_at')})", src + " AND r.completed_at IS NULL"
    elif kpi == "override_rate":
        base, src = "rd", ("FROM review_decisions rd JOIN decisions d ON d.decision_id = rd.decision_id "
                           f"JOIN cases c ON c.id = rd.case_ref WHERE rd.tenant = :tenant AND {win('rd.created_at')}")
        value = "AVG(CASE WHEN rd.ai_agreement = 'overrides' THEN 1.0 ELSE 0.0 END)"
    elif kpi in ("receipt_to_inspection_hours", "restock_rate"):
        base, src = "i", f"FROM inspections i WHERE i.tenant = :tenant AND {win('i.inspected_at')}"
        if kpi == "restock_rate":
            value = "AVG(CASE WHEN i.disposition = 'restock' THEN 1.0 ELSE 0.0 END)"
        else:
            value, src = f"AVG({H('i.inspected_at', 'i.received_at')})", src + " AND i.received_at IS NOT NULL"
    elif kpi == "inspection_to_credit_hours":
        base = "i"
        credited = ("(SELECT MIN(o.occurred_at) FROM outcomes o WHERE o.case_ref = i.case_ref AND o.kind = 'credit' "
                    "AND o.occurred_at >= i.inspected_at)")
        src = f"FROM inspections i WHERE i.tenant = :tenant AND {win('i.inspected_at')} AND {credited} IS NOT NULL"
        value = f"AVG({H(credited, 'i.inspected_at')})"
    elif kpi == "supplier_recovery_rate":
        base, src = "sc", (f"FROM supplier_claims sc WHERE sc.tenant = :tenant AND {win('sc.created_at')} "
                           "AND sc.status IN ('recovered', 'rejected')")
        value = "SUM(COALESCE(sc.recovered_amount, 0.0)) / NULLIF(SUM(sc.claimed_amount), 0)"
    elif kpi == "return_aging":
        base = "c"
        src = (f"FROM cases c WHERE c.tenant = :tenant AND {win('c.created_at')} AND NOT EXISTS (SELECT 1 FROM "
               f"outcomes o WHERE o.case_ref = c.id AND o.kind = 'credit' AND o.occurred_at <= {U}) AND NOT EXISTS "
               "(SELECT 1 FROM review_decisions x WHERE x.case_ref = c.id AND x.action = 'reject' "
               f"AND x.created_at <= {U})")
        age = f"({H(U, 'c.created_at')} / 24.0)"
        value = ", ".join(
            f"SUM(CASE WHEN {age} >= {lo}" + (f" AND {age} < {hi}" if hi else "") + " THEN 1 ELSE 0 END)"
            for lo, hi in ((0, 3), (3, 8), (8, 15), (15, 31), (31, None)))
    else:
        raise ValueError(kpi)
    params = {"tenant": tenant, "since": p["param"](since), "until": p["param"](until)}
    key = f"{dims[base][group]} AS g, " if group else ""
    sql = f"SELECT {key}{value}, COUNT(*) {src}" + (f" GROUP BY {dims[base][group]}" if group else "")
    with engine.connect() as conn:
        rows = conn.execute(text(sql), params).all()

    def shape(row: Any) -> Any:
        vals = list(row[1:] if group else row)
        n = int(vals[-1])
        if kpi == "return_aging":
            bands = dict(zip(("0-2d", "3-7d", "8-14d", "15-30d", "31d+"), (int(v or 0) for v in vals[:5]),
                             strict=True))
            return n, bands
        return (None if vals[0] is None else float(vals[0])), n

    if group:
        return {(None if r[0] is None else str(r[0])): shape(r) for r in rows}
    return shape(rows[0])
