"""What a serving process remembers of the API keys it verified, on both real backends: a key revoked through
any service of the process is refused at once; one revoked elsewhere (straight in the key table, as another
process does) within the cache time; a wrong secret is never answered from memory."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from returns_triage.serving.service.api_keys import ApiKeyService
from returns_triage.serving.storage.api_keys import SqlApiKeyStore


def test_a_key_revoked_by_another_process_is_refused_once_the_cache_time_passed(backend) -> None:  # type: ignore[no-untyped-def]
    store = SqlApiKeyStore(backend)
    service = ApiKeyService(store, cache_seconds=0.5)
    token, record = service.create("workflow_engine")
    principal = service.authenticate(token)
    assert principal is not None and principal.role == "workflow_engine"
    store.revoke(record.prefix, datetime.now(UTC))  # what `triage keys revoke` does from its own process
    assert service.authenticate(token) == principal  # still remembered ...
    time.sleep(0.6)
    assert service.authenticate(token) is None  # ... for at most the cache time


def test_a_key_revoked_through_any_service_of_the_process_is_refused_at_once(backend) -> None:  # type: ignore[no-untyped-def]
    serving = ApiKeyService(SqlApiKeyStore(backend), cache_seconds=60)
    operator = ApiKeyService(SqlApiKeyStore(backend))
    token, record = operator.create("workflow_engine")
    assert serving.authenticate(token) is not None
    operator.revoke(record.prefix)
    assert serving.authenticate(token) is None


def test_a_wrong_secret_is_never_answered_from_memory(backend) -> None:  # type: ignore[no-untyped-def]
    service = ApiKeyService(SqlApiKeyStore(backend), cache_seconds=60)
    token, _ = service.create("reviewer")
    assert service.authenticate(token) is not None
    assert service.authenticate(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert service.authenticate(token + "x") is None


def test_only_a_verified_unrevoked_key_is_remembered_without_the_database(backend) -> None:  # type: ignore[no-untyped-def]
    service = ApiKeyService(SqlApiKeyStore(backend), cache_seconds=60)
    token, record = service.create("workflow_engine")
    assert service.remembered(token) is None  # never verified yet
    principal = service.authenticate(token)
    assert principal is not None and service.remembered(token) == principal
    service.revoke(record.prefix)
    assert service.remembered(token) is None
    assert ApiKeyService(SqlApiKeyStore(backend), cache_seconds=0).remembered(token) is None
