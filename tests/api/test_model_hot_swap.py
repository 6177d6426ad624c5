"""Serving follows the local model store's aliases: a hot swap under load drops no request, decisions record the
swapped version, and the challenger scores the same traffic in shadow (stored, compared, never acted on)."""

from __future__ import annotations

import copy
import json
import shutil
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from returns_triage.models.bundle import load_manifest, write_manifest
from returns_triage.models.fraud.scorer import MODEL_FILE, RUNTIME_FILE
from returns_triage.serving.service.model_registry import LocalModelStore
from returns_triage.serving.storage.tables import shadow_predictions
from returns_triage.settings import Settings
from returns_triage.training.lifecycle.shadow_report import shadow_report


def _fraud_variant(source: Path, target: Path, medium_band: float) -> str:
    """Another genuine fraud bundle: the same trees with another medium-risk band (so another version)."""
    target.mkdir(parents=True)
    for name in (MODEL_FILE, RUNTIME_FILE):
        shutil.copy2(source / name, target / name)
    runtime = json.loads((target / RUNTIME_FILE).read_text())
    runtime["bands"] = {**runtime["bands"], "medium": medium_band}
    (target / RUNTIME_FILE).write_text(json.dumps(runtime))
    old = load_manifest(source)
    return write_manifest(target, "fraud", [MODEL_FILE, RUNTIME_FILE], labels=old.labels,
                          thresholds=runtime["bands"], lineage={"variant_of": old.version}).version


def _serving(tmp_path, model_dir, backend, make_api_key, **env):  # type: ignore[no-untyped-def]
    from litestar.testing import TestClient

    from returns_triage.serving.api import create_app

    settings = Settings.from_env({"TRIAGE_HOME": str(tmp_path), "TRIAGE_MODEL_DIR": str(model_dir),
                                  "TRIAGE_SHADOW_CHALLENGER": "on", "TRIAGE_MODEL_POLL_SECONDS": "0", **env})
    app = create_app(settings, engine=backend)
    with TestClient(app) as c:
        c.headers.update(make_api_key(backend))
        yield c, settings


@pytest.fixture
def swap_client(tmp_path, model_dir, backend, make_api_key):  # type: ignore[no-untyped-def]
    yield from _serving(tmp_path, model_dir, backend, make_api_key)


@pytest.fixture
def no_grace_client(tmp_path, model_dir, backend, make_api_key):  # type: ignore[no-untyped-def]
    """Swapped-out models are closed at once (no grace for requests still running on them); every text takes the
    encoder (no cascade), so the first request starts the encoder threads."""
    yield from _serving(tmp_path, model_dir, backend, make_api_key, TRIAGE_MODEL_RETIRE_GRACE_SECONDS="0",
                        TRIAGE_REASON_CASCADE="off")


def _body(score_body: dict) -> dict:
    body = copy.deepcopy(score_body)
    body["case_id"] = f"RMA-{uuid.uuid4().hex[:10]}"
    return body


def test_a_swap_under_load_drops_nothing_and_decisions_record_the_new_version(
    swap_client, score_body, model_dir: Path, tmp_path: Path, backend,  # type: ignore[no-untyped-def]
) -> None:
    client, settings = swap_client
    old_fraud = load_manifest(model_dir / "fraud").version
    first = client.post("/v1/returns/score", json=_body(score_body), headers={"Idempotency-Key": "k0"})
    assert first.status_code == 200 and first.json()["model_versions"]["fraud"] == old_fraud

    store = LocalModelStore(settings.model_store_dir)
    new_fraud = _fraud_variant(model_dir / "fraud", tmp_path / "v2", 0.04)
    store.install("fraud", "2", tmp_path / "v2")

    statuses: list[int] = []
    stop = threading.Event()

    def fire(worker: int) -> None:
        n = 0
        while not stop.is_set() or n < 3:
            resp = client.post("/v1/returns/score", json=_body(score_body),
                               headers={"Idempotency-Key": f"w{worker}-{n}"})
            statuses.append(resp.status_code)
            n += 1

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    store.set_alias("fraud", "champion", "2")
    reload = client.post("/v1/models/reload")
    stop.set()
    for t in threads:
        t.join(timeout=120)
    assert reload.status_code == 200, reload.text
    assert reload.json()["served"]["champion"]["fraud"] == new_fraud
    assert len(statuses) >= 9 and set(statuses) == {200}

    after = client.post("/v1/returns/score", json=_body(score_body), headers={"Idempotency-Key": "k-after"})
    assert after.json()["model_versions"]["fraud"] == new_fraud
    assert after.json()["risk"]["model_version"] == new_fraud
    assert client.get("/readyz").json()["checks"]["models"]["fraud"] == new_fraud
    # Reloading again with nothing moved keeps serving the same versions.
    assert client.post("/v1/models/reload").json()["served"]["champion"]["fraud"] == new_fraud


def test_the_challenger_scores_in_shadow_and_the_report_compares_both(
    swap_client, score_body, model_dir: Path, tmp_path: Path, backend,  # type: ignore[no-untyped-def]
) -> None:
    client, settings = swap_client
    store = LocalModelStore(settings.model_store_dir)
    # A challenger whose medium band starts higher: it disagrees on the band of some returns.
    challenger = _fraud_variant(model_dir / "fraud", tmp_path / "v3", 0.5)
    store.install("fraud", "3", tmp_path / "v3")
    store.set_alias("fraud", "challenger", "3")
    assert client.post("/v1/models/reload").json()["served"]["challenger"]["fraud"] == challenger

    decision = client.post("/v1/returns/score", json=_body(score_body), headers={"Idempotency-Key": "s1"}).json()
    assert decision["model_versions"]["fraud"] != challenger  # the champion decided
    recorder = client.app.state["ctx"].scoring.shadow  # the challenger scores off the request path
    assert recorder.flush(timeout=60) and recorder.stats.recorded == 1 and recorder.stats.dropped == 0
    metrics = client.get("/metrics").text
    assert 'triage_shadow_decisions_total{outcome="recorded"} 1' in metrics
    assert 'triage_shadow_decisions_total{outcome="dropped"} 0' in metrics
    with backend.connect() as conn:
        rows = [r._asdict() for r in conn.execute(select(shadow_predictions))]
    assert [(r["decision_id"], r["family"]) for r in rows] == [(decision["decision_id"], "fraud")]
    (row,) = rows
    assert row["challenger_version"] == challenger and row["champion"]["score"] == decision["risk"]["score"]
    assert row["challenger"]["score"] == pytest.approx(decision["risk"]["score"], abs=1e-6)  # same trees
    assert row["agree"] == (row["champion"]["band"] == row["challenger"]["band"])

    report = shadow_report(backend).to_dict()["comparisons"]
    assert report[0]["family"] == "fraud" and report[0]["n"] == 1 and report[0]["labelled"] == 0


def test_only_an_admin_may_reload(swap_client, backend, make_api_key) -> None:  # type: ignore[no-untyped-def]
    client, _ = swap_client
    reviewer = make_api_key(backend, role="data_scientist")
    assert client.post("/v1/models/reload", headers=reviewer).status_code == 403
    assert client.get("/v1/models", headers=reviewer).status_code == 200


def _documents_variant(source: Path, target: Path) -> str:
    """The same document extractor under another version (its manifest names what it is a variant of)."""
    shutil.copytree(source, target)
    old = load_manifest(source)
    return write_manifest(target, old.name, list(old.files), labels=old.labels, thresholds=old.thresholds,
                          calibration=old.calibration, metrics=old.metrics, extra=old.extra,
                          lineage={**old.lineage, "variant_of": old.version}).version


def test_uploads_follow_a_swapped_document_champion_and_the_first_models_are_closed(
    no_grace_client, score_body, model_dir: Path, tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    from returns_triage.datasets.documents import generate_documents
    from returns_triage.errors import ModelUnavailable

    client, settings = no_grace_client
    first = client.app.state["ctx"].models  # what the app loaded at start-up
    scored = client.post("/v1/returns/score", json=_body(score_body), headers={"Idempotency-Key": "d0"})
    assert scored.status_code == 200
    batcher_threads = list(first.reason._threads)
    assert batcher_threads and all(t.is_alive() for t in batcher_threads)

    store = LocalModelStore(settings.model_store_dir)
    new_documents = _documents_variant(model_dir / "documents", tmp_path / "documents-v2")
    assert new_documents != load_manifest(model_dir / "documents").version
    store.install("documents", "2", tmp_path / "documents-v2")
    store.set_alias("documents", "champion", "2")
    assert client.post("/v1/models/reload").json()["served"]["champion"]["documents"] == new_documents

    pdf = next(iter(generate_documents(1, seed=5))).pdf
    uploaded = client.post("/v1/documents", files={"file": ("doc.pdf", pdf, "application/pdf")})
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["extractor_version"] == new_documents
    assert f'triage_model_info{{family="documents",version="{new_documents}"}} 1' in client.get("/metrics").text
    # The models loaded at start-up were swapped out: their encoder threads end and they take no more calls.
    for thread in batcher_threads:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in batcher_threads)
    with pytest.raises(ModelUnavailable):
        first.reason.predict(["arrived broken"])
    after = client.post("/v1/returns/score", json=_body(score_body), headers={"Idempotency-Key": "d1"})
    assert after.status_code == 200 and after.json()["model_versions"]["documents"] == new_documents
