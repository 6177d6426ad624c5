"""Real API server processes on loopback, sharing one scratch database: how a deployment scales out and crashes.

:func:`scratch_database` yields a migrated, empty database URL (a SQLite file in a temporary directory, or a fresh
PostgreSQL schema selected through the URL's ``options``) and removes it afterwards. :class:`ServerProcess` is one
``triage serve`` child process on a free loopback port: :meth:`~ServerProcess.start` waits for ``/readyz``,
:meth:`~ServerProcess.kill` sends a signal (``SIGKILL`` by default, as a crash), :meth:`~ServerProcess.start` again
restarts it on the same port. :func:`serve_processes` runs N of them at once on one database.

Used by the idempotency and queue benchmarks and by their slow tests; nothing here is imported by ``serving``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import quote

import httpx
from sqlalchemy import Engine, text

from returns_triage.errors import TriageError
from returns_triage.serving.storage import make_engine, upgrade

__all__ = ["DEFAULT_PG_URL", "ServerProcess", "scratch_database", "serve_processes", "server_env", "free_port",
           "postgres_url", "ensure_model_dir", "UNLIMITED_RATES"]

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# Benchmarks measure correctness under load; the per-key token buckets would only turn the load into 429s.
UNLIMITED_RATES = ",".join(f"{role}=0" for role in ("workflow_engine", "reviewer", "supervisor", "auditor",
                                                      "data_scientist", "admin"))


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_url() -> str:
    """The PostgreSQL to run against: ``TRIAGE_DATABASE_URL`` if it is one, else ``TRIAGE_BENCH_PG_URL`` /
    ``TRIAGE_TEST_PG_URL``, else the local default."""
    from returns_triage.settings import Settings

    configured = Settings.from_env().database_url
    if configured.startswith("postgresql"):
        return configured
    return os.environ.get("TRIAGE_BENCH_PG_URL") or os.environ.get("TRIAGE_TEST_PG_URL") or DEFAULT_PG_URL


def ensure_model_dir() -> Path:
    """The configured bundles (``TRIAGE_MODEL_DIR``) the servers load, trained small first if there are none."""
    from returns_triage.settings import Settings

    settings = Settings.from_env()
    if not (settings.model_dir / "reason" / "manifest.json").is_file():
        from returns_triage.training.defaults import train_default_bundles

        train_default_bundles(settings, quick=True)
    return settings.model_dir


@contextmanager
def scratch_database(backend: str, *, pg_url: str | None = None, pool_size: int = 10) -> Iterator[tuple[str, Engine]]:
    """``(url, engine)`` of a migrated, empty database of ``backend`` ("sqlite" or "postgresql"), dropped on exit.

    The URL is what server processes get as ``TRIAGE_DATABASE_URL``; the engine is for the caller's own checks.
    """
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="triage-scratch-") as scratch:
            url = f"sqlite:///{Path(scratch) / 'triage.db'}"
            engine = make_engine(url, pool_size=pool_size)
            try:
                upgrade(engine)
                yield url, engine
            finally:
                engine.dispose()
        return
    if backend != "postgresql":
        raise ValueError(f"unknown backend {backend!r}")
    base = pg_url or postgres_url()
    schema = f"scratch_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base, pool_size=1)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    # libpq's `options` in the URL reaches every connection of every process, so servers use the schema too.
    separator = "&" if "?" in base else "?"
    url = f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    engine = make_engine(url, pool_size=pool_size)
    try:
        upgrade(engine)
        yield url, engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class _PortTaken(Exception):
    pass


class ServerProcess:
    """One ``triage serve`` child process on ``127.0.0.1:port`` (the same port across restarts when it is free)."""

    def __init__(self, env: Mapping[str, str], *, log_path: Path, port: int | None = None,
                 ready_timeout_s: float = 180.0) -> None:
        self.env = dict(env)
        self.port = port or free_port()
        self.log_path = log_path
        self.ready_timeout_s = ready_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, attempts: int = 3) -> None:
        """Spawn the process and wait until ``/readyz`` answers 200 (models loaded, database reachable).

        The port was free when chosen, but after a crash an outgoing connection of any process may have been given
        it as its local port; then the server moves to another free port (read :attr:`base_url` after a start).
        """
        for attempt in range(attempts):
            try:
                self._start_once()
                return
            except _PortTaken:
                if attempt == attempts - 1:
                    raise TriageError(f"no free port to restart the server on: {self._log_tail()}") from None
                self.port = free_port()

    def _start_once(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError(f"server on port {self.port} is already running")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "returns_triage.cli", "serve", "--host", "127.0.0.1", "--port",
                 str(self.port), "--log-level", "warning"],
                env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,  # a signal for the server never reaches the benchmark itself
            )
        self.starts += 1
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        with httpx.Client(timeout=2.0) as http:
            while True:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    if "address already in use" in self._log_tail().lower():
                        raise _PortTaken
                    raise TriageError(f"server on port {self.port} exited with {self.proc.returncode} while "
                                      f"starting: {self._log_tail()}")
                try:
                    if http.get(f"{self.base_url}/readyz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    self.kill()
                    raise TriageError(f"server on port {self.port} not ready after {self.ready_timeout_s:.0f} s; "
                                      f"see {self.log_path}")
                time.sleep(0.1)

    def _log_tail(self, lines: int = 8) -> str:
        try:
            return " | ".join(self.log_path.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return f"(no log at {self.log_path})"

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the server's process group and reap it (SIGKILL: a crash, nothing flushed)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        """A graceful shutdown (SIGTERM), falling back to SIGKILL."""
        self.kill(signal.SIGTERM)


def server_env(database_url: str, *, model_dir: Path, home: Path,
               extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a server child: the benchmark's database, bundles and home, no rate limits."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIAGE_")}
    env.update({
        "TRIAGE_HOME": str(home),
        "TRIAGE_DATABASE_URL": database_url,
        "TRIAGE_MODEL_DIR": str(model_dir),
        "TRIAGE_RATE_LIMITS": UNLIMITED_RATES,
        "TRIAGE_DB_POOL_SIZE": "10",
        # Replicas must share the pseudonym key; one fixed per run is enough here.
        "TRIAGE_PSEUDONYM_KEY": uuid.uuid4().hex + uuid.uuid4().hex,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "DO_NOT_TRACK": "true",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": env.get("OMP_NUM_THREADS", "1"),
    })
    env.update(extra or {})
    return env


@contextmanager
def serve_processes(n: int, database_url: str, *, model_dir: Path, home: Path,
                    extra_env: Mapping[str, str] | None = None) -> Iterator[list[ServerProcess]]:
    """N started server processes on one (already migrated) database; all stopped on exit.

    They start one after another: each runs the (no-op) migration check at start-up, and two model loads at once
    on a small machine only make both slower.
    """
    env = server_env(database_url, model_dir=model_dir, home=home, extra=extra_env)
    servers = [ServerProcess(env, log_path=home / f"server-{i}.log") for i in range(n)]
    with ExitStack() as stack:
        for server in servers:
            stack.callback(server.stop)
            server.start()
        yield servers
