"""The process dashboard in a real headless Chromium: a supervisor signs in, opens the dashboard from the console's
header, and every KPI tile and chart shows what a direct SQL computation over the stored events gives.
Screenshots go to var/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from returns_triage.serving.api import create_app
from returns_triage.serving.service.api_keys import ApiKeyService
from returns_triage.serving.service.kpis import KPI_DEFINITIONS
from returns_triage.serving.service.models import LoadedModels
from returns_triage.serving.storage import make_engine, upgrade
from returns_triage.serving.storage.api_keys import SqlApiKeyStore
from returns_triage.settings import Settings
from tests.api.test_idempotency_concurrency import LiveServer
from tests.e2e.test_console import _shot, chromium  # noqa: F401 - the browser fixture
from tests.process_world import direct_kpi, seed_process_world


@pytest.fixture
def live_world(tmp_path: Path) -> Iterator[tuple[str, object]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'dashboard.db'}")
    upgrade(engine)
    seed_process_world(engine, until=datetime.now(UTC), n=120)
    settings = Settings.from_env({"TRIAGE_HOME": str(tmp_path), "TRIAGE_MODEL_DIR": str(tmp_path / "none")})
    with LiveServer(create_app(settings, models=LoadedModels(), engine=engine)) as base:
        yield base, engine


def test_a_supervisor_sees_the_bottlenecks_and_every_kpi_matches_sql(chromium, live_world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    base, engine = live_world
    key, _ = ApiKeyService(SqlApiKeyStore(engine)).create("supervisor", "default", label="e2e dashboard")
    context = chromium.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{base}/console/sign-in")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'key'")
    page.keyboard.type(key)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/console/queue", timeout=60_000)
    page.click("#nav-dashboard")
    page.wait_for_url(f"{base}/console/dashboard**")

    tiles = page.locator("#tiles")
    since = datetime.fromisoformat(tiles.get_attribute("data-since") or "")
    until = datetime.fromisoformat(tiles.get_attribute("data-until") or "")
    shown = {t.get_attribute("data-kpi"): (t.get_attribute("data-value"), int(t.get_attribute("data-n") or -1))
             for t in page.locator("#tiles .kpi").all()}
    assert set(shown) == set(KPI_DEFINITIONS)
    for name, (raw, n) in shown.items():
        if name == "return_aging":
            assert n == direct_kpi(engine, name, since, until)[0]
            continue
        value, expected_n = direct_kpi(engine, name, since, until)
        assert n == expected_n, name
        assert (raw == "" and value is None) or float(raw or "nan") == pytest.approx(value, rel=1e-9), name
    # The charts are drawn: one bar per facility with waiting items, per facility with review items, per band.
    wait = direct_kpi(engine, "review_wait_hours", since, until, group="facility")
    assert page.locator("#chart-wait g.bar-row").count() == len([v for v in wait.values() if v[0] is not None])
    breach = direct_kpi(engine, "sla_breach_rate", since, until, group="facility")
    worst = max(breach.items(), key=lambda kv: kv[1][0])[0]
    assert page.locator("#chart-breach g.bar-row").first.get_attribute("data-name") == worst
    assert page.locator("#chart-aging g.bar-row").count() == 5
    assert page.locator("#reasons tbody tr[data-reason]").count() >= 1
    assert page.locator("#reasons polyline").count() == page.locator("#reasons tbody tr[data-reason]").count()
    _shot(page, "10-dashboard")

    page.select_option("select[name=weeks]", "4")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(f"{base}/console/dashboard?weeks=4")
    _shot(page, "11-dashboard-4-weeks")
    assert errors == []
    context.close()


def test_the_dashboard_needs_a_console_sign_in(chromium, live_world) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    base, _ = live_world
    page = chromium.new_page()
    page.goto(f"{base}/console/dashboard")
    assert page.url.endswith("/console/sign-in")
    page.close()
