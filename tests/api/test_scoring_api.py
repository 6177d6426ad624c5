"""The scoring API over both real backends with the real ONNX reason bundle."""

from __future__ import annotations

import copy
import json

import pytest

KEY = {"Idempotency-Key": "rma-4812-attempt-1"}


def test_scoring_a_return_stores_and_returns_a_decision(client, score_body) -> None:  # type: ignore[no-untyped-def]
    resp = client.post("/v1/returns/score", json=score_body, headers=KEY)
    assert resp.status_code == 200, resp.text
    decision = resp.json()
    assert decision["case_id"] == score_body["case_id"]
    assert decision["route"] in {"auto_approve", "review"}
    assert decision["reason"]["code"] == "DAMAGED_IN_TRANSIT"
    assert 0.0 <= decision["reason"]["confidence"] <= 1.0
    assert decision["reason"]["model_version"].startswith("reason-")
    risk = decision["risk"]
    assert 0.0 <= risk["score"] <= 1.0 and risk["band"] in {"low", "medium", "high"}
    assert risk["factors"] and all(f["text"] for f in risk["factors"])
    assert decision["documents"] is None  # no documents attached
    assert set(decision["model_versions"]) == {"reason", "fraud", "documents", "disposition"}
    assert decision["explanation"] and decision["policy_version"]
    if decision["route"] == "review":
        assert decision["review"]["queue"] and decision["review"]["sla_due_at"]
    stored = client.get(f"/v1/decisions/{decision['decision_id']}")
    assert stored.status_code == 200 and stored.json() == decision


def test_replay_with_the_same_key_returns_the_stored_bytes(client, score_body) -> None:  # type: ignore[no-untyped-def]
    first = client.post("/v1/returns/score", json=score_body, headers=KEY)
    # Same payload, different key order and whitespace: still the same request.
    reordered = json.dumps(dict(reversed(list(score_body.items()))), indent=2)
    again = client.post("/v1/returns/score", content=reordered,
                        headers={**KEY, "content-type": "application/json"})
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers.get("idempotent-replayed") == "true"


def test_the_same_key_with_another_body_is_refused(client, score_body) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/v1/returns/score", json=score_body, headers=KEY).status_code == 200
    changed = copy.deepcopy(score_body)
    changed["refund_amount"] = 999.0
    resp = client.post("/v1/returns/score", json=changed, headers=KEY)
    assert resp.status_code == 422
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["code"] == "idempotency_key_reused"


def test_a_missing_idempotency_key_is_a_400_naming_the_header(client, score_body) -> None:  # type: ignore[no-untyped-def]
    resp = client.post("/v1/returns/score", json=score_body)
    assert resp.status_code == 400
    assert resp.json()["errors"][0]["field"] == "Idempotency-Key"


def test_malformed_json_is_a_problem_document(client) -> None:  # type: ignore[no-untyped-def]
    resp = client.post("/v1/returns/score", content=b'{"case_id": "x",', headers={**KEY, "content-type": "application/json"})
    assert resp.status_code == 400
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    assert body["status"] == 400 and body["title"] and "malformed" in body["detail"].lower()


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.pop("facility"), "facility"),
        (lambda b: b["line"].pop("sku"), "line.sku"),
        (lambda b: b["line"].__setitem__("quantity", "two"), "line.quantity"),
        (lambda b: b.__setitem__("refund_amount", -5), "refund_amount"),
        (lambda b: b["order"].__setitem__("currency", "euro"), "order.currency"),
        (lambda b: b.__setitem__("reason_text", ""), "reason_text"),
    ],
)
def test_invalid_fields_are_named_in_a_400(client, score_body, mutate, field) -> None:  # type: ignore[no-untyped-def]
    mutate(score_body)
    resp = client.post("/v1/returns/score", json=score_body, headers=KEY)
    assert resp.status_code == 400, resp.text
    assert field in [e["field"] for e in resp.json()["errors"]], resp.text


def test_invalid_requests_store_nothing(client, score_body, backend) -> None:  # type: ignore[no-untyped-def]
    from returns_triage.serving.storage import SqlDecisionStore

    score_body.pop("customer")
    assert client.post("/v1/returns/score", json=score_body, headers=KEY).status_code == 400
    assert SqlDecisionStore(backend).count_decisions() == 0


def test_unknown_decision_is_404(client) -> None:  # type: ignore[no-untyped-def]
    resp = client.get("/v1/decisions/does-not-exist")
    assert resp.status_code == 404 and resp.json()["status"] == 404


def test_health_readiness_and_openapi(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] is True
    spec = client.get("/schema/openapi.json").json()
    assert "/v1/returns/score" in spec["paths"] and "/v1/decisions/{decision_id}" in spec["paths"]


def test_readiness_fails_without_a_model(settings, backend, make_api_key) -> None:  # type: ignore[no-untyped-def]
    from litestar.testing import TestClient

    from returns_triage.serving.api import create_app
    from returns_triage.serving.service.models import LoadedModels

    with TestClient(create_app(settings, models=LoadedModels(), engine=backend)) as c:
        c.headers.update(make_api_key(backend))
        assert c.get("/readyz").status_code == 503
        resp = c.post("/v1/returns/score", json={"x": 1}, headers=KEY)
        assert resp.status_code == 400  # validation comes first


def test_a_client_that_hangs_up_mid_body_is_not_a_server_error(client, backend) -> None:  # type: ignore[no-untyped-def]
    """A load generator stopping, or a caller timing out, closes the connection while its body is on the way:
    nothing is stored and no 5xx is counted or logged as an internal error."""
    from returns_triage.serving.storage import SqlDecisionStore

    sent: list[dict] = []
    messages = iter([{"type": "http.request", "body": b'{"case_id": "RMA-1", ', "more_body": True},
                     {"type": "http.disconnect"}])

    async def receive() -> dict:
        return next(messages)

    async def send(message: dict) -> None:
        sent.append(message)

    headers = [(k.lower().encode(), v.encode()) for k, v in client.headers.items()]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/v1/returns/score", "raw_path": b"/v1/returns/score", "query_string": b"", "root_path": "",
             "headers": [*headers, (b"content-type", b"application/json"), (b"idempotency-key", b"hang-up-1")],
             "client": ("127.0.0.1", 5000), "server": ("testserver", 80), "state": {}}
    client.blocking_portal.call(client.app, scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 499
    assert SqlDecisionStore(backend).count_decisions() == 0
