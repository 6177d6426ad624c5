"""`triage bench serving`: start-up to ready, resident memory after start-up, single-request latency.

Starts the real `triage serve` process on loopback with the current settings' model bundles and a scratch
SQLite database, then sends sequential scoring requests (a new Idempotency-Key each).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from returns_triage.evaluation.benchmarks.base import BenchResult, register

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "score-request.json"


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@register("serving")
def serving(quick: bool) -> BenchResult:
    from returns_triage.settings import Settings
    from returns_triage.training.defaults import train_default_bundles

    settings = Settings.from_env()
    train_default_bundles(settings)
    n = 50 if quick else 200
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as scratch:
        from returns_triage.serving.service.api_keys import create_api_key
        from returns_triage.serving.storage import make_engine, upgrade

        bench_settings = settings.with_(database_url=f"sqlite:///{scratch}/bench.db")
        engine = make_engine(bench_settings.database_url)
        upgrade(engine)
        engine.dispose()
        api_key, _ = create_api_key(bench_settings, role="workflow_engine", label="bench serving")
        env = {**os.environ, "TRIAGE_MODEL_DIR": str(settings.model_dir),
               "TRIAGE_DATABASE_URL": bench_settings.database_url}
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "returns_triage.cli", "serve", "--host", "127.0.0.1",
                                 "--port", str(port), "--log-level", "warning"], env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.perf_counter() - started > 60:
                    raise RuntimeError("server did not become ready")
                time.sleep(0.02)
            ready_s = time.perf_counter() - started
            rss_ready = _rss_mb(proc.pid)
            body = json.loads(EXAMPLE.read_text())
            latencies = []
            with httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {api_key}"}) as http:
                for i in range(n + 10):
                    t = time.perf_counter()
                    resp = http.post("/v1/returns/score", json=body, headers={"Idempotency-Key": f"bench-{i}"})
                    if resp.status_code != 200:
                        raise RuntimeError(resp.text)
                    if i >= 10:  # the first requests warm the runtime up
                        latencies.append((time.perf_counter() - t) * 1000)
            rss_after = _rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    lat = np.array(latencies)
    metrics = {
        "startup_to_ready_s": ready_s,
        "rss_mb_after_startup": rss_ready,
        "rss_mb_after_requests": rss_after,
        "requests": n,
        "latency_ms_p50": float(np.percentile(lat, 50)),
        "latency_ms_p90": float(np.percentile(lat, 90)),
        "latency_ms_p99": float(np.percentile(lat, 99)),
    }
    return BenchResult("serving", metrics, [])
