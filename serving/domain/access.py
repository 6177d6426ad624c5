"""Who is calling: roles, API keys (format, hashing) and the principal a request acts as. Standard library only.

A key reads ``rt_<prefix>_<secret>``. The prefix is public (it names the key in lists, logs and revocations); the
secret is 256 random bits and only its SHA-256 is stored, so a copy of the database holds no usable credential.
High-entropy secrets need no slow password hash: guessing one is as hard as inverting SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

__all__ = ["ROLES", "KEY_SCHEME", "Principal", "ApiKeyRecord", "NewApiKey", "new_api_key", "parse_api_key",
           "secret_digest", "digest_matches"]

ROLES = ("workflow_engine", "reviewer", "supervisor", "auditor", "data_scientist", "admin")
"""Every role a key can hold; one per key. What each may do is the table in ``serving/api/permissions.py``."""

KEY_SCHEME = "rt"
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_KEY = re.compile(r"^rt_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller a request acts as: its key's tenant and role. Every read and write is scoped to ``tenant``."""

    key_prefix: str
    tenant: str
    role: str

    @property
    def actor(self) -> str:
        """How the audit log and review history name this caller."""
        return f"key:{self.key_prefix}"


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """A key as stored: never its secret, only the secret's digest."""

    prefix: str
    tenant: str
    role: str
    secret_sha256: str
    created_at: datetime
    revoked_at: datetime | None = None
    label: str = ""

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def principal(self) -> Principal:
        return Principal(key_prefix=self.prefix, tenant=self.tenant, role=self.role)


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A freshly minted key: ``token`` is shown once, to whoever created it, and never stored."""

    token: str
    prefix: str
    secret_sha256: str


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    return role


def check_tenant(tenant: str) -> str:
    if not _TENANT.match(tenant):
        raise ValueError(f"tenant must be 1-64 letters, digits, '_', '.' or '-', got {tenant!r}")
    return tenant


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def digest_matches(secret: str, stored_sha256: str) -> bool:
    """Constant-time: how long the comparison takes says nothing about how much of the secret was right."""
    return hmac.compare_digest(secret_digest(secret), stored_sha256)


def new_api_key() -> NewApiKey:
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)  # 32 bytes -> 43 characters of [A-Za-z0-9_-]
    return NewApiKey(token=f"{KEY_SCHEME}_{prefix}_{secret}", prefix=prefix, secret_sha256=secret_digest(secret))


def parse_api_key(token: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed key, else None. The secret itself may contain ``_``."""
    match = _KEY.match(token)
    return (match.group(1), match.group(2)) if match else None
