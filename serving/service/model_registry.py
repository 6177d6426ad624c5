"""The local model store a serving process reads, and the holder of the models it currently serves.

Promotion (``training/lifecycle``) materialises each registered bundle into ``<store>/<family>/<version>/`` and
points an alias at it by atomically replacing ``<store>/<family>/<alias>.json``. A serving process resolves
``champion`` from those files (MLflow is never imported here), verifies every file hash and, when a public key is
configured, the bundle's Ed25519 signature, then swaps the new models in. A request takes one snapshot of the
models when it starts, so in-flight requests finish on the models they started with.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from returns_triage.errors import BundleIntegrityError, ConfigurationError, NotFound
from returns_triage.models.bundle import MANIFEST_NAME, Manifest, load_manifest
from returns_triage.serving.service.models import LoadedModels, load_models

__all__ = ["SIGNATURE_NAME", "FAMILIES", "AliasPointer", "LocalModelStore", "ModelRegistry", "serving_models",
           "signed_message", "verify_bundle_signature", "load_public_key", "key_id_of"]

log = logging.getLogger("returns_triage.models")

SIGNATURE_NAME = "signature.json"
"""Beside ``manifest.json``: ``{"algorithm": "ed25519", "key_id", "message_sha256", "signature"}``."""

FAMILIES = ("reason", "fraud", "documents", "disposition")


def signed_message(bundle_dir: Path) -> bytes:
    """What a bundle's signature covers: its name, version, file digest and the exact manifest bytes (labels,
    thresholds and calibration included), so nothing a runtime reads can change without breaking it."""
    raw = (bundle_dir / MANIFEST_NAME).read_bytes()
    manifest = Manifest(**json.loads(raw))
    return (f"returns-triage bundle\n{manifest.name}\n{manifest.version}\n{manifest.digest}\n"
            f"{hashlib.sha256(raw).hexdigest()}\n").encode()


def key_id_of(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key PEM (or the private key file; its public half is used)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"no model signing key at {path}: {exc}") from exc
    try:
        key: Any = serialization.load_pem_public_key(data)
    except ValueError:
        key = serialization.load_pem_private_key(data, password=None).public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigurationError(f"{path} does not hold an Ed25519 key")
    return key


def verify_bundle_signature(bundle_dir: Path, public_key: Ed25519PublicKey) -> None:
    """Raise BundleIntegrityError unless ``signature.json`` is a valid signature of the bundle by ``public_key``."""
    path = bundle_dir / SIGNATURE_NAME
    if not path.is_file():
        raise BundleIntegrityError(f"bundle in {bundle_dir} is not signed (no {SIGNATURE_NAME})")
    try:
        sig = json.loads(path.read_text())
        message = signed_message(bundle_dir)
        if sig.get("key_id") != key_id_of(public_key):
            raise BundleIntegrityError(f"bundle in {bundle_dir} is signed by key {sig.get('key_id')}, "
                                       f"not the configured {key_id_of(public_key)}")
        if sig.get("message_sha256") != hashlib.sha256(message).hexdigest():
            raise BundleIntegrityError(f"the signature in {bundle_dir} is for another manifest")
        public_key.verify(bytes.fromhex(sig["signature"]), message)
    except (InvalidSignature, ValueError, KeyError, TypeError) as exc:
        raise BundleIntegrityError(f"bundle in {bundle_dir} has an invalid signature") from exc


@dataclass(frozen=True, slots=True)
class AliasPointer:
    """The content of ``<family>/<alias>.json``: which materialised version an alias names."""

    family: str
    alias: str
    version: str  # the registry's model version ("3"), also the folder name
    bundle_version: str  # the manifest's version, what decisions record
    digest: str
    updated_at: str

    def to_dict(self) -> dict[str, str]:
        return {"family": self.family, "alias": self.alias, "version": self.version,
                "bundle_version": self.bundle_version, "digest": self.digest, "updated_at": self.updated_at}


class LocalModelStore:
    """Verified bundles on local disk, ``<root>/<family>/<version>/``, with alias files beside them."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def bundle_dir(self, family: str, version: str) -> Path:
        return self.root / family / str(version)

    def install(self, family: str, version: str, source: Path) -> Path:
        """Copy the bundle in ``source`` to ``<family>/<version>/`` after verifying its hashes; idempotent.

        The copy goes to a temporary folder first and is renamed into place, so a reader never sees half a bundle.
        """
        load_manifest(Path(source), verify=True)
        target = self.bundle_dir(family, version)
        if target.is_dir():
            load_manifest(target, verify=True)
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=target.parent))
        try:
            for item in Path(source).iterdir():
                if item.is_file():
                    shutil.copy2(item, staging / item.name)
            load_manifest(staging, verify=True)
            os.rename(staging, target)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not target.is_dir():  # another process installed it first: theirs is as good as ours
                raise
        return target

    def set_alias(self, family: str, alias: str, version: str) -> AliasPointer:
        """Point ``alias`` at an installed version by atomically replacing the alias file."""
        directory = self.bundle_dir(family, version)
        manifest = load_manifest(directory, verify=True)
        pointer = AliasPointer(family, alias, str(version), manifest.version, manifest.digest,
                               datetime.now(UTC).isoformat(timespec="seconds"))
        fd, tmp = tempfile.mkstemp(prefix=f".{alias}-", suffix=".json", dir=directory.parent)
        with os.fdopen(fd, "w") as fh:
            json.dump(pointer.to_dict(), fh, indent=2)
            fh.write("\n")
        os.replace(tmp, directory.parent / f"{alias}.json")
        return pointer

    def alias(self, family: str, alias: str) -> AliasPointer | None:
        path = self.root / family / f"{alias}.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except ValueError as exc:
            raise BundleIntegrityError(f"unreadable alias file {path}: {exc}") from exc
        return AliasPointer(**data)

    def resolve(self, family: str, alias: str) -> Path | None:
        """The folder ``alias`` points at, or None when the family has no such alias here."""
        pointer = self.alias(family, alias)
        if pointer is None:
            return None
        directory = self.bundle_dir(family, pointer.version)
        if not directory.is_dir():
            raise NotFound(f"{family}@{alias} points at version {pointer.version}, which is not in {self.root}")
        return directory

    def stamp(self, alias: str) -> tuple[tuple[str, str], ...]:
        """A cheap fingerprint of every family's ``alias`` file: it changes whenever an alias moves."""
        out = []
        for family in FAMILIES:
            pointer = self.alias(family, alias)
            if pointer is not None:
                out.append((family, f"{pointer.version}:{pointer.digest}"))
        return tuple(out)


class ModelRegistry:
    """Holds the models a serving process uses now (and the challenger's, for shadow scoring) and swaps them.

    ``current`` is read once per request; :meth:`reload` loads the bundles the aliases name, verifies them, and
    replaces the reference only when the new champion is ready. ``prepare`` adapts freshly loaded models the way
    the app serves them (e.g. micro-batching the reason scorer). Models this registry retires are closed after
    ``grace_seconds``, so requests that started on them finish first.
    """

    def __init__(self, store: LocalModelStore, fallback_dir: Path, *, public_key: Ed25519PublicKey | None = None,
                 shadow: bool = False, grace_seconds: float = 30.0,
                 prepare: Callable[[LoadedModels], LoadedModels] | None = None,
                 loader: Callable[..., LoadedModels] = load_models,
                 initial: LoadedModels | None = None, own_initial: bool = False) -> None:
        self.store = store
        self.fallback_dir = Path(fallback_dir)
        self.public_key = public_key
        self.shadow = shadow
        self.grace_seconds = grace_seconds
        self._prepare = prepare or (lambda m: m)
        self._loader = loader
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._owned: set[int] = set()  # ids of the LoadedModels this registry loaded (and so must close)
        self.current: LoadedModels = LoadedModels()
        self.challenger: LoadedModels | None = None
        self._stamp: tuple[Any, ...] | None = None
        if initial is None:
            self.reload(force=True, require_ready=False)
        else:
            self.current = initial
            if own_initial:  # loaded for this registry's process: closed when retired, like the ones it loads
                self._owned.add(id(initial))
            self._stamp = self._alias_stamp()
            if shadow:
                self.challenger = self._load("challenger", fallback=False)

    @classmethod
    def for_settings(cls, settings: Any, **kwargs: Any) -> ModelRegistry:
        """The registry a serving process with these settings uses (store, fallback dir, public key, shadow)."""
        key = load_public_key(Path(settings.model_public_key)) if settings.model_public_key else None
        kwargs.setdefault("loader", partial(load_models, encoder_threads=settings.encoder_threads,
                                            encoder_wide_threads=settings.encoder_wide_threads))
        kwargs.setdefault("grace_seconds", settings.model_retire_grace_seconds)
        return cls(LocalModelStore(settings.model_store_dir), settings.model_dir, public_key=key,
                   shadow=settings.shadow_challenger, **kwargs)

    def bundle_dirs(self, alias: str = "champion") -> dict[str, Path]:
        """Per family, the verified folder ``alias`` resolves to in the store (families without it are absent)."""
        out: dict[str, Path] = {}
        for family in FAMILIES:
            directory = self.store.resolve(family, alias)
            if directory is None:
                continue
            if self.public_key is not None:
                verify_bundle_signature(directory, self.public_key)
            out[family] = directory
        return out

    def _alias_stamp(self) -> tuple[Any, ...]:
        return (self.store.stamp("champion"), self.store.stamp("challenger") if self.shadow else ())

    def _load(self, alias: str, fallback: bool) -> LoadedModels | None:
        try:
            dirs = self.bundle_dirs(alias)
        except BundleIntegrityError as exc:
            if not fallback:
                log.error("challenger not loaded: %s", exc.message)
                return None
            raise
        if not dirs and not fallback:
            return None
        # Families with no alias in the store keep today's layout, <TRIAGE_MODEL_DIR>/<family>/.
        root = self.fallback_dir if fallback else self.store.root / ".no-fallback"
        models = self._loader(root, bundle_dirs=dirs)
        self._owned.add(id(models))
        return models

    def reload(self, *, force: bool = False, require_ready: bool = True) -> bool:
        """Load and swap in what the aliases name now; False when nothing moved. A champion that fails
        verification leaves the current models serving and raises BundleIntegrityError."""
        with self._lock:
            stamp = self._alias_stamp()
            if not force and stamp == self._stamp:
                return False
            try:
                loaded = self._load("champion", fallback=True)
            except BundleIntegrityError as exc:
                if require_ready:
                    raise
                loaded = LoadedModels(load_errors=(exc.message,))
            assert loaded is not None
            if require_ready and not loaded.ready:
                loaded.close()
                raise BundleIntegrityError("the champion bundles did not load: " + "; ".join(loaded.load_errors))
            fresh = self._prepare(loaded)
            if fresh is not loaded:
                self._owned.add(id(fresh))
            challenger = self._load("challenger", fallback=False) if self.shadow else None
            old, old_challenger = self.current, self.challenger
            self.current, self.challenger = fresh, challenger
            self._stamp = stamp
        log.info("serving models %s (challenger %s)", fresh.versions(),
                 challenger.versions() if challenger is not None else None)
        for retired in (old, old_challenger):
            if retired is not None and id(retired) in self._owned:
                self._retire(retired)
        return True

    def swap(self, models: LoadedModels) -> LoadedModels:
        """Serve ``models`` from now on; returns the previous ones (not closed: the caller owns them)."""
        with self._lock:
            old, self.current = self.current, models
        return old

    def _retire(self, models: LoadedModels) -> None:
        self._owned.discard(id(models))
        timer = threading.Timer(self.grace_seconds, _close_models, args=(models,))
        timer.daemon = True
        timer.start()

    def start_polling(self, interval_seconds: float) -> None:
        """Check the alias files every ``interval_seconds`` in a daemon thread and reload when they move."""
        if interval_seconds <= 0 or self._poller is not None:
            return

        def run() -> None:
            while not self._stop.wait(interval_seconds):
                try:
                    self.reload()
                except Exception:  # noqa: BLE001 - a bad bundle must not stop the poller; the old models serve
                    log.exception("model reload failed; still serving %s", self.current.versions())

        self._poller = threading.Thread(target=run, name="model-alias-poller", daemon=True)
        self._poller.start()

    def close(self) -> None:
        """Stop polling and close the models this registry loaded (injected ones stay the caller's)."""
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=5)
        for models in (self.current, self.challenger):
            if models is not None and id(models) in self._owned:
                _close_models(models)

    def versions(self) -> dict[str, Any]:
        out: dict[str, Any] = {"champion": self.current.versions()}
        if self.challenger is not None:
            out["challenger"] = self.challenger.versions()
        return out


def _close_models(models: LoadedModels) -> None:
    close = getattr(models.reason, "close", None)  # a micro-batching wrapper owns a thread
    if close is not None:
        close()
    models.close()


def serving_models(settings: Any) -> LoadedModels:
    """The models a serving process starts with: each family's ``champion`` from the local model store (hashes and,
    with TRIAGE_MODEL_PUBLIC_KEY, signatures verified), else ``TRIAGE_MODEL_DIR/<family>``. A champion that fails
    verification is not served: the result carries the error and is not ready."""
    try:
        key = load_public_key(Path(settings.model_public_key)) if settings.model_public_key else None
        store = LocalModelStore(settings.model_store_dir)
        dirs: dict[str, Path] = {}
        for family in FAMILIES:
            directory = store.resolve(family, "champion")
            if directory is not None:
                if key is not None:
                    verify_bundle_signature(directory, key)
                dirs[family] = directory
    except (BundleIntegrityError, NotFound) as exc:
        return LoadedModels(load_errors=(exc.message,))
    return load_models(settings.model_dir, bundle_dirs=dirs, encoder_threads=settings.encoder_threads,
                       encoder_wide_threads=settings.encoder_wide_threads)
