"""POST /v1/inspections end to end on both databases with the real disposition bundle: the recommendation with
its confidence and factors, idempotency, the decision log, review of low-confidence recommendations, and supplier
claims (vendor returns and defect patterns) with their evidence, exports and status."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from returns_triage.models.disposition import DISPOSITIONS
from returns_triage.serving.service.audit import verify_log
from returns_triage.serving.storage.audit_log import SqlAuditLog
from returns_triage.serving.storage.tables import cases, decisions, review_items

INSPECTED = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
VENDOR = {"supplier_id": "SUP-7", "warranty_days": 365, "accepts_returns": True}
NO_VENDOR_RETURNS = {"supplier_id": "SUP-9", "warranty_days": 0, "accepts_returns": False}
DEAD_MOTOR = {"grade": "D", "notes": "motor dead, does not power on, fault confirmed on bench test",
              "serial_check": "match", "packaging": "opened_intact"}


def defective_case(engine, case_id: str, *, sku: str = "PT-DRL-18V-BL", tenant: str = "default") -> None:  # type: ignore[no-untyped-def]
    """A scored return of a defective drill, as the scoring service would have stored it."""
    case_ref, decision_id = str(uuid.uuid4()), str(uuid.uuid4())
    created = INSPECTED - timedelta(days=3)
    payload = {"case_id": case_id, "order": {"order_id": "SO-1", "currency": "EUR",
                                             "delivered_at": (INSPECTED - timedelta(days=10)).date().isoformat()},
               "line": {"sku": sku, "category": "power_tools", "quantity": 1, "unit_price": 129.0}}
    with engine.begin() as conn:
        conn.execute(cases.insert().values(id=case_ref, tenant=tenant, case_id=case_id, facility="DC-ROTTERDAM",
                                           channel="portal", segment="consumer", payload=payload,
                                           created_at=created))
        conn.execute(decisions.insert().values(
            decision_id=decision_id, tenant=tenant, case_ref=case_ref, created_at=created, route="auto_approve",
            reason_code="DEFECTIVE", reason_confidence=0.93, risk_score=0.1, policy_version="p", model_versions={},
            inputs_sha256="0" * 64, document={"reason": {"code": "DEFECTIVE"}, "risk": {"band": "low"}}))


def inspection(case_id: str, **changes):  # type: ignore[no-untyped-def]
    body = {"case_id": case_id, "inspector": "anna.k", **DEAD_MOTOR, "serial_numbers": ["DRL18-7731902"],
            "photos": {"count": 2, "flags": ["damage_visible"]}, "supplier": VENDOR,
            "received_at": (INSPECTED - timedelta(hours=20)).isoformat(), "inspected_at": INSPECTED.isoformat()}
    body.update(changes)
    return body


def post(client, body, key: str):  # type: ignore[no-untyped-def]
    return client.post("/v1/inspections", json=body, headers={"Idempotency-Key": key})


def test_an_inspection_gets_a_recommendation_once_per_key_and_enters_the_decision_log(client, backend) -> None:  # type: ignore[no-untyped-def]
    defective_case(backend, "RMA-INS-1")
    first = post(client, inspection("RMA-INS-1"), "ins-1")
    assert first.status_code == 201, first.text
    out = first.json()
    rec = out["recommendation"]
    assert rec["disposition"] in DISPOSITIONS and 0.0 <= rec["confidence"] <= 1.0
    assert rec["factors"] and all("text" in f for f in rec["factors"])
    assert rec["model_version"] == client.get("/readyz").json()["checks"]["models"]["disposition"]
    assert out["route"] == ("review" if rec["abstain"] else "auto_approve")

    again = post(client, inspection("RMA-INS-1"), "ins-1")
    assert again.status_code == 201 and again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    other = post(client, inspection("RMA-INS-1", notes="looks fine"), "ins-1")
    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")

    decision = client.get(f"/v1/decisions/{out['decision_id']}").json()
    assert decision["kind"] == "disposition" and decision["disposition"]["disposition"] == rec["disposition"]
    stored = client.get(f"/v1/inspections/{out['inspection_id']}").json()
    assert stored["grade"] == "D" and stored["serial_numbers"] == ["DRL18-7731902"]
    assert stored["photos"] == {"count": 2, "flags": ["damage_visible"]} and stored["inspector"] == "anna.k"

    log = SqlAuditLog(backend)
    entries = log.find(tenant="default", kind="disposition")
    assert [e.subject_id for e in entries] == [out["decision_id"]]
    assert verify_log(log, None).ok

    assert post(client, inspection("RMA-NOPE"), "ins-404").status_code == 404
    bad = post(client, {**inspection("RMA-INS-1"), "grade": "Z"}, "ins-400")
    assert bad.status_code == 400
    assert client.post("/v1/inspections", json=inspection("RMA-INS-1")).status_code == 400  # no key


def test_a_low_confidence_recommendation_becomes_a_review_item(client, backend, loaded_models,  # type: ignore[no-untyped-def]
                                                                monkeypatch) -> None:
    defective_case(backend, "RMA-INS-2")
    defective_case(backend, "RMA-INS-3")
    # Where this small test model puts one case is not the point: the bundle's threshold is raised above any
    # confidence for the first inspection, so its recommendation is low-confidence whatever the model says.
    recommender = loaded_models.disposition
    threshold = recommender.abstain_below
    monkeypatch.setattr(recommender, "abstain_below", 1.01)
    unsure = post(client, inspection("RMA-INS-2", grade="D", notes="does not power on, burnt smell",
                                     supplier=NO_VENDOR_RETURNS), "ins-2").json()
    monkeypatch.setattr(recommender, "abstain_below", threshold)
    sure = post(client, inspection("RMA-INS-3"), "ins-3").json()
    assert unsure["recommendation"]["abstain"] and unsure["route"] == "review"
    assert not sure["recommendation"]["abstain"] and sure["review"] is None
    items = client.get("/v1/review/items", params={"queue": "disposition"}).json()["items"]
    assert [(i["case_id"], i["decision_id"]) for i in items] == [("RMA-INS-2", unsure["decision_id"])]
    assert unsure["review"]["item_id"] == items[0]["item_id"]
    with backend.connect() as conn:
        assert conn.execute(select(review_items.c.queue)).scalars().all() == ["disposition"]
    # A reviewer decides it like any other item.
    claim = client.post("/v1/review/claim", json={"queue": "disposition", "reviewer": "lead"}).json()
    decided = client.post(f"/v1/review/items/{claim['item']['item_id']}/decision",
                          json={"reviewer": "lead", "action": "approve", "token": claim["token"]})
    assert decided.status_code == 200, decided.text


def test_vendor_returns_collect_in_one_claim_that_procurement_tracks(client, backend) -> None:  # type: ignore[no-untyped-def]
    for k in (1, 2):
        defective_case(backend, f"RMA-RTV-{k}")
    first = post(client, inspection("RMA-RTV-1"), "rtv-1").json()
    second = post(client, inspection("RMA-RTV-2", serial_numbers=["DRL18-000002"]), "rtv-2").json()
    assert first["recommendation"]["disposition"] == second["recommendation"]["disposition"] == "return_to_vendor"
    assert first["supplier_claim"]["opened"] and not second["supplier_claim"]["opened"]
    claim_id = first["supplier_claim"]["claim_id"]
    assert second["supplier_claim"]["claim_id"] == claim_id

    claim = client.get(f"/v1/supplier-claims/{claim_id}").json()
    assert (claim["supplier_id"], claim["trigger"], claim["status"]) == ("SUP-7", "return_to_vendor", "open")
    assert claim["quantity"] == 2 and claim["claimed_amount"] == pytest.approx(258.0)
    assert sorted(s for e in claim["evidence"] for s in e["serial_numbers"]) == ["DRL18-000002", "DRL18-7731902"]
    assert {e["case_id"] for e in claim["evidence"]} == {"RMA-RTV-1", "RMA-RTV-2"}
    assert all(e["notes"] == DEAD_MOTOR["notes"] and e["amount"] == 129.0 for e in claim["evidence"])

    move = lambda body: client.post(f"/v1/supplier-claims/{claim_id}/status", json=body)  # noqa: E731
    assert move({"status": "accepted"}).status_code == 422  # not submitted yet
    assert move({"status": "submitted"}).json()["status"] == "submitted"
    assert move({"status": "accepted"}).status_code == 200
    assert move({"status": "recovered"}).status_code == 422  # the amount is required
    assert move({"status": "recovered", "recovered_amount": 999.0}).status_code == 422  # more than claimed
    done = move({"status": "recovered", "recovered_amount": 200.0}).json()
    assert done["status"] == "recovered" and done["recovered_amount"] == 200.0
    assert [h["to_status"] for h in done["history"]] == ["open", "submitted", "accepted", "recovered"]
    # A new vendor return opens a new claim: the old one is no longer open.
    defective_case(backend, "RMA-RTV-3")
    third = post(client, inspection("RMA-RTV-3"), "rtv-3").json()
    assert third["supplier_claim"]["opened"] and third["supplier_claim"]["claim_id"] != claim_id

    listed = client.get("/v1/supplier-claims", params={"status": "recovered"}).json()["claims"]
    assert [c["claim_id"] for c in listed] == [claim_id]
    exported = client.get("/v1/supplier-claims/export.csv", params={"status": "recovered"})
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 2 and {r["claim_id"] for r in rows} == {claim_id}
    assert {r["evidence_serial_numbers"] for r in rows} == {"DRL18-000002", "DRL18-7731902"}
    as_json = client.get("/v1/supplier-claims/export.json").json()
    assert {c["claim_id"] for c in as_json} == {claim_id, third["supplier_claim"]["claim_id"]}
    log = SqlAuditLog(backend)
    assert {e.subject_id for e in log.find(tenant="default", kind="supplier_claim")} == {
        claim_id, third["supplier_claim"]["claim_id"]}
    assert verify_log(log, None).ok


def test_a_defect_pattern_of_one_supplier_sku_opens_a_claim(client, backend) -> None:  # type: ignore[no-untyped-def]
    results = []
    for k in range(4):
        defective_case(backend, f"RMA-PAT-{k}", sku="PT-DRL-PATTERN")
        body = inspection(f"RMA-PAT-{k}", supplier=NO_VENDOR_RETURNS, sku="PT-DRL-PATTERN",
                          inspected_at=(INSPECTED + timedelta(days=k)).isoformat())
        results.append(post(client, body, f"pat-{k}").json())
    assert all(r["recommendation"]["disposition"] != "return_to_vendor" for r in results)
    assert [r["supplier_claim"] is None for r in results] == [True, True, False, True]
    claim = client.get(f"/v1/supplier-claims/{results[2]['supplier_claim']['claim_id']}").json()
    assert (claim["trigger"], claim["supplier_id"], claim["sku"], claim["quantity"]) == (
        "defect_pattern", "SUP-9", "PT-DRL-PATTERN", 3)
    assert sorted(e["case_id"] for e in claim["evidence"]) == ["RMA-PAT-0", "RMA-PAT-1", "RMA-PAT-2"]


def test_claims_are_the_tenants_own(client, backend, make_api_key) -> None:  # type: ignore[no-untyped-def]
    defective_case(backend, "RMA-T-1")
    claim_id = post(client, inspection("RMA-T-1"), "t-1").json()["supplier_claim"]["claim_id"]
    other = make_api_key(backend, role="admin", tenant="acme")
    assert client.get(f"/v1/supplier-claims/{claim_id}", headers=other).status_code == 404
    assert client.get("/v1/supplier-claims", headers=other).json()["claims"] == []
    reviewer = make_api_key(backend, role="reviewer")
    assert client.get("/v1/supplier-claims", headers=reviewer).status_code == 403
