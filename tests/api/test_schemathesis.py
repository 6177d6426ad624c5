"""Hostile input: Schemathesis with every check, ≥ 100 examples per operation, over the real app (ASGI, in process)
on a fresh SQLite database with the real models and an admin key. Zero failures, zero 5xx."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_schemathesis_finds_nothing(tmp_path: Path, model_dir: Path) -> None:
    from returns_triage.evaluation.fuzzing import fuzz_fresh_app

    report = fuzz_fresh_app(tmp_path, model_dir, max_examples=100)

    summary = sorted({(f["operation"], f["mode"], f["status"], f["failure"][:300]) for f in report.failures})
    assert report.failures == [], "\n".join(map(str, summary[:40]))
    assert report.server_errors == 0
    # Operations with parameters or a body get 100 valid and up to 100 invalid examples; the two without any
    # (liveness, readiness) have a single possible request.
    thin = {op: n for op, n in report.examples.items() if n < 100 and op not in ("GET /healthz", "GET /readyz")}
    assert not thin, thin
