"""The BPMN returns process (examples/bpmn) run by SpiffWorkflow against a live server: it scores, waits while a
reviewer decides (polling, or webhooks with a delivery worker running), then posts the inspection outcome."""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from returns_triage.serving.api import create_app
from returns_triage.serving.service.api_keys import ApiKeyService
from returns_triage.serving.storage import make_engine, upgrade
from returns_triage.serving.storage.api_keys import SqlApiKeyStore
from returns_triage.serving.workers.webhooks import DeliveryPolicy, WebhookWorker
from tests.api.test_idempotency_concurrency import LiveServer

REPO = Path(__file__).resolve().parents[2]


def _example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_process", REPO / "examples" / "bpmn" / "run_process.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def live(settings, loaded_models, tmp_path: Path) -> Iterator[tuple[str, object]]:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'bpmn.db'}")
    upgrade(engine)
    with LiveServer(create_app(settings, models=loaded_models, engine=engine)) as base:
        yield base, engine
    engine.dispose()


def _key(engine, role: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    token, _ = ApiKeyService(SqlApiKeyStore(engine)).create(role, "default")
    return {"Authorization": f"Bearer {token}"}


def _reviewer(base: str, headers: dict[str, str], stop: threading.Event, decided: list[str]) -> None:
    """A person at the console: approves every case that shows up in the queue."""
    with httpx.Client(base_url=base, timeout=30, headers=headers) as http:
        while not stop.is_set():
            for item in http.get("/v1/review/items", params={"status": "pending"}).json()["items"]:
                claim = http.post("/v1/review/claim", json={"queue": item["queue"], "reviewer": "rita"})
                if claim.status_code == 200:
                    c = claim.json()
                    r = http.post(f"/v1/review/items/{c['item']['item_id']}/decision",
                                  json={"reviewer": "rita", "token": c["token"], "action": "approve"})
                    assert r.status_code == 200, r.text
                    decided.append(c["item"]["case_id"])
            stop.wait(0.3)


def _cases() -> list[dict]:
    demo = {c["case_id"]: c for c in json.loads((REPO / "examples" / "demo-returns.json").read_text())}
    # An unclear reason text (queued for review) and the README's example request.
    return [{**demo["RMA-2026-004815"], "case_id": "BPMN-REVIEWED"},
            {**json.loads((REPO / "examples" / "score-request.json").read_text()), "case_id": "BPMN-EXAMPLE"}]


@pytest.mark.parametrize("wait_by", ["poll", "webhook"])
def test_the_process_scores_waits_for_the_review_and_posts_the_inspection(live, wait_by: str) -> None:  # type: ignore[no-untyped-def]
    base, engine = live
    run_process = _example()
    stop, decided = threading.Event(), []  # type: ignore[var-annotated]
    reviewer = threading.Thread(target=_reviewer, args=(base, _key(engine, "reviewer"), stop, decided))
    reviewer.start()
    worker, hooks, worker_thread = None, None, None
    results: dict[str, dict] = {}
    try:
        with httpx.Client(base_url=base, timeout=60, headers=_key(engine, "workflow_engine")) as http:
            if wait_by == "webhook":
                hooks = run_process.ReviewWebhooks("127.0.0.1", 0)
                sub = http.post("/v1/webhooks/subscriptions", json={"event": "review.completed", "url": hooks.url})
                hooks.secret = sub.json()["secret"]
                worker = WebhookWorker(engine, policy=DeliveryPolicy(backoff_base_seconds=0.2, timeout_seconds=5))
                worker_thread = threading.Thread(target=worker.run, args=(stop,), kwargs={"idle_seconds": 0.1})
                worker_thread.start()
            client = run_process.TriageClient(http, hooks)
            for case in _cases():
                results[case["case_id"]] = run_process.run_return(client, case, poll_interval="PT1S",
                                                                  timeout_seconds=90, tick_seconds=0.1)
            histories = {cid: http.get(f"/v1/cases/{cid}/outcomes").json() for cid in results}
    finally:
        stop.set()
        reviewer.join(timeout=10)
        if worker_thread is not None:
            worker_thread.join(timeout=10)
        if worker is not None:
            worker.close()
        if hooks is not None:
            hooks.close()

    reviewed = results["BPMN-REVIEWED"]
    assert reviewed["route"] == "review"
    assert reviewed["review"]["action"] == "approve" and reviewed["polls"] >= 1
    assert "BPMN-REVIEWED" in decided
    if wait_by == "webhook":
        assert hooks is not None and "BPMN-REVIEWED" in hooks.reviews and hooks.rejected == 0
    for case_id, result in results.items():
        assert (result["route"] == "review") == (case_id in decided)
        inspections = [o for o in histories[case_id]["outcomes"] if o["kind"] == "inspection"]
        assert [o["outcome_id"] for o in inspections] == [f"inspection-{case_id}"]
        assert inspections[0]["disposition"] == "restock" and inspections[0]["current"]
        assert result["outcome"]["outcome_id"] == f"inspection-{case_id}"
