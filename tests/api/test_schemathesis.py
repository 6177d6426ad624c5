"""Hostile input: Schemathesis with every check, ≥ 100 examples per operation, over the real app (ASGI, in process)
on a fresh SQLite database with the real models and an admin key. Zero failures, zero 5xx."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_schemathesis_finds_nothing(tmp_path: Path, model_dir: Path) -> None:
    from returns_triage.evaluation.fuzzing import fuzz_api
    from returns_triage.serving.api import create_app
    from returns_triage.serving.service.api_keys import ApiKeyService
    from returns_triage.serving.storage import make_engine, upgrade
    from returns_triage.serving.storage.api_keys import SqlApiKeyStore
    from returns_triage.settings import Settings

    settings = Settings.from_env({"TRIAGE_HOME": str(tmp_path), "TRIAGE_MODEL_DIR": str(model_dir),
                                  "TRIAGE_RATE_LIMITS": "admin=0"})
    engine = make_engine(settings.database_url)
    upgrade(engine)
    token, _ = ApiKeyService(SqlApiKeyStore(engine)).create("admin")
    # Its own models and engine: the ASGI lifespan Schemathesis starts ends only with the process.
    app = create_app(settings, engine=engine)

    report = fuzz_api(app, {"Authorization": f"Bearer {token}"}, max_examples=100)

    summary = sorted({(f["operation"], f["mode"], f["status"], f["failure"][:300]) for f in report.failures})
    assert report.failures == [], "\n".join(map(str, summary[:40]))
    assert report.server_errors == 0
    # Operations with parameters or a body get 100 valid and up to 100 invalid examples; the two without any
    # (liveness, readiness) have a single possible request.
    thin = {op: n for op, n in report.examples.items() if n < 100 and op not in ("GET /healthz", "GET /readyz")}
    assert not thin, thin
