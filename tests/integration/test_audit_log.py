"""The decision log on both real backends: appends, the database refusing changes, no forks under concurrency,
and every tamper class caught by verification (the attacker here has database access and bypasses the triggers)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError

from returns_triage.serving.domain.audit import chain_entry, leaf_hash, verify_inclusion
from returns_triage.serving.domain.model import Decision, ReasonAssessment, ReturnCase, Route
from returns_triage.serving.service.audit import (
    CheckpointSigner,
    CheckpointVerifier,
    checkpoint_if_due,
    entry_proof,
    export_jsonl,
    external_checkpoints,
    generate_signing_key,
    make_checkpoint,
    verify_export,
    verify_log,
)
from returns_triage.serving.storage import DuplicateIdempotencyKey, SqlDecisionStore
from returns_triage.serving.storage.audit_log import SqlAuditLog
from returns_triage.serving.storage.tables import audit_entries


def _decision(decision_id: str) -> Decision:
    case = ReturnCase(case_id="RMA-" + decision_id, tenant="default", facility="DC-1", channel="portal",
                      segment="consumer", reason_text="arrived broken", refund_amount=42.5, currency="EUR",
                      payload={"case_id": "RMA-" + decision_id})
    reason = ReasonAssessment("DEFECTIVE", 0.97, ("DEFECTIVE",), 0.01, False, "reason-x")
    return Decision(decision_id=decision_id, case=case, created_at=datetime(2026, 11, 1, tzinfo=UTC), reason=reason,
                    route=Route(route="auto_approve", reasons=("confident",), explanation="approved: clause 1"),
                    policy_version="p1", model_versions={"reason": "reason-x"})


@pytest.fixture
def signer(tmp_path: Path) -> CheckpointSigner:
    return generate_signing_key(tmp_path / "keys" / "audit.pem")


def _fill(log: SqlAuditLog, n: int) -> None:
    for i in range(1, n + 1):
        log.append(tenant="default", kind="review_action" if i % 3 else "outcome", subject_id=f"case-{i}",
                   actor=f"reviewer-{i % 2}", payload={"i": i, "note": "ok"})


@contextmanager
def _as_attacker(engine: Engine) -> Iterator[None]:
    """Someone with database access switches the append-only triggers off."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_entries DISABLE TRIGGER USER"))
            conn.execute(text("ALTER TABLE audit_checkpoints DISABLE TRIGGER USER"))
        else:
            for table in ("audit_entries", "audit_checkpoints"):
                for action in ("update", "delete"):
                    conn.execute(text(f"DROP TRIGGER {table}_no_{action}"))
    yield


def test_a_decision_and_its_audit_entry_commit_together(backend) -> None:  # type: ignore[no-untyped-def]
    store, log = SqlDecisionStore(backend), SqlAuditLog(backend)
    store.save_decision(_decision("d-1"), None, idempotency_key="k1", request_sha256="h", status_code=200,
                        body=b"{}")
    with pytest.raises(DuplicateIdempotencyKey):
        store.save_decision(_decision("d-2"), None, idempotency_key="k1", request_sha256="h", status_code=200,
                            body=b"{}")
    entries = list(log.iter_entries())
    assert [(e.seq, e.kind, e.subject_id) for e in entries] == [(1, "decision", "d-1")]  # the loser wrote nothing
    payload = json.loads(entries[0].payload)
    assert payload["inputs_sha256"] == _decision("d-1").case.inputs_sha256
    assert payload["decision"]["explanation"] == "approved: clause 1"
    assert payload["model_versions"] == {"reason": "reason-x"} and payload["policy_version"] == "p1"
    assert payload["features"]["refund_amount"] == 42.5


def test_the_database_refuses_update_and_delete(backend, signer) -> None:  # type: ignore[no-untyped-def]
    log = SqlAuditLog(backend)
    _fill(log, 3)
    make_checkpoint(log, signer)
    for statement in ("UPDATE audit_entries SET actor = 'mallory' WHERE seq = 2",
                      "DELETE FROM audit_entries WHERE seq = 3",
                      "DELETE FROM audit_entries",
                      "UPDATE audit_checkpoints SET root_hash = 'x'",
                      "DELETE FROM audit_checkpoints"):
        with pytest.raises(DBAPIError, match="append-only"):
            with backend.begin() as conn:
                conn.execute(text(statement))
    if backend.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"):
            with backend.begin() as conn:
                conn.execute(text("TRUNCATE audit_entries"))
    assert verify_log(log, signer.verifier).ok


def test_concurrent_appends_never_fork_the_chain(backend) -> None:  # type: ignore[no-untyped-def]
    log = SqlAuditLog(backend)
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            for i in range(20):
                log.append(tenant="default", kind="review_action", subject_id=f"w{w}-{i}", actor=f"w{w}",
                           payload={"i": i})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    entries = list(log.iter_entries())
    assert [e.seq for e in entries] == list(range(1, 161))
    assert len({e.prev_hash for e in entries}) == 160  # no two entries claim the same predecessor
    assert verify_log(log, None).ok


def test_concurrent_decisions_get_one_entry_each_and_a_duplicate_key_none(backend) -> None:  # type: ignore[no-untyped-def]
    store, log = SqlDecisionStore(backend), SqlAuditLog(backend)
    outcomes: list[str] = []

    def save(i: int) -> None:
        key = "shared" if i % 2 else f"own-{i}"
        try:
            store.save_decision(_decision(f"d-{i}"), None, idempotency_key=key, request_sha256="h", status_code=200,
                                body=b"{}")
            outcomes.append("saved")
        except DuplicateIdempotencyKey:
            outcomes.append("duplicate")

    threads = [threading.Thread(target=save, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("saved") == 9 and outcomes.count("duplicate") == 7
    entries = list(log.iter_entries())
    assert [e.seq for e in entries] == list(range(1, 10))
    subjects = {e.subject_id for e in entries}
    assert {f"d-{i}" for i in range(0, 16, 2)} < subjects and len(subjects) == 9  # every own key, one shared winner
    assert store.count_decisions() == 9
    assert verify_log(log, None).ok


def test_checkpoints_are_signed_every_n_entries(backend, signer) -> None:  # type: ignore[no-untyped-def]
    log = SqlAuditLog(backend)
    _fill(log, 4)
    assert checkpoint_if_due(log, signer, every=5) is None
    _fill(log, 1)
    first = checkpoint_if_due(log, signer, every=5)
    assert first is not None and first.tree_size == 5 and signer.verifier.verify(first)
    assert checkpoint_if_due(log, signer, every=5) is None
    assert make_checkpoint(log, signer) == first  # nothing new: the same checkpoint, not a second one
    _fill(log, 6)
    second = checkpoint_if_due(log, signer, every=5)
    assert second is not None and second.tree_size == 11
    assert [c.tree_size for c in log.checkpoints()] == [5, 11]
    result = verify_log(log, signer.verifier)
    assert result.ok and result.checkpoints_checked == 2


# --- the five tamper classes: each detected, naming the first bad entry ------------------------------------------


def _modify(conn) -> None:  # type: ignore[no-untyped-def]
    conn.execute(audit_entries.update().where(audit_entries.c.seq == 5)
                 .values(payload='{"i":5,"note":"approved by mallory"}'))


def _delete(conn) -> None:  # type: ignore[no-untyped-def]
    conn.execute(text("DELETE FROM audit_entries WHERE seq = 5"))


def _insert(conn) -> None:  # type: ignore[no-untyped-def]
    # Make room after entry 5 and slip in a well-formed entry that follows it.
    conn.execute(text("UPDATE audit_entries SET seq = seq + 1000 WHERE seq >= 6"))
    conn.execute(text("UPDATE audit_entries SET seq = seq - 999 WHERE seq > 1000"))
    prev = conn.execute(select(audit_entries.c.entry_hash).where(audit_entries.c.seq == 5)).scalar_one()
    forged = chain_entry(seq=6, prev_hash=prev, tenant="default", kind="override", subject_id="case-x",
                         actor="mallory", created_at="2026-11-01T00:00:00+00:00", payload={"refund": 9999})
    conn.execute(audit_entries.insert().values(**forged.to_dict()))


def _reorder(conn) -> None:  # type: ignore[no-untyped-def]
    conn.execute(text("UPDATE audit_entries SET seq = 1000 WHERE seq = 3"))
    conn.execute(text("UPDATE audit_entries SET seq = 3 WHERE seq = 4"))
    conn.execute(text("UPDATE audit_entries SET seq = 4 WHERE seq = 1000"))


def _truncate(conn) -> None:  # type: ignore[no-untyped-def]
    conn.execute(text("DELETE FROM audit_entries WHERE seq > 9"))


@pytest.mark.parametrize(("tamper", "first_bad", "says"), [
    (_modify, 5, "entry 5 was modified"),
    (_delete, 5, "entry 5 is missing"),
    (_insert, 7, "does not follow entry 6"),
    (_reorder, 3, "does not follow entry 2"),
    (_truncate, 10, "truncated tail"),
], ids=["modified", "deleted", "inserted", "reordered", "truncated"])
def test_each_tamper_class_is_detected(backend, signer, tamper, first_bad: int, says: str) -> None:  # type: ignore[no-untyped-def]
    log = SqlAuditLog(backend)
    _fill(log, 12)
    make_checkpoint(log, signer)
    assert verify_log(log, signer.verifier).ok
    with _as_attacker(backend), backend.begin() as conn:
        tamper(conn)
    result = verify_log(log, signer.verifier)
    assert not result.ok
    assert result.first_bad_seq == first_bad, result.problem
    assert says in result.problem


def test_a_rehashed_chain_and_deleted_checkpoints_are_caught_by_the_external_checkpoint(  # type: ignore[no-untyped-def]
        backend, signer, tmp_path: Path) -> None:
    log = SqlAuditLog(backend)
    _fill(log, 8)
    outside = tmp_path / "checkpoints"
    make_checkpoint(log, signer, directory=outside)
    # The attacker rewrites entry 4 and re-chains everything after it, then removes the checkpoints they can see.
    originals = list(log.iter_entries())
    with _as_attacker(backend), backend.begin() as conn:
        conn.execute(text("DELETE FROM audit_entries WHERE seq >= 4"))
        conn.execute(text("DELETE FROM audit_checkpoints"))
        prev = originals[2].entry_hash
        for e in originals[3:]:
            payload = {"i": 4, "note": "rewritten"} if e.seq == 4 else json.loads(e.payload)
            forged = chain_entry(seq=e.seq, prev_hash=prev, tenant=e.tenant, kind=e.kind, subject_id=e.subject_id,
                                 actor=e.actor, created_at=e.created_at, payload=payload)
            conn.execute(audit_entries.insert().values(**forged.to_dict()))
            prev = forged.entry_hash
    assert verify_log(log, signer.verifier).ok  # the chain alone is self-consistent ...
    result = verify_log(log, signer.verifier, extra_checkpoints=external_checkpoints(outside))
    assert not result.ok and "rewritten" in result.problem  # ... the signed root is not


def test_a_forged_checkpoint_is_rejected(backend, signer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    log = SqlAuditLog(backend)
    _fill(log, 4)
    other = generate_signing_key(tmp_path / "other.pem")
    make_checkpoint(log, other)  # signed, but not with the key the auditor trusts
    result = verify_log(log, signer.verifier)
    assert not result.ok and "signature" in result.problem


def test_proofs_and_exports_verify_outside_the_database(backend, signer, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    log = SqlAuditLog(backend, batch_size=4)  # small batches exercise the keyset paging
    _fill(log, 11)
    checkpoint = make_checkpoint(log, signer)
    _fill(log, 2)  # newer than the checkpoint: not exported
    for seq in (1, 6, 11):
        proof = entry_proof(log, seq)
        leaf = leaf_hash(bytes.fromhex(proof["entry"]["entry_hash"]))
        assert verify_inclusion(seq - 1, checkpoint.tree_size, leaf, [bytes.fromhex(p) for p in proof["audit_path"]],
                                bytes.fromhex(checkpoint.root_hash))
    out = tmp_path / "export" / "audit.jsonl"
    exported, n = export_jsonl(log, out)
    assert n == 11 == exported.tree_size
    verifier = CheckpointVerifier.from_file(Path(f"{tmp_path / 'keys' / 'audit.pem'}.pub"))
    assert verify_export(out, verifier).ok
    lines = out.read_text().splitlines()
    forged = json.loads(lines[2])
    forged["actor"] = "mallory"
    lines[2] = json.dumps(forged)
    out.write_text("\n".join(lines) + "\n")
    bad = verify_export(out, verifier)
    assert not bad.ok and bad.first_bad_seq == 3


def test_verify_command_exits_non_zero_naming_the_entry(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from returns_triage.cli import main
    from returns_triage.serving.storage import make_engine, upgrade

    monkeypatch.setenv("TRIAGE_HOME", str(tmp_path))
    monkeypatch.delenv("TRIAGE_DATABASE_URL", raising=False)
    engine = make_engine(f"sqlite:///{tmp_path / 'triage.db'}")
    upgrade(engine)
    _fill(SqlAuditLog(engine), 6)
    assert main(["audit", "keygen"]) == 0
    assert main(["audit", "checkpoint"]) == 0
    assert main(["audit", "verify"]) == 0
    assert main(["audit", "export", "--out", str(tmp_path / "audit.jsonl")]) == 0
    assert main(["audit", "verify", "--export", str(tmp_path / "audit.jsonl")]) == 0
    with _as_attacker(engine), engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_entries WHERE seq >= 5"))
        conn.execute(text("DELETE FROM audit_checkpoints"))
        assert conn.execute(select(func.count()).select_from(audit_entries)).scalar() == 4
    engine.dispose()
    capsys.readouterr()
    assert main(["audit", "verify"]) == 1
    assert "FAILED at entry 5" in capsys.readouterr().err
