"""Audit evidence on both backends: Parquet exports that verify offline, automatic checkpoints, and consistency
proofs between signed checkpoints over the CLI's service and the API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from returns_triage.serving.domain.audit import verify_consistency
from returns_triage.serving.service.audit import (
    CheckpointSigner,
    checkpoint_due,
    consistency_between,
    export_jsonl,
    export_parquet,
    generate_signing_key,
    make_checkpoint,
    parquet_checkpoint,
    verify_export,
)
from returns_triage.serving.storage.audit_log import SqlAuditLog
from returns_triage.serving.workers.audit import AuditCheckpointWorker, CheckpointSchedule


@pytest.fixture
def signer(tmp_path: Path) -> CheckpointSigner:
    return generate_signing_key(tmp_path / "keys" / "audit.pem")


def _fill(log: SqlAuditLog, n: int, tenant: str = "default") -> None:
    for i in range(n):
        log.append(tenant=tenant, kind="outcome", subject_id=f"case-{i}", actor="test", payload={"i": i})


def test_parquet_export_matches_jsonl_and_verifies_offline(backend, signer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    log = SqlAuditLog(backend, batch_size=7)
    _fill(log, 23)
    cp = make_checkpoint(log, signer)
    _fill(log, 2)  # newer than the checkpoint: not exported
    out = tmp_path / "export" / "log.parquet"
    checkpoint, n = export_parquet(log, out, batch_rows=10)
    assert (checkpoint, n) == (cp, 23)
    assert parquet_checkpoint(out) == cp
    assert verify_export(out, signer.verifier).ok
    (out.parent / "log.parquet.checkpoint.json").unlink()  # the embedded checkpoint is enough
    assert verify_export(out, signer.verifier).entries == 23
    jsonl = tmp_path / "export" / "log.jsonl"
    export_jsonl(log, jsonl)
    import pyarrow.parquet as pq

    rows = pq.read_table(out).to_pylist()
    assert rows == [json.loads(line) for line in jsonl.read_text().splitlines()]


def test_tampered_parquet_export_is_caught(backend, signer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pyarrow as pa
    import pyarrow.parquet as pq

    log = SqlAuditLog(backend)
    _fill(log, 5)
    make_checkpoint(log, signer)
    out = tmp_path / "log.parquet"
    export_parquet(log, out)
    table = pq.read_table(out)
    rows = table.to_pylist()
    rows[2]["payload"] = '{"i":99}'
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), out)
    result = verify_export(out, signer.verifier)
    assert not result.ok and result.first_bad_seq == 3


def test_worker_signs_by_count_and_by_age(backend, signer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    log = SqlAuditLog(backend)
    worker = AuditCheckpointWorker(backend, signer, directory=tmp_path / "cps",
                                   schedule=CheckpointSchedule(every=5, max_age_seconds=3600))
    assert worker.run_once() is None  # empty log
    _fill(log, 3)
    first = worker.run_once()  # no checkpoint yet: the first entries are sealed at once
    assert first is not None and first.tree_size == 3
    _fill(log, 4)
    assert worker.run_once() is None  # 4 < 5 and the last checkpoint is fresh
    _fill(log, 1)
    second = worker.run_once()
    assert second is not None and second.tree_size == 8
    assert len(list((tmp_path / "cps").glob("checkpoint-*.json"))) == 2
    _fill(log, 1)
    later = datetime.now(UTC) + timedelta(hours=2)
    assert checkpoint_due(log, every=5, max_age_seconds=3600, now=later)
    assert not checkpoint_due(log, every=5, max_age_seconds=0, now=later)


def test_consistency_proof_between_checkpoints_service_and_api(client, backend, signer,
                                                              make_api_key) -> None:  # type: ignore[no-untyped-def]
    log = SqlAuditLog(backend)
    _fill(log, 6)
    old = make_checkpoint(log, signer)
    _fill(log, 11)
    new = make_checkpoint(log, signer)
    result = consistency_between(log, old.tree_size)
    proof = [bytes.fromhex(p) for p in result["proof"]]
    assert verify_consistency(old.tree_size, new.tree_size, bytes.fromhex(old.root_hash),
                              bytes.fromhex(new.root_hash), proof)

    auditor = make_api_key(backend, role="auditor")
    resp = client.get("/v1/audit/checkpoints/consistency", params={"old_size": 6, "new_size": 17}, headers=auditor)
    assert resp.status_code == 200, resp.text
    assert resp.json()["proof"] == result["proof"] and resp.json()["new"]["root_hash"] == new.root_hash
    listed = client.get("/v1/audit/checkpoints", headers=auditor).json()
    assert [c["tree_size"] for c in listed] == [6, 17]
    assert client.get("/v1/audit/checkpoints/consistency", params={"old_size": 5}, headers=auditor).status_code == 404
    workflow = make_api_key(backend, role="workflow_engine")
    assert client.get("/v1/audit/checkpoints", headers=workflow).status_code == 403


def test_api_export_of_the_callers_entries(client, backend, signer, make_api_key) -> None:  # type: ignore[no-untyped-def]
    import io

    import pyarrow.parquet as pq

    log = SqlAuditLog(backend)
    _fill(log, 4)
    _fill(log, 3, tenant="other")
    cp = make_checkpoint(log, signer)
    auditor = make_api_key(backend, role="auditor")
    resp = client.get("/v1/audit/export/jsonl", headers=auditor)
    assert resp.status_code == 200, resp.text
    lines = [json.loads(line) for line in resp.text.splitlines()]
    assert [e["seq"] for e in lines] == [1, 2, 3, 4] and {e["tenant"] for e in lines} == {"default"}
    assert json.loads(resp.headers["Audit-Checkpoint"])["root_hash"] == cp.root_hash
    parquet = client.get("/v1/audit/export/parquet", params={"limit": 2}, headers=auditor)
    assert parquet.status_code == 200
    table = pq.read_table(io.BytesIO(parquet.content))
    assert table.column("seq").to_pylist() == [1, 2] and parquet.headers["Audit-Next-After-Seq"] == "2"
    assert json.loads(table.schema.metadata[b"returns_triage.audit.checkpoint"])["tree_size"] == cp.tree_size
