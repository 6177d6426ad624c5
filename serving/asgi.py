"""ASGI entry point for uvicorn workers: `returns_triage.serving.asgi:app_factory` (factory=True)."""

from __future__ import annotations

from litestar import Litestar

from returns_triage.serving.api.app import create_app
from returns_triage.settings import Settings


def app_factory() -> Litestar:
    return create_app(Settings.from_env())
