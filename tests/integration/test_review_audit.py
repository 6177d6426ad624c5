"""Reviewers' actions, supervisors' overrides and outcomes in the decision log, on both real backends: each entry
commits with the queue change it records or not at all, in the order they happened, and the chain verifies."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError

from returns_triage.errors import Conflict, IdempotencyConflict, NotFound
from returns_triage.serving.domain.audit import AuditEntry
from returns_triage.serving.domain.review import Outcome, ReviewVerdict
from returns_triage.serving.service.audit import generate_signing_key, make_checkpoint, verify_log
from returns_triage.serving.service.replay import replay_decision
from returns_triage.serving.storage.audit_log import SqlAuditLog
from returns_triage.serving.storage.review_queue import SqlOutcomeStore, SqlReviewQueue
from returns_triage.serving.storage.tables import outcomes, review_decisions, review_events
from tests.integration.test_review_queue import LEASE, T0, seed_items

QUEUE = "returns-review"


def _entries(engine: Engine) -> list[AuditEntry]:
    return list(SqlAuditLog(engine).iter_entries())


def _summary(engine: Engine) -> list[tuple[int, str, str, str, str]]:
    """(seq, kind, subject, actor, action) of every entry, in chain order."""
    return [(e.seq, e.kind, e.subject_id, e.actor, json.loads(e.payload).get("action", "")) for e in _entries(engine)]


def _verifies(engine: Engine, tmp_path: Path) -> bool:
    """What ``triage audit verify`` checks: the chain from genesis and a freshly signed checkpoint over it."""
    log = SqlAuditLog(engine)
    signer = generate_signing_key(tmp_path / "keys" / "audit.pem")
    make_checkpoint(log, signer)
    result = verify_log(log, signer.verifier)
    return result.ok and result.entries == log.size() and result.checkpoints_checked == 1


def _count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_claim_decide_and_override_are_entries_in_order(backend, tmp_path) -> None:  # type: ignore[no-untyped-def]
    first, second = seed_items(backend, 2, priority=lambda i: 90 - i)
    queue = SqlReviewQueue(backend)
    ann = queue.claim("default", QUEUE, "ann", now=T0, lease=LEASE, via="key:aaaaaaaaaaaa")
    assert ann is not None and ann.item_id == first
    verdict = ReviewVerdict("approve", "ann", corrected_reason_code="WRONG_ITEM_SHIPPED", note="customer sent photos")
    _, stored = queue.decide("default", first, verdict, token=ann.fencing_token, now=T0, via="key:aaaaaaaaaaaa")
    bob = queue.claim("default", QUEUE, "bob", now=T0, lease=LEASE)
    assert bob is not None and bob.item_id == second
    queue.decide("default", second, ReviewVerdict("reject", "chief", fraud_confirmed=True), token=None, now=T0,
                 override=True)

    assert _summary(backend) == [
        (1, "review_action", "dec-00000", "ann", "claimed"),
        (2, "review_action", "dec-00000", "ann", "decided"),
        (3, "review_action", "dec-00001", "bob", "claimed"),
        (4, "override", "dec-00001", "chief", "decided"),
    ]
    entries = _entries(backend)
    claimed, decided, override = (json.loads(entries[i].payload) for i in (0, 1, 3))
    assert claimed["fencing_token"] == ann.fencing_token == 1 and claimed["to_status"] == "claimed"
    assert claimed["lease_expires_at"] == (T0 + LEASE).isoformat()
    assert decided["item_id"] == first and decided["decision_id"] == "dec-00000" and decided["case_id"] == "RMA-0"
    assert decided["verdict"] == "approve" and decided["fencing_token"] == ann.fencing_token
    assert decided["corrected_reason_code"] == "WRONG_ITEM_SHIPPED"
    assert decided["ai_suggestion"]["reason_code"] == "DEFECTIVE" and decided["ai_agreement"] == "overrides"
    assert decided["review_decision_id"] == stored["review_decision_id"]
    assert decided["outcome_id"] == f"review-{stored['review_decision_id']}"
    assert decided["authenticated_as"] == "key:aaaaaaaaaaaa"
    # The note is kept as its digest: the log cannot be redacted, the review decision still holds the text.
    assert decided["note_sha256"] == hashlib.sha256(b"customer sent photos").hexdigest()
    assert "customer sent photos" not in entries[1].payload
    assert override["override"] is True and override["verdict"] == "reject" and override["fraud_confirmed"] is True
    assert (override["from_status"], override["to_status"]) == ("claimed", "done")
    # Decided over bob's head: made under bob's token, which the override then moved on.
    assert override["fencing_token"] == bob.fencing_token and override["item_fencing_token"] == bob.fencing_token + 1
    assert _verifies(backend, tmp_path)


def test_every_move_of_an_item_is_an_entry_like_its_history(backend, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (item,) = seed_items(backend, 1)
    queue = SqlReviewQueue(backend)
    ann = queue.claim("default", QUEUE, "ann", now=T0, lease=LEASE)
    assert ann is not None
    queue.release("default", item, "ann", token=ann.fencing_token, now=T0, note="wrong queue")
    ann = queue.claim("default", QUEUE, "ann", now=T0, lease=LEASE)
    assert ann is not None
    queue.escalate("default", item, "ann", token=ann.fencing_token, now=T0)
    sue = queue.claim("default", f"{QUEUE}-supervisor", "sue", now=T0, lease=LEASE)
    assert sue is not None
    queue.reassign("default", item, "sue", token=sue.fencing_token, to_reviewer="tom", now=T0)
    # tom's lease runs out; ray takes the item over (a reclaim: the lease expiry itself needs no actor)
    ray = queue.claim("default", f"{QUEUE}-supervisor", "ray", now=T0 + LEASE * 2, lease=LEASE)
    assert ray is not None
    queue.release("default", item, "chief", token=None, now=T0 + LEASE * 2, override=True)

    history = queue.events("default", item)
    entries = _entries(backend)
    assert [json.loads(e.payload)["action"] for e in entries] == [h["event"] for h in history] == [
        "claimed", "released", "claimed", "escalated", "claimed", "reassigned", "reclaimed", "released"]
    assert [e.actor for e in entries] == [h["actor"] for h in history]
    assert [e.kind for e in entries] == ["review_action"] * 7 + ["override"]
    payloads = [json.loads(e.payload) for e in entries]
    assert payloads[1]["note_sha256"] == hashlib.sha256(b"wrong queue").hexdigest()
    assert (payloads[3]["from_queue"], payloads[3]["to_queue"]) == (QUEUE, f"{QUEUE}-supervisor")
    assert payloads[5]["to_reviewer"] == "tom" and payloads[5]["item_fencing_token"] == sue.fencing_token + 1
    assert payloads[6]["previous_holder"] == "tom" and payloads[6]["fencing_token"] == ray.fencing_token
    assert {e.subject_id for e in entries} == {"dec-00000"}
    assert _verifies(backend, tmp_path)


def test_a_stale_completion_refused_by_fencing_writes_no_entry(backend) -> None:  # type: ignore[no-untyped-def]
    (item,) = seed_items(backend, 1)
    queue = SqlReviewQueue(backend)
    ann = queue.claim("default", QUEUE, "ann", now=T0, lease=LEASE)
    bob = queue.claim("default", QUEUE, "bob", now=T0 + LEASE * 2, lease=LEASE)
    assert ann is not None and bob is not None
    before = _summary(backend)
    assert [s[4] for s in before] == ["claimed", "reclaimed"]
    for attempt in (lambda: queue.decide("default", item, ReviewVerdict("approve", "ann"), token=ann.fencing_token,
                                         now=T0 + LEASE * 2),
                    lambda: queue.release("default", item, "ann", token=ann.fencing_token, now=T0 + LEASE * 2),
                    lambda: queue.escalate("default", item, "ann", token=ann.fencing_token, now=T0 + LEASE * 2)):
        with pytest.raises(Conflict) as stale:
            attempt()
        assert stale.value.code == "stale_token"
    assert _summary(backend) == before
    assert _count(backend, review_decisions) == 0


def test_a_queue_change_that_fails_leaves_no_entry(backend) -> None:  # type: ignore[no-untyped-def]
    first, second = seed_items(backend, 2, priority=lambda i: 90 - i)
    # Every review decision gets the same id: the second one breaks the primary key of review_decisions.
    queue = SqlReviewQueue(backend, new_id=lambda: "rd-same")
    for reviewer, item in (("ann", first), ("bob", second)):
        claimed = queue.claim("default", QUEUE, reviewer, now=T0, lease=LEASE)
        assert claimed is not None and claimed.item_id == item
    queue.decide("default", first, ReviewVerdict("approve", "ann"), token=1, now=T0)
    before = _summary(backend)
    with pytest.raises(DBAPIError):
        queue.decide("default", second, ReviewVerdict("approve", "bob"), token=1, now=T0)
    assert _summary(backend) == before
    assert [s[4] for s in before] == ["claimed", "claimed", "decided"]
    after = queue.get_item("default", second)
    assert (after.status, after.claimed_by, after.fencing_token) == ("claimed", "bob", 1)


def _refuse_override_entries(engine: Engine) -> None:
    """A real database failure at the moment an ``override`` entry is inserted (a trigger, as the DBA could add)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("CREATE FUNCTION refuse_override() RETURNS trigger LANGUAGE plpgsql AS "
                              "$$ BEGIN RAISE EXCEPTION 'override entries refused'; END $$"))
            conn.execute(text("CREATE TRIGGER refuse_override BEFORE INSERT ON audit_entries FOR EACH ROW "
                              "WHEN (NEW.kind = 'override') EXECUTE FUNCTION refuse_override()"))
        else:
            conn.execute(text("CREATE TRIGGER refuse_override BEFORE INSERT ON audit_entries "
                              "WHEN NEW.kind = 'override' BEGIN SELECT RAISE(ABORT, 'override entries refused'); END"))


def test_an_entry_that_cannot_be_written_undoes_the_change(backend, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (item,) = seed_items(backend, 1)
    queue = SqlReviewQueue(backend)
    tom = queue.claim("default", QUEUE, "tom", now=T0, lease=LEASE)
    assert tom is not None
    _refuse_override_entries(backend)
    events_before = len(queue.events("default", item))
    with pytest.raises(DBAPIError, match="override entries refused"):
        queue.decide("default", item, ReviewVerdict("reject", "chief", fraud_confirmed=True), token=None, now=T0,
                     override=True)
    with pytest.raises(DBAPIError, match="override entries refused"):
        queue.reassign("default", item, "chief", token=None, to_reviewer="sue", now=T0, override=True)
    # Nothing of either change committed: the item, its history, the review decision and the label.
    after = queue.get_item("default", item)
    assert (after.status, after.claimed_by, after.fencing_token) == ("claimed", "tom", tom.fencing_token)
    assert len(queue.events("default", item)) == events_before
    assert _count(backend, review_decisions) == 0 and _count(backend, outcomes) == 0
    assert [s[4] for s in _summary(backend)] == ["claimed"]
    # tom's own decision is a review action, which the trigger lets through.
    queue.decide("default", item, ReviewVerdict("approve", "tom"), token=tom.fencing_token, now=T0)
    assert [s[1:] for s in _summary(backend)] == [("review_action", "dec-00000", "tom", "claimed"),
                                                  ("review_action", "dec-00000", "tom", "decided")]
    assert _verifies(backend, tmp_path)


def test_an_outcome_is_an_entry_once(backend) -> None:  # type: ignore[no-untyped-def]
    seed_items(backend, 1)
    store = SqlOutcomeStore(backend)
    fraud = Outcome(outcome_id="o-1", case_id="RMA-0", kind="fraud", occurred_at=T0, fraud_confirmed=True,
                    note="chargeback filed by J. Doe")
    now = T0 + timedelta(days=3)
    stored, replayed = store.record("default", fraud, request_sha256="a" * 64, now=now, actor="key:wmswmswmswms")
    assert not replayed
    assert store.record("default", fraud, request_sha256="a" * 64, now=now, actor="key:wmswmswmswms")[1]
    with pytest.raises(IdempotencyConflict):
        store.record("default", fraud, request_sha256="b" * 64, now=now, actor="key:wmswmswmswms")
    (entry,) = _entries(backend)
    assert (entry.kind, entry.subject_id, entry.actor) == ("outcome", "dec-00000", "key:wmswmswmswms")
    payload = json.loads(entry.payload)
    assert payload["outcome_id"] == "o-1" and payload["case_id"] == "RMA-0" and payload["fraud_confirmed"] is True
    assert payload["occurred_at"] == T0.isoformat() and payload["request_sha256"] == "a" * 64
    assert payload["note_sha256"] == hashlib.sha256(b"chargeback filed by J. Doe").hexdigest()
    assert "J. Doe" not in entry.payload
    with pytest.raises(NotFound):  # an unknown case: nothing stored, nothing logged
        store.record("default", Outcome("o-2", "RMA-404", "fraud", T0, fraud_confirmed=False),
                     request_sha256="c" * 64, now=now)
    assert len(_entries(backend)) == 1


def test_concurrent_claimers_claim_once_and_it_verifies(backend, tmp_path) -> None:  # type: ignore[no-untyped-def]
    n_items, n_threads = 60, 4
    items = seed_items(backend, n_items, priority=lambda i: i % 5)
    queue = SqlReviewQueue(backend)
    claims: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(n_threads)
    failures: list[BaseException] = []

    def work(reviewer: str) -> None:
        try:
            start.wait()
            while (item := queue.claim("default", QUEUE, reviewer, now=datetime.now(UTC), lease=LEASE)) is not None:
                with lock:
                    claims.append(item.item_id)
                queue.decide("default", item.item_id, ReviewVerdict("approve", reviewer), token=item.fencing_token,
                             now=datetime.now(UTC))
        except BaseException as exc:  # noqa: BLE001 — reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(f"r{i}",)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures
    assert Counter(claims) == Counter(items)
    entries = _entries(backend)
    assert [e.seq for e in entries] == list(range(1, 2 * n_items + 1))
    by_action = Counter((json.loads(e.payload)["action"], json.loads(e.payload)["item_id"]) for e in entries)
    assert by_action == Counter({**{("claimed", i): 1 for i in items}, **{("decided", i): 1 for i in items}})
    # Each item's claim precedes its decision in the chain, and both carry the claim's token.
    for item in items:
        mine = [json.loads(e.payload) for e in entries if json.loads(e.payload)["item_id"] == item]
        assert [p["action"] for p in mine] == ["claimed", "decided"] and mine[0]["fencing_token"] == mine[1][
            "fencing_token"]
    assert _count(backend, review_events) == 2 * n_items
    assert _verifies(backend, tmp_path)


def test_replay_refuses_what_is_not_a_decision(backend) -> None:  # type: ignore[no-untyped-def]
    (item,) = seed_items(backend, 1)
    queue = SqlReviewQueue(backend)
    ann = queue.claim("default", QUEUE, "ann", now=T0, lease=LEASE)
    assert ann is not None
    _, stored = queue.decide("default", item, ReviewVerdict("approve", "ann"), token=ann.fencing_token, now=T0)
    for some_id, what in ((stored["review_decision_id"], "a review decision"), (item, "a review item"),
                          (f"review-{stored['review_decision_id']}", "an outcome")):
        with pytest.raises(NotFound) as refused:
            replay_decision(backend, some_id, model_roots=[])
        assert refused.value.code == "not_a_decision"
        assert what in refused.value.message and "dec-00000" in refused.value.message
    with pytest.raises(NotFound) as unknown:
        replay_decision(backend, "no-such-id", model_roots=[])
    assert unknown.value.code == "decision_not_found"


def test_cli_lists_verifies_and_refuses_to_replay_them(backend, tmp_path: Path, monkeypatch,
                                                              capsys) -> None:  # type: ignore[no-untyped-def]
    from returns_triage.cli import main

    if backend.dialect.name != "sqlite":
        pytest.skip("the CLI reads one database URL; SQLite is enough to check its output and exit codes")
    (item,) = seed_items(backend, 1)
    queue = SqlReviewQueue(backend)
    ann = queue.claim("default", QUEUE, "ann", now=T0, lease=LEASE)
    assert ann is not None
    _, stored = queue.decide("default", item, ReviewVerdict("approve", "ann"), token=ann.fencing_token, now=T0)
    monkeypatch.setenv("TRIAGE_DATABASE_URL", str(backend.url))
    monkeypatch.setenv("TRIAGE_HOME", str(tmp_path))
    assert main(["audit", "keygen"]) == 0
    assert main(["audit", "checkpoint"]) == 0
    capsys.readouterr()
    assert main(["audit", "verify"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["entries"] == 2
    assert main(["audit", "list", "--kind", "review_action"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["kind"], e["actor"], json.loads(e["payload"])["action"]) for e in listed] == [
        ("review_action", "ann", "claimed"), ("review_action", "ann", "decided")]
    assert main(["audit", "list", "--kind", "override"]) == 0 and capsys.readouterr().out == ""
    assert main(["audit", "replay", stored["review_decision_id"]]) == 2
    err = capsys.readouterr().err
    assert "is a review decision" in err and "dec-00000" in err and "Traceback" not in err
