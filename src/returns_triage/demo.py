"""`triage demo`: the embedded defaults end to end — migrate, train absent bundles, serve, score, show."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

from returns_triage.settings import Settings

__all__ = ["run_demo"]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "demo-returns.json"
# Example paperwork, named after the order it belongs to: the demo attaches it to that order's return.
DOCUMENTS = EXAMPLES.parent / "documents"


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _wait_ready(base: str, proc: subprocess.Popen[bytes], timeout: float = 90.0) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"the API process exited with code {proc.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the API was not ready within {timeout:.0f}s")


def _examples() -> list[dict]:
    path = EXAMPLES if EXAMPLES.is_file() else Path.cwd() / "examples" / "demo-returns.json"
    return json.loads(path.read_text())


def run_demo(settings: Settings, *, host: str = "127.0.0.1", port: int = 0, keep_serving: bool = False) -> int:
    from returns_triage.serving.service.api_keys import create_api_key
    from returns_triage.serving.storage import make_engine, upgrade
    from returns_triage.training.defaults import train_default_bundles

    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    trained = train_default_bundles(settings)
    if trained:
        print(f"trained default bundles: {', '.join(trained)}")
    # The demo is a workflow engine: it gets a key of its own, made the way `triage keys create` makes one.
    api_key, key_record = create_api_key(settings, role="workflow_engine", label="triage demo")

    port = port or _free_port(host)
    base = f"http://{host}:{port}"
    env = {**os.environ, "TRIAGE_HOME": str(settings.home), "TRIAGE_DATABASE_URL": settings.database_url,
           "TRIAGE_MODEL_DIR": str(settings.model_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "returns_triage.cli", "serve", "--host", host, "--port",
                             str(port), "--log-level", "warning"], env=env)
    try:
        seconds = _wait_ready(base, proc)
        print(f"\nAPI ready at {base} after {seconds:.1f}s\n")
        run_id = uuid.uuid4().hex[:8]
        with httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {api_key}"}) as client:
            attachments = _upload_documents(client)
            for body in _examples():
                order_id = body["order"]["order_id"]
                if order_id in attachments:
                    body["document_ids"] = attachments[order_id]
                resp = client.post("/v1/returns/score", json=body,
                                   headers={"Idempotency-Key": f"demo-{run_id}-{body['case_id']}"})
                resp.raise_for_status()
                _print_decision(body, resp.json())
        print("API docs:     " + f"{base}/schema  (Swagger UI: {base}/schema/swagger)")
        print("OpenAPI JSON: " + f"{base}/schema/openapi.json")
        print("One decision: " + f"{base}/v1/decisions/<decision_id>  (with Authorization: Bearer <key>)")
        print(f"API key:      the demo used key {key_record.prefix} (workflow_engine); make your own with "
              ".venv/bin/triage keys create --role workflow_engine")
        if keep_serving:
            print("\nserving until Ctrl-C")
            proc.wait()
        else:
            print(f"\nthe demo server stops now; keep one running with: .venv/bin/triage serve --port {port}")
    except KeyboardInterrupt:
        pass
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return 0


def _upload_documents(client: httpx.Client) -> dict[str, list[str]]:
    """Upload ``examples/documents/*-ORDER.pdf``; returns document ids by order number."""
    by_order: dict[str, list[str]] = {}
    for path in sorted(DOCUMENTS.glob("*.pdf")) if DOCUMENTS.is_dir() else []:
        order_id = path.stem.split("-", 1)[1]
        resp = client.post("/v1/documents", files={"file": (path.name, path.read_bytes(), "application/pdf")})
        resp.raise_for_status()
        record = resp.json()
        extraction = record["extraction"]
        fields = extraction.get("fields") or {}
        print(f"uploaded {path.name}: {extraction.get('document_type')} · order "
              f"{(fields.get('order_number') or {}).get('value')} · total "
              f"{(fields.get('total_amount') or {}).get('value')} {(fields.get('currency') or {}).get('value')}")
        by_order.setdefault(order_id, []).append(record["document_id"])
    return by_order


def _print_decision(request: dict, decision: dict) -> None:
    reason = decision["reason"]
    risk = decision.get("risk")
    print(f"{request['case_id']}  [{request['channel']}] {request['reason_text'][:78]}")
    line = f"  → {decision['route'].upper():<12} reason {reason['code']} (p={reason['confidence']:.2f}"
    line += ", abstain)" if reason["abstain"] else ")"
    if risk:
        line += f"  risk {risk['score']:.1%} {risk['band']}"
    if decision.get("review"):
        review = decision["review"]
        line += f"  queue {review['queue']} priority {review['priority']} due {review['sla_due_at'][:16]}"
    print(line)
    if risk and risk["factors"]:
        print("    risk factors: " + "; ".join(f["text"] for f in risk["factors"][:3]))
    documents = decision.get("documents")
    if documents:
        findings = [f"{f['code']} ({f['severity']})" for f in documents["findings"]] or ["documents agree"]
        print("    documents: " + ", ".join(findings))
    print(f"    {decision['explanation']}\n")
