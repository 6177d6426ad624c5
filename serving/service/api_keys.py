"""API keys as callers and operators use them: create (shown once), list, revoke, authenticate a bearer token.

Rotation is create-then-revoke: a client switches to its new key, then the operator revokes the old one; from the
next request on, the old key is a 401.

A serving process remembers a key it verified for ``cache_seconds`` (5 s by default), so the scoring hot path does
not read the key table on every request. A revocation made in the same process (any :class:`ApiKeyService`)
clears what every service of the process remembers, so it holds from the next request on; a revocation made by
another process (``triage keys revoke``, another replica) holds within ``cache_seconds``.
"""

from __future__ import annotations

import hashlib
import threading
import time
import weakref
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


# Every service in this process, so a revocation through any of them clears what all of them remember.
_SERVICES: weakref.WeakSet[ApiKeyService] = weakref.WeakSet()
_CACHE_MAX = 10_000


class ApiKeyService:
    def __init__(self, store: SqlApiKeyStore, *, clock: Callable[[], datetime] = _now,
                 cache_seconds: float = 5.0) -> None:
        self.store = store
        self.clock = clock
        self.cache_seconds = cache_seconds
        # sha256 of the whole token -> (principal, monotonic expiry); only keys that verified are remembered.
        self._verified: dict[bytes, tuple[Principal, float]] = {}
        self._lock = threading.Lock()
        self._generation = 0  # bumped by forget(): a verification read before it is not remembered after it
        _SERVICES.add(self)

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
        for service in list(_SERVICES):
            service.forget()

    def forget(self) -> None:
        """Drop every remembered verification: the next request of each key reads the key table again."""
        with self._lock:
            self._generation += 1
            self._verified.clear()

    def remembered(self, token: str) -> Principal | None:
        """The principal of a key verified less than ``cache_seconds`` ago, without touching the database (so an
        event loop may call it); None when it must be verified with :meth:`authenticate`."""
        if self.cache_seconds <= 0:
            return None
        remembered = self._verified.get(_digest(token))
        return remembered[0] if remembered is not None and remembered[1] > time.monotonic() else None

    def authenticate(self, token: str) -> Principal | None:
        """The principal of a valid, unrevoked key; None for anything else (the caller answers 401)."""
        if self.cache_seconds <= 0:
            return self._authenticate(token)
        digest = _digest(token)
        now = time.monotonic()
        remembered = self._verified.get(digest)
        if remembered is not None and remembered[1] > now:
            return remembered[0]
        generation = self._generation
        principal = self._authenticate(token)
        if principal is not None:
            with self._lock:
                if generation != self._generation:
                    return principal
                if len(self._verified) >= _CACHE_MAX:
                    self._verified.clear()
                self._verified[digest] = (principal, now + self.cache_seconds)
        return principal

    def _authenticate(self, token: str) -> Principal | None:
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


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


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
