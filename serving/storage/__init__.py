"""Storage adapters: SQLAlchemy 2 over SQLite (embedded default, WAL) or PostgreSQL; Alembic migrations.

The names below load on first use, so a process that only asks :mod:`.revision` whether the database is up to
date (``triage serve`` before it starts its workers) does not import SQLAlchemy."""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["DecisionStore", "DuplicateIdempotencyKey", "SqlDecisionStore", "StoredResponse", "make_engine", "upgrade"]

_WHERE = {"make_engine": "engine", "upgrade": "migrate", "DecisionStore": "repository",
          "DuplicateIdempotencyKey": "repository", "SqlDecisionStore": "repository", "StoredResponse": "repository"}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
