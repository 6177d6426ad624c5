"""The supervisor console in a real headless Chromium: a reviewer signs in with their own key, claims, decides a
routine case with the keyboard alone, and sees the queue update. Screenshots go to var/screenshots/.

Chromium is Debian's (/usr/bin/chromium), driven by Playwright's ``executable_path``; if it is missing this test
fails rather than skips (scripts/test installs it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from returns_triage.datasets.documents import generate_documents
from returns_triage.serving.api import create_app
from returns_triage.serving.service.api_keys import ApiKeyService
from returns_triage.serving.storage import make_engine, upgrade
from returns_triage.serving.storage.api_keys import SqlApiKeyStore
from returns_triage.serving.storage.tables import review_decisions, webhook_events
from tests.api.test_idempotency_concurrency import LiveServer

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO / "var" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def chromium() -> Iterator:  # type: ignore[type-arg]
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/test does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def live(settings, loaded_models, tmp_path: Path) -> Iterator[tuple[str, object]]:  # type: ignore[no-untyped-def]
    engine = make_engine(f"sqlite:///{tmp_path / 'console.db'}")
    upgrade(engine)
    with LiveServer(create_app(settings, models=loaded_models, engine=engine)) as base:
        yield base, engine


def _key(engine, role: str) -> str:  # type: ignore[no-untyped-def]
    token, _ = ApiKeyService(SqlApiKeyStore(engine)).create(role, "default", label=f"e2e {role}")
    return token


def _seed(base: str, engine, n_review: int) -> list[dict]:  # type: ignore[no-untyped-def]
    """Score the demo returns (and copies of them) through the API until ``n_review`` are queued."""
    bodies = json.loads((REPO / "examples" / "demo-returns.json").read_text())
    queued: list[dict] = []
    headers = {"Authorization": f"Bearer {_key(engine, 'workflow_engine')}"}
    invoice = next(d for d in generate_documents(40, seed=11) if d.document_type == "invoice")
    with httpx.Client(base_url=base, timeout=60, headers=headers) as http:
        uploaded = http.post("/v1/documents", files={"file": ("invoice.pdf", invoice.pdf, "application/pdf")})
        assert uploaded.status_code == 201, uploaded.text
        document_id = uploaded.json()["document_id"]
        for copy in range(6):
            for body in bodies:
                body = {**body, "case_id": f"{body['case_id']}-{copy}", "document_ids": [document_id]}
                r = http.post("/v1/returns/score", json=body, headers={"Idempotency-Key": body["case_id"]})
                assert r.status_code == 200, r.text
                if r.json()["route"] == "review":
                    queued.append({"body": body, "decision": r.json()})
                if len(queued) >= n_review:
                    return queued
    raise AssertionError(f"only {len(queued)} of the demo returns were routed to review")


def _shot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_a_reviewer_decides_a_routine_case_with_the_keyboard_alone(chromium, live) -> None:  # type: ignore[no-untyped-def]
    base, engine = live
    queued = _seed(base, engine, 3)
    reviewer_key = _key(engine, "reviewer")
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    # Sign in: the key field has focus; type the key and press Enter.
    page.goto(f"{base}/console")
    assert page.url.endswith("/console/sign-in")
    # The field takes focus by itself (autofocus); under load that can land after "load", so wait for it
    # rather than type into nothing.
    page.wait_for_function("document.activeElement && document.activeElement.id === 'key'")
    page.keyboard.type(reviewer_key)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/console/queue", timeout=60_000)
    cookie = next(c for c in context.cookies() if c["name"] == "triage_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    assert page.evaluate("document.cookie") == ""  # page scripts cannot read the credential
    rows = page.locator("#queue-rows tr[data-item]")
    assert rows.count() == len(queued)
    assert page.locator("#queue-rows tr.sla-ok, #queue-rows tr.sla-due_soon, #queue-rows tr.sla-breached").count() \
        == len(queued)
    _shot(page, "01-queue")

    # n: claim the most urgent case and open it.
    first_row_case = rows.first.locator("td").first.inner_text().split()[0]
    page.keyboard.press("n")
    page.wait_for_url(f"{base}/console/items/**")
    case_id = page.locator(".case-head h1").inner_text().split()[0]
    assert case_id == first_row_case  # claim order is the queue's order
    claimed = next(q for q in queued if q["body"]["case_id"] == case_id)
    assert page.locator("#reason-text").inner_text() == claimed["body"]["reason_text"]
    assert page.locator("#reason-code").inner_text() == claimed["decision"]["reason"]["code"]
    assert page.locator("#policy-reasons li").count() == len(claimed["decision"]["reasons"])
    factors = claimed["decision"]["risk"]["factors"]
    assert page.locator("#risk-factors tbody tr").count() == max(1, len(factors))
    if factors:
        assert factors[0]["text"] in page.locator("#risk-factors").inner_text()
    extraction = claimed["decision"]["documents"]["extractions"][0]
    assert page.locator("table.fields tbody tr").count() == len(extraction["fields"])
    boxed = [f for f in extraction["fields"].values() if f.get("bbox")]
    assert page.locator("figure.page svg g.box").count() == len(boxed) > 0
    _shot(page, "02-case")

    # a: arm "approve" (a confirmation bar appears, focus on the submit button); Enter records it.
    page.keyboard.press("a")
    assert page.locator("#confirm-bar").is_visible()
    assert "Approve" in page.locator("#confirm-bar").inner_text()
    _shot(page, "03-confirm-approve")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/console/queue**")
    assert f"Approved {case_id}." in page.locator(".flash").inner_text()
    assert rows.count() == len(queued) - 1
    assert page.locator(f"#queue-rows tr[data-item] >> text={case_id}").count() == 0
    _shot(page, "04-queue-after-approve")

    # The queue keeps itself current: a case scored now appears without a reload.
    extra = {**queued[0]["body"], "case_id": "RMA-LIVE-1"}
    with httpx.Client(base_url=base, timeout=60,
                      headers={"Authorization": f"Bearer {_key(engine, 'workflow_engine')}"}) as http:
        r = http.post("/v1/returns/score", json=extra, headers={"Idempotency-Key": "live-1"})
    assert r.status_code == 200 and r.json()["route"] == "review"
    page.locator("#queue-rows >> text=RMA-LIVE-1").wait_for(timeout=15_000)
    assert rows.count() == len(queued)
    _shot(page, "05-queue-live-update")

    # The decision is the reviewer's own (their key), and the workflow engine will be told.
    with engine.connect() as conn:
        decided = conn.execute(select(review_decisions.c.reviewer, review_decisions.c.action)).all()
        events = conn.execute(select(webhook_events.c.event)).scalars().all()
    prefix = reviewer_key.split("_")[1]
    assert [(r.reviewer, r.action) for r in decided] == [(f"key:{prefix}", "approve")]
    assert events.count("review.completed") == 1
    assert errors == []
    context.close()


def test_a_key_without_a_review_role_cannot_sign_in(chromium, live) -> None:  # type: ignore[no-untyped-def]
    base, engine = live
    page = chromium.new_page()
    page.goto(f"{base}/console/sign-in")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'key'")
    page.keyboard.type(_key(engine, "workflow_engine"))
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert "not valid for the console" in page.locator(".error").inner_text()
    page.goto(f"{base}/console/queue")
    assert page.url.endswith("/console/sign-in")
    _shot(page, "06-sign-in-refused")
    page.close()


def test_a_supervisor_overrides_a_decision_and_sees_it_recorded(chromium, live) -> None:  # type: ignore[no-untyped-def]
    base, engine = live
    queued = _seed(base, engine, 2)
    supervisor_key = _key(engine, "supervisor")
    context = chromium.new_context(viewport={"width": 1280, "height": 1100})
    context.set_default_timeout(90_000)  # the server shares two cores with the rest of the suite
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base}/console/sign-in")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'key'")
    page.keyboard.type(supervisor_key)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/console/queue", timeout=60_000)

    # Open a queued case without claiming it: the supervisor acts over the queue, not through a claim.
    row = page.locator("#queue-rows tr[data-item]").first
    case_id = row.locator("td").first.inner_text().split()[0]
    page.goto(base + row.get_attribute("data-href"))
    assert page.locator("#supervise").is_visible()
    assert case_id in {q["body"]["case_id"] for q in queued}
    form = page.locator("#override-form")
    form.locator('select[name="action"]').select_option("reject")
    form.locator('textarea[name="note"]').fill("Customer confirmed by phone the item was never shipped back.")
    # The browser will not send the form until the override is confirmed.
    form.locator("#submit-override").click()
    assert page.locator("#override-form input[name=confirm]:invalid").count() == 1 and "flash=" not in page.url
    form.locator('input[name="confirm"]').check()
    _shot(page, "07-supervisor-override")
    form.locator("#submit-override").click()
    page.wait_for_url("**flash=**")
    assert f"Override recorded: reject {case_id}." in page.locator(".flash").inner_text()
    history = page.locator("ol.history").inner_text()
    assert "decided by key:" in history and "reject" in history and "override" in history
    assert page.locator("#supervise").count() == 0  # the case is done: nothing left to override
    _shot(page, "08-override-recorded")

    with engine.connect() as conn:
        decided = conn.execute(select(review_decisions.c.reviewer, review_decisions.c.action,
                                      review_decisions.c.override, review_decisions.c.note)).all()
    prefix = supervisor_key.split("_")[1]
    assert [tuple(r) for r in decided] == [
        (f"key:{prefix}", "reject", True, "Customer confirmed by phone the item was never shipped back.")]
    assert errors == []
    context.close()
