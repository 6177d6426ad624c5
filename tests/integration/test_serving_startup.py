"""What a serving worker does at start-up: build the app from the bundles without importing what no handler uses
(start-up to ready is a target, issue 10), and still document every operation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_a_worker_builds_the_app_without_pydantic_and_documents_the_api(model_dir: Path, tmp_path: Path) -> None:
    script = (
        "import json, sys\n"
        "from returns_triage.serving.asgi import app_factory\n"
        "app = app_factory()\n"
        "import threading\n"
        "wal = [t.name for t in threading.enumerate() if t.name == 'sqlite-wal-checkpoint']\n"
        "print(json.dumps({'pydantic': 'pydantic' in sys.modules, 'paths': sorted(app.openapi_schema.paths),\n"
        "                  'wal': wal}))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRIAGE_HOME": str(tmp_path), "TRIAGE_MODEL_DIR": str(model_dir),
           "TRIAGE_DATABASE_URL": f"sqlite:///{tmp_path / 'startup.db'}", "TRIAGE_MODEL_POLL_SECONDS": "0"}
    subprocess.run([sys.executable, "-m", "returns_triage.cli", "db", "upgrade"], env=env, check=True,
                   capture_output=True, timeout=120)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["pydantic"] is False
    assert {"/v1/returns/score", "/v1/documents", "/v1/decisions/{decision_id}"} <= set(out["paths"])
    # On SQLite the log is checkpointed on a thread of the worker's own, not in a request's commit.
    assert out["wal"] == ["sqlite-wal-checkpoint"]
