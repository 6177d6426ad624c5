"""Configuration: one typed object built from the environment once, at start-up, then passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from returns_triage.errors import ConfigurationError

__all__ = ["Settings"]


def _default_home() -> Path:
    return Path.cwd() / "var"


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob the service reads. Build it with :meth:`from_env`; never read ``os.environ`` elsewhere."""

    home: Path = field(default_factory=_default_home)
    database_url: str = ""
    model_dir: Path = Path()
    mlflow_uri: str = ""
    documents_dir: Path = Path()
    max_body_bytes: int = 1_000_000
    max_document_bytes: int = 20_000_000
    db_pool_size: int = 5
    # Routing policy document (YAML); "default" = the shipped serving/domain/policies/default.yaml. The shadow
    # policy is evaluated on live traffic and stored in each decision, never acted on.
    policy_file: str = "default"
    shadow_policy_file: str = ""
    # Per-key token buckets by role, "ROLE=PER_SECOND[:BURST],..." over the defaults (0 = unlimited); see
    # serving/service/rate_limit.py. The pseudonymisation key (HMAC, hex) hides customers from auditors; empty =
    # a random key generated once under TRIAGE_HOME/keys/ (replicas must then share that file or set this).
    rate_limits: str = ""
    pseudonym_key: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        # Derived defaults: everything lives under `home` unless configured.
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.home / 'triage.db'}")
        if self.model_dir == Path():
            object.__setattr__(self, "model_dir", self.home / "models")
        if not self.mlflow_uri:
            object.__setattr__(self, "mlflow_uri", f"sqlite:///{self.home / 'mlflow.db'}")
        if self.documents_dir == Path():
            object.__setattr__(self, "documents_dir", self.home / "documents")
        self.validate()

    def validate(self) -> None:
        if not self.database_url.startswith(("sqlite://", "postgresql")):
            raise ConfigurationError(
                f"TRIAGE_DATABASE_URL must be a sqlite:// or postgresql:// URL, got {self.database_url!r}"
            )
        if self.max_body_bytes < 1024:
            raise ConfigurationError("TRIAGE_MAX_BODY_BYTES must be >= 1024")
        if self.max_document_bytes < 1024:
            raise ConfigurationError("TRIAGE_MAX_DOCUMENT_BYTES must be >= 1024")
        try:
            self.role_rate_limits()
        except ValueError as exc:
            raise ConfigurationError(f"TRIAGE_RATE_LIMITS: {exc}") from exc
        if self.pseudonym_key:
            try:
                if len(bytes.fromhex(self.pseudonym_key)) < 16:
                    raise ValueError
            except ValueError:
                raise ConfigurationError("TRIAGE_PSEUDONYM_KEY must be at least 32 hex digits") from None

    def role_rate_limits(self) -> dict[str, Any]:
        from returns_triage.serving.domain.access import ROLES
        from returns_triage.serving.service.rate_limit import parse_rate_limits

        return parse_rate_limits(self.rate_limits, ROLES)

    @property
    def reason_bundle_dir(self) -> Path:
        return self.model_dir / "reason"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def number(name: str, default: float, kind: type = float) -> float:
            raw = env.get(name)
            if raw is None or raw == "":
                return default
            try:
                return kind(raw)
            except ValueError as exc:
                raise ConfigurationError(f"{name}={raw!r} is not a valid {kind.__name__}") from exc

        home = Path(env.get("TRIAGE_HOME", "") or _default_home())
        return cls(
            home=home,
            database_url=env.get("TRIAGE_DATABASE_URL", ""),
            model_dir=Path(env["TRIAGE_MODEL_DIR"]) if env.get("TRIAGE_MODEL_DIR") else Path(),
            mlflow_uri=env.get("TRIAGE_MLFLOW_URI", ""),
            documents_dir=Path(env["TRIAGE_DOCUMENTS_DIR"]) if env.get("TRIAGE_DOCUMENTS_DIR") else Path(),
            max_body_bytes=int(number("TRIAGE_MAX_BODY_BYTES", 1_000_000, int)),
            max_document_bytes=int(number("TRIAGE_MAX_DOCUMENT_BYTES", 20_000_000, int)),
            db_pool_size=int(number("TRIAGE_DB_POOL_SIZE", 5, int)),
            policy_file=env.get("TRIAGE_POLICY_FILE", "") or "default",
            shadow_policy_file=env.get("TRIAGE_SHADOW_POLICY_FILE", ""),
            rate_limits=env.get("TRIAGE_RATE_LIMITS", ""),
            pseudonym_key=env.get("TRIAGE_PSEUDONYM_KEY", ""),
        )

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]
