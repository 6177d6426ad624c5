"""The scoring service on fakes: idempotency semantics and what is written, without a database or a model."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pytest

from returns_triage.errors import IdempotencyConflict, ModelUnavailable
from returns_triage.models.reason import ReasonPrediction
from returns_triage.serving.domain.model import Decision, ReviewItem
from returns_triage.serving.domain.policy import DocumentPolicy
from returns_triage.serving.service.models import LoadedModels
from returns_triage.serving.service.scoring import ScoringService
from returns_triage.serving.storage.repository import DuplicateIdempotencyKey, StoredResponse


class FakeReason:
    version = "reason-fake"

    def __init__(self, code: str = "DEFECTIVE", p: float = 0.95) -> None:
        self.code, self.p = code, p

    def predict(self, texts: list[str], batch_size: int = 64) -> list[ReasonPrediction]:
        return [ReasonPrediction(self.code, self.p, (self.code,), 1 - self.p, False, ((self.code, self.p),))
                for _ in texts]


class InMemoryStore:
    def __init__(self) -> None:
        self.keys: dict[tuple[str, str], StoredResponse] = {}
        self.decisions: dict[str, dict[str, Any]] = {}
        self.items: list[ReviewItem] = []

    def stored_response(self, tenant: str, key: str) -> StoredResponse | None:
        return self.keys.get((tenant, key))

    def save_decision(self, decision: Decision, review_item: ReviewItem | None, *, idempotency_key: str,
                      request_sha256: str, status_code: int, body: bytes,
                      audit_payload: dict[str, Any] | None = None) -> None:
        if (decision.case.tenant, idempotency_key) in self.keys:
            raise DuplicateIdempotencyKey(idempotency_key)
        self.keys[(decision.case.tenant, idempotency_key)] = StoredResponse(request_sha256, status_code, body,
                                                                            decision.decision_id)
        self.decisions[decision.decision_id] = decision.to_document()
        if review_item:
            self.items.append(review_item)

    def get_decision(self, tenant: str, decision_id: str) -> dict[str, Any] | None:
        return self.decisions.get(decision_id)

    def ping(self) -> bool:
        return True


def _request(**over: Any) -> dict[str, Any]:
    base = {"case_id": "RMA-1", "facility": "DC-1", "channel": "portal", "segment": "consumer",
            "reason_text": "it stopped working", "refund_amount": 40.0, "order": {"order_id": "SO-1", "currency": "EUR"},
            "line": {"sku": "X", "unit_price": 40.0}, "customer": {"customer_id": "C-1"}}
    return {**base, **over}


def _service(store: InMemoryStore, reason: FakeReason | None = None) -> ScoringService:
    ids = (f"id-{i}" for i in itertools.count())
    return ScoringService(store, LoadedModels(reason=reason or FakeReason()), DocumentPolicy.from_file(),
                          clock=lambda: datetime(2026, 11, 1, tzinfo=UTC), new_id=lambda: next(ids))


def test_one_decision_per_key_and_replays_are_byte_identical() -> None:
    store = InMemoryStore()
    svc = _service(store)
    first = svc.score("t", "k", _request())
    again = svc.score("t", "k", _request())
    assert not first.replayed and again.replayed and again.body == first.body
    assert len(store.decisions) == 1


def test_same_key_other_body_conflicts_and_other_tenant_is_independent() -> None:
    store = InMemoryStore()
    svc = _service(store)
    svc.score("t", "k", _request())
    with pytest.raises(IdempotencyConflict):
        svc.score("t", "k", _request(refund_amount=41.0))
    svc.score("other", "k", _request())
    assert len(store.decisions) == 2


def test_queued_decisions_get_a_review_item_and_approved_ones_do_not() -> None:
    store = InMemoryStore()
    svc = _service(store)
    svc.score("t", "cheap", _request())
    svc.score("t", "expensive", _request(refund_amount=5000.0, case_id="RMA-2"))
    assert [d["route"] for d in store.decisions.values()] == ["auto_approve", "review"]
    assert len(store.items) == 1 and store.items[0].case_id == "RMA-2"


def test_no_model_means_no_decision() -> None:
    store = InMemoryStore()
    svc = ScoringService(store, LoadedModels(), DocumentPolicy.from_file())
    with pytest.raises(ModelUnavailable):
        svc.score("t", "k", _request())
    assert store.decisions == {}


def test_decide_is_reproducible_from_the_same_inputs() -> None:
    svc = _service(InMemoryStore())
    a, b = svc.decide("t", _request()), svc.decide("t", _request())
    assert a.route == b.route and a.case.inputs_sha256 == b.case.inputs_sha256
