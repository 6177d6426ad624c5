"""The read model of one review item for the console: the item's case as submitted and its decision."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from returns_triage.errors import NotFound
from returns_triage.serving.storage.tables import cases, decisions, review_items

__all__ = ["SqlCaseFiles"]


class SqlCaseFiles:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def case_file(self, tenant: str, item_id: str) -> dict[str, Any]:
        """``{"request": the scoring request as sent, "decision": the stored decision document}``."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(cases.c.payload, decisions.c.document)
                .select_from(review_items)
                .join(cases, cases.c.id == review_items.c.case_ref)
                .join(decisions, decisions.c.decision_id == review_items.c.decision_id)
                .where(review_items.c.tenant == tenant, review_items.c.item_id == item_id)
            ).first()
        if row is None:
            raise NotFound(f"review item {item_id} not found")
        return {"request": row.payload or {}, "decision": row.document or {}}

    def queues(self, tenant: str) -> list[str]:
        with self.engine.connect() as conn:
            return sorted(conn.execute(select(review_items.c.queue).distinct()
                                       .where(review_items.c.tenant == tenant)).scalars())
