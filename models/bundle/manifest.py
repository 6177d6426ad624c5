"""The bundle manifest: what a bundle is, where it came from, and the hash of every file in it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from returns_triage.errors import BundleIntegrityError

__all__ = ["MANIFEST_NAME", "Manifest", "file_sha256", "write_manifest", "load_manifest"]

MANIFEST_NAME = "manifest.json"
_FORMAT = 1


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Manifest:
    """A bundle's identity. ``version`` is derived from the file hashes, so equal files mean equal versions."""

    name: str
    version: str
    created_at: str
    files: dict[str, str]  # file name -> sha256
    labels: list[str] = field(default_factory=list)
    thresholds: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    format: int = _FORMAT

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def digest(self) -> str:
        """One hash over all file hashes: what a decision records as the bundle's fingerprint."""
        joined = "\n".join(f"{k}:{v}" for k, v in sorted(self.files.items()))
        return hashlib.sha256(joined.encode()).hexdigest()


def write_manifest(
    directory: Path,
    name: str,
    files: list[str],
    *,
    labels: list[str] | None = None,
    thresholds: dict[str, Any] | None = None,
    calibration: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    lineage: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Manifest:
    """Hash ``files`` (names relative to ``directory``) and write ``manifest.json`` beside them."""
    hashes = {f: file_sha256(directory / f) for f in sorted(files)}
    digest = hashlib.sha256("\n".join(f"{k}:{v}" for k, v in hashes.items()).encode()).hexdigest()
    now = datetime.now(UTC)
    manifest = Manifest(
        name=name,
        version=f"{name}-{now:%Y%m%d%H%M%S}-{digest[:10]}",
        created_at=now.isoformat(timespec="seconds"),
        files=hashes,
        labels=list(labels or []),
        thresholds=dict(thresholds or {}),
        calibration=dict(calibration or {}),
        metrics=dict(metrics or {}),
        lineage=dict(lineage or {}),
        extra=dict(extra or {}),
    )
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest.to_dict(), indent=2, sort_keys=True) + "\n")
    return manifest


def load_manifest(directory: Path, *, expected_name: str | None = None, verify: bool = True) -> Manifest:
    """Read a bundle's manifest; with ``verify`` every listed file must exist and hash as recorded."""
    path = directory / MANIFEST_NAME
    if not path.is_file():
        raise BundleIntegrityError(f"no {MANIFEST_NAME} in {directory}")
    try:
        raw = json.loads(path.read_text())
        manifest = Manifest(**raw)
    except (ValueError, TypeError) as exc:
        raise BundleIntegrityError(f"unreadable manifest in {directory}: {exc}") from exc
    if expected_name is not None and manifest.name != expected_name:
        raise BundleIntegrityError(f"bundle in {directory} is {manifest.name!r}, expected {expected_name!r}")
    if verify:
        for fname, expected in manifest.files.items():
            fpath = directory / fname
            if not fpath.is_file():
                raise BundleIntegrityError(f"bundle {manifest.version}: file {fname} is missing")
            actual = file_sha256(fpath)
            if actual != expected:
                raise BundleIntegrityError(
                    f"bundle {manifest.version}: {fname} has sha256 {actual[:12]}…, manifest says {expected[:12]}…"
                )
    return manifest
