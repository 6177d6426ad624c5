"""Registering bundles in MLflow and materialising registered versions into the local model store serving reads.

MLflow is the source of truth for versions and aliases; the local store (``Settings.model_store_dir``) is what a
serving process can read without MLflow: ``<family>/<version>/`` folders plus ``champion.json`` /
``challenger.json`` alias files, replaced atomically.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from returns_triage.errors import BundleIntegrityError
from returns_triage.models.bundle import load_manifest
from returns_triage.serving.service.model_registry import (
    AliasPointer,
    LocalModelStore,
    load_public_key,
    verify_bundle_signature,
)
from returns_triage.settings import Settings
from returns_triage.training import tracking

__all__ = ["register_bundle", "materialise", "fetch_verified", "local_store"]


def local_store(settings: Settings) -> LocalModelStore:
    return LocalModelStore(settings.model_store_dir)


def register_bundle(settings: Settings, family: str, bundle_dir: Path, *, params: dict[str, Any] | None = None,
                    metrics: dict[str, Any] | None = None, slices: dict[str, Any] | None = None,
                    artifacts: dict[str, Any] | None = None, dataset_sha256: str | None = None,
                    alias: str | None = None, run_name: str | None = None) -> tracking.TrackedRun:
    """Sign ``bundle_dir``, log it as a run and register it as a new version of ``returns-triage-<family>``
    (pointing ``alias`` at it when given). Returns the run id, model name and version."""
    manifest = load_manifest(Path(bundle_dir), verify=True)
    run = tracking.BundleRun(
        family=family, bundle_dir=Path(bundle_dir), manifest=manifest,
        params=params or {k: v for k, v in manifest.lineage.items() if not isinstance(v, dict | list)},
        metrics=metrics if metrics is not None else dict(manifest.metrics),
        dataset_sha256=dataset_sha256 or str(manifest.lineage.get("dataset_sha256") or manifest.digest),
        slices=slices or {}, artifacts=artifacts or {})
    return tracking.log_bundle_run(settings, run, run_name=run_name, alias=alias)


def fetch_verified(settings: Settings, family: str, version: str, into: Path) -> Path:
    """Download a registered version's bundle into ``into`` and verify its hashes and its signature (with the
    deployment's signing key, whose public half is what serving checks)."""
    bundle = tracking.download_bundle(settings, family, version, into)
    load_manifest(bundle, verify=True)
    key_path = Path(settings.model_public_key) if settings.model_public_key else settings.model_signing_key
    if key_path.exists():
        verify_bundle_signature(bundle, load_public_key(key_path))
    elif settings.model_public_key:
        raise BundleIntegrityError(f"no public key at {key_path} to verify {family} version {version}")
    return bundle


def materialise(settings: Settings, family: str, version: str, *, alias: str = "champion") -> AliasPointer:
    """Copy registered ``version`` (verified) into the local model store and point ``alias`` at it there.

    A serving process polling the alias file (or told to ``POST /v1/models/reload``) then hot-swaps to it."""
    store = local_store(settings)
    target = store.bundle_dir(family, str(version))
    if not target.is_dir():
        with tempfile.TemporaryDirectory(prefix=f"{family}-v{version}-") as tmp:
            store.install(family, str(version), fetch_verified(settings, family, str(version), Path(tmp)))
    return store.set_alias(family, alias, str(version))
