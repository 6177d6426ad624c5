"""Run the returns process (returns_process.bpmn) in SpiffWorkflow against a returns-triage server.

    python examples/bpmn/run_process.py --url http://127.0.0.1:8000 --key rt_... examples/score-request.json
    python examples/bpmn/run_process.py --wait webhook --listen 127.0.0.1:8085 ...   # webhooks instead of polling

The key needs the workflow_engine role. The process scores the return, waits while a reviewer decides it (if it
was queued) and then posts the warehouse inspection as an outcome. With ``--wait webhook`` it subscribes its own
small HTTP listener to ``review.completed`` (a webhook worker must be running: ``triage worker webhooks``) and
verifies each signature; it still polls now and then, so a lost webhook only slows it down.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser, BpmnValidator
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

PROCESS_FILE = Path(__file__).with_name("returns_process.bpmn")
PROCESS_ID = "returns_process"
CLOSING_ACTIONS = ("approve", "reject")
POLL_EVERY_NTH_CHECK = 5  # in webhook mode: a safety net for a webhook that never arrives


class ReviewWebhooks:
    """Receives ``review.completed`` events: checks the HMAC-SHA256 signature over "timestamp.body" and the
    timestamp's age, dedupes by ``Webhook-Id``, and keeps each case's closing review."""

    def __init__(self, host: str, port: int, tolerance_seconds: int = 300) -> None:
        self.secret = ""
        self.reviews: dict[str, dict[str, Any]] = {}
        self.seen: set[str] = set()
        self.rejected = 0
        self._lock = threading.Lock()
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ok = hooks._accept(self.headers.get("Webhook-Id", ""), self.headers.get("Webhook-Timestamp", ""),
                                   self.headers.get("Webhook-Signature", ""), body, tolerance_seconds)
                self.send_response(204 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}/hooks/review-completed"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _accept(self, event_id: str, timestamp: str, signature: str, body: bytes, tolerance: int) -> bool:
        try:
            ts = int(timestamp)
        except ValueError:
            return False
        expected = "v1=" + hmac.new(self.secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
        if abs(time.time() - ts) > tolerance or not any(hmac.compare_digest(expected, s) for s in signature.split()):
            with self._lock:
                self.rejected += 1
            return False
        event = json.loads(body)
        with self._lock:
            if event_id in self.seen:  # a retry of something we already have: acknowledge, do nothing
                return True
            self.seen.add(event_id)
            data = event["data"]
            if event["type"] == "review.completed" and data.get("action") in CLOSING_ACTIONS:
                self.reviews[data["case_id"]] = data
        return True

    def review_for(self, case_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self.reviews.get(case_id)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class TriageClient:
    """The three service calls the process makes. Scoring is idempotent by case (``Idempotency-Key``), and so
    is the outcome (``outcome_id``): a process restarted after a crash repeats them safely."""

    def __init__(self, http: httpx.Client, hooks: ReviewWebhooks | None = None,
                 inspection: dict[str, Any] | None = None) -> None:
        self.http = http
        self.hooks = hooks
        self.inspection = inspection or {"condition_grade": "good", "disposition": "restock"}
        self._checks = 0

    def score_return(self, case: dict[str, Any]) -> dict[str, Any]:
        r = self.http.post("/v1/returns/score", json=case, headers={"Idempotency-Key": f"bpmn-{case['case_id']}"})
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]

    def review_status(self, case_id: str) -> dict[str, Any] | None:
        """The closing review decision of the case (approve / reject), or None while it is open."""
        self._checks += 1
        if self.hooks is not None:
            found = self.hooks.review_for(case_id)
            if found is not None or self._checks % POLL_EVERY_NTH_CHECK:
                return found
        r = self.http.get(f"/v1/cases/{case_id}/outcomes")
        r.raise_for_status()
        closing = [rv for rv in r.json()["reviews"] if rv["action"] in CLOSING_ACTIONS]
        if not closing:
            return None
        last = closing[-1]
        return {k: last.get(k) for k in ("review_decision_id", "action", "reviewer", "corrected_reason_code",
                                          "fraud_confirmed", "note")}

    def post_inspection(self, case: dict[str, Any], decision: dict[str, Any],
                        review: dict[str, Any] | None) -> dict[str, Any]:
        reason = (review or {}).get("corrected_reason_code") or decision["reason"]["code"]
        body = {"outcome_id": f"inspection-{case['case_id']}", "case_id": case["case_id"], "kind": "inspection",
                "occurred_at": datetime.now(UTC).isoformat(), "confirmed_reason_code": reason, **self.inspection}
        if review is not None and review.get("action") == "reject":
            body["note"] = "return rejected in review; goods inspected on arrival"
        r = self.http.post("/v1/outcomes", json=body)
        r.raise_for_status()
        return r.json()  # type: ignore[no-any-return]


def load_process() -> Any:
    parser = BpmnParser(validator=BpmnValidator())
    parser.add_bpmn_file(str(PROCESS_FILE))
    return parser.get_spec(PROCESS_ID)


def run_return(client: TriageClient, case: dict[str, Any], *, poll_interval: str = "PT2S",
               timeout_seconds: float = 3600.0, tick_seconds: float = 0.2) -> dict[str, Any]:
    """Run one return through the process; returns its final data (decision, review, outcome, polls)."""
    engine = PythonScriptEngine(environment=TaskDataEnvironment({
        "score_return": client.score_return, "review_status": client.review_status,
        "post_inspection": client.post_inspection}))
    workflow = BpmnWorkflow(load_process(), script_engine=engine)
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update(case=case, poll_interval=poll_interval)
    deadline = time.monotonic() + timeout_seconds
    while True:
        workflow.do_engine_steps()
        if workflow.is_completed():
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"return {case['case_id']} still open after {timeout_seconds:.0f} s")
        time.sleep(tick_seconds)
        workflow.refresh_timers()
    return {k: workflow.data.get(k) for k in ("decision", "route", "review", "outcome", "polls")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("request", help="a score request JSON file (e.g. examples/score-request.json)")
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--key", required=True, help="an API key with the workflow_engine role")
    p.add_argument("--wait", choices=("poll", "webhook"), default="poll")
    p.add_argument("--listen", default="127.0.0.1:0", help="host:port of the webhook listener (--wait webhook)")
    p.add_argument("--poll-interval", default="PT2S", help="ISO 8601 duration between checks")
    p.add_argument("--timeout", type=float, default=3600.0)
    args = p.parse_args(argv)
    case = json.loads(Path(args.request).read_text())
    hooks = None
    with httpx.Client(base_url=args.url, timeout=60, headers={"Authorization": f"Bearer {args.key}"}) as http:
        subscription = None
        if args.wait == "webhook":
            host, _, port = args.listen.rpartition(":")
            hooks = ReviewWebhooks(host, int(port))
            r = http.post("/v1/webhooks/subscriptions", json={"event": "review.completed", "url": hooks.url})
            r.raise_for_status()
            subscription = r.json()
            hooks.secret = subscription["secret"]
        try:
            result = run_return(TriageClient(http, hooks), case, poll_interval=args.poll_interval,
                                timeout_seconds=args.timeout)
        finally:
            if subscription is not None:
                http.delete(f"/v1/webhooks/subscriptions/{subscription['subscription_id']}")
            if hooks is not None:
                hooks.close()
    print(json.dumps({"case_id": case["case_id"], "route": result["route"], "review": result["review"],
                      "outcome_id": (result["outcome"] or {}).get("outcome_id"), "polls": result["polls"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
