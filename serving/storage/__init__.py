"""Storage adapters: SQLAlchemy 2 over SQLite (embedded default, WAL) or PostgreSQL; Alembic migrations."""

from returns_triage.serving.storage.engine import make_engine
from returns_triage.serving.storage.migrate import upgrade
from returns_triage.serving.storage.repository import (
    DecisionStore,
    DuplicateIdempotencyKey,
    SqlDecisionStore,
    StoredResponse,
)

__all__ = ["DecisionStore", "DuplicateIdempotencyKey", "SqlDecisionStore", "StoredResponse", "make_engine", "upgrade"]
