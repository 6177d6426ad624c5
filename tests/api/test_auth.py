"""Authentication, authorisation, tenants, pseudonyms and rate limits, through the real app on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from returns_triage.serving.api.permissions import PERMISSIONS, is_public, operation_of
from returns_triage.serving.domain.access import ROLES
from returns_triage.serving.service.api_keys import ApiKeyService
from returns_triage.serving.storage.api_keys import SqlApiKeyStore
from returns_triage.serving.storage.audit_log import SqlAuditLog


def _problem(resp, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    return resp.json()  # type: ignore[no-any-return]


def test_every_openapi_operation_has_a_row_in_the_permission_table(tmp_path: Path) -> None:
    from litestar.testing import TestClient

    from returns_triage.serving.api import create_app
    from returns_triage.serving.service.models import LoadedModels
    from returns_triage.settings import Settings

    app = create_app(Settings.from_env({"TRIAGE_HOME": str(tmp_path)}), models=LoadedModels())
    # The document as served: it is built and marked on its first request, not at start-up.
    with TestClient(app) as client:
        spec = client.get("/schema/openapi.json").json()
    operations = {operation_of(method, path) for path, item in spec["paths"].items()
                  for method in ("get", "put", "post", "delete", "patch") if method in item}
    missing = sorted(op for op in operations if not is_public(op) and op not in PERMISSIONS)
    assert not missing, f"operations without a row in serving/api/permissions.py: {missing}"
    assert not set(PERMISSIONS) - operations, "rows for operations that no longer exist"
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in ("get", "post", "put", "delete", "patch") and not is_public(operation_of(method, path)):
                assert op["security"] == [{"bearer": []}] and "401" in op["responses"], (method, path)


def test_no_key_a_bad_key_and_a_revoked_key_are_401_with_a_challenge(client, backend, score_body) -> None:  # type: ignore[no-untyped-def]
    keys = ApiKeyService(SqlApiKeyStore(backend))
    old, record = keys.create("workflow_engine")
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"},
                    {"Authorization": f"Bearer {old[:-1]}{'A' if old[-1] != 'A' else 'B'}"}):
        body = _problem(client.get("/v1/decisions/x", headers=headers), 401)
        assert body["status"] == 401
        assert client.get("/v1/decisions/x", headers=headers).headers["www-authenticate"].startswith("Bearer")
    assert client.get("/healthz", headers={"Authorization": ""}).status_code == 200  # public
    assert client.get("/schema/openapi.json", headers={"Authorization": ""}).status_code == 200

    # Rotation: a new key works at once; the old one is a 401 from its revocation on.
    new, _ = keys.create("workflow_engine")
    sent = client.post("/v1/returns/score", json=score_body, headers={"Authorization": f"Bearer {old}",
                                                                      "Idempotency-Key": "rot-1"})
    assert sent.status_code == 200, sent.text
    keys.revoke(record.prefix)
    _problem(client.get("/v1/decisions/x", headers={"Authorization": f"Bearer {old}"}), 401)
    assert client.get(f"/v1/decisions/{sent.json()['decision_id']}",
                      headers={"Authorization": f"Bearer {new}"}).status_code == 200
    stored = SqlApiKeyStore(backend).find(record.prefix)
    assert stored is not None and old.split("_", 2)[2] not in stored.secret_sha256  # only the digest is at rest


def test_roles_are_held_to_the_table(client, backend, make_api_key, score_body) -> None:  # type: ignore[no-untyped-def]
    headers = {role: make_api_key(backend, role) for role in ROLES}
    for role in ROLES:
        resp = client.post("/v1/returns/score", json={**score_body, "case_id": f"RMA-ROLE-{role}"},
                           headers={**headers[role], "Idempotency-Key": f"role-{role}"})
        assert resp.status_code == (200 if role in {"workflow_engine", "admin"} else 403), (role, resp.text)
        audit = client.get("/v1/audit/entries", headers=headers[role])
        assert audit.status_code == (200 if role in {"auditor", "admin"} else 403), role
    _problem(client.post("/v1/review/claim", json={"queue": "standard", "reviewer": "x"},
                         headers=headers["auditor"]), 403)
    # Only a supervisor may act without the fencing token.
    body = _problem(client.post("/v1/review/items/nope/release", json={"reviewer": "r", "override": True},
                                headers=headers["reviewer"]), 403)
    assert body["code"] == "override_forbidden"
    assert client.post("/v1/review/items/nope/release", json={"reviewer": "r", "override": True},
                       headers=headers["supervisor"]).status_code == 404


def test_another_tenants_case_decision_item_and_document_are_404(client, backend, make_api_key, score_body) -> None:  # type: ignore[no-untyped-def]
    from returns_triage.datasets.documents import generate_documents

    other = make_api_key(backend, "admin", tenant="acme")
    pdf = next(d.pdf for d in generate_documents(10, seed=11) if d.document_type == "invoice")
    document_id = client.post("/v1/documents", files={"file": ("i.pdf", pdf, "application/pdf")}).json()["document_id"]
    body = {**score_body, "case_id": "RMA-TENANT-1", "reason_text": "not sure what to say, maybe fraud?"}
    decision = client.post("/v1/returns/score", json=body, headers={"Idempotency-Key": "tenant-1"}).json()
    items = client.get("/v1/review/items").json()["items"]

    _problem(client.get(f"/v1/decisions/{decision['decision_id']}", headers=other), 404)
    _problem(client.get(f"/v1/documents/{document_id}", headers=other), 404)
    _problem(client.get("/v1/cases/RMA-TENANT-1/outcomes", headers=other), 404)
    assert client.get("/v1/review/items", headers=other).json()["items"] == []
    for item in items:
        _problem(client.get(f"/v1/review/items/{item['item_id']}", headers=other), 404)
    assert client.get("/v1/audit/entries", headers=other).json()["items"] == []
    # Referencing another tenant's document id in a score request is the same as an unknown one.
    resp = client.post("/v1/returns/score", json={**body, "document_ids": [document_id]},
                       headers={**other, "Idempotency-Key": "tenant-2"})
    assert _problem(resp, 422)["code"] == "unknown_document"
    # The same case id in another tenant is another case.
    assert client.post("/v1/returns/score", json=body, headers={**other, "Idempotency-Key": "tenant-1"}
                       ).json()["decision_id"] != decision["decision_id"]


def test_auditors_see_customers_as_keyed_pseudonyms(client, backend, make_api_key, score_body) -> None:  # type: ignore[no-untyped-def]
    from returns_triage.datasets.documents import generate_documents

    auditor = make_api_key(backend, "auditor")
    doc = next(d for d in generate_documents(40, seed=11)
               if d.document_type == "invoice" and d.truth.fields.get("customer_name"))
    document_id = client.post("/v1/documents", files={"file": ("i.pdf", doc.pdf, "application/pdf")}
                              ).json()["document_id"]
    decision = client.post("/v1/returns/score", json={**score_body, "document_ids": [document_id]},
                           headers={"Idempotency-Key": "pseudo-1"}).json()
    SqlAuditLog(backend).append(tenant="default", kind="outcome", subject_id=decision["case_id"], actor="wms",
                                payload={"customer_id": "CUST-4711", "note": "fine"})

    full = client.get(f"/v1/decisions/{decision['decision_id']}").json()
    seen = client.get(f"/v1/decisions/{decision['decision_id']}", headers=auditor).json()
    fields_full = full["documents"]["extractions"][0]["fields"]
    fields_seen = seen["documents"]["extractions"][0]["fields"]
    personal = [name for name in ("customer_name", "customer_id") if name in fields_full]
    assert personal, fields_full.keys()
    for name in personal:
        assert fields_seen[name]["value"].startswith("pseu:") and fields_seen[name]["value"] != fields_full[name]["value"]
        assert fields_seen[name]["confidence"] == fields_full[name]["confidence"]
    assert seen["route"] == full["route"] and seen["reason"] == full["reason"]

    entries = client.get("/v1/audit/entries", params={"kind": "outcome"}, headers=auditor).json()["items"]
    (entry,) = entries
    assert entry["pseudonymised"] is True and "CUST-4711" not in entry["payload"] and "pseu:" in entry["payload"]
    again = client.get("/v1/audit/entries", params={"kind": "outcome"}, headers=auditor).json()["items"][0]
    assert again["payload"] == entry["payload"]  # stable: the same customer is the same pseudonym
    admin_view = client.get("/v1/audit/entries", params={"kind": "outcome"}).json()["items"][0]
    assert "CUST-4711" in admin_view["payload"] and "pseudonymised" not in admin_view


def test_a_key_over_its_rate_gets_429_with_retry_after(settings, backend, loaded_models, make_api_key) -> None:  # type: ignore[no-untyped-def]
    from litestar.testing import TestClient

    from returns_triage.serving.api import create_app

    app = create_app(settings.with_(rate_limits="auditor=0.5:3"), models=loaded_models, engine=backend)
    first, second = make_api_key(backend, "auditor"), make_api_key(backend, "auditor")
    with TestClient(app) as c:
        assert [c.get("/v1/audit/entries", headers=first).status_code for _ in range(3)] == [200] * 3
        limited = c.get("/v1/audit/entries", headers=first)
        _problem(limited, 429)
        assert int(limited.headers["retry-after"]) >= 1
        assert c.get("/v1/audit/entries", headers=second).status_code == 200  # per key, not per role


def test_page_sizes_are_capped(client) -> None:  # type: ignore[no-untyped-def]
    for path in ("/v1/audit/entries", "/v1/review/items"):
        _problem(client.get(path, params={"limit": 501}), 400)
        assert client.get(path, params={"limit": 500}).status_code == 200


def test_keys_cli_prints_the_key_alone_on_its_last_line_and_revokes_it(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {"TRIAGE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}

    def triage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "returns_triage.cli", *args], env=env, capture_output=True,
                              text=True, check=True)

    out = triage("keys", "create", "--role", "reviewer", "--tenant", "acme").stdout.strip().splitlines()
    key = out[-1]
    assert key.startswith("rt_") and len(key.split("_", 2)[2]) == 43
    prefix = key.split("_")[1]
    assert prefix in triage("keys", "list").stdout
    triage("keys", "revoke", prefix)
    assert "revoked" in triage("keys", "list", "--tenant", "acme").stdout

    from returns_triage.serving.storage import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'triage.db'}")
    try:
        assert ApiKeyService(SqlApiKeyStore(engine)).authenticate(key) is None
    finally:
        engine.dispose()


@pytest.mark.parametrize("token", ["", "rt_", "rt_zzzzzzzzzzzz_" + "a" * 43, "x" * 10_000, "rt_0123456789ab_" + "é" * 43])
def test_malformed_tokens_never_authenticate(token: str) -> None:
    class NoStore:
        def find(self, prefix: str) -> None:
            return None

    assert ApiKeyService(NoStore()).authenticate(token) is None  # type: ignore[arg-type]
