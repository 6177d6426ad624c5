"""API keys as callers and operators use them: create (shown once), list, revoke, authenticate a bearer token.

Rotation is create-then-revoke: a client switches to its new key, then the operator revokes the old one; from the
next request on, the old key is a 401.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from returns_triage.errors import InvalidInput, NotFound
from returns_triage.serving.domain.access import (
    ApiKeyRecord,
    Principal,
    check_role,
    check_tenant,
    digest_matches,
    new_api_key,
    parse_api_key,
)
from returns_triage.serving.storage.api_keys import SqlApiKeyStore

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from returns_triage.settings import Settings

__all__ = ["ApiKeyService", "key_service", "create_api_key"]


def _now() -> datetime:
    return datetime.now(UTC)


class ApiKeyService:
    def __init__(self, store: SqlApiKeyStore, *, clock: Callable[[], datetime] = _now) -> None:
        self.store = store
        self.clock = clock

    def create(self, role: str, tenant: str = "default", label: str = "") -> tuple[str, ApiKeyRecord]:
        """(the key to hand to the client, the stored record). The key cannot be recovered later."""
        try:
            check_role(role)
            check_tenant(tenant)
        except ValueError as exc:
            raise InvalidInput(str(exc)) from exc
        fresh = new_api_key()
        record = ApiKeyRecord(prefix=fresh.prefix, tenant=tenant, role=role, secret_sha256=fresh.secret_sha256,
                              created_at=self.clock(), label=label[:128])
        self.store.add(record)
        return fresh.token, record

    def list(self, tenant: str | None = None) -> list[ApiKeyRecord]:
        return self.store.list(tenant)

    def revoke(self, prefix: str) -> None:
        if not self.store.revoke(prefix, self.clock()):
            raise NotFound(f"no API key with prefix {prefix!r}", code="api_key_not_found")

    def authenticate(self, token: str) -> Principal | None:
        """The principal of a valid, unrevoked key; None for anything else (the caller answers 401)."""
        parsed = parse_api_key(token)
        if parsed is None:
            return None
        prefix, secret = parsed
        record = self.store.find(prefix)
        if record is None:
            # Same work as a real comparison, so timing does not tell which prefixes exist.
            digest_matches(secret, "0" * 64)
            return None
        if not digest_matches(secret, record.secret_sha256) or not record.active:
            return None
        return record.principal()


def key_service(settings: Settings) -> tuple[ApiKeyService, Engine]:
    """The key service on the configured database (migrated first); the caller disposes of the engine."""
    from returns_triage.serving.storage import make_engine, upgrade

    engine = make_engine(settings.database_url)
    upgrade(engine)
    return ApiKeyService(SqlApiKeyStore(engine)), engine


def create_api_key(settings: Settings, *, role: str, tenant: str = "default",
                   label: str = "") -> tuple[str, ApiKeyRecord]:
    """What ``triage keys create`` does: the one code path that mints keys outside tests."""
    service, engine = key_service(settings)
    try:
        return service.create(role, tenant, label)
    finally:
        engine.dispose()
