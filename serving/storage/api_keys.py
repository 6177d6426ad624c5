"""Where API keys and document ownership are stored (SQLAlchemy, both backends)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Row, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from returns_triage.serving.domain.access import ApiKeyRecord
from returns_triage.serving.storage.engine import reading
from returns_triage.serving.storage.tables import api_keys, tenant_documents

__all__ = ["SqlApiKeyStore", "SqlDocumentOwnership"]


def _record(row: Row[Any]) -> ApiKeyRecord:
    return ApiKeyRecord(prefix=row.prefix, tenant=row.tenant, role=row.role, secret_sha256=row.secret_sha256,
                        created_at=row.created_at, revoked_at=row.revoked_at, label=row.label or "")


class SqlApiKeyStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._reader = reading(engine)
        self._find = select(api_keys).where(api_keys.c.prefix == bindparam("prefix"))

    def add(self, record: ApiKeyRecord) -> None:
        with self.engine.begin() as conn:
            conn.execute(api_keys.insert().values(
                prefix=record.prefix, tenant=record.tenant, role=record.role, secret_sha256=record.secret_sha256,
                label=record.label, created_at=record.created_at, revoked_at=record.revoked_at))

    def find(self, prefix: str) -> ApiKeyRecord | None:
        with self._reader.connect() as conn:
            row = conn.execute(self._find, {"prefix": prefix}).first()
        return None if row is None else _record(row)

    def list(self, tenant: str | None = None) -> list[ApiKeyRecord]:
        query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.prefix)
        if tenant is not None:
            query = query.where(api_keys.c.tenant == tenant)
        with self.engine.connect() as conn:
            return [_record(row) for row in conn.execute(query)]

    def revoke(self, prefix: str, now: datetime) -> bool:
        """True if the key exists (revoking twice keeps the first time)."""
        with self.engine.begin() as conn:
            found = conn.execute(select(api_keys.c.revoked_at).where(api_keys.c.prefix == prefix)).first()
            if found is None:
                return False
            if found.revoked_at is None:
                conn.execute(api_keys.update().where(api_keys.c.prefix == prefix).values(revoked_at=now))
        return True


class SqlDocumentOwnership:
    """Documents are content-addressed and stored once; this records which tenants uploaded each one."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    def claim(self, tenant: str, document_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(self._insert(tenant_documents)
                         .values(tenant=tenant, document_id=document_id, created_at=datetime.now(UTC))
                         .on_conflict_do_nothing(index_elements=["tenant", "document_id"]))

    def owns(self, tenant: str, document_id: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(tenant_documents.c.document_id).where(
                tenant_documents.c.tenant == tenant, tenant_documents.c.document_id == document_id)).first() is not None
