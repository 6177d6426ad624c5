"""Storage adapters: SQLAlchemy 2 over SQLite (embedded default, WAL) or PostgreSQL; Alembic migrations.

The names below load on first use, so a process that only asks :mod:`.revision` whether the database is up to
date (``triage serve`` before it starts its workers) does not import SQLAlchemy."""

from __future__ import annotations

from returns_triage.lazy import lazy_exports

__all__ = ["DecisionStore", "DuplicateIdempotencyKey", "SqlDecisionStore", "StoredResponse", "make_engine", "upgrade"]

_WHERE = {"make_engine": "engine", "upgrade": "migrate", "DecisionStore": "repository",
          "DuplicateIdempotencyKey": "repository", "SqlDecisionStore": "repository", "StoredResponse": "repository"}

__getattr__ = lazy_exports(__name__, _WHERE)
