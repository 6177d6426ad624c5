"""HTTP API and console (Litestar)."""

from returns_triage.serving.api.app import create_app

__all__ = ["create_app"]
