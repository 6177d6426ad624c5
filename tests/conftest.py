"""Shared fixtures: both storage backends for real, and a small real reason bundle trained once per session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
PG_URL = os.environ.get("TRIAGE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "backend" in getattr(item, "fixturenames", ()) and "postgresql" in item.nodeid:
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def pg_admin_engine():  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    from returns_triage.serving.storage import make_engine

    engine = make_engine(PG_URL)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"PostgreSQL is required at {PG_URL} (.ci/run starts it): {exc}")
    yield engine
    engine.dispose()


def _pg_schema_engine(admin, pool_size: int = 5):  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    from returns_triage.serving.storage import make_engine

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(PG_URL, pool_size=pool_size, connect_args={"options": f"-csearch_path={schema}"})
    return engine, schema


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A migrated, empty database of each kind; PostgreSQL runs in a schema of its own."""
    from sqlalchemy import text

    from returns_triage.serving.storage import make_engine, upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'triage.db'}"
        engine = make_engine(url)
        upgrade(engine)
        yield engine
        engine.dispose()
        return
    admin = request.getfixturevalue("pg_admin_engine")
    engine, schema = _pg_schema_engine(admin, pool_size=10)
    upgrade(engine)
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real default bundles (reason, fraud, documents), trained small from the synthetic data, once per run."""
    from returns_triage.settings import Settings
    from returns_triage.training.defaults import train_default_bundles

    home = tmp_path_factory.mktemp("triage-home")
    settings = Settings.from_env({"TRIAGE_HOME": str(home)})
    # The exported encoder only depends on the packaged weights: share the export cache between runs.
    (REPO / "var" / "cache").mkdir(parents=True, exist_ok=True)
    (home / "cache").symlink_to(REPO / "var" / "cache", target_is_directory=True)
    train_default_bundles(settings, quick=True)
    return settings.model_dir


@pytest.fixture(scope="session")
def reason_bundle(model_dir: Path) -> Path:
    return model_dir / "reason"


@pytest.fixture(scope="session")
def loaded_models(model_dir: Path):  # type: ignore[no-untyped-def]
    from returns_triage.serving.service.models import load_models

    models = load_models(model_dir)
    assert models.ready, models.load_errors
    return models


@pytest.fixture
def settings(tmp_path: Path, model_dir: Path):  # type: ignore[no-untyped-def]
    from returns_triage.settings import Settings

    return Settings.from_env({"TRIAGE_HOME": str(tmp_path), "TRIAGE_MODEL_DIR": str(model_dir)})


@pytest.fixture
def make_api_key():  # type: ignore[no-untyped-def]
    """``make_api_key(engine, role="admin", tenant="default")`` → a new key's ``Authorization`` header."""
    from returns_triage.serving.service.api_keys import ApiKeyService
    from returns_triage.serving.storage.api_keys import SqlApiKeyStore

    def make(engine, role: str = "admin", tenant: str = "default") -> dict[str, str]:  # type: ignore[no-untyped-def]
        token, _ = ApiKeyService(SqlApiKeyStore(engine)).create(role, tenant)
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
def client(settings, backend, loaded_models, make_api_key) -> Iterator:  # type: ignore[no-untyped-def]
    """The real app as an admin of tenant "default"; pass other ``headers=`` per request to act as another key."""
    from litestar.testing import TestClient

    from returns_triage.serving.api import create_app

    app = create_app(settings, models=loaded_models, engine=backend)
    with TestClient(app) as c:
        c.headers.update(make_api_key(backend))
        yield c


@pytest.fixture
def score_body() -> dict:
    import json

    return json.loads((REPO / "examples" / "score-request.json").read_text())
