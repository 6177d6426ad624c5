"""The console's server side over both backends (the browser flow is in tests/e2e): the session cookie, who may
sign in, cross-site posts, fencing tokens honoured from the form, SLA classes, and revocation ending a session."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from returns_triage.serving.service.api_keys import ApiKeyService
from returns_triage.serving.storage.api_keys import SqlApiKeyStore
from returns_triage.serving.storage.review_queue import SqlReviewQueue
from tests.integration.test_review_queue import seed_items


@pytest.fixture
def console(backend, tmp_path: Path) -> Iterator:  # type: ignore[no-untyped-def]
    from litestar.testing import TestClient

    from returns_triage.serving.api import create_app
    from returns_triage.serving.service.models import LoadedModels
    from returns_triage.settings import Settings

    settings = Settings.from_env({"TRIAGE_HOME": str(tmp_path), "TRIAGE_MODEL_DIR": str(tmp_path / "models")})
    with TestClient(create_app(settings, models=LoadedModels(), engine=backend), base_url="http://testserver.local") as client:
        client.follow_redirects = False
        yield client


def _key(engine, role: str) -> str:  # type: ignore[no-untyped-def]
    return ApiKeyService(SqlApiKeyStore(engine)).create(role, "default")[0]


def _sign_in(client, key: str):  # type: ignore[no-untyped-def]
    return client.post("/console/sign-in", data={"key": key}, headers={"Origin": "http://testserver.local"})


def test_sign_in_sets_an_httponly_strict_cookie_and_only_review_roles_get_in(console, backend) -> None:  # type: ignore[no-untyped-def]
    assert console.get("/console/queue").headers["location"] == "/console/sign-in"
    assert _sign_in(console, "rt_000000000000_" + "x" * 43).status_code == 401
    assert _sign_in(console, _key(backend, "workflow_engine")).status_code == 401
    assert _sign_in(console, _key(backend, "auditor")).status_code == 401
    signed = _sign_in(console, _key(backend, "reviewer"))
    assert signed.status_code == 303 and signed.headers["location"] == "/console/queue"
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
    page = console.get("/console/queue")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_a_form_posted_from_another_site_is_refused(console, backend) -> None:  # type: ignore[no-untyped-def]
    seed_items(backend, 1)
    refused = console.post("/console/sign-in", data={"key": _key(backend, "reviewer")},
                           headers={"Origin": "https://evil.example"})
    assert refused.status_code == 403 and "set-cookie" not in refused.headers
    _sign_in(console, _key(backend, "reviewer"))
    cross = console.post("/console/claim", data={"queue": "returns-review"}, headers={"Origin": "https://evil.example"})
    assert cross.status_code == 303 and cross.headers["location"] == "/console/sign-in"
    assert SqlReviewQueue(backend).get_item("default", "item-00000").status == "pending"


def test_a_stale_form_cannot_overwrite_the_new_holder(console, backend) -> None:  # type: ignore[no-untyped-def]
    (item,) = seed_items(backend, 1)
    _sign_in(console, _key(backend, "reviewer"))
    claimed = console.post("/console/claim", data={"queue": "returns-review"}, headers={"Origin": "http://testserver.local"})
    assert claimed.headers["location"] == f"/console/items/{item}"
    page = console.get(f"/console/items/{item}")
    assert 'name="token" value="1"' in page.text and "decision-form" in page.text
    # A supervisor hands the case to someone else: the console's form still carries token 1.
    SqlReviewQueue(backend).reassign("default", item, "sup", token=None, now=datetime.now(UTC),
                                     to_reviewer="bob", override=True)
    late = console.post(f"/console/items/{item}/decision", data={"token": "1", "action": "approve"},
                        headers={"Origin": "http://testserver.local"})
    assert late.status_code == 303 and late.headers["location"].startswith(f"/console/items/{item}?error=")
    assert "stale" in console.get(late.headers["location"]).text
    after = SqlReviewQueue(backend).get_item("default", item)
    assert after.status == "claimed" and after.claimed_by == "bob"


def test_queue_rows_carry_sla_classes_and_the_breached_filter(console, backend) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    due = [now - timedelta(hours=1), now + timedelta(minutes=30), now + timedelta(days=2)]
    seed_items(backend, 3, sla_due_at=lambda i: due[i])
    _sign_in(console, _key(backend, "supervisor"))
    rows = console.get("/console/queue/rows").text
    assert rows.count("sla-breached") == 1 and rows.count("sla-due_soon") == 1 and rows.count("sla-ok") == 1
    breached = console.get("/console/queue/rows", params={"breached": "yes"}).text
    assert "RMA-0" in breached and "RMA-1" not in breached and "RMA-2" not in breached


def test_revoking_the_key_ends_the_console_session(console, backend) -> None:  # type: ignore[no-untyped-def]
    key = _key(backend, "reviewer")
    _sign_in(console, key)
    assert console.get("/console/queue").status_code == 200
    ApiKeyService(SqlApiKeyStore(backend)).revoke(key.split("_")[1])
    assert console.get("/console/queue").headers["location"] == "/console/sign-in"
    assert console.get("/console/queue/rows").status_code == 401
