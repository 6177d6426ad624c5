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


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name}={raw!r} must be one of on/off, true/false, 1/0")


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
    # Model lifecycle: the local model store promotion materialises bundles into (<store>/<family>/<version>/ and
    # alias files); serving resolves `champion` there (TRIAGE_MODEL_DIR/<family> when a family has none), checks
    # signatures when a public key is given, re-reads the alias files every `model_poll_seconds` (0 = only on
    # POST /v1/models/reload), and with `shadow_challenger` scores every request with `challenger` too, stored only.
    model_store_dir: Path = Path()
    model_public_key: str = ""
    model_poll_seconds: float = 5.0
    # Swapped-out models are closed this long after the swap, so requests that started on them finish first.
    model_retire_grace_seconds: float = 30.0
    shadow_challenger: bool = False
    # Concurrent scoring requests share one encoder call (serving/service/batching.py): on by default; at most
    # ``reason_batch_max`` texts per call; ``reason_batch_wait_ms`` > 0 holds a small batch back that long while
    # requests are arriving concurrently (0 = never wait: a batch is whatever queued during the previous one).
    reason_batching: bool = True
    reason_batch_max: int = 32
    reason_batch_wait_ms: float = 0.0
    # Encoder calls run at once in each serving process (TRIAGE_REASON_BATCH_RUNNERS, one batcher thread each).
    reason_batch_runners: int = 1
    # The reason bundle's cheap first stage answers the texts it is sure of before the encoder runs
    # (models/reason/cascade.py); off = every text takes the full model path (TRIAGE_REASON_CASCADE=on|off).
    reason_cascade: bool = True
    # onnxruntime threads of the reason encoder in each serving process (TRIAGE_ENCODER_THREADS); 0 = one per core.
    # `triage serve --workers N` sets it to cores / (N × runners) when unset, so N workers with R encoder calls at
    # once do not run N × R × cores threads.
    encoder_threads: int = 0
    # With more threads than that (TRIAGE_ENCODER_WIDE_THREADS; 0 = off), each serving process loads a second encoder
    # session and runs a lone request's text on it: at light load a request gets every core. `triage serve` sets it to
    # the core count when it narrows TRIAGE_ENCODER_THREADS below that and the variable is unset.
    encoder_wide_threads: int = 0
    # SQLite: serving processes checkpoint the write-ahead log on a background thread this often (seconds) instead
    # of in whichever commit crosses SQLite's threshold, which then waited for the copy and its fsync
    # (TRIAGE_SQLITE_CHECKPOINT_SECONDS; 0 = SQLite's own checkpoints on commit).
    sqlite_checkpoint_seconds: float = 1.0
    # Disposition and supplier recovery: a low-confidence recommendation waits this long for a person; this many
    # defect inspections of one supplier's SKU within this many days open a supplier claim.
    disposition_review_hours: float = 24.0
    defect_pattern_count: int = 3
    defect_pattern_days: float = 30.0
    # Monitoring (`triage monitor`, `triage worker monitor`): window length, the auto-approval error target (0 = the
    # policy's calibrated alpha, else 2 %), the share of auto-approval room a fail-safe keeps (0 = every would-be
    # auto-approval of the segment goes to a person), how often the router re-reads fail-safe states, and the
    # worker's period.
    monitor_window_days: float = 7.0
    monitor_alpha: float = 0.0
    failsafe_factor: float = 0.0
    failsafe_refresh_seconds: float = 5.0
    monitor_interval_seconds: float = 3600.0

    def __post_init__(self) -> None:
        # Derived defaults: everything lives under `home` unless configured.
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.home / 'triage.db'}")
        if self.model_dir == Path():
            object.__setattr__(self, "model_dir", self.home / "models")
        if not self.mlflow_uri:
            object.__setattr__(self, "mlflow_uri", f"sqlite:///{self.home / 'mlflow.db'}")
        if self.model_store_dir == Path():
            object.__setattr__(self, "model_store_dir", self.home / "model-store")
        if self.documents_dir == Path():
            object.__setattr__(self, "documents_dir", self.home / "documents")
        self.validate()

    def validate(self) -> None:
        if not 0.0 <= self.failsafe_factor < 1.0:
            raise ConfigurationError("TRIAGE_FAILSAFE_FACTOR must be in [0, 1)")
        if not 0.0 <= self.monitor_alpha < 1.0:
            raise ConfigurationError("TRIAGE_MONITOR_ALPHA must be in [0, 1)")
        if self.monitor_window_days <= 0:
            raise ConfigurationError("TRIAGE_MONITOR_WINDOW_DAYS must be > 0")
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
        if self.reason_batch_max < 1:
            raise ConfigurationError("TRIAGE_REASON_BATCH_MAX must be >= 1")
        if self.reason_batch_runners < 1:
            raise ConfigurationError("TRIAGE_REASON_BATCH_RUNNERS must be >= 1")
        if not 0 <= self.reason_batch_wait_ms <= 100:
            raise ConfigurationError("TRIAGE_REASON_BATCH_WAIT_MS must be between 0 and 100")
        if self.model_retire_grace_seconds < 0:
            raise ConfigurationError("TRIAGE_MODEL_RETIRE_GRACE_SECONDS must be >= 0")
        if self.encoder_threads < 0:
            raise ConfigurationError("TRIAGE_ENCODER_THREADS must be >= 0 (0 = one per core)")
        if self.encoder_wide_threads < 0:
            raise ConfigurationError("TRIAGE_ENCODER_WIDE_THREADS must be >= 0 (0 = off)")
        if not 0 <= self.sqlite_checkpoint_seconds <= 3600:
            raise ConfigurationError("TRIAGE_SQLITE_CHECKPOINT_SECONDS must be between 0 and 3600 (0 = on commit)")
        if self.defect_pattern_count < 2 or self.defect_pattern_days <= 0 or self.disposition_review_hours <= 0:
            raise ConfigurationError("TRIAGE_DEFECT_PATTERN_COUNT must be >= 2, TRIAGE_DEFECT_PATTERN_DAYS and "
                                     "TRIAGE_DISPOSITION_REVIEW_HOURS > 0")
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
    def model_signing_key(self) -> Path:
        """The Ed25519 key that signs registered bundles (created by the first registration)."""
        return self.home / "keys" / "model-signing.pem"

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
            model_store_dir=Path(env["TRIAGE_MODEL_STORE"]) if env.get("TRIAGE_MODEL_STORE") else Path(),
            model_public_key=env.get("TRIAGE_MODEL_PUBLIC_KEY", ""),
            model_poll_seconds=float(number("TRIAGE_MODEL_POLL_SECONDS", 5.0)),
            model_retire_grace_seconds=float(number("TRIAGE_MODEL_RETIRE_GRACE_SECONDS", 30.0)),
            shadow_challenger=_flag(env, "TRIAGE_SHADOW_CHALLENGER", False),
            reason_batching=_flag(env, "TRIAGE_REASON_BATCHING", True),
            reason_batch_max=int(number("TRIAGE_REASON_BATCH_MAX", 32, int)),
            reason_batch_wait_ms=float(number("TRIAGE_REASON_BATCH_WAIT_MS", 0.0)),
            reason_batch_runners=int(number("TRIAGE_REASON_BATCH_RUNNERS", 1, int)),
            reason_cascade=_flag(env, "TRIAGE_REASON_CASCADE", True),
            encoder_threads=int(number("TRIAGE_ENCODER_THREADS", 0, int)),
            encoder_wide_threads=int(number("TRIAGE_ENCODER_WIDE_THREADS", 0, int)),
            sqlite_checkpoint_seconds=float(number("TRIAGE_SQLITE_CHECKPOINT_SECONDS", 1.0)),
            disposition_review_hours=float(number("TRIAGE_DISPOSITION_REVIEW_HOURS", 24.0)),
            defect_pattern_count=int(number("TRIAGE_DEFECT_PATTERN_COUNT", 3, int)),
            defect_pattern_days=float(number("TRIAGE_DEFECT_PATTERN_DAYS", 30.0)),
            monitor_window_days=float(number("TRIAGE_MONITOR_WINDOW_DAYS", 7.0)),
            monitor_alpha=float(number("TRIAGE_MONITOR_ALPHA", 0.0)),
            failsafe_factor=float(number("TRIAGE_FAILSAFE_FACTOR", 0.0)),
            failsafe_refresh_seconds=float(number("TRIAGE_FAILSAFE_REFRESH_SECONDS", 5.0)),
            monitor_interval_seconds=float(number("TRIAGE_MONITOR_INTERVAL_SECONDS", 3600.0)),
        )

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]
