"""By configuration alone (TRIAGE_MLFLOW_URI), the lifecycle runs against a real `mlflow server` whose backend store
is PostgreSQL: a run is logged, a signed bundle registered, an alias set, and the version materialised locally."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from returns_triage.models.bundle import write_manifest
from returns_triage.serving.service.model_registry import LocalModelStore, load_public_key, verify_bundle_signature
from returns_triage.settings import Settings
from returns_triage.training import tracking
from returns_triage.training.lifecycle.registry import materialise, register_bundle

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def mlflow_server(pg_admin_engine, tmp_path: Path):  # type: ignore[no-untyped-def]
    """`mlflow server` on a PostgreSQL database of its own, created here and dropped afterwards."""
    database = f"mlflow_{uuid.uuid4().hex[:10]}"
    admin = pg_admin_engine.execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{database}"'))
    url = pg_admin_engine.url.set(database=database).render_as_string(hide_password=False)
    port = _free_port()
    log = (tmp_path / "mlflow-server.log").open("w")
    env = {**os.environ, "DO_NOT_TRACK": "true", "MLFLOW_DISABLE_TELEMETRY": "true"}
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("mlflow")), "server", "--backend-store-uri", url,
         "--artifacts-destination", (tmp_path / "server-artifacts").as_uri(), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 480  # ~30 s when idle; minutes on a loaded machine
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("mlflow server did not start:\n" + (tmp_path / "mlflow-server.log").read_text()[-3000:])
            time.sleep(1)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def test_register_alias_and_materialise_through_a_tracking_server(mlflow_server: str, tmp_path: Path) -> None:
    settings = Settings.from_env({"TRIAGE_HOME": str(tmp_path / "home"), "TRIAGE_MLFLOW_URI": mlflow_server})
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "fraud.onnx").write_bytes(b"\x08\x07" * 64)
    (bundle / "fraud_runtime.json").write_text('{"bands": {"medium": 0.05, "high": 0.3}}')
    manifest = write_manifest(bundle, "fraud", ["fraud.onnx", "fraud_runtime.json"])

    run = register_bundle(settings, "fraud", bundle, metrics={"average_precision": 0.5},
                          slices={"segment": {"consumer": {"average_precision": 0.55}}}, alias="challenger")
    assert tracking.alias_version(settings, "fraud", "challenger") == run.model_version
    assert tracking.alias_version(settings, "fraud", "champion") is None
    tracking.set_alias(settings, "fraud", "champion", run.model_version)

    pointer = materialise(settings, "fraud", run.model_version)
    assert pointer.bundle_version == manifest.version
    local = LocalModelStore(settings.model_store_dir).resolve("fraud", "champion")
    assert local is not None
    verify_bundle_signature(local, load_public_key(settings.model_signing_key))

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server, registry_uri=mlflow_server)
    logged = client.get_run(run.run_id)
    assert logged.data.metrics["slice.segment.consumer.average_precision"] == 0.55
    assert logged.data.tags["bundle_version"] == manifest.version
