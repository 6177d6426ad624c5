"""The auditor's read-only API: list and filter entries, prove one against the signed checkpoint, fetch it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from returns_triage.serving.domain.audit import (
    AuditEntry,
    Checkpoint,
    leaf_hash,
    verify_inclusion,
)
from returns_triage.serving.service.audit import CheckpointSigner, generate_signing_key, make_checkpoint
from returns_triage.serving.storage.audit_log import SqlAuditLog


@pytest.fixture
def audit_client(backend, tmp_path: Path, make_api_key) -> Iterator:  # type: ignore[no-untyped-def]
    from litestar.testing import TestClient

    from returns_triage.serving.api import create_app
    from returns_triage.serving.service.models import LoadedModels
    from returns_triage.settings import Settings

    # The audit routes need no model: an app without bundles serves them.
    app = create_app(Settings.from_env({"TRIAGE_HOME": str(tmp_path)}), models=LoadedModels(), engine=backend)
    with TestClient(app) as c:
        c.headers.update(make_api_key(backend))
        yield c


@pytest.fixture
def signer(tmp_path: Path) -> CheckpointSigner:
    return generate_signing_key(tmp_path / "audit.pem")


def _fill(log: SqlAuditLog) -> None:
    for i in range(1, 8):
        log.append(tenant="default", kind="decision" if i % 2 else "review_action", subject_id=f"d-{i % 3}",
                   actor="api", payload={"i": i})
    log.append(tenant="other", kind="decision", subject_id="d-0", actor="api", payload={"secret": True})


def test_entries_filter_by_kind_and_subject_and_page(audit_client, backend) -> None:  # type: ignore[no-untyped-def]
    _fill(SqlAuditLog(backend))
    page = audit_client.get("/v1/audit/entries", params={"limit": 3})
    assert page.status_code == 200
    body = page.json()
    assert [e["seq"] for e in body["items"]] == [1, 2, 3] and body["next_after_seq"] == 3
    rest = audit_client.get("/v1/audit/entries", params={"after_seq": 3, "limit": 100}).json()
    assert [e["seq"] for e in rest["items"]] == [4, 5, 6, 7] and rest["next_after_seq"] is None  # not tenant "other"
    decisions = audit_client.get("/v1/audit/entries", params={"kind": "decision", "subject_id": "d-1"}).json()
    assert [(e["seq"], e["kind"], e["subject_id"]) for e in decisions["items"]] == [(1, "decision", "d-1"),
                                                                                   (7, "decision", "d-1")]
    entry = AuditEntry(**decisions["items"][0])
    assert entry.recomputed_hash() == entry.entry_hash  # the payload is served exactly as hashed


def test_bad_filters_are_a_400_problem(audit_client) -> None:  # type: ignore[no-untyped-def]
    for params in ({"kind": "nonsense"}, {"limit": 0}, {"limit": 10_000}, {"after_seq": -1}):
        r = audit_client.get("/v1/audit/entries", params=params)
        assert r.status_code == 400, params
        assert r.headers["content-type"].startswith("application/problem+json")


def test_an_entry_proof_verifies_against_the_signed_checkpoint(audit_client, backend, signer) -> None:  # type: ignore[no-untyped-def]
    log = SqlAuditLog(backend)
    assert audit_client.get("/v1/audit/checkpoints/latest").status_code == 404
    _fill(log)
    make_checkpoint(log, signer)
    log.append(tenant="default", kind="outcome", subject_id="d-1", actor="wms", payload={"inspected": "ok"})

    checkpoint = audit_client.get("/v1/audit/checkpoints/latest").json()
    assert checkpoint["tree_size"] == 8
    assert signer.verifier.verify(Checkpoint.from_dict(checkpoint))

    proof = audit_client.get("/v1/audit/entries/5/proof").json()
    entry = AuditEntry(**proof["entry"])
    assert entry.recomputed_hash() == entry.entry_hash
    assert proof["leaf_hash"] == leaf_hash(bytes.fromhex(entry.entry_hash)).hex()
    assert verify_inclusion(proof["leaf_index"], proof["tree_size"], bytes.fromhex(proof["leaf_hash"]),
                            [bytes.fromhex(p) for p in proof["audit_path"]], bytes.fromhex(checkpoint["root_hash"]))

    newer = audit_client.get("/v1/audit/entries/9/proof")
    assert newer.status_code == 409 and newer.json()["code"] == "not_yet_checkpointed"
    assert audit_client.get("/v1/audit/entries/99/proof").status_code == 404
    assert audit_client.get("/v1/audit/entries/8/proof").status_code == 404  # another tenant's entry


def test_the_audit_api_is_read_only(audit_client) -> None:  # type: ignore[no-untyped-def]
    for method in ("post", "put", "patch", "delete"):
        assert getattr(audit_client, method)("/v1/audit/entries").status_code == 405
    paths = audit_client.get("/schema/openapi.json").json()["paths"]
    audit_ops = {(p, m) for p, ops in paths.items() if p.startswith("/v1/audit") for m in ops}
    assert audit_ops and {m for _, m in audit_ops} == {"get"}
