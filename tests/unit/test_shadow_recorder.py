"""The challenger's scoring off the request path: bounded, never blocking the caller, and never stopped by a bad
decision. Fakes stand in for the challenger's model and the store (the API test runs the real ones)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from returns_triage.serving.service.shadow_scoring import ShadowRecorder


@dataclass
class _Prediction:
    code: str
    confidence: float = 0.9
    abstain: bool = False


class _Reason:
    version = "reason-challenger"

    def predict(self, texts: list[str]) -> list[_Prediction]:
        return [_Prediction("DAMAGED_IN_TRANSIT") for _ in texts]


@dataclass
class _Models:
    reason: Any = None
    fraud: Any = None


class _Store:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def save(self, rows: list[dict[str, Any]]) -> None:
        self.entered.set()
        self.gate.wait(30)
        self.rows.extend(rows)


def _decision(i: int) -> bytes:
    return json.dumps({"decision_id": f"d{i}", "tenant": "default",
                       "reason": {"code": "WRONG_ITEM_SHIPPED", "confidence": 0.8, "abstain": False,
                                  "model_version": "reason-champion"}}).encode()


def test_decisions_beyond_the_queue_are_dropped_and_counted_and_the_rest_recorded() -> None:
    store = _Store()
    store.gate.clear()  # the first decision holds the recorder inside the store
    recorder = ShadowRecorder(store, capacity=3)
    request = {"reason_text": "box crushed"}
    assert recorder.submit(_decision(0), request, _Models(), _Models(reason=_Reason()), tenant="default")
    assert store.entered.wait(10)
    accepted = [recorder.submit(_decision(i), request, _Models(), _Models(reason=_Reason()), tenant="default")
                for i in range(1, 6)]
    assert accepted == [True, True, True, False, False]
    store.gate.set()
    assert recorder.flush(timeout=10)
    assert recorder.stats.queued == 4 and recorder.stats.recorded == 4 and recorder.stats.dropped == 2
    assert [r["decision_id"] for r in store.rows] == ["d0", "d1", "d2", "d3"]
    assert all(r["family"] == "reason" and r["agree"] is False for r in store.rows)
    recorder.close()


def test_a_bad_decision_is_logged_and_the_recorder_goes_on_and_closing_stops_it() -> None:
    store = _Store()
    recorder = ShadowRecorder(store)
    request = {"reason_text": "box crushed"}
    recorder.submit(b"not json", request, _Models(), _Models(reason=_Reason()), tenant="default")
    recorder.submit(_decision(1), request, _Models(), _Models(reason=_Reason()), tenant="default")
    assert recorder.flush(timeout=10)
    assert recorder.stats.recorded == 2 and [r["decision_id"] for r in store.rows] == ["d1"]
    recorder.close()
    assert recorder._thread is not None and not recorder._thread.is_alive()
    assert not recorder.submit(_decision(2), request, _Models(), _Models(reason=_Reason()), tenant="default")
    assert recorder.stats.dropped == 1
